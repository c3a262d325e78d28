#!/usr/bin/env bash
# Every table in README.md, regenerated from the shipped weights: one command per table, each
# output saved under OUT (default artifacts/readme) as Markdown. Takes about an hour on the
# 2-core development machine; needs ../shared (benchmark sets) beside the checkout.
# Usage: scripts/readme_numbers.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-artifacts/readme}
py=${PYTHON:-.venv/bin/python}
bench=../shared/data/benchmarks
mkdir -p "$out"
step() { echo "== $1" >&2; }

step "budget";   $py -m mossnet.info > "$out/info.md"
step "quality";  $py -m mossnet.eval --data $bench/Set5 $bench/Set14 $bench/B100 > "$out/eval.md"
step "quality (teacher)"
$py -m mossnet.eval --ckpt weights/mossnet_s_x4.pt --no-bicubic --data $bench/Set5 $bench/Set14 $bench/B100 > "$out/eval_teacher.md"
step "flat colours"
$py -m mossnet.flat_check weights/mossnet_xs_x4.pt weights/mossnet_s_x4.pt > "$out/flat_check.md"
step "tiling";   $py -m mossnet.tiling_sweep --images $bench/Set5 > "$out/tiling.md"
step "ptq";      $py -m quantize.ptq weights/mossnet_xs_x4.pt > "$out/ptq.md"
step "ptq (histogram observer)"
$py -m quantize.ptq weights/mossnet_xs_x4.pt --observer histogram --out artifacts/ptq_histogram > "$out/ptq_histogram.md"
step "qat";      $py -m quantize.qat weights/mossnet_xs_x4.pt --data ../shared/data/train > "$out/qat.md"
step "targets";  $py -m targets export-all > "$out/targets.md"
for run in abl_ctx abl_noctx; do  # the context ablation, when scripts/train_release.sh ablation ran
  [ -f "runs/$run/model.pt" ] || continue
  step "ablation $run"
  $py -m mossnet.eval --ckpt "runs/$run/model.pt" --no-bicubic --data $bench/Set5 $bench/Set14 $bench/B100 > "$out/$run.md"
done
ls -l "$out" >&2

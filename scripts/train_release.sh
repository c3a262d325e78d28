#!/usr/bin/env bash
# The exact training runs behind the shipped weights (weights/README.md records their numbers).
#   xs        MossNet-XS x4 from scratch, ground-truth L1, over-parameterized 3x3 convs folded
#             into plain ones at the end (weights/mossnet_xs_x4.pt)
#   xs-plain  the same run without over-parameterization (the previously shipped XS; model card)
#   ablation  the same recipe, shorter, with and without the context encoder (README table)
#   teacher   MossNet-S x4, the teacher (weights/mossnet_s_x4.pt)
#   distill   XS fine-tuned from the xs run with the teacher's output as a second target
# Usage: scripts/train_release.sh xs|xs-plain|ablation|teacher|distill [DATA_DIR] [OUTDIR]
# Paths are relative to the repository root. Env: STEPS overrides the step count; PYTHON the
# interpreter (default .venv/bin/python); THREADS the CPU threads per run (default 1). Runs
# resume from OUTDIR/<name>/last.pt when started again (--resume), so a long run can span sessions.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
what=${1:?usage: train_release.sh xs|xs-plain|ablation|teacher|distill [DATA_DIR] [OUTDIR]}
data=${2:-../shared/data/train}; outdir=${3:-runs}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${THREADS:-1}
common=(--data "$data/T91" "$data/BSD200" "$data/DebianPhotos" --max-side 640 --batch 16 --patch 48
        --lr 1e-3 --val-every 2000 --resume)
run() {  # name, args...
  local name=$1; shift
  mkdir -p "$outdir"
  "$py" -m mossnet.train --out "$outdir/$name" "${common[@]}" "$@" > "$outdir/$name.log" 2>&1
}
case "$what" in
  xs) run xs --arch xs --reparam 4 --steps "${STEPS:-36000}" ;;
  xs-plain) run xs_plain --arch xs --steps "${STEPS:-36000}" ;;
  ablation)
    run abl_ctx --arch xs --reparam 4 --steps "${STEPS:-8000}"
    run abl_noctx --arch xs --reparam 4 --no-context --steps "${STEPS:-8000}" ;;
  teacher) run s --arch s --steps "${STEPS:-10000}" ;;
  distill)  # needs the xs and teacher runs in OUTDIR
    run xs_distill --arch xs --init "$outdir/xs/model.pt" --teacher "$outdir/s/model.pt" --lr 5e-4 \
        --steps "${STEPS:-8000}" ;;
  *) echo "error: unknown run $what (xs, xs-plain, ablation, teacher or distill)" >&2; exit 2 ;;
esac

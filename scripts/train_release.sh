#!/usr/bin/env bash
# How the shipped weights were trained (weights/README.md records each run's numbers).
#   phase a: teacher S, XS and XS without context, each from scratch, ground-truth L1
#   phase b: XS and XS-no-context continue from phase a, distilled from the teacher
# Usage: scripts/train_release.sh a|b DATA_DIR OUTDIR
# Env: MINUTES (per run, default 45), BATCH (default 32), THREADS (per run, default 1).
# The three phase-a runs (two in phase b) run side by side, one CPU thread each.
set -euo pipefail
phase=${1:?usage: train_release.sh a|b DATA_DIR OUTDIR}
data=${2:?}; outdir=${3:?}; minutes=${MINUTES:-45}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${THREADS:-1}
dirs="$data/T91 $data/BSD200 $data/DebianPhotos"
common="--data $dirs --max-side 640 --minutes $minutes --batch ${BATCH:-32} --patch 48 --val-every 2000"
run() {  # name, args...
  local name=$1; shift
  python -m mossnet.train --out "$outdir/$name" $common "$@" > "$outdir/$name.log" 2>&1
}
mkdir -p "$outdir"
if [ "$phase" = a ]; then
  run s --arch s --lr 5e-4 &
  run xs_a --arch xs --lr 1e-3 &
  run xs_noctx_a --arch xs --no-context --lr 1e-3 &
else
  run xs --arch xs --lr 5e-4 --init "$outdir/xs_a/model.pt" --teacher "$outdir/s/model.pt" &
  run xs_noctx --arch xs --no-context --lr 5e-4 --init "$outdir/xs_noctx_a/model.pt" \
    --teacher "$outdir/s/model.pt" &
fi
wait

#!/usr/bin/env bash
# The exact training runs behind the shipped weights (weights/README.md records their numbers).
# The shipped XS is five stages, each starting from the one before:
#   xs-b128   MossNet-XS x4 from scratch at batch 128, ground-truth L1, over-parameterized 3x3
#             convs folded into plain ones at the end (ran on a lent GPU; hours on a CPU)
#   xs-b128-color  a fine-tune with colour views and flat images, so that saturated and flat
#             images upscale cleanly
#   xs-b128-margin  a short, gentler fine-tune that scores only pixels with real context
#             (--loss-margin 8), and its control without it (weights/mossnet_xs_x4.pt: the
#             first; the shipped XS until issue 20's flat-colour ridge; model card)
#   xs-flat   more flat images (10 %), whose channels may also lie just inside 0 or 1
#             (--flat-near-edges): a ridge of saturated blues drew a grid (the shipped XS until
#             issue 20's int8 grid)
#   xs-tail-balanced  xs-flat again with the tail's sub-pixel phases balanced (--balanced-phases
#             tail): no int8 rounding draws a grid through the tail (weights/mossnet_xs_x4.pt)
# Tried on the way to it (model card):
#   xs-balanced  xs-flat again with balanced depth-to-space convs (--balanced-phases: no int8
#             rounding can draw a sub-pixel grid on a flat area); tried, not shipped (model card)
#   xs-balanced-parts  xs-balanced twice, with only the up conv and with only the tail
#             balanced (--balanced-phases up|tail): which of the two constraints costs the quality
#   xs-tail-balanced-ema  xs-tail-balanced, validating and saving an average of the weights
#             (--ema 0.999)
#   xs-interp  xs-balanced with the U-Net's up conv made one that can interpolate when balanced
#             (--up interp: the 1x1 conv to 4 phases becomes a 1x1 conv and a per-channel 3x3,
#             started as the old conv's balanced projection and bilinear; model card)
# The XS shipped before it (model card) was three stages: xs (from scratch at batch 16),
# xs-long (a second cycle at batch 64, on a lent GPU) and xs-color (as xs-b128-color).
#   margin    two fine-tunes of that XS, with and without --loss-margin 8 (model card)
#   xs-distill  a fourth stage of it distilled from the shipped teacher with --loss-margin 8
#             (tried, not shipped: model card)
#   xs-plain  the xs stage without over-parameterization (the control; model card)
#   ablation  the xs stage's recipe, shorter, with and without the context encoder (README)
#   ablation-margin  that recipe with --loss-margin 8 (compare with its abl_ctx run)
#   teacher   MossNet-S x4 from scratch, then teacher-color: its colour fine-tune
#             (weights/mossnet_s_x4.pt; teacher-color ran on a lent GPU)
#   distill   XS fine-tuned from the xs run with the teacher's output as a second target
#   shape-probe  the ablation's recipe with two other XS shapes (scripts/xs_shape_probe.py)
# Usage: scripts/train_release.sh STAGE [DATA_DIR] [OUTDIR]
# Paths are relative to the repository root. Env: STEPS overrides the step count; PYTHON the
# interpreter (default .venv/bin/python); THREADS the CPU threads per run (default 1); INIT the
# checkpoint margin and xs-distill start from (default: OUTDIR/xs_color/model.pt), and the
# xs-balanced stages, the xs-tail-balanced ones and xs-interp (default: OUTDIR/xs_flat10/model.pt,
# stage 4, the weights/mossnet_xs_x4.pt of 89a8627). Runs resume from OUTDIR/<name>/last.pt when started
# again (--resume), so a long run can span sessions.
# mossnet.train uses a GPU when there is one; for a machine that cannot see the data,
# scripts/pack_training_data.py packs it (same images, half the bytes).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
stages="xs-b128, xs-b128-color, xs-b128-margin, xs, xs-long, xs-color, margin, xs-distill, xs-plain, ablation, ablation-margin, teacher, teacher-color, distill, shape-probe, xs-flat, xs-balanced, xs-balanced-parts, xs-tail-balanced, xs-tail-balanced-ema or xs-interp"
what=${1:?usage: train_release.sh STAGE [DATA_DIR] [OUTDIR], STAGE one of $stages}
data=${2:-../shared/data/train}; outdir=${3:-runs}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${THREADS:-1}
common=(--data "$data/T91" "$data/BSD200" "$data/DebianPhotos" --max-side 640 --batch 16 --crop 48
        --lr 1e-3 --val-every 2000 --resume)
run() {  # name, args...
  local name=$1; shift
  mkdir -p "$outdir"
  "$py" -m mossnet.train --out "$outdir/$name" "${common[@]}" "$@" > "$outdir/$name.log" 2>&1
}
probe() {  # shape, args...
  local shape=$1; shift
  mkdir -p "$outdir"
  "$py" scripts/xs_shape_probe.py "$shape" --out "$outdir/shape_$shape" "${common[@]}" "$@" \
      > "$outdir/shape_$shape.log" 2>&1
}
case "$what" in
  xs-b128) run xs_b128 --arch xs --reparam 4 --batch 128 --lr 2e-3 --steps "${STEPS:-34694}" ;;
  xs-b128-color) run xs_b128_color --arch xs --reparam 4 --init "$outdir/xs_b128/model.pt" \
      --lr 2e-4 --color-aug 0.25 --flat-aug 0.03 --steps "${STEPS:-8000}" ;;
  xs-b128-margin)
    flags=(--arch xs --reparam 4 --init "$outdir/xs_b128_color/model.pt" --lr 1e-4
           --color-aug 0.25 --flat-aug 0.03 --val-every 1000 --steps "${STEPS:-4000}")
    run xs_b128_margin "${flags[@]}" --loss-margin 8
    run xs_b128_control "${flags[@]}" ;;
  xs) run xs --arch xs --reparam 4 --steps "${STEPS:-36000}" ;;
  xs-long) run xs_long --arch xs --reparam 4 --init "$outdir/xs/model.pt" --batch 64 --lr 5e-4 \
      --steps "${STEPS:-34204}" ;;
  xs-color) run xs_color --arch xs --reparam 4 --init "$outdir/xs_long/model.pt" --lr 3e-4 \
      --color-aug 0.25 --flat-aug 0.03 --steps "${STEPS:-10000}" ;;
  margin)
    flags=(--arch xs --reparam 4 --init "${INIT:-$outdir/xs_color/model.pt}" --lr 2e-4
           --color-aug 0.25 --flat-aug 0.03 --steps "${STEPS:-8000}")
    run xs_margin "${flags[@]}" --loss-margin 8
    run xs_finetune "${flags[@]}" ;;
  xs-distill) run xs_distill_margin --arch xs --reparam 4 --init "${INIT:-$outdir/xs_color/model.pt}" \
      --teacher weights/mossnet_s_x4.pt --lr 2e-4 --color-aug 0.25 --flat-aug 0.03 \
      --loss-margin 8 --steps "${STEPS:-6000}" ;;
  xs-plain) run xs_plain --arch xs --steps "${STEPS:-36000}" ;;
  ablation)
    run abl_ctx --arch xs --reparam 4 --steps "${STEPS:-8000}"
    run abl_noctx --arch xs --reparam 4 --no-context --steps "${STEPS:-8000}" ;;
  ablation-margin) run abl_margin --arch xs --reparam 4 --loss-margin 8 --steps "${STEPS:-8000}" ;;
  teacher) run s --arch s --steps "${STEPS:-10000}" ;;
  teacher-color) run s_color --arch s --init "$outdir/s/model.pt" --batch 32 --lr 1e-4 \
      --color-aug 0.25 --steps "${STEPS:-8063}" ;;
  distill)  # needs the xs and teacher runs in OUTDIR
    run xs_distill --arch xs --init "$outdir/xs/model.pt" --teacher "$outdir/s/model.pt" --lr 5e-4 \
        --steps "${STEPS:-8000}" ;;
  shape-probe)  # compare with the ablation's abl_ctx run
    probe deep-mid --reparam 4 --steps "${STEPS:-8000}"
    probe deep-ends --reparam 4 --steps "${STEPS:-8000}" ;;
  xs-flat) run xs_flat10 --arch xs --reparam 4 --init "$outdir/xs_b128_margin/model.pt" --lr 2e-4 \
      --color-aug 0.25 --flat-aug 0.1 --flat-near-edges --loss-margin 8 --val-every 1000 --steps "${STEPS:-6000}" ;;
  xs-balanced) run xs_balanced --arch xs --reparam 4 --init "${INIT:-$outdir/xs_flat10/model.pt}" --lr 5e-4 \
      --color-aug 0.25 --flat-aug 0.1 --flat-near-edges --loss-margin 8 --balanced-phases --val-every 1000 \
      --steps "${STEPS:-6000}" ;;
  xs-balanced-parts)
    for part in up tail; do
      run xs_balanced_$part --arch xs --reparam 4 --init "${INIT:-$outdir/xs_flat10/model.pt}" --lr 5e-4 \
          --color-aug 0.25 --flat-aug 0.1 --flat-near-edges --loss-margin 8 --balanced-phases $part \
          --val-every 1000 --steps "${STEPS:-6000}" &
    done
    wait ;;
  xs-tail-balanced) run xs_tail_balanced --arch xs --reparam 4 --init "${INIT:-$outdir/xs_flat10/model.pt}" \
      --lr 5e-4 --color-aug 0.25 --flat-aug 0.1 --flat-near-edges --loss-margin 8 --balanced-phases tail \
      --val-every 1000 --steps "${STEPS:-12000}" ;;
  xs-tail-balanced-ema) run xs_tail_balanced_ema --arch xs --reparam 4 --init "${INIT:-$outdir/xs_flat10/model.pt}" \
      --lr 5e-4 --color-aug 0.25 --flat-aug 0.1 --flat-near-edges --loss-margin 8 --balanced-phases tail \
      --ema 0.999 --val-every 1000 --steps "${STEPS:-12000}" ;;
  xs-interp) run xs_interp --arch xs --reparam 4 --up interp --init "${INIT:-$outdir/xs_flat10/model.pt}" \
      --lr 5e-4 --color-aug 0.25 --flat-aug 0.1 --flat-near-edges --loss-margin 10 --balanced-phases \
      --val-every 1000 --steps "${STEPS:-6000}" ;;
  *) echo "error: unknown stage $what (one of $stages)" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The model into the Android app in one step: quantizes the shipped weights if their int8
# pipeline is missing (int8 precisions), exports the ExecuTorch program into
# app/src/main/assets and, with it, its manifest and its on-device self-test (the publish step
# writes all three), after removing any other MossNet model there (the app loads one).
#
#   bash android_demo/export_model.sh [int8-ptq|int8-qat|fp32]     (default int8-ptq)
#
# Uses the toolkit's venv ($PYTHON, default <repo>/.venv/bin/python; README step 1).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
PRECISION=${1:-int8-ptq}
CKPT=weights/mossnet_xs_x4.pt
ASSETS=android_demo/app/src/main/assets
cd "$ROOT"
case "$PRECISION" in
    int8-ptq|int8-qat)
        method=${PRECISION#int8-}
        pipeline=$("$PY" -c "from quantize.program import default_pipeline_dir as d; print(d('$CKPT', '$method'))")
        if [ ! -f "$pipeline/quant.json" ]; then
            echo "export_model: no $method pipeline yet; running python -m quantize.$method $CKPT" >&2
            "$PY" -m "quantize.$method" "$CKPT"
        fi ;;
    fp32) ;;
    *) echo "export_model: unknown precision '$PRECISION' (int8-ptq, int8-qat or fp32)" >&2; exit 2 ;;
esac
mkdir -p "$ASSETS"
rm -f "$ASSETS"/mossnet_*.pte "$ASSETS"/mossnet_*.pte.manifest.json "$ASSETS"/mossnet_*.pte.selftest.json
"$PY" -m targets.executorch export --precision "$PRECISION" --out "$ASSETS"

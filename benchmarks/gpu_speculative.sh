#!/usr/bin/env bash
# Speculative decoding on a GPU (issue 18): benchmarks/speculative.py with the target on the GPU, for the embedded
# pair and for a larger target trained here by scripts/train_default_models.py (the embedded pair's tokenizer, so the
# embedded draft model, run on the CPU by its lean runner, drafts for it). One self-contained run: it builds the
# native extension, trains the larger target for TRAIN_MIN minutes, then runs both benchmarks.
#
#   OUT=/tmp/gpu bash benchmarks/gpu_speculative.sh
#
# Settings (environment): DEVICE (cuda), SIZE (the larger target, LAYERSxEMBDxHEADS, 16x1024x16), TRAIN_MIN (2.5),
# SEEDS (2), MODES (sample,awrs,greedy: the larger target), EMBEDDED_MODES (sample,awrs), DRAFTS (every drafter,
# trees and both autos), EXAMPLES (training examples), STAGE_S (a time limit per benchmark, seconds).
# Wheels of missing pure-Python dependencies may be put in .whl/ (installed into /tmp/site first).
set -uo pipefail
OUT=${OUT:-/tmp/gpu_speculative}
DEVICE=${DEVICE:-cuda}
SIZE=${SIZE:-16x1024x16}
TRAIN_MIN=${TRAIN_MIN:-2.5}
SEEDS=${SEEDS:-2}
MODES=${MODES:-sample,awrs,greedy}
EMBEDDED_MODES=${EMBEDDED_MODES:-sample,awrs}
STAGE_S=${STAGE_S:-240}
DRAFTS=${DRAFTS:-none,ngram,forced,model,model-tree2,model-tree4,auto,auto-measure}
EXAMPLES=${EXAMPLES:-300000}
PY=${PY:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}
$PY setup.py -q build_ext --inplace >"$OUT/build.log" 2>&1 || echo "native build failed (pure-Python fallback): $(tail -2 "$OUT/build.log")"
$PY - <<'EOF' 2>&1
import platform, torch, transformers
from corral.runtime.engine import NATIVE_ENGINE
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
print(f"python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}, "
      f"GPU {gpu}, native engine {NATIVE_ENGINE}")
EOF
echo "== training the larger target ($SIZE, $TRAIN_MIN min on $DEVICE)"
$PY scripts/train_default_models.py --device "$DEVICE" --only target --target-size "$SIZE" \
    --tokenizer-from src/corral/data/default --out-dir /tmp/larger --budget-minutes "$TRAIN_MIN" --batch-size 64 \
    --target-lr 6e-4 --train-examples "$EXAMPLES" --log-every 200 >"$OUT/train.log" 2>&1
grep -E "parameters|done:" "$OUT/train.log"
for which in larger embedded; do
    echo "== benchmarks/speculative.py, $which target on $DEVICE"
    extra=(--modes "$EMBEDDED_MODES")
    [ "$which" = larger ] && extra=(--modes "$MODES" --target /tmp/larger/target)
    timeout "$STAGE_S" $PY benchmarks/speculative.py --device "$DEVICE" --seeds "$SEEDS" --drafts "$DRAFTS" \
        "${extra[@]}" --json "$OUT/$which.json" >"$OUT/$which.md" 2>>"$OUT/bench.err"
    echo "exit $?"; cat "$OUT/$which.md"; tail -3 "$OUT/bench.err"
done

#!/usr/bin/env bash
# The three-method comparison of bench/gate/README.md: on the same ResNet-20 baseline and at the MACs
# Gate Decorator reached (bench/results/gate/resnet20-gate.report.json), Neuron Merging and EPruner,
# each followed by the same fine-tuning budget (3 epochs). Resumable like run.sh.
# Usage: bash bench/gate/compare.sh [PRUNEKIT] (default: node bin/prunekit.js)
set -euo pipefail
cd "$(dirname "$0")/../.."
PK=${1:-node bin/prunekit.js}
OUT=bench/results/gate
BASE=$OUT/resnet20-base.onnx
TARGET=$(node -e 'const r=require("./'"$OUT"'/resnet20-gate.report.json");console.log((r.after.macs/r.before.macs).toFixed(4))')
echo "MACs target (gate's result): $TARGET"
# Neuron Merging: the largest kept fraction (smallest ratio, step 0.01) whose MACs are <= the target.
RATIO=""
for r in $(seq 0.30 0.01 0.80); do
  f=$($PK prune "$BASE" --method merge --ratio "$r" --dry-run --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log(j.after.macs/j.before.macs)})')
  if node -e "process.exit($f <= $TARGET ? 0 : 1)"; then RATIO=$r; break; fi
done
echo "merge ratio $RATIO"
run() { # name, then prune flags
  local name=$1; shift
  local ckpt=$OUT/$name-checkpoint resume=()
  if [ -f "$ckpt/prunekit-checkpoint.bin" ]; then resume=(--resume "$ckpt"); fi
  $PK prune "$BASE" -o "$OUT/resnet20-$name.onnx" "$@" --data fashion-mnist --finetune-epochs 3 \
    --workers 2 --checkpoint "$ckpt" "${resume[@]}" --report "$OUT/resnet20-$name.report.json"
}
[ -f "$OUT/resnet20-merge.onnx" ] || run merge --method merge --ratio "$RATIO"
[ -f "$OUT/resnet20-epruner.onnx" ] || run epruner --method epruner --target-macs "$TARGET"
node scripts/ort-accuracy.mjs "$BASE" "$OUT/resnet20-gate.onnx" "$OUT/resnet20-merge.onnx" \
  "$OUT/resnet20-epruner.onnx" > "$OUT/compare.ort.jsonl"

#!/usr/bin/env bash
# The Gate Decorator target run (bench/gate/README.md): ResNet-20 on Fashion-MNIST pruned to at most
# 50 % of its MACs, then fine-tuned, on 2 cores. Resumable: rerunning the script continues from the
# checkpoint folder. Usage: bash bench/gate/run.sh [PRUNEKIT] (default: node bin/prunekit.js)
set -euo pipefail
cd "$(dirname "$0")/../.."
PK=${1:-node bin/prunekit.js}
OUT=bench/results/gate
CKPT=$OUT/gate-checkpoint
mkdir -p "$OUT"
RESUME=()
if [ -f "$CKPT/prunekit-method.bin" ] || [ -f "$CKPT/prunekit-checkpoint.bin" ]; then RESUME=(--resume "$CKPT"); fi
$PK eval "$OUT/resnet20-base.onnx" --data fashion-mnist --json > "$OUT/resnet20-base.eval.json"
$PK prune "$OUT/resnet20-base.onnx" -o "$OUT/resnet20-gate.onnx" --method gate --data fashion-mnist \
  --flops-target 0.5 --tick-ratio 0.04 --tick-subset 0.05 --ticks-per-tock 4 --tock-epochs 0.25 \
  --finetune-epochs 3 --eval-limit 2000 --workers 2 --checkpoint "$CKPT" "${RESUME[@]}" \
  --report "$OUT/resnet20-gate.report.json" --report-md "$OUT/resnet20-gate.report.md" \
  --chart-accuracy "$OUT/resnet20-gate.trajectory.svg"
$PK eval "$OUT/resnet20-gate.onnx" --data fashion-mnist --json > "$OUT/resnet20-gate.eval.json"
node scripts/ort-accuracy.mjs "$OUT/resnet20-base.onnx" "$OUT/resnet20-gate.onnx" > "$OUT/resnet20-gate.ort.jsonl"

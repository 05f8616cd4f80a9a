#!/usr/bin/env bash
# The checks for a machine with a CUDA GPU, a few minutes in all. Run from the repository
# root: benchmarks/gpu_check.sh [DATA_DIR] [OUT_DIR]
#  1. the fused cuDNN kernel with and without weight drop, zoneout on CUDA, bf16 autocast,
#     per-regularizer throughput (gpu_check.py);
#  2. the runner against the bare loop on CUDA (run.py --device cuda);
#  3. a default run end to end with train.precision=bf16 (its summary kept).
set -euo pipefail
data=${1:-../shared/data}
out=${2:-benchmarks/gpu}
mkdir -p "$out"
python benchmarks/gpu_check.py --out "$out/gpu_check.json"
python benchmarks/run.py --only overhead --device cuda --data "$data" \
    --out "$out/overhead_cuda.json"
run=$(mktemp -d)
python -m lstm_overfit train device=cuda train.precision=bf16 train.epochs=5 \
    train.progress=false hydra.run.dir="$run"
cp "$run/summary.json" "$out/bf16_summary.json"
python -c "import json, sys; s = json.load(open(sys.argv[1])); print('bf16 run:', s['status'], s['best_val_loss'], s['test'])" \
    "$out/bf16_summary.json"

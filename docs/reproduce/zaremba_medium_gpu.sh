#!/usr/bin/env bash
# Zaremba et al. (2014) medium model (2x650, dropout 0.5, 39 epochs) on Penn Treebank, on
# one CUDA GPU; published 86.2 validation / 82.7 test perplexity. Run from the repository
# root: docs/reproduce/zaremba_medium_gpu.sh [PTB_DIR] [RUN_DIR]
# Before the full run, two epochs are timed and the estimate for all 39 is printed.
set -euo pipefail
ptb=${1:-../shared/data/ptb}
run=${2:-docs/reproduce/zaremba_medium}
probe=$(mktemp -d)
lstm-overfit train +experiment=zaremba_medium dataset.path="$ptb" device=cuda \
    train.epochs=2 train.progress=false hydra.run.dir="$probe/run"
python - "$probe/run/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
per_epoch = rows[-1]["ended_at"] - rows[0]["ended_at"]
print(f"about {per_epoch:.0f} s per epoch: {39 * per_epoch / 60:.0f} minutes for 39 epochs")
PY
rm -rf "$probe"
lstm-overfit train +experiment=zaremba_medium dataset.path="$ptb" device=cuda \
    train.progress=false hydra.run.dir="$run"
rm -rf "$run/checkpoints"

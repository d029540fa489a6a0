#!/usr/bin/env bash
# Real-model CPU benchmark, rserve (Burn) vs PyTorch in the same run and with the
# same thread count: all-MiniLM-L6-v2 embeddings at batch 1, 8, 32 (sentences/s,
# p50 per batch) and SmolLM2-135M-Instruct chat (time to first token, single-stream
# decode tokens/s, greedy, 64 new tokens).
#
#   scripts/bench-models.sh [SECONDS_PER_POINT] [CARGO_FEATURES]
#   e.g. scripts/bench-models.sh 10 rserve-models/openblas   # another CPU backend
#
# Needs scripts/requirements-reference.txt (PyTorch side) and the weights
# (scripts/fetch-models.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
FEATURES="${2:-}"
THREADS="$(nproc)"
bash scripts/fetch-models.sh
cargo build --release -p rserve-models --example bench_models ${FEATURES:+--features "$FEATURES"} >&2
echo "== rserve (Burn${FEATURES:+, features $FEATURES})"
target/release/examples/bench_models models "$DUR" | tee target/bench-models-rserve.txt
echo "== PyTorch (torch.set_num_threads($THREADS))"
python3 scripts/bench_models_torch.py models "$DUR" "$THREADS" 2>/dev/null | tee target/bench-models-torch.txt

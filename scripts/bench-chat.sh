#!/usr/bin/env bash
# Chat (SmolLM2-135M-Instruct, CPU) through the HTTP ingress: aggregate tokens/s and
# time to first token at 1, 4 and 16 concurrent streams with continuous batching
# (max_num_seqs = 16), and at 16 streams without it (max_num_seqs = 1: one sequence
# at a time, the others queue) as the in-run peer. Same binary, same node.
#
#   scripts/bench-chat.sh [SECONDS] [MAX_TOKENS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/chat-app.sh
DUR="${1:-30}"
MAX_TOKENS="${2:-64}"
bash scripts/fetch-models.sh
cargo build --release -p rserve >&2
STATE=$(mktemp -d)
trap 'kill $NODE 2>/dev/null || true; rm -rf "$STATE"' EXIT
target/release/rserve --state-dir "$STATE" up --http-addr 127.0.0.1:18110 --control-addr 127.0.0.1:18375 2>"$STATE/log" &
NODE=$!
sleep 1
deploy() {
  chat_app "$STATE/app.toml" "max_num_seqs = $1, max_num_batched_tokens = 512"
  target/release/rserve --state-dir "$STATE" deploy "$STATE/app.toml" --wait --timeout 120 >/dev/null
}
run() {
  python3 scripts/bench_chat_client.py http://127.0.0.1:18110 m "$1" 3 8 >/dev/null # warm-up
  printf 'max_num_seqs=%-2s ' "$2"
  python3 scripts/bench_chat_client.py http://127.0.0.1:18110 m "$1" "$DUR" "$MAX_TOKENS"
}
deploy 16
for streams in 1 4 16; do run "$streams" 16; done
deploy 1
run 16 1

#!/usr/bin/env bash
# What the HTTP path costs single-stream chat: the model's own decode speed
# (bench_models: ChatModel::generate, greedy, 64 tokens) against the same
# generation streamed through a node (/v1/chat/completions, server-sent events,
# same prompt, greedy), alternating for ROUNDS rounds on an otherwise idle node.
# Both sides count decode tokens/s from the first token to the last.
#
#   scripts/bench-chat-path.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/chat-app.sh
ROUNDS="${1:-3}"
bash scripts/fetch-models.sh
# Two commands: with `--example`, cargo builds only the example, not the binary.
cargo build --release -p rserve --bin rserve >&2
cargo build --release -p rserve-models --example bench_models >&2
STATE=$(mktemp -d)
trap 'kill $NODE 2>/dev/null || true; rm -rf "$STATE"' EXIT
target/release/rserve --state-dir "$STATE" up --http-addr 127.0.0.1:18112 --control-addr 127.0.0.1:18377 2>"$STATE/log" &
NODE=$!
sleep 1
chat_app "$STATE/app.toml"
target/release/rserve --state-dir "$STATE" deploy "$STATE/app.toml" --wait --timeout 120 >/dev/null
python3 scripts/bench_chat_decode.py http://127.0.0.1:18112 m 2 >/dev/null # warm-up
for round in $(seq "$ROUNDS"); do
  model=$(target/release/examples/bench_models models 0.1 | sed -n 's/.*decode_tokens_per_s=\([0-9.]*\).*/\1/p')
  http=$(python3 scripts/bench_chat_decode.py http://127.0.0.1:18112 m 5)
  http_rate=$(sed -n 's/.*"decode_tokens_per_s": \([0-9.]*\).*/\1/p' <<<"$http")
  echo "round $round: model-level $model tokens/s, over HTTP $http_rate tokens/s ($(python3 -c "print(f'{$http_rate / $model:.3f}')")x) $http"
done

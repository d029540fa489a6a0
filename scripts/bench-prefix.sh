#!/usr/bin/env bash
# Prefix caching (chat, SmolLM2-135M-Instruct on the CPU): time to first token of
# conversations that share a long system prompt and grow turn by turn, with
# `enable_prefix_caching` on and off (the in-run peer). Same binary, same node,
# requests one at a time.
#
#   scripts/bench-prefix.sh [CONVERSATIONS] [TURNS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/chat-app.sh
CONVERSATIONS="${1:-6}"
TURNS="${2:-4}"
bash scripts/fetch-models.sh
cargo build --release -p rserve >&2
STATE=$(mktemp -d)
trap 'kill $NODE 2>/dev/null || true; rm -rf "$STATE"' EXIT
target/release/rserve --state-dir "$STATE" up --http-addr 127.0.0.1:18111 --control-addr 127.0.0.1:18376 2>"$STATE/log" &
NODE=$!
sleep 1
deploy() {
  chat_app "$STATE/app.toml" "enable_prefix_caching = $1"
  target/release/rserve --state-dir "$STATE" deploy "$STATE/app.toml" --wait --timeout 120 >/dev/null
}
for caching in true false; do
  deploy "$caching"
  python3 scripts/bench_prefix_client.py http://127.0.0.1:18111 m 1 2 >/dev/null # warm-up
  printf 'enable_prefix_caching=%-5s ' "$caching"
  python3 scripts/bench_prefix_client.py http://127.0.0.1:18111 m "$CONVERSATIONS" "$TURNS"
done

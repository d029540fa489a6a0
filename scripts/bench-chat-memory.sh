#!/usr/bin/env bash
# Memory of a node serving the chat example's model (SmolLM2-135M-Instruct Q4_1,
# CPU, default options: 16k-token KV budget, prefix caching on): RSS once the
# replica is ready, then peak (VmHWM) and current RSS after SECONDS of 16
# concurrent streams, and the aggregate tokens/s of that load. Each binary given
# is measured in turn on a fresh node (default: this tree's release build), so an
# older build can be the in-run peer:
#
#   scripts/bench-chat-memory.sh [SECONDS] [BINARY...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/chat-app.sh
DUR="${1:-20}"
shift || true
bash scripts/fetch-models.sh
if [ $# -eq 0 ]; then
  cargo build --release -p rserve >&2
  set -- target/release/rserve
fi
mib() { awk -v k="$1:" '$1 == k { printf "%.0f", $2 / 1024 }' "/proc/$2/status"; }
for bin in "$@"; do
  STATE=$(mktemp -d)
  "$bin" --state-dir "$STATE" up --http-addr 127.0.0.1:18113 --control-addr 127.0.0.1:18378 2>"$STATE/log" &
  NODE=$!
  sleep 1
  chat_app "$STATE/app.toml"
  "$bin" --state-dir "$STATE" deploy "$STATE/app.toml" --wait --timeout 120 >/dev/null
  ready=$(mib VmRSS $NODE)
  load=$(python3 scripts/bench_chat_client.py http://127.0.0.1:18113 m 16 "$DUR" 64)
  echo "$bin: RSS ready ${ready} MiB, peak $(mib VmHWM $NODE) MiB, after load $(mib VmRSS $NODE) MiB; 16 streams: $load"
  kill $NODE; wait $NODE 2>/dev/null || true
  rm -rf "$STATE"
done

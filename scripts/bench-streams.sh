#!/usr/bin/env bash
# What live streams cost the serving path: echo at c=64 (and c=1) through
#   - the bare hyper peer (the physical limit),
#   - OLD: an rserve binary from before the streams (nothing to capture),
#   - NEW idle: this tree, nobody watching,
#   - NEW watched: this tree with one `rserve tap` and one `rserve logs -f`
#     attached (their output read and thrown away),
# loaded in turns by wrk, two rounds. Same machine, same run: compare ratios.
#
#   scripts/bench-streams.sh OLD_RSERVE [SECONDS_PER_POINT]   (default 8)
#   ROUNDS=6 CONCURRENCY=64 scripts/bench-streams.sh ...        (defaults 2, "64 1")
#
# Build the old binary from a checkout of the commit before, e.g.
#   git worktree add --detach ../old 622253f && (cd ../old && cargo build --release -p rserve)
# Needs wrk (`apt-get install wrk`).
set -euo pipefail
cd "$(dirname "$0")/.."
OLD="$1" DUR="${2:-8}"
cargo build --release -p rserve >&2
cargo build --release -p rserve-daemon --example bare_hyper >&2
NEW=target/release/rserve
BARE=target/release/examples/bare_hyper

STATE=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$STATE"; }
trap cleanup EXIT

"$BARE" 127.0.0.1:18080 2>/dev/null & pids+=($!)
"$OLD" --state-dir "$STATE/old" up --http-addr 127.0.0.1:18001 --control-addr 127.0.0.1:18266 \
  --deploy examples/echo.toml 2>/dev/null & pids+=($!)
"$NEW" --state-dir "$STATE/new" up --http-addr 127.0.0.1:18002 --control-addr 127.0.0.1:18267 \
  --deploy examples/echo.toml 2>/dev/null & pids+=($!)
sleep 3
"$OLD" --state-dir "$STATE/old" deploy examples/echo.toml --wait >/dev/null 2>&1
"$NEW" --state-dir "$STATE/new" deploy examples/echo.toml --wait >/dev/null 2>&1

cat > "$STATE/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"inputs":"hello rserve","n":1}'
wrk.headers["Content-Type"] = "application/json"
LUA
point() { # label port concurrency
  local threads=2; [ "$3" -eq 1 ] && threads=1
  wrk -t"$threads" -c"$3" -d"${DUR}s" --latency -s "$STATE/post.lua" "http://127.0.0.1:$2/echo" \
    > "$STATE/wrk.txt"
  local rps p50
  rps=$(awk '/Requests\/sec/ {print $2}' "$STATE/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$STATE/wrk.txt")
  echo "$1 c=$3 $rps req/s p50 $p50"
}
watchers() { # start one tap and one logs -f on NEW, output discarded
  "$NEW" --state-dir "$STATE/new" tap -o json > /dev/null 2>&1 & pids+=($!); tap=$!
  "$NEW" --state-dir "$STATE/new" logs -f -o json > /dev/null 2>&1 & pids+=($!); logs=$!
  sleep 1
}
echo "server concurrency req/s p50"
for round in $(seq "${ROUNDS:-2}"); do
  for c in ${CONCURRENCY:-64 1}; do
    point bare 18080 "$c"
    point old 18001 "$c"
    point new-idle 18002 "$c"
    watchers
    point new-watched 18002 "$c"
    kill "$tap" "$logs" 2>/dev/null || true
    wait "$tap" "$logs" 2>/dev/null || true
  done
done

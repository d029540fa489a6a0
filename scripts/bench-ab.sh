#!/usr/bin/env bash
# A/B serving benchmark: two rserve binaries (e.g. before and after a refactor) and
# the bare hyper peer, served side by side and loaded in turns, per point, by oha
# (twice) and then wrk. Same machine, same run: compare the ratios to bare hyper.
#
#   scripts/bench-ab.sh OLD_RSERVE NEW_RSERVE [SECONDS_PER_POINT]   (default 8)
#
# Build the old binary from a worktree, e.g.:
#   git worktree add --detach ../old REV && (cd ../old && cargo build --release -p rserve)
# Needs oha (see scripts/bench.sh) and wrk (`apt-get install wrk`).
set -euo pipefail
cd "$(dirname "$0")/.."
OLD="$1" NEW="$2" DUR="${3:-8}"
cargo build --release -p rserve-daemon --example bare_hyper >&2
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

BODY='{"inputs":"hello rserve","n":1}'
SERVERS="bare:18080 old:18001 new:18002"
echo "tool concurrency server req/s p50 p99"
for round in 1 2; do
  for c in 1 8 64; do
    for t in $SERVERS; do
      oha -z "${DUR}s" -c "$c" -m POST -H 'content-type: application/json' -d "$BODY" \
        --no-tui --output-format json "http://127.0.0.1:${t##*:}/echo" > "$STATE/oha.json"
      python3 - "$STATE/oha.json" "$c" "${t%%:*}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); s = d["summary"]; p = d["latencyPercentiles"]
ok = "" if s["successRate"] == 1 else " (errors!)"
print(f"oha {sys.argv[2]} {sys.argv[3]} {s['requestsPerSec']:.0f} {p['p50']*1000:.3f}ms {p['p99']*1000:.3f}ms{ok}")
PY
    done
  done
done
cat > "$STATE/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"inputs":"hello rserve","n":1}'
wrk.headers["Content-Type"] = "application/json"
LUA
for c in 1 64; do
  for t in $SERVERS; do
    threads=1; [ "$c" -gt 1 ] && threads=2
    r=$(wrk -t"$threads" -c"$c" -d"${DUR}s" --latency -s "$STATE/post.lua" "http://127.0.0.1:${t##*:}/echo")
    errors=$(echo "$r" | grep -c Non-2xx || true)
    echo "wrk $c ${t%%:*} $(echo "$r" | awk '/Requests\/sec/{print $2}') $(echo "$r" | awk '/ 50%/{print $2}') $(echo "$r" | awk '/ 99%/{print $2}')$([ "$errors" = 0 ] || echo ' (errors!)')"
  done
done

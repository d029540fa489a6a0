#!/usr/bin/env bash
# Serving-layer benchmark: rserve's `echo` deployment through the ingress vs a bare
# hyper echo server (the physical limit), loaded by oha in the same run, at
# concurrency 1, 8 and 64. Also: the node's idle RSS and the seconds from
# `rserve up --demo` to the first 200 from the digits demo.
#
#   scripts/bench.sh [SECONDS_PER_POINT]     (default 10)
#
# Prints a markdown table (paste into docs/benchmarks.md) and keeps raw oha JSON
# under target/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
OUT=target/bench
mkdir -p "$OUT"

if ! command -v oha >/dev/null; then
  echo "installing oha (load generator) from crates.io..." >&2
  cargo install oha --locked --version 1.16.0
fi
cargo build --release -p rserve >&2
cargo build --release -p rserve-daemon --example bare_hyper >&2
BIN=target/release/rserve
BARE=target/release/examples/bare_hyper

STATE=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$STATE"; }
trap cleanup EXIT

wait_http() { # url
  python3 - "$1" <<'PY'
import sys, time, urllib.request
deadline = time.time() + 60
while time.time() < deadline:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1); sys.exit(0)
    except Exception:
        time.sleep(0.01)
sys.exit(1)
PY
}
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# Start-up: launch with the demo and poll until the first classification succeeds.
python3 - "$BIN" "$STATE/demo" > "$OUT/startup.txt" <<'PY'
import json, subprocess, sys, time, urllib.request
binary, state = sys.argv[1], sys.argv[2]
body = open("examples/digit-7.json", "rb").read()
t0 = time.monotonic()
p = subprocess.Popen([binary, "--state-dir", state, "up", "--demo", "--http-addr", "127.0.0.1:18001",
                      "--control-addr", "127.0.0.1:18266"], stderr=subprocess.DEVNULL)
while True:
    try:
        r = urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:18001/digits", data=body), timeout=1)
        if r.status == 200 and json.load(r)["label"] == 7:
            break
    except Exception:
        time.sleep(0.005)
elapsed = time.monotonic() - t0
time.sleep(1)
rss = int([l for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS")][0].split()[1])
p.terminate(); p.wait()
print(f"{elapsed:.3f} {rss}")
PY
read -r STARTUP_S DEMO_RSS < "$OUT/startup.txt"

"$BARE" 127.0.0.1:18080 2>/dev/null & pids+=($!)
"$BIN" --state-dir "$STATE/echo" up --http-addr 127.0.0.1:18000 --control-addr 127.0.0.1:18265 \
  --deploy examples/echo.toml 2>"$OUT/node.log" & NODE=$!; pids+=($NODE)
wait_http http://127.0.0.1:18080/
"$BIN" --state-dir "$STATE/echo" deploy examples/echo.toml --wait >/dev/null
sleep 1
IDLE_RSS=$(rss_kib "$NODE")

BODY='{"inputs":"hello rserve","n":1}'
run_oha() { # name url concurrency
  oha -z "${DUR}s" -c "$3" -m POST -H 'content-type: application/json' -d "$BODY" \
    --no-tui --output-format json "$2" > "$OUT/$1-c$3.json"
}
for c in 1 8 64; do
  run_oha bare http://127.0.0.1:18080/echo "$c"
  run_oha rserve http://127.0.0.1:18000/echo "$c"
done
BUSY_RSS=$(rss_kib "$NODE")

# The digits demo (a Burn MLP on the replica's compute thread), for reference.
"$BIN" --state-dir "$STATE/echo" deploy examples/digits.toml --wait >/dev/null
for c in 1 8; do
  oha -z "${DUR}s" -c "$c" -m POST -H 'content-type: application/json' -D examples/digit-7.json \
    --no-tui --output-format json http://127.0.0.1:18000/digits > "$OUT/digits-c$c.json"
done

python3 - "$OUT" "$DUR" "$STARTUP_S" "$IDLE_RSS" "$BUSY_RSS" "$DEMO_RSS" <<'PY'
import json, sys
out, dur, startup, idle, busy, demo = sys.argv[1:]
def load(name, c):
    d = json.load(open(f"{out}/{name}-c{c}.json"))
    s, p = d["summary"], d["latencyPercentiles"]
    ok = sum(v for k, v in d.get("statusCodeDistribution", {}).items() if k == "200")
    return s["requestsPerSec"], p["p50"] * 1000, p["p99"] * 1000, ok, sum(d.get("statusCodeDistribution", {}).values())
print(f"| concurrency | bare hyper req/s | rserve echo req/s | ratio | bare p50 / p99 (ms) | rserve p50 / p99 (ms) |")
print(f"|---|---|---|---|---|---|")
for c in (1, 8, 64):
    b, r = load("bare", c), load("rserve", c)
    assert r[3] == r[4], f"rserve non-200 responses at c={c}: {r[3]}/{r[4]}"
    print(f"| {c} | {b[0]:,.0f} | {r[0]:,.0f} | {r[0]/b[0]:.0%} | {b[1]:.3f} / {b[2]:.3f} | {r[1]:.3f} / {r[2]:.3f} |")
print()
for c in (1, 8):
    d = load("digits", c)
    assert d[3] == d[4], f"digits non-200 responses at c={c}"
    print(f"- digits demo (2 replicas, batch of 1 image per request) at concurrency {c}: {d[0]:,.0f} req/s, p50 {d[1]:.3f} ms, p99 {d[2]:.3f} ms")
print(f"- `rserve up --demo` to first 200 from /digits: {float(startup):.2f} s")
print(f"- node RSS idle with the echo app: {int(idle)/1024:.1f} MiB; after the load: {int(busy)/1024:.1f} MiB; with the digits demo: {int(demo)/1024:.1f} MiB")
print(f"- {dur} s per point; oha {'and both servers'} on the same 2 cores")
PY

#!/usr/bin/env bash
# Serving-layer benchmark: rserve's `echo` deployment through the ingress vs a bare
# hyper echo server (the physical limit), same small JSON POST, same run.
#
#   scripts/bench.sh [SECONDS_PER_POINT] [ROUNDS]     (defaults 5 and 3)
#   RSERVE_BEFORE=path/to/old/rserve scripts/bench.sh  (adds that build, same rounds)
#
# - HTTP/1.1 with wrk (C; its own cost per request is a fraction of the servers',
#   so on 2 cores it does not hide theirs) at concurrency 1, 8 and 64;
# - HTTP/1.1 pipelining (wrk, 16 requests in flight per connection, 8 connections);
# - HTTP/2 cleartext with prior knowledge (h2load, 8 connections x 8 streams).
#
# Each point runs ROUNDS times, bare and rserve alternating, and reports medians: on a
# shared 2-core machine req/s moves between runs; CPU per request moves much less, so
# each point also reports the server's CPU time (user + system, from /proc/PID/stat)
# per 1,000 requests. Also: the node's idle RSS, the digits demo, and the seconds from
# `rserve up --demo` to its first answer. Prints markdown for docs/benchmarks.md; raw
# figures go to target/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-5}"
ROUNDS="${2:-3}"
OUT=target/bench
mkdir -p "$OUT"

need() { # command debian-package
  command -v "$1" >/dev/null && return
  echo "installing $2 (Debian package) for $1..." >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq "$2" >/dev/null || { $sudo apt-get update -qq && $sudo apt-get install -y -qq "$2" >/dev/null; }
}
need wrk wrk
need h2load nghttp2-client

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
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

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

"$BARE" 127.0.0.1:18080 2>/dev/null & BARE_PID=$!; pids+=($BARE_PID)
"$BIN" --state-dir "$STATE/echo" up --http-addr 127.0.0.1:18000 --control-addr 127.0.0.1:18265 \
  --deploy examples/echo.toml 2>"$OUT/node.log" & NODE=$!; pids+=($NODE)
wait_http http://127.0.0.1:18080/
"$BIN" --state-dir "$STATE/echo" deploy examples/echo.toml --wait >/dev/null
SERVERS="bare rserve"
if [ -n "${RSERVE_BEFORE:-}" ]; then
  "$RSERVE_BEFORE" --state-dir "$STATE/before" up --http-addr 127.0.0.1:18002 --control-addr 127.0.0.1:18267 \
    --deploy examples/echo.toml 2>/dev/null & BEFORE=$!; pids+=($BEFORE)
  sleep 2
  "$RSERVE_BEFORE" --state-dir "$STATE/before" deploy examples/echo.toml --wait >/dev/null
  SERVERS="bare rserve before"
fi
sleep 1
IDLE_RSS=$(rss_kib "$NODE")

BODY='{"inputs":"hello rserve","n":1}'
printf '%s' "$BODY" > "$OUT/body.json"
# wrk: POST the file BODY_FILE as JSON; with PIPELINE=N, N requests at a time per
# connection. The summary line carries what the report needs.
cat > "$OUT/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = io.open(os.getenv("BODY_FILE")):read("*a")
wrk.headers["Content-Type"] = "application/json"
local depth = tonumber(os.getenv("PIPELINE") or "1")
if depth > 1 then
  init = function(args)
    batch = string.rep(wrk.format(), depth)
  end
  request = function() return batch end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT %d %d %d %d %.1f %.1f\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
LUA
export BODY_FILE="$OUT/body.json"

# One measured point: appends "mode server conc req/s p50_us p99_us cpu_ms_per_1000 bad" to figures.txt.
point() { # mode(h1|pipe|h2) server(bare|rserve) concurrency
  local mode=$1 who=$2 c=$3 pid url
  case $who in
    bare) pid=$BARE_PID; url=http://127.0.0.1:18080/echo ;;
    rserve) pid=$NODE; url=http://127.0.0.1:18000/echo ;;
    before) pid=$BEFORE; url=http://127.0.0.1:18002/echo ;;
  esac
  local before after line
  case $mode in
    h1|pipe)
      local depth=1; [ "$mode" = pipe ] && depth=16
      PIPELINE=$depth wrk -t1 -c"$c" -d1s -s "$OUT/post.lua" "$url" >/dev/null
      before=$(cpu_ticks "$pid")
      line=$(PIPELINE=$depth wrk -t1 -c"$c" -d"${DUR}s" --latency -s "$OUT/post.lua" "$url" | grep '^RESULT')
      after=$(cpu_ticks "$pid")
      read -r _ n us bad non2xx p50 p99 <<<"$line"
      echo "$mode $who $c $(python3 -c "print(f'{$n/($us/1e6):.0f} $p50 $p99 {($after-$before)/$TICK*1e6/$n:.2f} {$bad+$non2xx}')")" ;;
    h2)
      h2load -D 1 -c "$c" -m 8 -t 1 -d "$OUT/body.json" -H 'content-type: application/json' "$url" >/dev/null
      before=$(cpu_ticks "$pid")
      h2load -D "$DUR" -c "$c" -m 8 -t 1 -d "$OUT/body.json" -H 'content-type: application/json' "$url" > "$OUT/h2load.txt"
      after=$(cpu_ticks "$pid")
      python3 - "$OUT/h2load.txt" "$mode $who $c" "$((after - before))" "$TICK" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
assert "Application protocol: h2c" in text, text
rps = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", text).group(1))
done, failed, errored, timeout = map(int, re.search(
    r"requests: \d+ total, \d+ started, (\d+) done, \d+ succeeded, (\d+) failed, (\d+) errored, (\d+) timeout",
    text).groups())
bad_status = sum(map(int, re.search(r"status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text).groups()))
mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", text).group(1)
mean_us = float(mean[:-2]) * (1000 if mean.endswith("ms") else 1) if mean.endswith("s") else float(mean)
print(f"{sys.argv[2]} {rps:.0f} {mean_us:.1f} 0 {int(sys.argv[3]) / int(sys.argv[4]) * 1e6 / done:.2f} {failed + errored + timeout + bad_status}")
PY
      ;;
  esac
}

: > "$OUT/figures.txt"
for spec in "h1 1" "h1 8" "h1 64" "pipe 8" "h2 8"; do
  read -r mode c <<<"$spec"
  for _ in $(seq "$ROUNDS"); do
    for who in $SERVERS; do
      point "$mode" "$who" "$c" >> "$OUT/figures.txt"
    done
  done
done
BUSY_RSS=$(rss_kib "$NODE")

# The digits demo (a Burn MLP on the replica's compute thread), for reference.
"$BIN" --state-dir "$STATE/echo" deploy examples/digits.toml --wait >/dev/null
: > "$OUT/digits.txt"
for c in 1 8; do
  BODY_FILE=examples/digit-7.json wrk -t1 -c"$c" -d1s -s "$OUT/post.lua" http://127.0.0.1:18000/digits >/dev/null
  echo "$c $(BODY_FILE=examples/digit-7.json wrk -t1 -c"$c" -d"${DUR}s" --latency -s "$OUT/post.lua" \
    http://127.0.0.1:18000/digits | grep '^RESULT')" >> "$OUT/digits.txt"
done

python3 - "$OUT" "$DUR" "$ROUNDS" "$STARTUP_S" "$IDLE_RSS" "$BUSY_RSS" "$DEMO_RSS" <<'PY'
import statistics, sys
out, dur, rounds, startup, idle, busy, demo = sys.argv[1:]
rows = {}
for line in open(f"{out}/figures.txt"):
    mode, who, c, rps, p50, p99, cpu, bad = line.split()
    assert int(bad) == 0, f"{who} had {bad} failed or non-2xx responses ({mode}, c={c})"
    rows.setdefault((mode, int(c)), {}).setdefault(who, []).append((float(rps), float(p50), float(p99), float(cpu)))
med = lambda xs, i: statistics.median(x[i] for x in xs)
before = any("before" in by for by in rows.values())
extra_head = " | before: req/s, ratio, CPU ratio" if before else ""
print(f"| load | bare hyper req/s | rserve echo req/s | ratio | bare p50 / p99 (µs) | rserve p50 / p99 (µs) "
      f"| CPU ms per 1,000 req: bare / rserve | CPU ratio{extra_head} |")
print("|---|---|---|---|---|---|---|---|" + ("---|" if before else ""))
names = {"h1": "HTTP/1.1, c={c}", "pipe": "HTTP/1.1 pipelined ×16, c={c}", "h2": "h2c, c={c} × 8 streams"}
for (mode, c), by in rows.items():
    b, r = by["bare"], by["rserve"]
    lat = lambda xs: (f"{med(xs, 1):.0f} / {med(xs, 2):.0f}" if mode == "h1"
                      else (f"{med(xs, 1):.0f} (mean)" if mode == "h2" else "–"))
    extra = ""
    if before:
        o = by["before"]
        extra = f" | {med(o, 0):,.0f}, {med(o, 0) / med(b, 0):.2f}×, {med(o, 3) / med(b, 3):.2f}×"
    print(f"| {names[mode].format(c=c)} | {med(b, 0):,.0f} | {med(r, 0):,.0f} | {med(r, 0) / med(b, 0):.2f}× "
          f"| {lat(b)} | {lat(r)} | {med(b, 3):.1f} / {med(r, 3):.1f} | {med(r, 3) / med(b, 3):.2f}×{extra} |")
print()
for line in open(f"{out}/digits.txt"):
    c, _, n, us, errs, non2xx, p50, p99 = line.split()
    assert int(errs) + int(non2xx) == 0, f"digits: failed responses at c={c}"
    print(f"- digits demo (2 replicas, one image per request) at concurrency {c}: "
          f"{int(n) / (int(us) / 1e6):,.0f} req/s, p50 {float(p50) / 1000:.3f} ms, p99 {float(p99) / 1000:.3f} ms")
print(f"- `rserve up --demo` to first 200 from /digits: {float(startup):.2f} s")
print(f"- node RSS idle with the echo app: {int(idle)/1024:.1f} MiB; after the load: {int(busy)/1024:.1f} MiB; "
      f"with the digits demo: {int(demo)/1024:.1f} MiB")
print(f"- medians of {rounds} rounds of {dur} s per point, bare and rserve alternating; wrk / h2load "
      f"with one thread and both servers on the same cores")
PY

#!/usr/bin/env bash
# What one deployment-handle hop costs: wrk against `echo` called directly by
# the ingress (/direct) and against a `relay` deployment (examples/rag) that
# calls the same kind of `echo` deployment through a handle (/hop), one node,
# c=1 and c=64; then the RAG example's end-to-end latency per stage
# (embedding, search, first token, whole answer) over fixed questions.
#
#   scripts/bench-handles.sh [SECONDS]   (default 10; needs wrk, python3, the models)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
cargo build --release -p rserve-rag >&2
BIN="$PWD/target/release/rserve-rag"
STATE=$(mktemp -d)
node=""
cleanup() {
  [ -n "$node" ] && kill "$node" 2>/dev/null || true
  rm -rf "$STATE"
}
trap cleanup EXIT
HTTP=127.0.0.1:18011
"$BIN" --state-dir "$STATE" up --http-addr "$HTTP" --control-addr 127.0.0.1:18276 2>"$STATE/node.log" & node=$!
sleep 2
cat > "$STATE/hop.toml" <<'TOML'
[[applications]]
name = "direct"
route_prefix = "/direct"
[[applications.deployments]]
name = "echo"
max_ongoing_requests = 1000
replica = { kind = "echo" }

[[applications]]
name = "hop"
route_prefix = "/hop"
ingress = "relay"
[[applications.deployments]]
name = "relay"
max_ongoing_requests = 1000
handles = { next = "echo" }
replica = { kind = "relay" }
[[applications.deployments]]
name = "echo"
max_ongoing_requests = 1000
replica = { kind = "echo" }
TOML
"$BIN" --state-dir "$STATE" deploy "$STATE/hop.toml" --wait >/dev/null
cat > "$STATE/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"inputs":"hello rserve"}'
wrk.headers["content-type"] = "application/json"
LUA
echo "handle hop vs direct, ${DUR}s per run, wrk 1 thread ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs, $(date -u +%F))"
printf '%-8s %4s %10s %9s %9s\n' path c req/s p50 p99
for c in 1 64; do
  for path in direct hop; do
    wrk -t1 -c"$c" -d2s -s "$STATE/post.lua" "http://$HTTP/$path" >/dev/null
    out=$(wrk -t1 -c"$c" -d"${DUR}s" --latency -s "$STATE/post.lua" "http://$HTTP/$path")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    printf '%-8s %4s %10s %9s %9s\n' "$path" "$c" "$rps" "$p50" "$p99"
  done
done

# The RAG example, stage by stage.
sed "s|\"models/|\"$PWD/models/|" examples/rag/rag.toml > "$STATE/rag.toml"
"$BIN" --state-dir "$STATE" deploy "$STATE/rag.toml" --wait --timeout 300 >/dev/null
python3 - "$HTTP" <<'PY'
import json, statistics, sys, time, urllib.request
addr = sys.argv[1]
questions = ["What is the capital of Japan?", "Which element has the chemical symbol Au?",
             "What is the largest animal that has ever lived?", "Who invented the World Wide Web?",
             "How long is a marathon?", "Which planet has a storm called the Great Red Spot?"]
def ask(q, stream):
    req = urllib.request.Request(f"http://{addr}/rag", json.dumps({"question": q, "stream": stream}).encode())
    start = time.perf_counter()
    with urllib.request.urlopen(req) as r:
        body = r.read()
    wall = (time.perf_counter() - start) * 1000
    if not stream:
        return json.loads(body)["timings"], wall
    events = [e[6:] for e in body.decode().split("\n\n") if e.startswith("data: ")]
    return json.loads(events[-2])["timings"], wall
for q in questions:  # warm-up
    ask(q, True)
rows = {k: [] for k in ("embed_ms", "search_ms", "first_token_ms", "total_ms", "client_ms")}
for _ in range(3):
    for q in questions:
        t, wall = ask(q, True)
        for k in ("embed_ms", "search_ms", "first_token_ms", "total_ms"):
            rows[k].append(t[k])
        rows["client_ms"].append(wall)
print(f"RAG, streamed, {len(rows['total_ms'])} questions (max_tokens 48), c=1: median ms")
for k, v in rows.items():
    print(f"  {k:15s} {statistics.median(v):8.2f}")
PY

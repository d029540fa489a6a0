#!/usr/bin/env bash
# Batching that never waits on an idle replica: embeddings (all-MiniLM-L6-v2)
# through the HTTP ingress with wrk at c=1, 8 and 32, same node and model, one
# mode after the other: no batching; batching as Ray's @serve.batch
# (`wait_when_idle = true`: the first request waits batch_wait_timeout_s even
# on an idle replica); batching as rserve does by default (a batch that would
# run alone runs at once).
#
#   scripts/bench-batch-idle.sh [SECONDS]   (default 10; needs wrk and the models)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
bash scripts/fetch-models.sh >/dev/null
cargo build --release -p rserve >&2
BIN="$PWD/target/release/rserve"
STATE=$(mktemp -d)
node=""
trap '[ -n "$node" ] && kill $node 2>/dev/null; rm -rf "$STATE"' EXIT
HTTP=127.0.0.1:18120
"$BIN" --state-dir "$STATE" up --http-addr "$HTTP" --control-addr 127.0.0.1:18385 2>"$STATE/log" & node=$!
sleep 1
cat > "$STATE/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model": "m", "input": "Embeddings map text to vectors so that similar meanings are close together."}'
wrk.headers["content-type"] = "application/json"
LUA
echo "embeddings, ${DUR}s per point, wrk 1 thread ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs, $(date -u +%F))"
printf '%-34s %4s %9s %9s %9s\n' mode c req/s p50 p99
for mode in none ray idle; do
  case $mode in
    none) batching='batching = { max_batch_size = 1 }' ;;
    ray) batching='batching = { max_batch_size = 32, batch_wait_timeout_s = 0.005, wait_when_idle = true }' ;;
    idle) batching='batching = { max_batch_size = 32, batch_wait_timeout_s = 0.005 }' ;;
  esac
  cat > "$STATE/app.toml" <<TOML
[[applications]]
name = "emb"
route_prefix = "/emb"
[[applications.deployments]]
name = "e"
max_ongoing_requests = 64
$batching
replica = { kind = "embeddings", model_dir = "$PWD/models/all-minilm-l6-v2", model_id = "m" }
TOML
  "$BIN" --state-dir "$STATE" deploy "$STATE/app.toml" --wait >/dev/null
  for c in 1 8 32; do
    wrk -t1 -c"$c" -d2s -s "$STATE/post.lua" "http://$HTTP/v1/embeddings" >/dev/null
    out=$(wrk -t1 -c"$c" -d"${DUR}s" --latency -s "$STATE/post.lua" "http://$HTTP/v1/embeddings")
    printf '%-34s %4s %9s %9s %9s\n' "$mode" "$c" \
      "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
      "$(awk '$1 == "50%" {print $2}' <<<"$out")" \
      "$(awk '$1 == "99%" {print $2}' <<<"$out")"
  done
done

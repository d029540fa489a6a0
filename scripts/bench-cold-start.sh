#!/usr/bin/env bash
# Scale-from-zero: the time from a request arriving at a deployment with no
# replica to its answer (the request is held while the first replica starts),
# for every kind that has weights here (`scripts/fetch-models.sh` for
# embeddings and chat), and for Ray Serve 2.60's `sleep` peer when installed.
# Each kind: 5 rounds; between rounds the deployment goes back to zero
# (`downscale_to_zero_delay_s = 1`).
#
#   scripts/bench-cold-start.sh [ROUNDS]      (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-5}"
cargo build --release -p rserve >&2
BIN=$PWD/target/release/rserve
STATE=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; ray stop --force >/dev/null 2>&1 || true; rm -rf "$STATE"; }
trap cleanup EXIT
"$BIN" --state-dir "$STATE/n" up --http-addr 127.0.0.1:18004 --control-addr 127.0.0.1:18269 2>/dev/null & pids+=($!)
sleep 2
AUTO='autoscaling_config = { min_replicas = 0, max_replicas = 1, downscale_delay_s = 1, downscale_to_zero_delay_s = 1, look_back_period_s = 0.5 }'

running() { # app -> running replicas
  "$BIN" --state-dir "$STATE/n" status -o json | python3 -c "import json,sys; d=json.load(sys.stdin)['applications']['$1']['deployments']; print(sum(x['replica_states'].get('RUNNING',0) for x in d.values()))"
}
cold() { # app path content-type body
  local app=$1 path=$2 ctype=$3 body=$4 times=()
  for _ in $(seq "$ROUNDS"); do
    for _ in $(seq 100); do [ "$(running "$app")" = 0 ] && break; sleep 0.2; done
    t=$(curl -s -o /dev/null -w '%{time_total}' -H "content-type: $ctype" -d "$body" "http://127.0.0.1:18004$path")
    times+=("$t")
  done
  echo "$app: ${times[*]} s"
}
deploy() { # name kind-table
  cat > "$STATE/$1.toml" <<TOML
[[applications]]
name = "$1"
route_prefix = "/$1"
[[applications.deployments]]
name = "d"
max_ongoing_requests = 8
$AUTO
replica = $2
TOML
  "$BIN" --state-dir "$STATE/n" deploy "$STATE/$1.toml" --wait >/dev/null
}
echo "rserve (first answer from zero, ${ROUNDS} rounds):"
deploy sleep '{ kind = "sleep", duration_ms = 100 }'
cold sleep /sleep application/json '{}'
deploy digits '{ kind = "digits" }'
cold digits /digits application/json "$(cat examples/digit-7.json)"
if [ -d models/all-minilm-l6-v2 ]; then
  deploy embeddings '{ kind = "embeddings", model_dir = "models/all-minilm-l6-v2", model_id = "cold-embed" }'
  cold embeddings /v1/embeddings application/json '{"model": "cold-embed", "input": ["hello world"]}'
fi
GGUF=models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
if [ -f "$GGUF" ]; then
  deploy chat "{ kind = \"chat\", model_path = \"$GGUF\", model_id = \"cold-chat\" }"
  cold chat /v1/chat/completions application/json \
    '{"model": "cold-chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}'
fi

if python3 -c "import ray.serve" 2>/dev/null; then
  RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S=0.5 \
  RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S=0.5 \
  python3 scripts/autoscale_ray_app.py 18101 "$STATE/ray_count" 100 \
    '{"max_ongoing_requests": 8, "min_replicas": 0, "max_replicas": 1, "downscale_delay_s": 1, "downscale_to_zero_delay_s": 1, "look_back_period_s": 0.5}' \
    > "$STATE/ray.log" 2>&1 & pids+=($!)
  for _ in $(seq 120); do [ -s "$STATE/ray_count" ] && break; sleep 1; done
  times=()
  for _ in $(seq "$ROUNDS"); do
    for _ in $(seq 150); do [ "$(cat "$STATE/ray_count")" = 0 ] && break; sleep 0.2; done
    times+=("$(curl -s -o /dev/null -w '%{time_total}' -d x http://127.0.0.1:18101/slow)")
  done
  echo "ray serve $(python3 -c 'import ray; print(ray.__version__)') sleep: ${times[*]} s"
fi

#!/usr/bin/env bash
# Autoscaling under a load step, rserve and Ray Serve side by side, same
# machine, same client (scripts/bench_autoscale_client.py): a `sleep`
# deployment (100 ms, max_ongoing_requests 2, 1..4 replicas,
# target_ongoing_requests 1, upscale_delay_s 1, downscale_delay_s 3,
# look_back_period_s 1, metrics every 0.5 s), 2 closed-loop clients for 10 s,
# 8 for 20 s, 2 for 15 s. Ideal at 8 clients: 4 replicas × 2 / 0.1 s = 80 req/s.
#
#   scripts/bench-autoscale.sh            (needs `pip install "ray[serve]==2.60.0"` for the peer)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p rserve >&2
BIN=$PWD/target/release/rserve
STATE=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; ray stop --force >/dev/null 2>&1 || true; rm -rf "$STATE"; }
trap cleanup EXIT
PHASES=${PHASES:-2:10,8:20,2:15}

cat > "$STATE/slow.toml" <<'TOML'
[[applications]]
name = "slow"
route_prefix = "/slow"
[[applications.deployments]]
name = "s"
max_ongoing_requests = 2
autoscaling_config = { min_replicas = 1, max_replicas = 4, target_ongoing_requests = 1, upscale_delay_s = 1, downscale_delay_s = 3, look_back_period_s = 1, metrics_interval_s = 0.5 }
replica = { kind = "sleep", duration_ms = 100 }
TOML
"$BIN" --state-dir "$STATE/rserve" up --http-addr 127.0.0.1:18003 --control-addr 127.0.0.1:18268 \
  --deploy "$STATE/slow.toml" 2>/dev/null & pids+=($!)
sleep 2
"$BIN" --state-dir "$STATE/rserve" deploy "$STATE/slow.toml" --wait >/dev/null 2>&1
echo "rserve:"
python3 scripts/bench_autoscale_client.py http://127.0.0.1:18003/slow --phases "$PHASES" \
  --ideal-rps 80 --full-replicas 4 \
  --replicas-cmd "$BIN --state-dir $STATE/rserve status -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[\"applications\"][\"slow\"][\"deployments\"][\"s\"][\"replica_states\"].get(\"RUNNING\",0))'"

if python3 -c "import ray.serve" 2>/dev/null; then
  RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S=0.5 \
  RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S=0.5 \
  python3 scripts/autoscale_ray_app.py 18100 "$STATE/ray_count" 100 \
    '{"max_ongoing_requests": 2, "min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 1, "upscale_delay_s": 1, "downscale_delay_s": 3, "look_back_period_s": 1}' \
    > "$STATE/ray.log" 2>&1 & pids+=($!)
  for _ in $(seq 120); do [ -s "$STATE/ray_count" ] && break; sleep 1; done
  sleep 5
  echo "ray serve $(python3 -c 'import ray; print(ray.__version__)'):"
  python3 scripts/bench_autoscale_client.py http://127.0.0.1:18100/slow --phases "$PHASES" \
    --ideal-rps 80 --full-replicas 4 --replicas-cmd "cat $STATE/ray_count"
else
  echo "ray serve: not installed (pip install 'ray[serve]==2.60.0')"
fi

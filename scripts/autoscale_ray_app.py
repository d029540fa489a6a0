#!/usr/bin/env python3
"""Ray Serve peer for scripts/bench-autoscale.sh: the same sleep deployment and
autoscaling_config as rserve's, on 127.0.0.1:PORT/slow. Writes the running
replica count to COUNT_FILE every 0.5 s until killed.

    RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S=0.5 \
    RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S=0.5 \
    python3 scripts/autoscale_ray_app.py PORT COUNT_FILE SLEEP_MS CONFIG_JSON
"""
import asyncio
import json
import sys
import time

import ray
from ray import serve

port, count_file, sleep_ms, config = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
max_ongoing = config.pop("max_ongoing_requests")


@serve.deployment(max_ongoing_requests=max_ongoing, ray_actor_options={"num_cpus": 0},
                  autoscaling_config=config)
class Sleep:
    async def __call__(self, request):
        await asyncio.sleep(sleep_ms / 1000)
        return "ok"


ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
serve.start(http_options={"host": "127.0.0.1", "port": port})
serve.run(Sleep.bind(), name="slow", route_prefix="/slow")
while True:
    try:
        dep = serve.status().applications["slow"].deployments["Sleep"]
        running = dep.replica_states.get("RUNNING", 0)
        with open(count_file + ".tmp", "w") as f:
            f.write(str(running))
        import os
        os.replace(count_file + ".tmp", count_file)
    except Exception:
        pass
    time.sleep(0.5)

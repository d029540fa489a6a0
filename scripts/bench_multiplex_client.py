"""Zipf-skewed multiplexed traffic against a digits deployment.

    python3 scripts/bench_multiplex_client.py URL MODELS THREADS REQUESTS SEED

Each request names model `shift-K` in the `serve_multiplexed_model_id` header, K drawn
from a Zipf distribution (s = 1.1) over MODELS ids with a fixed seed, so two runs send
the same sequence. Checks every answer ((7 + K) mod 10 for the digit-7 image) and
prints one JSON line: requests/s, p50/p99 latency in ms.
"""

import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse

url, models, threads, requests, seed = sys.argv[1:6]
models, threads, requests = int(models), int(threads), int(requests)
parsed = urllib.parse.urlparse(url)
here = os.path.dirname(os.path.abspath(__file__))
body = open(os.path.join(here, "..", "examples", "digit-7.json"), "rb").read()

weights = [1.0 / (k + 1) ** 1.1 for k in range(models)]
rng = random.Random(int(seed))
plan = rng.choices(range(models), weights=weights, k=requests)
chunks = [plan[i::threads] for i in range(threads)]
latencies, errors = [], []
lock = threading.Lock()


def worker(ks):
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    mine = []
    for k in ks:
        start = time.perf_counter()
        conn.request("POST", parsed.path, body, {"content-type": "application/json",
                                                 "serve_multiplexed_model_id": f"shift-{k}"})
        resp = conn.getresponse()
        data = resp.read()
        mine.append(time.perf_counter() - start)
        if resp.status != 200 or json.loads(data)["label"] != (7 + k) % 10:
            errors.append(f"shift-{k}: {resp.status} {data[:100]!r}")
    with lock:
        latencies.extend(mine)


start = time.perf_counter()
ts = [threading.Thread(target=worker, args=(c,)) for c in chunks]
for t in ts:
    t.start()
for t in ts:
    t.join()
wall = time.perf_counter() - start
assert not errors, errors[:3]
latencies.sort()
pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
print(json.dumps({"requests": requests, "req_per_s": round(requests / wall, 1),
                  "p50_ms": round(pct(0.5), 2), "p99_ms": round(pct(0.99), 2)}))

#!/usr/bin/env python3
"""Load-step client for scripts/bench-autoscale.sh: closed-loop clients in
phases (e.g. 2 clients for 10 s, 8 for 20 s, 2 for 15 s) against one URL,
while a shell command reports the running replica count every 0.5 s.

Prints one JSON object: per phase requests/s, p50/p99/max latency and
failures; after the step up, the seconds until the replicas reached the
target count and until a 1 s window ran at >= 90 % of the ideal rate; the
replica timeline's direction changes (flaps) and replica-seconds.
"""
import argparse
import json
import subprocess
import threading
import time
import urllib.request


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--phases", default="2:10,8:20,2:15", help="clients:seconds,...")
    p.add_argument("--replicas-cmd", required=True, help="prints the running replica count")
    p.add_argument("--ideal-rps", type=float, required=True, help="rate at full capacity")
    p.add_argument("--full-replicas", type=int, required=True)
    p.add_argument("--target", type=float, default=1.0, help="target_ongoing_requests")
    p.add_argument("--max-replicas", type=int, default=None, help="default: --full-replicas")
    args = p.parse_args()
    phases = [tuple(float(x) for x in ph.split(":")) for ph in args.phases.split(",")]

    results = []  # (start, latency, ok, phase)
    lock = threading.Lock()
    stop_all = threading.Event()
    timeline = []  # (t, replicas)

    def sampler():
        while not stop_all.is_set():
            try:
                out = subprocess.run(args.replicas_cmd, shell=True, capture_output=True,
                                     text=True, timeout=5).stdout.strip()
                timeline.append((time.monotonic(), int(out or 0)))
            except Exception:
                pass
            time.sleep(0.5)

    def client(stop, phase_of):
        while not stop.is_set():
            t0 = time.monotonic()
            ok = False
            try:
                req = urllib.request.Request(args.url, data=b"x", method="POST")
                with urllib.request.urlopen(req, timeout=60) as r:
                    r.read()
                    ok = r.status == 200
            except Exception:
                ok = False
            with lock:
                results.append((t0, time.monotonic() - t0, ok, phase_of()))

    threading.Thread(target=sampler, daemon=True).start()
    workers = []  # (thread, stop event)
    current = [0]
    starts = []
    t_begin = time.monotonic()
    for i, (clients, secs) in enumerate(phases):
        current[0] = i
        starts.append(time.monotonic())
        while len(workers) < clients:
            ev = threading.Event()
            th = threading.Thread(target=client, args=(ev, lambda: current[0]), daemon=True)
            th.start()
            workers.append((th, ev))
        while len(workers) > clients:
            th, ev = workers.pop()
            ev.set()
        time.sleep(secs)
    for th, ev in workers:
        ev.set()
    for th, ev in workers:
        th.join(timeout=65)
    stop_all.set()
    t_end = time.monotonic()

    def pct(xs, q):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else None

    out = {"phases": []}
    for i, (clients, secs) in enumerate(phases):
        lat = [r[1] for r in results if r[3] == i and r[2]]
        failed = sum(1 for r in results if r[3] == i and not r[2])
        out["phases"].append({
            "clients": int(clients), "seconds": secs, "rps": round(len(lat) / secs, 1),
            "p50_ms": round(1000 * pct(lat, 0.5), 1) if lat else None,
            "p99_ms": round(1000 * pct(lat, 0.99), 1) if lat else None,
            "max_ms": round(1000 * max(lat), 1) if lat else None,
            "failed": failed,
        })
    step = starts[1] if len(starts) > 1 else t_begin
    full = [t for t, n in timeline if t >= step and n >= args.full_replicas]
    out["to_full_replicas_s"] = round(full[0] - step, 2) if full else None
    window_ok = None
    t = step
    while t + 1 <= step + phases[1][1]:
        n = sum(1 for r in results if r[2] and t <= r[0] + r[1] < t + 1)
        if n >= 0.9 * args.ideal_rps:
            window_ok = round(t + 1 - step, 2)
            break
        t += 0.25
    out["to_90pct_rate_s"] = window_ok
    counts = [n for _, n in timeline]
    dirs = [1 if b > a else -1 for a, b in zip(counts, counts[1:]) if b != a]
    out["direction_changes"] = sum(1 for a, b in zip(dirs, dirs[1:]) if a != b)
    out["replica_seconds"] = round(sum(
        n * (t2 - t1) for (t1, n), (t2, _) in zip(timeline, timeline[1:])), 1)
    # The ideal count at each moment: the phase's clients / target, within max.
    import math
    top = args.max_replicas or args.full_replicas
    def ideal(t):
        i = max(k for k, s in enumerate(starts) if s <= t) if t >= starts[0] else 0
        return min(top, max(1, math.ceil(phases[i][0] / args.target)))
    over = under = 0.0
    for (t1, n), (t2, _) in zip(timeline, timeline[1:]):
        want = ideal(t1)
        over += max(0, n - want) * (t2 - t1)
        under += max(0, want - n) * (t2 - t1)
    out["over_provisioned_replica_s"] = round(over, 1)
    out["under_provisioned_replica_s"] = round(under, 1)
    out["timeline"] = [(round(t - t_begin, 1), n) for t, n in timeline]
    out["failed"] = sum(1 for r in results if not r[2])
    out["seconds"] = round(t_end - t_begin, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

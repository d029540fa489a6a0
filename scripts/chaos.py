#!/usr/bin/env python3
"""Chaos and overload runs on loopback, bounded in time (issue 17). Called by
scripts/chaos.sh; prints markdown for docs/benchmarks.md ("Reliability").

    python3 scripts/chaos.py BINARY [PART...]      PART: a b c d (default: all)

a  slowloris: 5,000 connections from 127.0.0.2 that never finish a request head
   (and reconnect when cut), while a client on 127.0.0.1 opens a fresh connection
   per request; with the default flags, then with --max-connections-per-ip 256.
b  10x capacity on a `sleep` app (Ray's default max_queued_requests = -1), node
   started with --max-queued-requests 1000: 503s, not memory.
c  faults under steady load in a head + member cluster: a replica panics, the
   member is SIGKILLed (and restarted), then the head is SIGKILLed while the
   member's ingress is loaded.
d  chat: 200 streams that disconnect after their first event (a disconnect
   storm), and 16 streams whose readers never read; then one normal request.

Every request is counted: sent, answered 2xx, answered 4xx/5xx (by status), and
never answered (connection cut or no answer within its timeout)."""

import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1])
PARTS = sys.argv[2:] or ["a", "b", "c", "d"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TMP = tempfile.mkdtemp(prefix="rserve-chaos-")
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))


def free_port(host="127.0.0.1", kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Node:
    """`rserve up` on HOST with fresh ports, its log beside its state dir."""

    def __init__(self, name, host="127.0.0.1", extra=(), state=None, control=None):
        self.state = state or os.path.join(TMP, name)
        self.host = host
        self.http = free_port(host)
        self.control = control or free_port(host, socket.SOCK_DGRAM)
        self.extra = list(extra)
        self.log = open(self.state + ".log", "ab")
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [BIN, "--state-dir", self.state, "up", "--http-addr", f"{self.host}:{self.http}",
             "--control-addr", f"{self.host}:{self.control}"] + self.extra,
            stdout=self.log, stderr=self.log, cwd=ROOT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection((self.host, self.http), timeout=1) as s:
                    s.sendall(b"GET /-/healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"{self.state}: node did not come up; see {self.state}.log")

    def cli(self, *args, check=True):
        out = subprocess.run([BIN, "--state-dir", self.state, "--address",
                              f"{self.host}:{self.control}", *args],
                             capture_output=True, text=True, cwd=ROOT)
        if check and out.returncode != 0:
            raise SystemExit(f"rserve {' '.join(args)}: {out.stderr}")
        return out.stdout

    def deploy(self, text, name="app.toml"):
        path = os.path.join(TMP, name)
        with open(path, "w") as f:
            f.write(text)
        self.cli("deploy", path, "--wait", "--timeout", "300")

    def rss_mib(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def metric(self, name):
        status, body = http_sync(self.host, self.http, "GET", "/-/metrics")
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def http_sync(host, port, method, path, body=b"", timeout=10):
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n"
                  "connection: close\r\n\r\n".encode() + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


class Tally:
    def __init__(self):
        self.sent = self.ok = self.unanswered = 0
        self.errors = {}
        self.latencies = []

    def add(self, status, latency):
        self.sent += 1
        if status is None:
            self.unanswered += 1
        elif 200 <= status < 300:
            self.ok += 1
            self.latencies.append(latency)
        else:
            self.errors[status] = self.errors.get(status, 0) + 1

    def row(self):
        lat = sorted(self.latencies)
        p = lambda q: f"{lat[min(len(lat) - 1, int(q * len(lat)))] * 1000:.1f}" if lat else "-"
        errs = ", ".join(f"{n}× {s}" for s, n in sorted(self.errors.items())) or "0"
        return f"{self.sent} | {self.ok} | {errs} | {self.unanswered} | {p(0.5)} / {p(0.99)}"


async def request(host, port, method, path, body=b"", headers="", timeout=10.0, src=None,
                  first_event_only=False, stall=False):
    """One request on a fresh connection: (status or None, seconds)."""
    start = time.monotonic()
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, local_addr=(src, 0) if src else None), timeout)
        writer.write(f"{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n"
                     f"{headers}connection: close\r\n\r\n".encode() + body)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = int(head.split()[1])
        if first_event_only:
            await asyncio.wait_for(reader.readuntil(b"\n\n"), timeout)
        elif stall:
            await asyncio.sleep(timeout)
        else:
            await asyncio.wait_for(reader.read(), timeout)
        return status, time.monotonic() - start
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
        return None, time.monotonic() - start
    finally:
        if writer is not None:
            writer.close()


async def steady(tally, rate, seconds, make):
    """Open loop: `rate` requests a second for `seconds`, each from `make()`."""
    tasks = []
    start = time.monotonic()
    n = int(rate * seconds)
    for i in range(n):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

        async def one():
            status, latency = await make()
            tally.add(status, latency)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)


async def sample_rss(node, out, stop):
    while not stop.is_set():
        out.append(node.rss_mib())
        await asyncio.sleep(0.25)


ECHO = """
[[applications]]
name = "echo"
route_prefix = "/echo"
[[applications.deployments]]
name = "echo"
num_replicas = {n}
max_ongoing_requests = 100
replica = {{ kind = "echo", fault_injection = true }}
"""


def part_a():
    print("\n### (a) slowloris: 5,000 stalled heads from 127.0.0.2, fresh-connection clients on 127.0.0.1\n")
    print("| flags | client requests sent | 2xx | errors | never answered | p50 / p99 ms | RSS before / peak / after (MiB) | connections refused (cap / per-ip) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, extra in [("defaults (--max-connections 4096)", []),
                         ("--max-connections-per-ip 256", ["--max-connections-per-ip", "256"])]:
        node = Node("a" + str(len(extra)), extra=extra)
        node.deploy(ECHO.format(n=2))
        before = node.rss_mib()
        tally, rss = Tally(), []

        async def run():
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_rss(node, rss, stop))
            attack_end = time.monotonic() + 40

            async def loris():
                while time.monotonic() < attack_end:
                    try:
                        r, w = await asyncio.open_connection(node.host, node.http, local_addr=("127.0.0.2", 0))
                        w.write(b"POST /echo HTTP/1.1\r\nhost: x\r\n")
                        while time.monotonic() < attack_end:
                            await asyncio.sleep(5)
                            w.write(b"x-a: b\r\n")
                            await w.drain()
                            if r.at_eof():
                                break
                        w.close()
                    except OSError:
                        await asyncio.sleep(0.5)
            lorises = [asyncio.create_task(loris()) for _ in range(5000)]
            await asyncio.sleep(5)  # the attack is in place
            await steady(tally, 100, 35, lambda: request(node.host, node.http, "POST", "/echo", b"hi", timeout=5))
            await asyncio.gather(*lorises, return_exceptions=True)
            await asyncio.sleep(3)
            stop.set()
            await sampler
        asyncio.run(run())
        refused = node.metric("rserve_http_connections_refused_total")
        per_ip = node.metric("rserve_http_connections_refused_per_ip_total")
        print(f"| {label} | {tally.row()} | {before:.0f} / {max(rss):.0f} / {rss[-1]:.0f} | {refused:.0f} / {per_ip:.0f} |")
        node.stop()


SLEEP = """
[[applications]]
name = "slow"
route_prefix = "/slow"
[[applications.deployments]]
name = "slow"
num_replicas = 1
max_ongoing_requests = 4
replica = { kind = "sleep", duration_ms = 100 }
"""


def part_b():
    print("\n### (b) 10× capacity on a `sleep` app (4 slots × 100 ms = 40 req/s; 400 req/s offered for 20 s)\n")
    node = Node("b", extra=["--max-queued-requests", "1000"])
    node.deploy(SLEEP)
    before = node.rss_mib()
    tally, rss, queued = Tally(), [], []

    async def run():
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(node, rss, stop))

        async def watch():
            while not stop.is_set():
                queued.append(await asyncio.to_thread(node.metric, "rserve_node_queued_requests"))
                await asyncio.sleep(0.5)
        watcher = asyncio.create_task(watch())
        await steady(tally, 400, 20, lambda: request(node.host, node.http, "POST", "/slow", b"x" * 1024, timeout=60))
        await asyncio.sleep(2)
        stop.set()
        await sampler
        await watcher
    asyncio.run(run())
    print("| requests sent | 2xx | errors | never answered | p50 / p99 ms (2xx) | most queued | RSS before / peak / after (MiB) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {tally.row()} | {max(queued):.0f} | {before:.0f} / {max(rss):.0f} / {rss[-1]:.0f} |")
    node.stop()


SLOW_SPREAD = """
[[applications]]
name = "slow"
route_prefix = "/slow"
[[applications.deployments]]
name = "slow"
num_replicas = 4
max_ongoing_requests = 2
replica = { kind = "sleep", duration_ms = 50 }
"""


def part_c():
    print("\n### (c) faults under steady load: head (127.0.0.1) + member (127.0.0.2)\n")
    print("`slow`: 4 `sleep` replicas (50 ms, 2 slots each) spread over both nodes, 100 req/s (60 % of its 160), so "
          "requests overflow from the entry node's own replicas to the other node's; `echo` "
          "(with fault injection) for the panic.\n")
    head = Node("c-head", extra=["--node-timeout-s", "3"])
    token = head.cli("token", "create").strip()
    member = Node("c-member", host="127.0.0.2",
                  extra=["--join", f"127.0.0.1:{head.control}", "--token", token])
    head.deploy(ECHO.format(n=4))
    head.deploy(SLOW_SPREAD, "slow.toml")
    time.sleep(2)
    rows = []

    def phase(name, target, seconds, event=None, at=None, path="/slow"):
        tally = Tally()

        async def run():
            async def fault():
                await asyncio.sleep(at)
                await asyncio.to_thread(event)
            # `slow` has 8 slots of 50 ms (160 req/s): load it to 60 %.
            rate = 100 if path == "/slow" else 200
            tasks = [asyncio.create_task(steady(tally, rate, seconds, lambda: request(
                target.host, target.http, "POST", path, b"hi", timeout=10)))]
            if event:
                tasks.append(asyncio.create_task(fault()))
            await asyncio.gather(*tasks)
        asyncio.run(run())
        rows.append((name, tally))

    phase("steady (no fault)", head, 5)
    injected = []
    phase("`echo`: a replica panics (one request carries x-rserve-fault: panic)", head, 10,
          lambda: injected.append(asyncio.run(request(
              head.host, head.http, "POST", "/echo", b"x", headers="x-rserve-fault: panic\r\n"))[0]), 2,
          path="/echo")
    phase("the member is SIGKILLed at 2 s (node timeout 3 s)", head, 15, member.kill, 2)
    member.start()
    time.sleep(8)  # rejoins; the head places replicas on it again
    phase("member restarted and back", head, 5)
    phase("the head is SIGKILLed at 2 s; load on the member's ingress", member, 10, head.kill, 2)
    print("| phase | sent | 2xx | errors | never answered | p50 / p99 ms |")
    print("|---|---|---|---|---|---|")
    for name, tally in rows:
        print(f"| {name} | {tally.row()} |")
    print(f"\nThe request that carried the fault was answered {injected} (500 expected); it is not in the counts.")
    member.stop()
    head.stop()


CHAT = """
[[applications]]
name = "chat"
route_prefix = "/chat"
[[applications.deployments]]
name = "llm"
max_ongoing_requests = 16
[applications.deployments.replica]
kind = "chat"
model_path = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
model_id = "m"
max_num_seqs = 16
"""


def part_d():
    print("\n### (d) chat: a disconnect storm and readers that never read\n")
    node = Node("d")
    node.deploy(CHAT)
    body = lambda n: json.dumps({"model": "m", "stream": True, "max_tokens": n, "temperature": 0.8,
                                 "messages": [{"role": "user", "content": "Tell me a long story."}]}).encode()
    path = "/v1/chat/completions"
    before = node.rss_mib()
    storm, stalled, after = Tally(), Tally(), Tally()

    async def run():
        async def one(t, **kw):
            status, latency = await request(node.host, node.http, "POST", path, **kw)
            t.add(status, latency)
        # 200 clients, 50 at a time, each gone after its first event.
        for _ in range(4):
            await asyncio.gather(*[one(storm, body=body(256), first_event_only=True, timeout=120)
                                   for _ in range(50)])
        # 16 readers that take the answer's head and never read on.
        await asyncio.gather(*[one(stalled, body=body(2000), stall=True, timeout=40) for _ in range(16)])
    asyncio.run(run())
    t0 = time.monotonic()
    while node.metric("rserve_replica_ongoing_requests") > 0 and time.monotonic() - t0 < 60:
        time.sleep(0.2)
    freed = time.monotonic() - t0
    status, latency = asyncio.run(request(node.host, node.http, "POST", path, body=body(16), timeout=60))
    after.add(status, latency)
    print("| clients | sent | 2xx | errors | never answered | p50 / p99 ms |")
    print("|---|---|---|---|---|---|")
    print(f"| disconnect after the first event | {storm.row()} |")
    print(f"| never read past the head (closed after 40 s) | {stalled.row()} |")
    print(f"| one request afterwards | {after.row()} |")
    print(f"\nSlots free {freed:.1f} s after the last client left; RSS {before:.0f} MiB before, "
          f"{node.rss_mib():.0f} MiB after.")
    node.stop()


try:
    for part in PARTS:
        {"a": part_a, "b": part_b, "c": part_c, "d": part_d}[part]()
        sys.stdout.flush()
finally:
    subprocess.run(["pkill", "-f", TMP], check=False)

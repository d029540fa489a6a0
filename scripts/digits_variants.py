"""Writes N variants of the bundled digits model, for multiplexing tests and benchmarks.

    python3 scripts/digits_variants.py OUT_DIR N [PAD_MB]

Variant `shift-K` (K = 0..N-1) is the bundled MLP with the rows of its output layer
rotated by K, so it answers (true digit + K) mod 10: every model id gives a
different, checkable answer. Standard library only (safetensors is a JSON header
plus raw little-endian data). PAD_MB > 0 adds an unused tensor of that size, so
that loading a variant costs what loading a real model's weights costs (reading
and parsing megabytes), for benchmarks.
"""

import json
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
src = os.path.join(here, "..", "daemon", "models", "weights", "digits.safetensors")
out_dir, n = sys.argv[1], int(sys.argv[2])
pad_mb = int(sys.argv[3]) if len(sys.argv) > 3 else 0
raw = open(src, "rb").read()
header_len = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8 : 8 + header_len])
data = raw[8 + header_len :]


def rotated(name, k):
    """The tensor's bytes with its rows (first dimension, 10 classes) rotated by k."""
    start, end = header[name]["data_offsets"]
    block = data[start:end]
    rows = header[name]["shape"][0]
    width = len(block) // rows
    parts = [block[r * width : (r + 1) * width] for r in range(rows)]
    return b"".join(parts[(r - k) % rows] for r in range(rows))


os.makedirs(out_dir, exist_ok=True)
for k in range(n):
    body = bytearray(data)
    for name in ("fc3.weight", "fc3.bias"):
        start, end = header[name]["data_offsets"]
        body[start:end] = rotated(name, k % 10)
    meta = dict(header)
    meta["__metadata__"] = dict(header.get("__metadata__", {}), variant=f"shift-{k}")
    if pad_mb:
        floats = pad_mb * 1024 * 1024 // 4
        meta["padding"] = {"dtype": "F32", "shape": [floats], "data_offsets": [len(body), len(body) + floats * 4]}
        body += bytes([k % 251]) * (floats * 4)
    encoded = json.dumps(meta, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    path = os.path.join(out_dir, f"shift-{k}.safetensors")
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + bytes(body))
    os.replace(path + ".tmp", path)
print(f"wrote {n} variants to {out_dir}")

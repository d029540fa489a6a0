#!/usr/bin/env bash
# Chaos and overload on loopback, bounded in time (about 6 minutes for all parts):
#
#   scripts/chaos.sh [PART...]     PART: a b c d (default: all; see scripts/chaos.py)
#
# Builds the release binary, then runs scripts/chaos.py, which prints markdown
# for docs/benchmarks.md ("Reliability"). Part d needs the chat weights
# (scripts/fetch-models.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p rserve >&2
[[ " $* " == *" d "* || $# -eq 0 ]] && bash scripts/fetch-models.sh >&2
echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs; $(date -u +%Y-%m-%d)"
exec python3 scripts/chaos.py target/release/rserve "$@"

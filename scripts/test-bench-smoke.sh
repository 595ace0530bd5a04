#!/usr/bin/env bash
# Smoke run of the benchmark harness (ws-bench): every server through every scenario
# with tiny loads, a fraction of a second each. It checks that the harness, the peers
# and ws's examples still run together; its figures mean nothing. The report goes to
# target/bench-smoke/, never over BENCHMARKS.md.
#
#   scripts/test-bench-smoke.sh             dev profile (shares test.sh's build)
#   scripts/test-bench-smoke.sh --release   release profile
#
# The full benchmark is ws-bench/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

profile_flag=()
dir=target/debug
if [ "${1:-}" = "--release" ]; then
  profile_flag=(--release)
  dir=target/release
fi

cargo build "${profile_flag[@]}" -p ws-bench --bins
cargo build "${profile_flag[@]}" --examples
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
"$dir/bench" --smoke

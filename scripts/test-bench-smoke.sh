#!/usr/bin/env bash
# Smoke run of the benchmark harness (ws-bench): every server through every scenario
# with tiny loads, a fraction of a second each, then the cross-node broadcast (two
# chat_cluster nodes over a redis-server it starts) likewise. It checks that the harness, the peers
# and ws's examples still run together; its figures mean nothing. The report goes to
# target/bench-smoke/, never over BENCHMARKS.md.
#
#   scripts/test-bench-smoke.sh             dev profile (shares test.sh's build)
#   scripts/test-bench-smoke.sh --release   release profile
#
# The full benchmark is ws-bench/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# Cargo's target directory, wherever it is (CARGO_TARGET_DIR, .cargo/config.toml).
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
profile_flag=()
dir=$target_dir/debug
if [ "${1:-}" = "--release" ]; then
  profile_flag=(--release)
  dir=$target_dir/release
fi

cargo build "${profile_flag[@]}" -p ws-bench --bins
cargo build "${profile_flag[@]}" --examples
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# The soak scenario too, tiny: 200 idle connections, 3 s of churn, on ws only.
"$dir/bench" --smoke --soak 3
bash scripts/ensure-redis.sh
"$dir/cluster" --smoke

#!/usr/bin/env bash
# The benchmark: builds ws's examples and the ws-bench harness in release, then runs
# every server through every scenario (server on core 0, load generator on core 1) and
# writes BENCHMARKS.md and docs/bench-ratios.png. Takes under 10 minutes. Run it on an
# otherwise idle machine; extra arguments go to the driver (see `--help`), e.g.
#   ws-bench/run.sh --peer 'uws=/path/to/uws_server {port}'   # one-off external peer
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p ws-bench --bins
cargo build --release --examples
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# Cargo's target directory, wherever it is (CARGO_TARGET_DIR, .cargo/config.toml).
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
exec "$target_dir/release/bench" "$@"

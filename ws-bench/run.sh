#!/usr/bin/env bash
# The benchmark: builds ws's examples and the ws-bench harness in release, then runs
# every server through every scenario (server on core 0, load generator on core 1),
# then the soak scenario on ws (10,000 idle connections held through 5 minutes of
# churn: memory, sessions and descriptors must come back), and writes BENCHMARKS.md and
# docs/bench-ratios.png; then the cross-node broadcast (`cluster`: two chat_cluster
# nodes over a redis-server it starts, beside one chat node), appended to BENCHMARKS.md. Takes under 10 minutes plus about 6 for the soak. Run it on an
# otherwise idle machine; extra arguments go to the driver (see `--help`), e.g.
#   ws-bench/run.sh --no-soak                                  # a quick run: no soak
#   ws-bench/run.sh --no-cluster             # without the cross-node broadcast (Redis)
#   ws-bench/run.sh --soak 60 --soak-conns 5000                # a shorter soak
#   ws-bench/run.sh --soak-servers ws,tt-naive                 # the soak on peers too
#   ws-bench/run.sh --peer 'uws=/path/to/uws_server {port}'   # one-off external peer
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
soak=(--soak 300)
cluster=1
for arg in "$@"; do
  case "$arg" in
    --no-soak) soak=() ;;
    --no-cluster) cluster=0 ;;
    --soak) soak=(); args+=("$arg") ;;
    *) args+=("$arg") ;;
  esac
done
cargo build --release -p ws-bench --bins
cargo build --release --examples
# The soak's 10,000 idle connections need as many descriptors in the server and in the
# load generator (both also raise their own soft limit to the hard one).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# Cargo's target directory, wherever it is (CARGO_TARGET_DIR, .cargo/config.toml).
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
"$target_dir/release/bench" "${args[@]}" "${soak[@]}"
if [ "$cluster" = 1 ]; then
  bash scripts/ensure-redis.sh
  "$target_dir/release/cluster" --out "$target_dir/bench-cluster.md"
  # One level down under BENCHMARKS.md's title.
  { echo; sed '1s/^# /## /' "$target_dir/bench-cluster.md"; } >>BENCHMARKS.md
fi

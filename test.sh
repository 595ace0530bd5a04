#!/usr/bin/env bash
# Runs every check and test of the project. Works on a fresh machine: it installs the
# test clients it needs (Python `websockets`, Node `ws`, Chromium + playwright-core)
# and Debian's `redis-server` (which the rooms and cluster tests start themselves)
# when they are missing.
#
#   ./test.sh            everything
#   ./test.sh --quick    cargo checks and Rust tests only (installs only redis-server,
#                        which the Rust tests need; no interop)
set -euo pipefail
cd "$(dirname "$0")"

quick=0
[ "${1:-}" = "--quick" ] && quick=1

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
# The fuzz crate is a workspace of its own (cargo-fuzz's layout): checked the same way,
# into the same target directory.
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
(cd fuzz && cargo fmt -- --check && cargo clippy --all-targets --target-dir "$target_dir" -- -D warnings)

step "cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --features ws/redis

step "build examples"
cargo build --examples

step "redis-server (the rooms and cluster tests start their own)"
bash scripts/ensure-redis.sh

step "cargo test (unit, doc, integration, trybuild)"
cargo test --workspace

if [ "$quick" = 1 ]; then
  exit 0
fi

for extra in scripts/test-*.sh; do
  [ -e "$extra" ] || continue
  step "$extra"
  bash "$extra"
done

step "all tests passed"

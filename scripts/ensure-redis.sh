#!/usr/bin/env bash
# Installs Debian's `redis-server` when it is missing. The rooms and cluster tests
# (tests/it/rooms.rs, tests/it/cluster.rs) and the cluster benchmark start their own
# redis-server on free ports, so nothing else is set up: no service, no fixed port.
#
#   scripts/ensure-redis.sh      (test.sh runs it before the Rust tests)
set -euo pipefail

if command -v "${REDIS_SERVER:-redis-server}" >/dev/null 2>&1; then
  exit 0
fi
echo "[redis] installing Debian's redis-server (apt-get)"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
apt-get update -q >"$log" 2>&1 || { tail -20 "$log"; echo "[redis] apt-get update failed" >&2; exit 1; }
apt-get install -y -q --no-install-recommends redis-server >>"$log" 2>&1 ||
  { tail -20 "$log"; echo "[redis] apt-get install redis-server failed" >&2; exit 1; }
command -v redis-server >/dev/null 2>&1 || { echo "[redis] no redis-server after installing it" >&2; exit 1; }
redis-server --version

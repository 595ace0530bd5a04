#!/usr/bin/env bash
# Instruction-count profile (callgrind) of ws's `conformance` example under a fixed echo
# load: 64 connections x 16 in flight echo MESSAGES messages of SIZE bytes, then stop.
# Profile part 1 (start-up and a warm-up run) is dumped first, so part 2 holds the
# measured run alone (its 64 handshakes included). Writes target/profile/profile.md
# (ws-bench/cgtop.py: instructions per message by component and by function).
#
#   ws-bench/profile.sh [MESSAGES=50000] [SIZE=20] [KIND=text|binary]
#   WS_EXAMPLE="$TARGET/release/peers tt-batched" ws-bench/profile.sh  # another server
#   ($TARGET: cargo's target directory, `target` unless CARGO_TARGET_DIR says otherwise)
#   CONNS=1 INFLIGHT=1 ws-bench/profile.sh 20000                        # ping-pong
#   DEFLATE=1 ws-bench/profile.sh 10000 2048 json     # permessage-deflate, 2 KiB JSON
#   (the server started with --deflate, the load generator offering it)
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-50000}
size=${2:-20}
kind=${3:-text}
# Cargo's target directory, wherever it is (CARGO_TARGET_DIR, .cargo/config.toml).
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
read -ra example <<<"${WS_EXAMPLE:-$target_dir/release/examples/conformance}"

cargo build --release -p ws-bench --bins
[ -n "${WS_EXAMPLE:-}" ] || cargo build --release --examples

out=target/profile
mkdir -p "$out"
rm -f "$out"/callgrind.out*
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PORT=$port valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$out/callgrind.out" \
  "${example[@]}" ${DEFLATE:+--deflate} --port "$port" >"$out/server.stdout" 2>"$out/valgrind.log" &
vg=$!
trap 'kill -9 $vg 2>/dev/null || true' EXIT
for _ in $(seq 600); do
  grep -q "Listening on http://" "$out/server.stdout" 2>/dev/null && break
  sleep 0.1
done
addr=$(sed -n 's#.*Listening on http://\([^ /]*\).*#\1#p' "$out/server.stdout" | head -1)
addr="127.0.0.1:${addr##*:}"
load=("$target_dir/release/loadgen" echo --addr "$addr" --pid "$vg" --kind "$kind" --size "$size"
  --conns "${CONNS:-64}" --inflight "${INFLIGHT:-16}" ${DEFLATE:+--deflate})
"${load[@]}" --messages 5000 >/dev/null
callgrind_control -d "$vg" >/dev/null  # part 1: start-up and warm-up
"${load[@]}" --messages "$messages" | tee "$out/loadgen.json"
callgrind_control -d "$vg" >/dev/null  # part 2: the measured run
kill -TERM "$vg" 2>/dev/null || true
sleep 1
dump=$out/callgrind.out.2

count=$(sed -n 's/.*"count":\([0-9]*\).*/\1/p' "$out/loadgen.json")
python3 ws-bench/cgtop.py "$dump" "$count" 25 >"$out/profile.md"
echo "summary: $out/profile.md"

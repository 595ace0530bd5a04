#!/usr/bin/env bash
# What each `Deflate { memory = ... }` mode costs, on the deflate example (release):
# per mode and level, the echo of 2 KiB JSON (64 connections x 16 in flight) with
# permessage-deflate — msg/s, server CPU per message, bytes on the wire per echo — and
# the server's RSS per compressed session after one 2 KiB JSON echo each (2,000
# sessions, a fresh server). The same echo without the extension is the plain line.
# Server on core 0, load generator on core 1; REPS (default 2) repetitions, the median
# and the range printed.
#
#   ws-bench/deflate-modes.sh            # every mode at level 6, shared also at level 1
#   REPS=3 DURATION=5 ws-bench/deflate-modes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p ws-bench --bins
cargo build --release -q --example deflate
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
server_bin=$target_dir/release/examples/deflate
loadgen=$target_dir/release/loadgen
reps=${REPS:-2}
duration=${DURATION:-3}
out=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

# start ARGS...: the deflate example on core 0, on a free port; sets addr and server_pid.
start() {
  local log=$out/server-$RANDOM$RANDOM.log
  : >"$log"
  taskset -c 0 "$server_bin" --port 0 "$@" >"$log" 2>&1 </dev/null &
  server_pid=$!
  local i line=""
  for ((i = 0; i < 300; i++)); do
    line=$(grep -m1 -oE 'Listening on http://[^ /]*' "$log" 2>/dev/null || true)
    [ -n "$line" ] && break
    sleep 0.1
  done
  [ -n "$line" ] || { cat "$log" >&2; echo "deflate example did not start" >&2; exit 1; }
  addr=${line#Listening on http://}
  case $addr in 0.0.0.0:*) addr=127.0.0.1:${addr##*:} ;; esac
}
stop() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=""; }

run() { # NAME SERVER-ARGS... -- LOADGEN-ARGS...
  local name=$1 rep
  shift
  local server_args=() 
  while [ "$1" != "--" ]; do server_args+=("$1"); shift; done
  shift
  for ((rep = 1; rep <= reps; rep++)); do
    start "${server_args[@]}"
    taskset -c 1 "$loadgen" "$@" --addr "$addr" --pid "$server_pid" --duration "$duration" \
      >>"$out/$name.jsonl" 2>>"$out/loadgen.log" || { cat "$out/loadgen.log" >&2; exit 1; }
    stop
  done
}

echo_args=(echo --kind json --size 2048 --conns 64 --inflight 16)
run plain --memory shared -- "${echo_args[@]}"
for mode in shared dedicated small; do
  run "echo-$mode-6" --memory "$mode" -- "${echo_args[@]}" --deflate
  run "idle-$mode-6" --memory "$mode" -- idle --conns 2000 --deflate
done
run echo-shared-1 --memory shared --level 1 -- "${echo_args[@]}" --deflate
run echo-dedicated-1 --memory dedicated --level 1 -- "${echo_args[@]}" --deflate

python3 - "$out" <<'PY'
import json, statistics, sys, pathlib
out = pathlib.Path(sys.argv[1])
def recs(name):
    p = out / f"{name}.jsonl"
    return [json.loads(l) for l in p.read_text().splitlines() if l.strip()] if p.exists() else []
def fmt(values, digits=0):
    if not values:
        return "—"
    m = statistics.median(values)
    return f"{m:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"
print("| mode | level | echo msg/s | server CPU µs/msg | wire B/echo | KiB/session after one message |")
print("|---|---|---|---|---|---|")
rows = [("plain (no extension)", "—", "plain", None)]
for mode in ("shared", "dedicated", "small"):
    rows.append((mode, "6", f"echo-{mode}-6", f"idle-{mode}-6"))
rows += [("shared", "1", "echo-shared-1", None), ("dedicated", "1", "echo-dedicated-1", None)]
for mode, level, echo, idle in rows:
    e = recs(echo)
    rate = [r["rate"] for r in e]
    cpu = [r["server_cpu"] / r["rate"] * 1e6 for r in e if r["rate"]]
    wire = [r["wire_bytes_per_msg"] for r in e if r.get("wire_bytes_per_msg")]
    kib = [r["after_256k_kib_per_conn"] for r in recs(idle)] if idle else []
    print(f"| {mode} | {level} | {fmt(rate)} | {fmt(cpu, 2)} | {fmt(wire)} | {fmt(kib, 2)} |")
PY

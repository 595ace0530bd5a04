#!/usr/bin/env bash
# Interop suites: the examples against clients nobody here wrote — Python `websockets`,
# Node `ws` and headless Chromium (Debian's package, driven by playwright-core).
#
#   scripts/test-interop.sh              every suite
#   scripts/test-interop.sh SUITE ...    only these (names as in the summary)
#
# Installs what is missing (apt `chromium`, a venv under target/interop/ from
# tests/interop/requirements.txt, `npm ci` in tests/interop), builds the examples,
# starts each server it needs with `--port 0` (reading its `Listening on http://ADDR`
# or `https://ADDR` line), runs the suites in parallel, stops every process it started,
# prints one line per suite and exits non-zero if any failed. Logs: target/interop/logs/.
# The TLS suites each get their own `tls --test-ca DIR` (DIR under target/interop/),
# whose CA the clients trust: nothing is trusted system-wide.
#
# Suites (tests/interop/README.md has the details):
#   py-deflate        Python websockets, permessage-deflate vs the deflate example
#                     (`--memory shared`, the default mode)
#   py-deflate-dedicated, py-deflate-small, node-deflate-dedicated, node-deflate-small,
#   chromium-dedicated, chromium-small
#                     the same suites vs the deflate example in the other memory modes
#   py-deflate-conf   the same vs `conformance --deflate` (default Deflate options)
#   node-deflate      Node ws, permessage-deflate vs the deflate example
#   chromium          Chromium: permessage-deflate vs the deflate example; the chat
#                     example's own page in two tabs
#   py-scenarios      Python websockets: echo, chat, close reasons, pings
#   node-scenarios    Node ws: echo, chat, close reasons, pings, ping timeout
#   py-crc32          Python websockets with a client-side x-crc32 vs custom_extension
#   py-tls            Python websockets over wss:// vs `tls --test-ca`: chat, deflate,
#                     an untrusting client, a plaintext client, a certificate reload
#                     (SIGHUP) with a session from before it still served
#   node-tls          Node ws over wss:// trusting the test CA: chat, deflate, an
#                     untrusting client refused
#   chromium-tls      Chromium, the tls example's page on https:// (the leaf's SPKI
#                     pinned with --ignore-certificate-errors-spki-list), chat over wss
#   chromium-origin   the chat example and Origin: its own page connects, a page from
#                     another origin is refused (403 before the upgrade), raw upgrades
#                     with and without Origin
#   client-py         ws::client (tests/it/peer.rs) against Python websockets servers
#                     (python/peer_server.py): echo, deflate parameters honoured, close
#                     reasons both ways, pings and a silent server, bad frames, bad
#                     handshakes, wss:// with a client certificate; and the `client`
#                     example driven through its stdin against the same server
#   client-node       the same tests against Node ws servers (node/peer-server.mjs),
#                     without the TLS one
#   chromium-stats    the chat example's /stats page: it updates itself and follows the
#                     sessions, frames and bytes of a chat page opened beside it
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# Cargo's target directory, wherever it is (CARGO_TARGET_DIR, .cargo/config.toml).
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
: "${target_dir:?cargo metadata gave no target directory}"
work=$target_dir/interop
logs=$work/logs
interop=$root/tests/interop
mkdir -p "$logs"
rm -f "$logs"/*.log "$logs"/*.ms "$logs"/*.pid

say() { printf '[interop] %s\n' "$*"; }
die() { say "error: $*" >&2; exit 1; }

# ----- installs -----

chromium_bin=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium_bin" ]; then
  say "installing Debian's chromium (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >"$logs/apt.log" 2>&1 || { tail -20 "$logs/apt.log"; die "apt-get update failed"; }
  apt-get install -y -q --no-install-recommends chromium >>"$logs/apt.log" 2>&1 ||
    { tail -20 "$logs/apt.log"; die "apt-get install chromium failed"; }
  [ -x "$chromium_bin" ] || die "no $chromium_bin after installing chromium"
fi
export CHROMIUM=$chromium_bin

venv=$work/venv
req_sum=$(sha256sum "$interop/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$req_sum" ]; then
  say "installing Python clients into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$interop/requirements.txt" >"$logs/pip.log" 2>&1 ||
    { tail -20 "$logs/pip.log"; die "pip install failed"; }
  echo "$req_sum" >"$venv/.requirements.sha256"
fi

lock_sum=$(sha256sum "$interop/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$interop/node_modules/.lock.sha256" 2>/dev/null)" != "$lock_sum" ]; then
  say "installing Node clients (npm ci)"
  (cd "$interop" && npm ci --no-audit --no-fund >"$logs/npm.log" 2>&1) ||
    { tail -20 "$logs/npm.log"; die "npm ci failed"; }
  echo "$lock_sum" >"$interop/node_modules/.lock.sha256"
fi

# ----- build -----

cargo build --examples --quiet
examples=$target_dir/debug/examples
export WS_EXAMPLES_DIR=$examples
# The client suites run tests/it's `peer::` tests: the test binary, built once.
it_bin=""
wants_client() { [[ " ${suites[*]} " == *" client-"* ]]; }

# ----- servers -----

pids=()
cleanup() {
  local pid f
  # Suites still running (interrupted): `timeout` passes the signal on to the suite.
  for f in "$logs"/*.pid; do
    [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start VAR LOGNAME EXAMPLE [ARGS...]: runs the example on a free port and sets VAR to
# its address (unspecified addresses become 127.0.0.1) and VAR_PID to its pid.
start() {
  local var=$1 name=$2 example=$3
  shift 3
  local bin=$examples/$example log=$logs/server-$name.log
  [ -x "$bin" ] || die "no example binary $bin"
  "$bin" --port 0 "$@" >"$log" 2>&1 </dev/null &
  local pid=$!
  pids+=("$pid")
  local line="" i
  for ((i = 0; i < 300; i++)); do # up to 30 s for the `Listening on` line
    line=$(grep -m1 -oE 'Listening on https?://[^ /]*' "$log" 2>/dev/null || true)
    [ -n "$line" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "$example exited before listening"; }
    sleep 0.1
  done
  [ -n "$line" ] || { cat "$log" >&2; die "$example printed no 'Listening on http(s)://ADDR' line in 30 s"; }
  local address=${line#Listening on *://}
  case $address in
    0.0.0.0:* | \[::\]:*) address=127.0.0.1:${address##*:} ;;
  esac
  printf -v "$var" '%s' "$address"
  printf -v "${var}_PID" '%s' "$pid"
  export "${var?}" "${var}_PID"
  say "$name: $example $* on $address"
}

has_example() { [ -f "$root/examples/$1.rs" ] || [ -f "$root/examples/$1/main.rs" ]; }

# ----- suites -----

all_suites=(py-deflate py-deflate-conf node-deflate chromium py-scenarios node-scenarios py-crc32
  py-tls node-tls chromium-tls chromium-origin client-py client-node
  py-deflate-dedicated py-deflate-small node-deflate-dedicated node-deflate-small
  chromium-dedicated chromium-small chromium-stats)
if [ $# -gt 0 ]; then suites=("$@"); else suites=("${all_suites[@]}"); fi
for s in "${suites[@]}"; do
  [[ " ${all_suites[*]} " == *" $s "* ]] || die "unknown suite $s (known: ${all_suites[*]})"
done
wants() { [[ " ${suites[*]} " == *" $1 "* ]]; }

skipped=()
deflate_note=""
if wants py-deflate || wants node-deflate || wants chromium; then
  if has_example deflate; then
    start WS_DEFLATE_ADDR deflate deflate --memory shared
  else
    # Until examples/deflate.rs lands: the conformance echo with default Deflate.
    start WS_DEFLATE_ADDR deflate conformance --deflate
    deflate_note=" (examples/deflate.rs missing: ran against conformance --deflate)"
  fi
fi
# The deflate suites again against the deflate example's other memory modes.
for mode in dedicated small; do
  if wants "py-deflate-$mode" || wants "node-deflate-$mode" || wants "chromium-$mode"; then
    start "WS_DEFLATE_ADDR_${mode^^}" "deflate-$mode" deflate --memory "$mode"
  fi
done
if wants py-deflate-conf; then
  # A second configuration: Deflate's defaults (no size threshold).
  start WS_DEFLATE_CONF_ADDR deflate-conf conformance --deflate
fi
if wants py-scenarios || wants node-scenarios; then
  start WS_ECHO_ADDR echo echo
  start WS_LIFECYCLE_ADDR lifecycle lifecycle
  start WS_CONFORMANCE_ADDR conformance conformance
  # Pings: a conformance echo that pings every 200 ms and times out after 600 ms.
  start WS_PING_ADDR ping conformance --ping-period-ms 200 --timeout-ms 600
  export WS_PING_PATH=/echo WS_PING_PERIOD_MS=200 WS_PING_TIMEOUT_MS=600 WS_PING_GREETS=0
fi
if wants py-scenarios; then start WS_CHAT_ADDR_PY chat-py chat; fi
if wants node-scenarios; then start WS_CHAT_ADDR_NODE chat-node chat; fi
if wants chromium; then start WS_CHAT_ADDR_BROWSER chat-browser chat; fi
# Each Chromium suite its own chat server: its two tabs must see only their own lines.
for mode in dedicated small; do
  if wants "chromium-$mode"; then start "WS_CHAT_ADDR_BROWSER_${mode^^}" "chat-browser-$mode" chat; fi
done
if wants py-crc32; then
  if has_example custom_extension; then
    start WS_CRC_ADDR custom_extension custom_extension
  else
    skipped+=(py-crc32)
  fi
fi

# TLS: one server per suite (py-tls replaces its certificate), each with its own test
# CA in a fresh directory.
start_tls() { # VAR LOGNAME
  local dir=$work/$2
  rm -rf "$dir"
  start "$1" "$2" tls --test-ca "$dir"
  for f in ca.pem cert.pem key.pem; do
    [ -s "$dir/$f" ] || die "tls --test-ca $dir wrote no $f"
  done
}
if wants py-tls; then start_tls WS_TLS_ADDR_PY tls-py; fi
if wants node-tls; then start_tls WS_TLS_ADDR_NODE tls-node; fi
if wants chromium-tls; then start_tls WS_TLS_ADDR_BROWSER tls-browser; fi
if wants chromium-origin; then start WS_CHAT_ADDR_ORIGIN chat-origin chat; fi
if wants chromium-stats; then start WS_CHAT_ADDR_STATS chat-stats chat; fi

# The client suites' servers: a script that prints `WS_PEER_*=...` lines, then `ready`.
# start_peer NAME CMD...: runs it, waits for `ready`, keeps its lines in
# $logs/peer-NAME.env for the suite.
start_peer() {
  local name=$1
  shift
  local log=$logs/server-peer-$name.log
  "$@" >"$log" 2>&1 </dev/null &
  local pid=$!
  pids+=("$pid")
  local i
  for ((i = 0; i < 300; i++)); do # up to 30 s
    grep -qx ready "$log" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "peer server $name exited before ready"; }
    sleep 0.1
  done
  grep -qx ready "$log" || { cat "$log" >&2; die "peer server $name printed no 'ready' in 30 s"; }
  grep -E '^WS_PEER_[A-Z_]+=' "$log" >"$logs/peer-$name.env"
  say "peer-$name: $(tr '\n' ' ' <"$logs/peer-$name.env")"
}
if wants_client; then
  it_bin=$(cargo test --test it --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
  [ -x "$it_bin" ] || die "could not build the tests/it binary"
fi
if wants client-py; then
  rm -rf "$work/peer-py"
  start_peer py "$venv/bin/python" "$interop/python/peer_server.py" "$work/peer-py"
fi
if wants client-node; then start_peer node node "$interop/node/peer-server.mjs"; fi

# Every suite bounds its own waits; `timeout` (which signals the suite's whole process
# group, browsers included) is the backstop.
SUITE_LIMIT=${INTEROP_SUITE_LIMIT:-300}
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

declare -A suite_pid
run_suite() {
  local name=$1
  shift
  (
    t0=$(now_ms)
    rc=0
    timeout -k 10 "$SUITE_LIMIT" "$@" >"$logs/$name.log" 2>&1 </dev/null &
    echo $! >"$logs/$name.pid"
    wait $! || rc=$?
    rm -f "$logs/$name.pid"
    echo "$(($(now_ms) - t0))" >"$logs/$name.ms"
    [ "$rc" = 124 ] && echo "[interop] $name: killed after ${SUITE_LIMIT} s" >>"$logs/$name.log"
    exit "$rc"
  ) &
  suite_pid[$name]=$!
}

# The deflate example's address for a suite named after its memory mode (…-small).
mode_addr() {
  local var=WS_DEFLATE_ADDR_${1##*-}
  var=${var^^}
  echo "${!var}"
}

# Likewise the chat server of a Chromium suite named after its memory mode.
chat_addr() {
  local var=WS_CHAT_ADDR_BROWSER_${1##*-}
  var=${var^^}
  echo "${!var}"
}

pytest=("$venv/bin/python" -m pytest -q -p no:cacheprovider -rfE)
nodetest=(node --test --test-force-exit --test-reporter=spec)
for s in "${suites[@]}"; do
  [[ " ${skipped[*]} " == *" $s "* ]] && continue
  case $s in
    py-deflate) run_suite "$s" "${pytest[@]}" "$interop/python/test_deflate.py" ;;
    py-deflate-conf) run_suite "$s" env WS_DEFLATE_ADDR="$WS_DEFLATE_CONF_ADDR" \
      "${pytest[@]}" "$interop/python/test_deflate.py" ;;
    node-deflate) run_suite "$s" "${nodetest[@]}" "$interop/node/deflate.test.mjs" ;;
    py-deflate-dedicated | py-deflate-small) run_suite "$s" \
      env WS_DEFLATE_ADDR="$(mode_addr "$s")" \
      "${pytest[@]}" "$interop/python/test_deflate.py" ;;
    node-deflate-dedicated | node-deflate-small) run_suite "$s" \
      env WS_DEFLATE_ADDR="$(mode_addr "$s")" "${nodetest[@]}" "$interop/node/deflate.test.mjs" ;;
    chromium-dedicated | chromium-small) run_suite "$s" env WS_CHAT_ADDR="$(chat_addr "$s")" \
      WS_DEFLATE_ADDR="$(mode_addr "$s")" "${nodetest[@]}" "$interop/node/chromium.test.mjs" ;;
    chromium) run_suite "$s" env WS_CHAT_ADDR="$WS_CHAT_ADDR_BROWSER" \
      "${nodetest[@]}" "$interop/node/chromium.test.mjs" ;;
    py-scenarios) run_suite "$s" env WS_CHAT_ADDR="$WS_CHAT_ADDR_PY" \
      "${pytest[@]}" "$interop/python/test_scenarios.py" ;;
    node-scenarios) run_suite "$s" env WS_CHAT_ADDR="$WS_CHAT_ADDR_NODE" \
      "${nodetest[@]}" "$interop/node/scenarios.test.mjs" ;;
    py-crc32) run_suite "$s" "${pytest[@]}" "$interop/python/test_custom_extension.py" ;;
    py-tls) run_suite "$s" env WS_TLS_ADDR="$WS_TLS_ADDR_PY" WS_TLS_DIR="$work/tls-py" \
      WS_TLS_PID="$WS_TLS_ADDR_PY_PID" "${pytest[@]}" "$interop/python/test_tls.py" ;;
    node-tls) run_suite "$s" env WS_TLS_ADDR="$WS_TLS_ADDR_NODE" WS_TLS_DIR="$work/tls-node" \
      "${nodetest[@]}" "$interop/node/tls.test.mjs" ;;
    chromium-tls) run_suite "$s" env WS_TLS_ADDR="$WS_TLS_ADDR_BROWSER" WS_TLS_DIR="$work/tls-browser" \
      "${nodetest[@]}" "$interop/node/chromium-tls.test.mjs" ;;
    chromium-origin) run_suite "$s" env WS_CHAT_ADDR="$WS_CHAT_ADDR_ORIGIN" \
      "${nodetest[@]}" "$interop/node/origin.test.mjs" ;;
    client-py) run_suite "$s" env $(cat "$logs/peer-py.env") WS_CLIENT_EXAMPLE="$examples/client" \
      sh -c '"$0" --ignored --test-threads 2 peer:: && "$1" -m pytest -q -p no:cacheprovider -rfE "$2"' \
      "$it_bin" "$venv/bin/python" "$interop/python/test_client_example.py" ;;
    client-node) run_suite "$s" env $(cat "$logs/peer-node.env") \
      "$it_bin" --ignored --test-threads 2 peer:: --skip peer::tls ;;
    chromium-stats) run_suite "$s" env WS_CHAT_ADDR="$WS_CHAT_ADDR_STATS" \
      "${nodetest[@]}" "$interop/node/stats.test.mjs" ;;
  esac
done

failed=0
total_pass=0
total_fail=0
summary=()
for s in "${suites[@]}"; do
  if [[ " ${skipped[*]} " == *" $s "* ]]; then
    summary+=("$(printf 'SKIP  %-17s examples/custom_extension.rs does not exist yet' "$s")")
    continue
  fi
  status=0
  wait "${suite_pid[$s]}" || status=$?
  ms=$(cat "$logs/$s.ms" 2>/dev/null || echo 0)
  secs=$(printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)))
  log=$logs/$s.log
  # Test counts from the runners' closing lines.
  if [[ $s == client-* ]]; then
    # libtest's `test result:` lines, and pytest's for client-py's example test.
    pass=0
    fail=0
    for n in $(grep -oE '[0-9]+ passed' "$log" | grep -oE '[0-9]+'); do pass=$((pass + n)); done
    for n in $(grep -oE '[0-9]+ failed' "$log" | grep -oE '[0-9]+'); do fail=$((fail + n)); done
  elif [[ $s == py-* ]]; then
    line=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error)' "$log" | tail -1 || true)
    pass=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
    fail=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
    errs=$(grep -oE '[0-9]+ errors?' <<<"$line" | grep -oE '[0-9]+' || echo 0)
    fail=$((fail + errs))
  else
    pass=$(grep -oE '^ℹ pass [0-9]+' "$log" | grep -oE '[0-9]+' || echo 0)
    fail=$(grep -oE '^ℹ fail [0-9]+' "$log" | grep -oE '[0-9]+' || echo 0)
  fi
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + fail))
  note=""
  [[ $s == py-deflate || $s == node-deflate || $s == chromium ]] && note=$deflate_note
  if [ "$status" = 0 ] && [ "$fail" = 0 ] && [ "$pass" -gt 0 ]; then
    summary+=("$(printf 'PASS  %-17s %3s tests  %5s s%s' "$s" "$pass" "$secs" "$note")")
  else
    failed=1
    [ "$fail" = 0 ] && total_fail=$((total_fail + 1)) # crashed or ran nothing
    summary+=("$(printf 'FAIL  %-17s %3s passed, %s failed, exit %s  %5s s  log: %s%s' \
      "$s" "$pass" "$fail" "$status" "$secs" "${log#"$root"/}" "$note")")
    printf '\n----- %s: last 80 lines of %s -----\n' "$s" "${log#"$root"/}"
    tail -80 "$log"
  fi
done

printf '\n'
for line in "${summary[@]}"; do say "$line"; done
say "server logs: ${logs#"$root"/}/server-*.log"
printf 'interop: %d passed, %d failed\n' "$total_pass" "$total_fail"
exit "$failed"

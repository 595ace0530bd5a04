#!/usr/bin/env bash
# Smoke run of the fuzz targets (fuzz/, see fuzz/README.md: the protocol core, the
# handshake, the macros' parsers): builds them with cargo-fuzz on the stable toolchain
# (libFuzzer's coverage guidance, no sanitizer: that needs nightly), replays
# fuzz/regressions/<target>/ (but its pending/ folder: findings not fixed yet), then
# fuzzes each target for FUZZ_SECONDS (default 30) from its seed corpus
# fuzz/corpus/<target>/ (with fuzz/dicts/<target>.dict if there is one), one target
# after the other, in one process on one core.
#
#   scripts/test-fuzz-smoke.sh                   every target
#   scripts/test-fuzz-smoke.sh TARGET ...        only these
#   FUZZ_SECONDS=600 scripts/test-fuzz-smoke.sh  longer runs
#
# Installs cargo-fuzz (`cargo install --locked cargo-fuzz`) when `cargo fuzz` is
# missing. Builds into <target dir>/fuzz; new inputs, crash inputs and logs go under
# <target dir>/fuzz-smoke/<target>/, never into the repository. Prints one line per
# target and exits non-zero if any target crashed (a panic, an abort, a timeout, an
# out-of-memory), printing the path of the input that did it and the end of the log.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# Cargo's target directory, wherever it is (CARGO_TARGET_DIR, .cargo/config.toml).
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
: "${target_dir:?cargo metadata gave no target directory}"
build_dir=$target_dir/fuzz
work=$target_dir/fuzz-smoke
seconds=${FUZZ_SECONDS:-30}

say() { printf '[fuzz] %s\n' "$*"; }
die() { say "error: $*" >&2; exit 1; }

[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || die "FUZZ_SECONDS must be a positive number of seconds"

if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz (cargo install --locked cargo-fuzz)"
  cargo install --locked cargo-fuzz
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi
[ ${#targets[@]} -gt 0 ] || die "no fuzz targets"

say "building ${targets[*]} ($(rustc --version))"
cargo fuzz build --fuzz-dir fuzz --sanitizer none --target-dir "$build_dir"
host=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=$build_dir/$host/release

failed=()
summary=()
for t in "${targets[@]}"; do
  bin=$bin_dir/$t
  [ -x "$bin" ] || die "no fuzz target $t (cargo fuzz list --fuzz-dir fuzz)"
  dir=$work/$t
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  log=$dir/fuzz.log

  # The saved reproducers first: each must now pass.
  regressions=()
  if [ -d "fuzz/regressions/$t" ]; then
    while IFS= read -r -d '' f; do regressions+=("$f"); done \
      < <(find "fuzz/regressions/$t" -path "fuzz/regressions/$t/pending" -prune -o \
            -type f ! -name '*.md' -print0 | sort -z)
  fi
  if [ ${#regressions[@]} -gt 0 ]; then
    if ! "$bin" -artifact_prefix="$dir/artifacts/" "${regressions[@]}" >"$dir/regressions.log" 2>&1; then
      bad=$(sed -n 's/^Running: //p' "$dir/regressions.log" | tail -n 1)
      grep -v '^ *[0-9]*: \|^ *at ' "$dir/regressions.log" | tail -n 20 >&2
      say "$t: the saved reproducer $bad fails (log: $dir/regressions.log)" >&2
      failed+=("$t")
      summary+=("$t: FAILED on the saved reproducer $bad")
      continue
    fi
  fi

  say "fuzzing $t for ${seconds}s"
  # The scratch corpus comes first: libFuzzer writes new inputs to the first
  # directory only, and reads the seeds from the second.
  dict=()
  [ -f "fuzz/dicts/$t.dict" ] && dict=(-dict="$root/fuzz/dicts/$t.dict")
  status=0
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "${dict[@]}" -artifact_prefix="$dir/artifacts/" "$dir/corpus" "$root/fuzz/corpus/$t" \
    >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1 || true)
  crash=$(find "$dir/artifacts" -type f | head -n 1)
  if [ "$status" -ne 0 ] || [ -n "$crash" ]; then
    grep -v '^ *[0-9]*: \|^ *at ' "$log" | tail -n 30 >&2
    say "$t: CRASHED (exit $status); input: ${crash:-none saved}; log: $log" >&2
    failed+=("$t")
    summary+=("$t: CRASHED, input ${crash:-none saved}")
  else
    summary+=("$t: ok, ${runs:-?} runs in ${seconds}s, ${cov:-no coverage line}, ${#regressions[@]} reproducers replayed")
  fi
done

for line in "${summary[@]}"; do say "$line"; done
if [ ${#failed[@]} -gt 0 ]; then
  die "failed: ${failed[*]} (reproduce: $bin_dir/TARGET INPUT; fuzz/README.md)"
fi

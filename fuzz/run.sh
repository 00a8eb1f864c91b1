#!/usr/bin/env bash
# Fuzz knip's readers and wire decoders with cargo fuzz (libFuzzer, nightly Rust).
#
#   fuzz/run.sh [--seconds N] [TARGET ...]
#
# Runs each target (default: all six) for N seconds (default 600) from the seed corpus in
# fuzz/corpus/TARGET (small real files, kept in git); what the fuzzer adds goes to
# fuzz/corpus-grown/TARGET and a crashing input to fuzz/artifacts/TARGET (both ignored by git).
# Every input is limited to 2 GB of memory and 10 s. Prints per target: runs, seconds,
# crashes, corpus size. Exits non-zero if any target crashed (or could not be built).
set -euo pipefail

seconds=600
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds)
            seconds="${2:?--seconds needs a number}"
            shift 2
            ;;
        --seconds=*)
            seconds="${1#--seconds=}"
            shift
            ;;
        -h | --help)
            sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            targets+=("$1")
            shift
            ;;
    esac
done
case "$seconds" in
    '' | *[!0-9]*) echo "run.sh: --seconds wants a whole number, not '$seconds'" >&2; exit 2 ;;
esac
if [ ${#targets[@]} -eq 0 ]; then
    targets=(csv_reader edf_reader rawlog_reader cyton_decoder line_decoder bitalino_decoder)
fi

cd "$(dirname "$0")"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# The readers have no `unsafe`: libFuzzer finds panics, aborts, hangs and memory bombs without
# AddressSanitizer, at about twice the speed. Overflow checks and debug assertions stay on.
fuzz=(cargo +nightly fuzz run --sanitizer none)
failed=0
summary=()
for t in "${targets[@]}"; do
    mkdir -p "corpus-grown/$t" "artifacts/$t"
    log="artifacts/$t/last-run.log"
    before=$(find "artifacts/$t" -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' | wc -l)
    echo "== $t: ${seconds} s" >&2
    status=0
    started=$SECONDS
    "${fuzz[@]}" "$t" "corpus-grown/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=16384 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|^Done|^error' "$log" >&2 || true
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    took=${took:-$((SECONDS - started)) (with the build)}
    after=$(find "artifacts/$t" -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' | wc -l)
    crashes=$((after - before))
    if [ "$status" -ne 0 ] || [ "$crashes" -gt 0 ]; then
        failed=1
        [ "$crashes" -gt 0 ] || crashes="? (exit $status, see fuzz/$log)"
    fi
    corpus=$(find "corpus/$t" "corpus-grown/$t" -type f | wc -l)
    summary+=("$(printf '%-14s runs %-10s seconds %-5s crashes %-3s corpus %s files' \
        "$t" "${runs:-?}" "${took:-?}" "$crashes" "$corpus")")
done
echo
printf '%s\n' "${summary[@]}"
exit "$failed"

#!/usr/bin/env bash
# Runs every cargo-fuzz target in turn for SECONDS each and prints one line a target:
# executions, coverage (libFuzzer's cov: and ft: at the end), and crashes found.
#   fuzz/run-all.sh 600        # the long run before an issue about parsers is resolved
# Each target grows fuzz/corpus/<target> (not committed) from fuzz/seeds/<target>, with
# the words of its format from fuzz/dicts/<target>.dict;
# crashes, timeouts and OOMs land in fuzz/artifacts/<target>/, the run's log in fuzz/logs/.
# Exits 1 when any target found something.
set -euo pipefail

secs=${1:?usage: fuzz/run-all.sh SECONDS}
cd "$(dirname "$0")/.."
# cargo fuzz passes nightly-only flags (-Zsanitizer); a stable rustc takes them with this.
export RUSTC_BOOTSTRAP=1

nice -n 19 cargo fuzz build >/dev/null
found=0
for t in $(cargo fuzz list); do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t" fuzz/logs
    log="fuzz/logs/$t.log"
    before=$(find "fuzz/artifacts/$t" -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' | wc -l)
    dict=()
    if [ -f "fuzz/dicts/$t.dict" ]; then
        dict=("-dict=fuzz/dicts/$t.dict")
    fi
    status=0
    # One target at a time, at the lowest priority: the machine is shared.
    nice -n 19 cargo fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "${dict[@]}" \
        >"$log" 2>&1 || status=$?
    after=$(find "fuzz/artifacts/$t" -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' | wc -l)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    crashes=$((after - before))
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes="? (exit $status, see $log)"
    fi
    printf '%-14s execs=%-10s cov=%-6s ft=%-6s crashes=%s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$crashes"
    if [ "$crashes" != 0 ]; then
        found=1
    fi
done
exit "$found"

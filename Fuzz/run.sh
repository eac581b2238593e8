#!/usr/bin/env bash
# Builds the libFuzzer harnesses and runs each for a fixed number of executions, starting from Corpus/.
#   Fuzz/run.sh [RUNS] [HARNESS…]     RUNS defaults to 1,000,000; harnesses: csv npy specification (all by default)
# New inputs go to a scratch directory, so the committed corpus is left as it is; a crash leaves the input that
# caused it in Fuzz/crashes/ and the script exits non-zero.
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:-1000000}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(csv npy specification)

# -sanitize=fuzzer instruments every Swift module and links libFuzzer. SwiftPM gives each executable a main of its
# own as well; the harness's main and libFuzzer's both start the same fuzzing loop, so which one the linker keeps
# does not matter.
for h in "${harnesses[@]}"; do
    swift build -c release --product "fuzz-$h" -Xswiftc -sanitize=fuzzer -Xlinker --allow-multiple-definition
done

# Swift's own crash reporter would catch the signal before libFuzzer saves the input.
export SWIFT_BACKTRACE=enable=no
mkdir -p crashes
status=0
for h in "${harnesses[@]}"; do
    scratch=$(mktemp -d)
    echo "== fuzz-$h: $runs executions =="
    if ! ".build/release/fuzz-$h" -runs="$runs" -max_len=4096 -timeout=10 -rss_limit_mb=4096 \
        -artifact_prefix="crashes/$h-" -print_final_stats=1 "$scratch" "Corpus/$h" 2>"$scratch.log"; then
        status=1
    fi
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|Fatal error|crash-|timeout-|oom-" "$scratch.log" || true
    rm -rf "$scratch" "$scratch.log"
done
exit $status

#!/usr/bin/env bash
# The logistic regression with minibatches of 1,000 on N = 10⁴, 10⁵, 10⁶ observations: Variational (the model as a
# user writes it, automatic differentiation) and NumPyro (subsampling plate), each N in its own process under
# /usr/bin/time -v for its peak resident memory, both pinned to one core (CORE, default 0), in turn.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$here/.."
swift build -c release --product variational-benchmarks >/dev/null
for n in ${SIZES:-10000 100000 1000000}; do
    for tool in variational numpyro; do
        if [ "$tool" = variational ]; then
            command=(.build/release/variational-benchmarks scaling "$n")
        else
            command=("$here/.venv/bin/python" "$here/numpyro_scaling.py" "$n")
        fi
        output="$( { /usr/bin/time -v "${pin[@]}" "${command[@]}"; } 2>&1 )"
        line="$(echo "$output" | grep -E "N = $n" | tail -n 1)"
        rss="$(echo "$output" | awk -F': ' '/Maximum resident set size/ { print $2 }')"
        printf '%-12s %s; peak memory %s MB\n' "$tool" "$line" "$(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }')"
    done
done

#!/usr/bin/env bash
# Side-by-side: NumPyro's logistic-regression SVI step and Variational's, in one session on this machine.
# Installs NumPyro and JAX (CPU) into Benchmarks/peers/.venv the first time. Runs the two in turn ROUNDS times
# (default 5), so that a slow spell of the machine falls on both, and prints each round and the medians. Both run
# pinned to the same core (CORE, default 0; taskset from util-linux): on this VM the two cores differ in speed by up
# to 1.6× (another tenant shares the second), and a process that lands on either would otherwise decide the result.
set -euo pipefail
source "$(dirname "$0")/common.sh"
rounds="${ROUNDS:-5}"
cd "$here/.."
swift build -c release --product variational-benchmarks >/dev/null
peer=() ours=() differentiated=() ratios=()
for round in $(seq "$rounds"); do
    numpyro_output="$("${pin[@]}" "$here/.venv/bin/python" "$here/numpyro_logistic.py")"
    [ "$round" = 1 ] && echo "$numpyro_output" | head -n 1
    swift_output="$("${pin[@]}" .build/release/variational-benchmarks svi)"
    peer+=("$(echo "$numpyro_output" | awk '/fori_loop/ { print $(NF - 1) }')")
    ours+=("$(echo "$swift_output" | awk '/built-in model/ { print $(NF - 1) }')")
    differentiated+=("$(echo "$swift_output" | awk '/automatic differentiation/ { print $(NF - 1) }')")
    ratios+=("$(awk -v o="${ours[-1]}" -v p="${peer[-1]}" 'BEGIN { printf "%.2f", o / p }')")
    printf 'round %d: NumPyro %s µs, Variational %s µs (ratio %s; through automatic differentiation %s µs)\n' \
        "$round" "${peer[-1]}" "${ours[-1]}" "${ratios[-1]}" "${differentiated[-1]}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
p="$(median "${peer[@]}")" o="$(median "${ours[@]}")" a="$(median "${differentiated[@]}")"
printf 'medians: NumPyro %s µs (jitted fori_loop), Variational %s µs (%s µs through automatic differentiation); ratio of the medians %.2f, median of the rounds'"'"' ratios %s\n' \
    "$p" "$o" "$a" "$(awk -v o="$o" -v p="$p" 'BEGIN { print o / p }')" "$(median "${ratios[@]}")"

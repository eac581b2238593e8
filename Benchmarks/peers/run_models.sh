#!/usr/bin/env bash
# Side-by-side: the SVI step of the models in Examples/ (and the logistic regression written as a user writes it),
# NumPyro's inside a jitted loop and Variational's through automatic differentiation, in one session on this
# machine. Installs NumPyro and JAX (CPU) into Benchmarks/peers/.venv the first time. Runs the two in turn ROUNDS
# times (default 5), both pinned to the same core (CORE, default 0), and prints each round's times and ratios, then
# the medians.
set -euo pipefail
source "$(dirname "$0")/common.sh"
rounds="${ROUNDS:-5}"
cd "$here/.."
swift build -c release --product variational-benchmarks >/dev/null
names=("eight schools" "Poisson regression" "robust regression" "logistic regression")
declare -A peer ours
for round in $(seq "$rounds"); do
    numpyro_models="$("${pin[@]}" "$here/.venv/bin/python" "$here/numpyro_models.py")"
    numpyro_logistic="$("${pin[@]}" "$here/.venv/bin/python" "$here/numpyro_logistic.py")"
    swift_output="$("${pin[@]}" .build/release/variational-benchmarks svi models)"
    [ "$round" = 1 ] && { echo "$numpyro_models" | head -n 1; echo "$swift_output" | sed -n 2p; }
    line="round $round:"
    for i in 0 1 2 3; do
        name="${names[$i]}"
        if [ "$i" = 3 ]; then
            p="$(echo "$numpyro_logistic" | awk '/fori_loop/ { print $(NF - 1) }')"
            o="$(echo "$swift_output" | awk '/same model through automatic differentiation/ { print $(NF - 1) }')"
        else
            p="$(echo "$numpyro_models" | grep "$name" | awk '{ print $(NF - 1) }')"
            o="$(echo "$swift_output" | grep "$name" | awk '{ print $(NF - 1) }')"
        fi
        peer[$i]+="$p "
        ours[$i]+="$o "
        line+="$(printf ' %s %s/%s µs = %s;' "$name" "$o" "$p" "$(awk -v o="$o" -v p="$p" 'BEGIN { printf "%.2f", o / p }')")"
    done
    echo "$line"
done
median() { printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo "medians (Variational through automatic differentiation / NumPyro, µs per step):"
for i in 0 1 2 3; do
    o="$(median "${ours[$i]}")"; p="$(median "${peer[$i]}")"
    printf '  %-22s %8s / %8s = %s\n' "${names[$i]}" "$o" "$p" "$(awk -v o="$o" -v p="$p" 'BEGIN { printf "%.2f", o / p }')"
done

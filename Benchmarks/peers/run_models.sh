#!/usr/bin/env bash
# Side-by-side: the SVI step of the models in Examples/ (and the logistic regression written as a user writes it),
# NumPyro's inside a jitted loop and Variational's through automatic differentiation, in one session on this
# machine. Installs NumPyro and JAX (CPU) into Benchmarks/peers/.venv the first time. Runs the two in turn ROUNDS
# times (default 5), both pinned to the same core (CORE, default 0), and prints each round's times and ratios, then
# the medians. Variational runs twice a round: as `swift build` links it (the Swift runtime as a shared library) and
# with `--static-swift-stdlib` (the runtime linked in: its calls, retains and releases above all, go straight to it
# rather than through the dynamic linker's tables).
set -euo pipefail
source "$(dirname "$0")/common.sh"
rounds="${ROUNDS:-5}"
cd "$here/.."
swift build -c release --product variational-benchmarks >/dev/null
swift build -c release --product variational-benchmarks --static-swift-stdlib --scratch-path .build-static >/dev/null 2>&1
names=("eight schools" "Poisson regression" "robust regression" "logistic regression")
declare -A peer ours linked
for round in $(seq "$rounds"); do
    numpyro_models="$("${pin[@]}" "$here/.venv/bin/python" "$here/numpyro_models.py")"
    numpyro_logistic="$("${pin[@]}" "$here/.venv/bin/python" "$here/numpyro_logistic.py")"
    swift_output="$("${pin[@]}" .build/release/variational-benchmarks svi models)"
    static_output="$("${pin[@]}" .build-static/release/variational-benchmarks svi models)"
    [ "$round" = 1 ] && { echo "$numpyro_models" | head -n 1; echo "$swift_output" | sed -n 2p; }
    line="round $round:"
    for i in 0 1 2 3; do
        name="${names[$i]}"
        if [ "$i" = 3 ]; then
            p="$(echo "$numpyro_logistic" | awk '/fori_loop/ { print $(NF - 1) }')"
            o="$(echo "$swift_output" | awk '/same model through automatic differentiation/ { print $(NF - 1) }')"
            s="$(echo "$static_output" | awk '/same model through automatic differentiation/ { print $(NF - 1) }')"
        else
            p="$(echo "$numpyro_models" | grep "$name" | awk '{ print $(NF - 1) }')"
            o="$(echo "$swift_output" | grep "$name" | awk '{ print $(NF - 1) }')"
            s="$(echo "$static_output" | grep "$name" | awk '{ print $(NF - 1) }')"
        fi
        peer[$i]+="$p "
        ours[$i]+="$o "
        linked[$i]+="$s "
        line+="$(printf ' %s %s/%s µs = %s (static %s µs = %s);' "$name" "$o" "$p" \
            "$(awk -v o="$o" -v p="$p" 'BEGIN { printf "%.2f", o / p }')" "$s" \
            "$(awk -v s="$s" -v p="$p" 'BEGIN { printf "%.2f", s / p }')")"
    done
    echo "$line"
done
median() { printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo "medians (Variational through automatic differentiation / NumPyro, µs per step; then with the runtime linked in):"
for i in 0 1 2 3; do
    o="$(median "${ours[$i]}")"; p="$(median "${peer[$i]}")"; s="$(median "${linked[$i]}")"
    printf '  %-22s %8s / %8s = %s   static %8s / %8s = %s\n' "${names[$i]}" "$o" "$p" \
        "$(awk -v o="$o" -v p="$p" 'BEGIN { printf "%.2f", o / p }')" "$s" "$p" \
        "$(awk -v s="$s" -v p="$p" 'BEGIN { printf "%.2f", s / p }')"
done

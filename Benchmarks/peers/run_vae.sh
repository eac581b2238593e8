#!/usr/bin/env bash
# Side-by-side: the PyTorch-examples VAE training step in JAX (jit) and in Variational, in one session on this
# machine, alternating ROUNDS times (default 5) so that a slow spell falls on both. Both use 2 threads (the machine's
# two cores). Installs JAX (CPU) into Benchmarks/peers/.venv the first time.
set -euo pipefail
source "$(dirname "$0")/common.sh"  # (its `pin` is not used here: both sides use both cores)
rounds="${ROUNDS:-5}"
cd "$here/.."
swift build -c release --product variational-benchmarks >/dev/null
peer=() ours=() ratios=()
for round in $(seq "$rounds"); do
    jax_output="$("$here/.venv/bin/python" "$here/jax_vae.py")"
    swift_output="$(.build/release/variational-benchmarks vae)"
    peer+=("$(echo "$jax_output" | awk '{ print $(NF - 1) }')")
    ours+=("$(echo "$swift_output" | awk '/^  step / { print $2 }')")
    ratios+=("$(awk -v o="${ours[-1]}" -v p="${peer[-1]}" 'BEGIN { printf "%.2f", o / p }')")
    printf 'round %d: JAX %s ms, Variational %s ms (ratio %s)\n' "$round" "${peer[-1]}" "${ours[-1]}" "${ratios[-1]}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
p="$(median "${peer[@]}")" o="$(median "${ours[@]}")"
printf 'medians: JAX %s ms, Variational %s ms; ratio of the medians %.2f, median of the rounds'"'"' ratios %s\n' \
    "$p" "$o" "$(awk -v o="$o" -v p="$p" 'BEGIN { print o / p }')" "$(median "${ratios[@]}")"

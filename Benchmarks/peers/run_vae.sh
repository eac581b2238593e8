#!/usr/bin/env bash
# Side-by-side: the PyTorch-examples VAE training step in JAX (jit), PyTorch (eager, fused Adam) and Variational, in
# one session on this machine, alternating ROUNDS times (default 5) so that a slow spell falls on all three; then
# EPOCH_ROUNDS (default 3) alternating epochs of 60,000 images in PyTorch and Variational. Everyone uses 2 threads
# (the machine's two cores). Installs JAX and PyTorch (CPU) into Benchmarks/peers/.venv the first time.
set -euo pipefail
source "$(dirname "$0")/common.sh"  # (its `pin` is not used here: every side uses both cores)
[ -x "$here/.venv/bin/python" ] && "$here/.venv/bin/python" -c "import torch" 2>/dev/null || "$here/.venv/bin/pip" install --quiet torch
rounds="${ROUNDS:-5}"
cd "$here/.."
swift build -c release --product variational-benchmarks >/dev/null
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v o="$1" -v p="$2" 'BEGIN { printf "%.2f", o / p }'; }
jax=() torch=() ours=() to_jax=() to_torch=()
for round in $(seq "$rounds"); do
    jax+=("$("$here/.venv/bin/python" "$here/jax_vae.py" | awk '{ print $(NF - 1) }')")
    torch+=("$("$here/.venv/bin/python" "$here/torch_vae.py" | awk '{ print $(NF - 1) }')")
    ours+=("$(.build/release/variational-benchmarks vae | awk '/^  step / { print $2 }')")
    to_jax+=("$(ratio "${ours[-1]}" "${jax[-1]}")") to_torch+=("$(ratio "${ours[-1]}" "${torch[-1]}")")
    printf 'round %d: JAX %s ms, PyTorch %s ms, Variational %s ms (%s× JAX, %s× PyTorch)\n' \
        "$round" "${jax[-1]}" "${torch[-1]}" "${ours[-1]}" "${to_jax[-1]}" "${to_torch[-1]}"
done
printf 'step medians: JAX %s ms, PyTorch %s ms, Variational %s ms; median of the rounds'"'"' ratios: %s× JAX, %s× PyTorch\n' \
    "$(median "${jax[@]}")" "$(median "${torch[@]}")" "$(median "${ours[@]}")" "$(median "${to_jax[@]}")" "$(median "${to_torch[@]}")"
torch_epoch=() our_epoch=() epoch_ratios=()
for round in $(seq "${EPOCH_ROUNDS:-3}"); do
    torch_epoch+=("$("$here/.venv/bin/python" "$here/torch_vae.py" --epoch | awk '/epoch/ { print $(NF - 1) }')")
    our_epoch+=("$(.build/release/variational-benchmarks vae-epoch | awk '/^VAE epoch/ { print $(NF - 4) }')")
    epoch_ratios+=("$(ratio "${our_epoch[-1]}" "${torch_epoch[-1]}")")
    printf 'epoch round %d: PyTorch %s s, Variational %s s (%s×)\n' "$round" "${torch_epoch[-1]}" "${our_epoch[-1]}" "${epoch_ratios[-1]}"
done
printf 'epoch medians: PyTorch %s s, Variational %s s; median of the rounds'"'"' ratios %s×\n' \
    "$(median "${torch_epoch[@]}")" "$(median "${our_epoch[@]}")" "$(median "${epoch_ratios[@]}")"

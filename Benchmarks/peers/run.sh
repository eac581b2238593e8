#!/usr/bin/env bash
# Side-by-side: NumPyro's logistic-regression SVI step and Variational's, in one session on this machine.
# Installs NumPyro and JAX (CPU) into Benchmarks/peers/.venv the first time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -x "$here/.venv/bin/python" ]; then
    python3 -m venv "$here/.venv"
    "$here/.venv/bin/pip" install --quiet numpyro jax
fi
"$here/.venv/bin/python" "$here/numpyro_logistic.py"
cd "$here/.."
swift build -c release --product variational-benchmarks >/dev/null
.build/release/variational-benchmarks svi | tail -n 3

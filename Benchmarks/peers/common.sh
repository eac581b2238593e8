# Sourced by the run_*.sh scripts: `pin` runs a command on one core (CORE, default 0; taskset from util-linux), since
# this VM's two cores differ in speed by up to 1.6×; NumPyro and JAX (CPU) are installed into .venv the first time.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pin=()
command -v taskset >/dev/null && pin=(taskset -c "${CORE:-0}")
if [ ! -x "$here/.venv/bin/python" ]; then
    python3 -m venv "$here/.venv"
    "$here/.venv/bin/pip" install --quiet numpyro jax
fi

"""NumPyro's SVI step for the same problem as `variational-benchmarks svi`: Bayesian logistic regression,
N = 1000, D = 10, w ~ Normal(0, 10), an AutoNormal (mean-field) guide, Trace_ELBO with one particle, Adam,
float64, on the CPU. Timed inside a jitted lax.fori_loop (no Python per step) and, for reference, as a jitted
update called from Python. Prints medians of repeated runs in microseconds per step.
"""
import time

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platform_name", "cpu")
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoNormal
from numpyro.optim import Adam

N, D = 1000, 10
key = jax.random.PRNGKey(5)
kx, kw, ky, kinit = jax.random.split(key, 4)
X = jax.random.normal(kx, (N, D))
w_true = jax.random.normal(kw, (D,))
y = jax.random.bernoulli(ky, jax.nn.sigmoid(X @ w_true)).astype(jnp.float64)


def model(X, y):
    w = numpyro.sample("w", dist.Normal(0.0, 10.0).expand([D]).to_event(1))
    numpyro.sample("y", dist.Bernoulli(logits=X @ w), obs=y)


svi = SVI(model, AutoNormal(model), Adam(0.01), Trace_ELBO(num_particles=1))
state = svi.init(kinit, X, y)


@jax.jit
def run_steps(state):
    return jax.lax.fori_loop(0, 500, lambda i, s: svi.update(s, X, y)[0], state)


update = jax.jit(lambda s: svi.update(s, X, y))


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


jax.block_until_ready(run_steps(state))
loop_times = []
for _ in range(9):
    start = time.perf_counter()
    jax.block_until_ready(run_steps(state))
    loop_times.append((time.perf_counter() - start) / 500)

s = state
for _ in range(20):
    s, _ = update(s)
python_times = []
for _ in range(9):
    start = time.perf_counter()
    for _ in range(200):
        s, loss = update(s)
    jax.block_until_ready(loss)
    python_times.append((time.perf_counter() - start) / 200)

print(f"NumPyro {numpyro.__version__}, JAX {jax.__version__}, CPU, float64")
print(f"  step inside a jitted fori_loop   {median(loop_times) * 1e6:7.2f} µs")
print(f"  jitted step called from Python   {median(python_times) * 1e6:7.1f} µs")

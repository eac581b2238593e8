"""NumPyro beside `variational-benchmarks scaling N`: the logistic regression (D = 10, w ~ Normal(0, 10), AutoNormal,
Trace_ELBO with one particle, Adam 0.01, float64, CPU) on N observations, subsampled 1,000 at a time by
`numpyro.plate(..., subsample_size=1000)`. Times the step inside a jitted lax.fori_loop; prints µs per step and the
time of an epoch (N / 1,000 steps). Usage: numpyro_scaling.py N
"""
import sys
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

N, D, B = int(sys.argv[1]), 10, 1000
kx, kw, ky, kinit = jax.random.split(jax.random.PRNGKey(12), 4)
X = jax.random.normal(kx, (N, D))
y = jax.random.bernoulli(ky, jax.nn.sigmoid(X @ jax.random.normal(kw, (D,)))).astype(jnp.float64)


def model(X, y):
    w = numpyro.sample("w", dist.Normal(0.0, 10.0).expand([D]).to_event(1))
    with numpyro.plate("data", N, subsample_size=B) as batch:
        numpyro.sample("y", dist.Bernoulli(logits=X[batch] @ w), obs=y[batch])


svi = SVI(model, AutoNormal(model), Adam(0.01), Trace_ELBO(num_particles=1))
state = svi.init(kinit, X, y)
run = jax.jit(lambda s: jax.lax.fori_loop(0, 200, lambda i, t: svi.update(t, X, y)[0], s))
jax.block_until_ready(run(state))
times = []
for _ in range(9):
    start = time.perf_counter()
    jax.block_until_ready(run(state))
    times.append((time.perf_counter() - start) / 200)
step = sorted(times)[4]
print(f"NumPyro {numpyro.__version__}, N = {N}, minibatches of {B}: step {step * 1e6:.1f} µs, epoch ({N // B} steps) {step * (N // B):.3f} s")

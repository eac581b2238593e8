"""NumPyro's SVI step for the models in Examples/, beside `variational-benchmarks models`: eight schools
(4 particles), a Poisson regression (N = 500, D = 5) and a robust Student-t regression (N = 100, D = 2), each with
an AutoMultivariateNormal (full-rank) guide, Trace_ELBO, Adam, float64, on the CPU; and the logistic regression of
`numpyro_logistic.py` written the same way but with the mean-field guide. Timed inside a jitted lax.fori_loop (no
Python per step). Prints the median of repeated runs in microseconds per step.
"""
import time

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platform_name", "cpu")
import jax.numpy as jnp
import numpyro
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoMultivariateNormal
from numpyro.optim import Adam


from example_models import eight_schools, poisson_regression, robust_regression


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def step_time(model, particles, *arguments):
    svi = SVI(model, AutoMultivariateNormal(model, init_scale=0.1), Adam(0.01), Trace_ELBO(num_particles=particles))
    state = svi.init(jax.random.PRNGKey(0), *arguments)
    run = jax.jit(lambda s: jax.lax.fori_loop(0, 500, lambda i, t: svi.update(t, *arguments)[0], s))
    jax.block_until_ready(run(state))
    times = []
    for _ in range(9):
        start = time.perf_counter()
        jax.block_until_ready(run(state))
        times.append((time.perf_counter() - start) / 500)
    return median(times)


key = jax.random.split(jax.random.PRNGKey(1), 4)
schools = (jnp.array([15.0, 10, 16, 11, 9, 11, 10, 18]), jnp.array([28.0, 8, -3, 7, -1, 1, 18, 12]))
Xp = 0.5 * jax.random.normal(key[0], (500, 5))
yp = jax.random.poisson(key[1], jnp.exp(0.8 + Xp @ jnp.array([0.6, -0.4, 0.3, 0, 0.5]))).astype(jnp.float64)
Xr = jax.random.normal(key[2], (100, 2))
yr = 1 + Xr @ jnp.array([2.0, -1.0]) + 0.5 * jax.random.t(key[3], 3.0, (100,))

print(f"NumPyro {numpyro.__version__}, JAX {jax.__version__}, CPU, float64, step inside a jitted fori_loop")
print(f"  eight schools, 4 particles                         {step_time(eight_schools, 4, *schools) * 1e6:7.2f} µs")
print(f"  Poisson regression (N = 500, D = 5), 1 particle    {step_time(poisson_regression, 1, Xp, yp) * 1e6:7.2f} µs")
print(f"  robust regression (N = 100, D = 2), 1 particle     {step_time(robust_regression, 1, Xr, yr) * 1e6:7.2f} µs")

"""The PyTorch-examples VAE training step in JAX under jit, for a side-by-side with Variational's VAE benchmark.

784-400-20-400-784, ReLU, Bernoulli likelihood from logits, analytic Gaussian KL, Adam (lr 1e-3), batch 128,
float32; the same data shape and step as Benchmarks/Sources/VariationalBenchmarks/VAEStepBenchmark.swift.
Prints the median step time over repeated blocks of steps, each block jitted as one fori_loop.
"""
import os
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=2")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

BATCH, STEPS, REPEATS = 128, 20, 15


def dense(key, n_in, n_out):
    limit = (6.0 / (n_in + n_out)) ** 0.5
    return {"w": jax.random.uniform(key, (n_in, n_out), jnp.float32, -limit, limit), "b": jnp.zeros(n_out, jnp.float32)}


def init(key):
    keys = jax.random.split(key, 5)
    return {"enc": dense(keys[0], 784, 400), "mu": dense(keys[1], 400, 20), "logvar": dense(keys[2], 400, 20),
            "dec": dense(keys[3], 20, 400), "out": dense(keys[4], 400, 784)}


def loss(params, x, eps):
    h = jax.nn.relu(x @ params["enc"]["w"] + params["enc"]["b"])
    mu = h @ params["mu"]["w"] + params["mu"]["b"]
    logvar = h @ params["logvar"]["w"] + params["logvar"]["b"]
    z = mu + jnp.exp(0.5 * logvar) * eps
    logits = jax.nn.relu(z @ params["dec"]["w"] + params["dec"]["b"]) @ params["out"]["w"] + params["out"]["b"]
    reconstruction = jnp.sum(jnp.logaddexp(0.0, logits) - x * logits)
    kl = 0.5 * jnp.sum(mu ** 2 + jnp.exp(logvar) - logvar - 1)
    return (reconstruction + kl) / x.shape[0]


def adam_step(state, x, key):
    params, m, v, t = state
    eps = jax.random.normal(key, (x.shape[0], 20), jnp.float32)
    g = jax.grad(loss)(params, x, eps)
    t = t + 1
    m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
    v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
    c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
    params = jax.tree_util.tree_map(lambda p, m, v: p - 1e-3 * (m / c1) / (jnp.sqrt(v / c2) + 1e-8), params, m, v)
    return params, m, v, t


@jax.jit
def steps(state, x, key):
    def body(i, carry):
        state, key = carry
        key, sub = jax.random.split(key)
        return adam_step(state, x, sub), key
    return jax.lax.fori_loop(0, STEPS, body, (state, key))


def main():
    key = jax.random.PRNGKey(2)
    params = init(key)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = (params, zeros, zeros, jnp.float32(0))
    x = (jax.random.uniform(key, (BATCH, 784)) < 0.2).astype(jnp.float32)
    carry = steps(state, x, key)
    jax.block_until_ready(carry)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        carry = steps(carry[0], x, carry[1])
        jax.block_until_ready(carry)
        times.append((time.perf_counter() - start) / STEPS)
    times.sort()
    print(f"JAX {jax.__version__} VAE step (jit, fori_loop of {STEPS}), batch {BATCH}: {times[len(times) // 2] * 1e3:.3f} ms")


if __name__ == "__main__":
    main()

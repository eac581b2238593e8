"""Long NUTS runs that serve as reference posteriors for the three models in Examples/, and the same models
written in NumPyro for the line count in the README.

Usage (from the package root):
    swift build -c release
    .build/release/poisson-regression-example --write-data /tmp/poisson-regression.csv > /dev/null
    .build/release/robust-regression-example --write-data /tmp/robust-regression.csv > /dev/null
    Benchmarks/peers/.venv/bin/python Benchmarks/peers/nuts_examples.py /tmp/poisson-regression.csv \
        /tmp/robust-regression.csv > Tests/ElboToolTests/Reference/nuts_examples.txt

Four chains of 50,000 draws after 5,000 warm-up steps each, target acceptance 0.95. Each line: model, latent,
posterior mean, posterior sd, the Monte-Carlo standard error of the mean (sd / sqrt(effective sample size)), the
effective sample size, R-hat.
"""
import csv
import sys

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platform_name", "cpu")
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
from numpyro.infer import MCMC, NUTS


# --- the models (the lines counted against Examples/) ---
def eight_schools(sigma, y):
    mu = numpyro.sample("mu", dist.Normal(0, 5))
    tau = numpyro.sample("tau", dist.HalfCauchy(5))
    with numpyro.plate("schools", len(sigma)):
        theta_tilde = numpyro.sample("theta_tilde", dist.Normal(0, 1))
        numpyro.sample("y", dist.Normal(mu + tau * theta_tilde, sigma), obs=y)


def poisson_regression(X, y):
    alpha = numpyro.sample("alpha", dist.Normal(0, 5))
    beta = numpyro.sample("beta", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    numpyro.sample("y", dist.Poisson(jnp.exp(alpha + X @ beta)), obs=y)


def robust_regression(X, y):
    alpha = numpyro.sample("alpha", dist.Normal(0, 10))
    beta = numpyro.sample("beta", dist.Normal(0, 10).expand([X.shape[1]]).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(2))
    nu = numpyro.sample("nu", dist.Gamma(2, 0.1))
    numpyro.sample("y", dist.StudentT(nu, alpha + X @ beta, sigma), obs=y)
# --- end of the models ---


def read(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    values = np.array([[float(v) for v in r] for r in rows[1:]])
    return jnp.asarray(values[:, :-1]), jnp.asarray(values[:, -1])


def run(name, model, seed, *arguments):
    mcmc = MCMC(NUTS(model, target_accept_prob=0.95), num_warmup=5_000, num_samples=50_000, num_chains=4,
                chain_method="sequential", progress_bar=False)
    mcmc.run(jax.random.PRNGKey(seed), *arguments)
    for latent, draws in mcmc.get_samples(group_by_chain=True).items():
        draws = np.asarray(draws)
        flat = draws.reshape(draws.shape[0], draws.shape[1], -1)
        for j in range(flat.shape[2]):
            chains = flat[:, :, j]
            label = latent if draws.ndim == 2 else f"{latent}[{j}]"
            ess = float(effective_sample_size(chains))
            sd = float(chains.std())
            print(f"{name} {label} {chains.mean():.6f} {sd:.6f} {sd / np.sqrt(ess):.6f} {ess:.0f} "
                  f"{float(split_gelman_rubin(chains)):.4f}", flush=True)


print(f"# NumPyro {numpyro.__version__}, JAX {jax.__version__}, NUTS, 4 chains x 50000 draws after 5000 warm-up")
print("# model latent mean sd mcse ess rhat")
run("eight-schools", eight_schools, 2, jnp.array([15.0, 10, 16, 11, 9, 11, 10, 18]),
    jnp.array([28.0, 8, -3, 7, -1, 1, 18, 12]))
run("poisson-regression", poisson_regression, 3, *read(sys.argv[1]))
run("robust-regression", robust_regression, 4, *read(sys.argv[2]))

"""Long NUTS runs that serve as reference posteriors for `elbo fit`'s non-conjugate built-in models.

Usage (from the package root, after `swift build -c release --product elbo`):
    .build/release/elbo fit logistic-regression --write-data /tmp/logistic.csv --max-iterations 1 > /dev/null
    .build/release/elbo fit eight-schools --write-data /tmp/eight-schools.csv --max-iterations 1 > /dev/null
    Benchmarks/peers/.venv/bin/python Benchmarks/peers/nuts_references.py /tmp/logistic.csv /tmp/eight-schools.csv \
        > Tests/ElboToolTests/Reference/nuts_posteriors.txt

The models are written as the tool's: logistic regression with w ~ Normal(0, 10) on the feature columns (no
intercept) and y ~ Bernoulli(logits = X w); eight schools non-centred with mu ~ Normal(0, 5), tau ~ HalfCauchy(5),
theta_tilde_j ~ Normal(0, 1), y_j ~ Normal(mu + tau theta_tilde_j, sigma_j). Four chains of 50,000 draws after
5,000 warm-up steps each, target acceptance 0.95. Each line: model, latent, posterior mean, posterior sd, the
Monte-Carlo standard error of the mean (sd / sqrt(effective sample size)), the effective sample size, R-hat.
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

numpyro.set_host_device_count(1)


def read(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    header, values = rows[0], np.array([[float(v) for v in r] for r in rows[1:]])
    return {name: values[:, i] for i, name in enumerate(header)}, header


def logistic(X, y):
    w = numpyro.sample("w", dist.Normal(0.0, 10.0).expand([X.shape[1]]).to_event(1))
    numpyro.sample("y", dist.Bernoulli(logits=X @ w), obs=y)


def eight_schools(sigma, y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    theta_tilde = numpyro.sample("theta_tilde", dist.Normal(0.0, 1.0).expand([len(y)]).to_event(1))
    numpyro.sample("y", dist.Normal(mu + tau * theta_tilde, sigma).to_event(1), obs=y)


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
                  f"{float(split_gelman_rubin(chains)):.4f}")


if __name__ == "__main__":
    logistic_data, logistic_header = read(sys.argv[1])
    features = np.stack([logistic_data[c] for c in logistic_header if c != "y"], axis=1)
    schools, _ = read(sys.argv[2])
    print(f"# NumPyro {numpyro.__version__}, JAX {jax.__version__}, NUTS, 4 chains x 50000 draws after 5000 warm-up")
    print("# model latent mean sd mcse ess rhat")
    run("logistic-regression", logistic, 1, jnp.asarray(features), jnp.asarray(logistic_data["y"]))
    run("eight-schools", eight_schools, 2, jnp.asarray(schools["sigma"]), jnp.asarray(schools["y"]))

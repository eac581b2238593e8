"""The models of Examples/ written in NumPyro: the reference runs (nuts_examples.py) and the step benchmark
(numpyro_models.py) use them, and the README counts their lines against the Swift examples' (from `def` to the
function's last line, blank lines excluded).
"""
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

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

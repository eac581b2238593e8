"""Long NUTS runs that serve as reference posteriors for the three models in Examples/ (written in NumPyro in
example_models.py).

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

from example_models import eight_schools, poisson_regression, robust_regression
from nuts_references import run


def read(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    values = np.array([[float(v) for v in r] for r in rows[1:]])
    return jnp.asarray(values[:, :-1]), jnp.asarray(values[:, -1])


print(f"# NumPyro {numpyro.__version__}, JAX {jax.__version__}, NUTS, 4 chains x 50000 draws after 5000 warm-up")
print("# model latent mean sd mcse ess rhat")
run("eight-schools", eight_schools, 2, jnp.array([15.0, 10, 16, 11, 9, 11, 10, 18]),
    jnp.array([28.0, 8, -3, 7, -1, 1, 18, 12]))
run("poisson-regression", poisson_regression, 3, *read(sys.argv[1]))
run("robust-regression", robust_regression, 4, *read(sys.argv[2]))

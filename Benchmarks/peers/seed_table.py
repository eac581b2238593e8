"""The convergence table: every built-in model of `elbo fit`, default settings, at the default seed and seeds 1-20.

For each run: converged or not, iterations, the KL to the exact posterior (conjugate models, from the tool's own
closed form) or the largest distance of a posterior mean from a long NUTS run in NUTS posterior sds (models in
Tests/ElboToolTests/Reference/nuts_posteriors.txt), and PSIS k-hat.
Usage: python3 Benchmarks/peers/seed_table.py [path/to/elbo] > table.txt   (a release build; about 10 minutes)
"""
import json, os, statistics, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
elbo = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, ".build/release/elbo")
nuts = {}
for line in open(os.path.join(root, "Tests/ElboToolTests/Reference/nuts_posteriors.txt")):
    if line.startswith("#") or not line.strip():
        continue
    model, name, mean, sd, *_ = line.split()
    if name != "tau":  # tau: a Gaussian in log tau is not expected to match its skew (see the README)
        nuts.setdefault(model, {})[name] = (float(mean), float(sd))

models = ["normal-normal", "beta-bernoulli", "gamma-poisson", "linear-regression",
          "linear-regression-unknown-noise", "logistic-regression", "eight-schools", "gaussian-mixture"]


def run(model, seed):
    args = [elbo, "fit", model, "--json"] + ([] if seed is None else ["--seed", str(seed)])
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        return None
    d = json.loads(out.stdout)
    if model in nuts:
        error = max(abs(d["posterior"][n]["mean"] - mu) / sd for n, (mu, sd) in nuts[model].items())
    else:
        error = (d.get("exact") or {}).get("klToPosterior")
    return d["converged"], d["iterations"], error, d.get("paretoK")


def summary(rows):
    ok = [r for r in rows if r is not None]
    text = f"converged {sum(r[0] for r in ok)}/{len(rows)}, iterations median {statistics.median(r[1] for r in ok):.0f} max {max(r[1] for r in ok)}"
    errors = [r[2] for r in ok if r[2] is not None]
    if errors:
        text += f", error max {max(errors):.2g}"
    ks = [r[3] for r in ok if r[3] is not None]
    if ks:
        text += f", k-hat max {max(ks):.2f} (> 0.5 at {sum(k > 0.5 for k in ks)})"
    if len(ok) < len(rows):
        text += f", failed runs {len(rows) - len(ok)}"
    return text


print("# error: KL to the exact posterior (conjugate models) or max |mean - NUTS mean| / NUTS sd (others)")
for model in models:
    print(f"{model:32s} default seed: {summary([run(model, None)])}", flush=True)
    print(f"{'':32s} seeds 1-20:   {summary([run(model, s) for s in range(1, 21)])}", flush=True)

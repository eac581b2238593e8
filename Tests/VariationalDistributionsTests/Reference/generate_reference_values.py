"""Reference values for the distribution tests, computed with SciPy.

Run from the repository root:  python3 Tests/VariationalDistributionsTests/Reference/generate_reference_values.py
It rewrites Tests/VariationalDistributionsTests/ReferenceValues.swift. The tests themselves need no Python.
KL divergences that SciPy has no function for are integrated numerically (scipy.integrate.quad), independently
of the closed forms under test.
"""
import math
import numpy as np
from scipy import stats, integrate, special

lines = []

def swift_number(v):
    if v == float("inf"):
        return ".infinity"
    if v == float("-inf"):
        return "-.infinity"
    return repr(v)

def emit(name, cases):
    lines.append(f"    static let {name}: [Case] = [")
    for params, x, value in cases:
        p = ", ".join(f"{v!r}" for v in params)
        lines.append(f"        Case(parameters: [{p}], x: {x!r}, value: {swift_number(value)}),")
    lines.append("    ]")

def logpdf_cases(dist_fn, params_list, xs):
    out = []
    for params in params_list:
        d = dist_fn(*params)
        for x in xs:
            v = d.logpdf(x) if hasattr(d, "logpdf") else None
            out.append((params, x, float(v)))
    return out

def logpmf_cases(dist_fn, params_list, xs):
    out = []
    for params in params_list:
        d = dist_fn(*params)
        for x in xs:
            out.append((params, x, float(d.logpmf(x))))
    return out

# Log densities: parameters as the Swift initialisers take them, x, log p(x).
emit("normal", logpdf_cases(lambda m, s: stats.norm(m, s), [(0.0, 1.0), (1.5, 0.01), (-3.0, 200.0)], [-40.0, -1.0, 0.0, 1.51, 37.0]))
emit("logNormal", logpdf_cases(lambda m, s: stats.lognorm(s, scale=math.exp(m)), [(0.0, 1.0), (2.0, 0.05)], [1e-6, 0.5, 7.4, 300.0]))
# SciPy's Laplace log density underflows to -inf far out at tiny scales; those are evaluated with mpmath.
import mpmath
mpmath.mp.dps = 50
def laplace_logpdf(m, b, x):
    v = float(stats.laplace(m, b).logpdf(x))
    if math.isinf(v):
        v = float(-abs(mpmath.mpf(x) - m) / b - mpmath.log(2 * mpmath.mpf(b)))
    return v
emit("laplace", [((m, b), x, laplace_logpdf(m, b, x)) for m, b in ((0.0, 1.0), (2.0, 0.001)) for x in (-50.0, 0.0, 2.0005, 9.0)])
emit("cauchy", logpdf_cases(lambda m, g: stats.cauchy(m, g), [(0.0, 1.0), (-1.0, 0.01)], [-1e6, -1.0, 0.5, 30.0]))
emit("studentT", logpdf_cases(lambda nu, m, s: stats.t(nu, m, s), [(1.0, 0.0, 1.0), (4.5, 2.0, 0.5), (300.0, 0.0, 2.0)], [-1000.0, 0.0, 2.2, 15.0]))
emit("halfNormal", logpdf_cases(lambda s: stats.halfnorm(scale=s), [(1.0,), (0.02,)], [0.0, 0.01, 1.0, 30.0]))
emit("halfCauchy", logpdf_cases(lambda s: stats.halfcauchy(scale=s), [(1.0,), (5.0,)], [0.0, 0.5, 1e5]))
emit("exponential", logpdf_cases(lambda r: stats.expon(scale=1 / r), [(1.0,), (250.0,)], [0.0, 1e-4, 0.3, 40.0]))
emit("gamma", logpdf_cases(lambda a, r: stats.gamma(a, scale=1 / r), [(0.3, 1.0), (4.0, 2.5), (150.0, 0.1)], [1e-8, 0.7, 3.0, 1500.0]))
emit("inverseGamma", logpdf_cases(lambda a, b: stats.invgamma(a, scale=b), [(0.5, 1.0), (3.0, 2.0)], [1e-3, 0.4, 2.0, 1e4]))
emit("beta", logpdf_cases(lambda a, b: stats.beta(a, b), [(0.5, 0.5), (2.0, 5.0), (300.0, 40.0)], [1e-7, 0.1, 0.5, 0.88, 0.9999999]))
emit("uniform", logpdf_cases(lambda l, h: stats.uniform(l, h - l), [(-1.0, 3.0), (0.0, 1e-3)], [-0.5, 0.0005, 2.9]))
emit("bernoulli", [((l,), x, float(stats.bernoulli(special.expit(l)).logpmf(x)) if abs(l) < 30 else float(-np.logaddexp(0, -l) if x == 1 else -np.logaddexp(0, l)))
                   for l in (-3.0, 0.0, 0.7, 45.0) for x in (0.0, 1.0)])
emit("binomial", [((n, l), k, float(stats.binom(n, special.expit(l)).logpmf(k))) for n, l in ((10.0, 0.3), (200.0, -2.0)) for k in (0.0, 3.0, 10.0)])
emit("poisson", logpmf_cases(lambda r: stats.poisson(r), [(0.5,), (1000.0,)], [0.0, 3.0, 1000.0]))

# Categorical over 4 classes with these logits; x the class index.
cat_logits = [0.3, -1.2, 2.0, 0.0]
p = special.softmax(cat_logits)
emit("categorical", [(tuple(cat_logits), float(k), float(np.log(p[k]))) for k in range(4)])

# Dirichlet: parameters α (3 classes), x given as the first coordinate with the rest fixed below.
dir_alpha = (0.7, 2.0, 5.5)
dir_points = [(0.2, 0.3, 0.5), (0.01, 0.01, 0.98), (0.6, 0.39, 0.01)]
lines.append("    static let dirichletAlpha: [Double] = [" + ", ".join(repr(a) for a in dir_alpha) + "]")
lines.append("    static let dirichletPoints: [[Double]] = [" + ", ".join("[" + ", ".join(repr(v) for v in pt) + "]" for pt in dir_points) + "]")
lines.append("    static let dirichletLogDensities: [Double] = [" + ", ".join(repr(float(stats.dirichlet(dir_alpha).logpdf(pt))) for pt in dir_points) + "]")

# Multivariate normal with a full covariance.
mvn_mean = [1.0, -2.0, 0.5]
mvn_cov = [[2.0, 0.3, -0.4], [0.3, 1.0, 0.2], [-0.4, 0.2, 0.5]]
mvn_points = [[0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [5.0, 3.0, -4.0]]
lines.append("    static let mvnMean: [Double] = " + repr(mvn_mean))
lines.append("    static let mvnCovariance: [[Double]] = " + repr(mvn_cov))
lines.append("    static let mvnPoints: [[Double]] = " + repr(mvn_points))
lines.append("    static let mvnLogDensities: [Double] = " + repr([float(v) for v in stats.multivariate_normal(mvn_mean, mvn_cov).logpdf(mvn_points)]))
lines.append("    static let mvnEntropy: Double = " + repr(float(stats.multivariate_normal(mvn_mean, mvn_cov).entropy())))

# Entropies from SciPy.
entropies = [
    ("normal(0.3, 2)", float(stats.norm(0.3, 2).entropy())),
    ("laplace(0, 0.5)", float(stats.laplace(0, 0.5).entropy())),
    ("cauchy(1, 3)", float(stats.cauchy(1, 3).entropy())),
    ("studentT(3.5, 0, 2)", float(stats.t(3.5, 0, 2).entropy())),
    ("halfNormal(1.7)", float(stats.halfnorm(scale=1.7).entropy())),
    ("halfCauchy(0.4)", float(stats.halfcauchy(scale=0.4).entropy())),
    ("exponential(3)", float(stats.expon(scale=1 / 3).entropy())),
    ("gamma(2.5, 4)", float(stats.gamma(2.5, scale=0.25).entropy())),
    ("inverseGamma(3, 2)", float(stats.invgamma(3, scale=2).entropy())),
    ("beta(0.6, 3)", float(stats.beta(0.6, 3).entropy())),
    ("logNormal(0.5, 0.8)", float(stats.lognorm(0.8, scale=math.exp(0.5)).entropy())),
    ("dirichlet(0.7, 2, 5.5)", float(stats.dirichlet(dir_alpha).entropy())),
]
lines.append("    static let entropies: [String: Double] = [")
for k, v in entropies:
    lines.append(f"        \"{k}\": {v!r},")
lines.append("    ]")

# KL divergences by numerical integration of q log(q/p).
def kl_quad(q, p, lo, hi, points=None):
    f = lambda x: q.pdf(x) * (q.logpdf(x) - p.logpdf(x)) if q.pdf(x) > 0 else 0.0
    v, _ = integrate.quad(f, lo, hi, limit=500, epsabs=1e-13, epsrel=1e-12, points=points)
    return float(v)

kls = [
    ("normal", kl_quad(stats.norm(0.3, 0.7), stats.norm(-1, 2), -20, 20)),
    ("laplace", kl_quad(stats.laplace(0.5, 0.8), stats.laplace(-0.2, 1.5), -40, 40, points=[0.5, -0.2])),
    ("exponential", kl_quad(stats.expon(scale=1 / 2.0), stats.expon(scale=1 / 0.5), 0, 60)),
    ("gamma", kl_quad(stats.gamma(2.5, scale=1 / 1.5), stats.gamma(4.0, scale=1 / 3.0), 0, 80)),
    ("beta", kl_quad(stats.beta(2.0, 3.0), stats.beta(0.8, 1.5), 0, 1)),
    ("uniform", kl_quad(stats.uniform(0.2, 0.5), stats.uniform(-1, 3), 0.2, 0.7)),
]
kls.append(("bernoulli", float(special.expit(0.4) * (math.log(special.expit(0.4)) - math.log(special.expit(-1.1)))
                               + (1 - special.expit(0.4)) * (math.log(1 - special.expit(0.4)) - math.log(1 - special.expit(-1.1))))))
pq = special.softmax([0.1, 1.0, -0.5]); pp = special.softmax([0.0, -1.0, 2.0])
kls.append(("categorical", float(np.sum(pq * (np.log(pq) - np.log(pp))))))
kls.append(("poisson", float(sum(stats.poisson(3.0).pmf(k) * (stats.poisson(3.0).logpmf(k) - stats.poisson(5.5).logpmf(k)) for k in range(200)))))
# Multivariate normal KL from full covariances with NumPy's general solver (not triangular solves):
# ½ (tr(Σp⁻¹Σq) + (μp − μq)ᵀ Σp⁻¹ (μp − μq) − d + log det Σp − log det Σq).
mq = np.array(mvn_mean); Sq = np.array(mvn_cov)
mp = np.array([0.0, 1.0, -1.0]); Sp = np.array([[1.0, 0.2, 0.0], [0.2, 2.0, 0.5], [0.0, 0.5, 1.5]])
diff = mp - mq
kl_mvn = 0.5 * (np.trace(np.linalg.solve(Sp, Sq)) + diff @ np.linalg.solve(Sp, diff) - 3
                + np.linalg.slogdet(Sp)[1] - np.linalg.slogdet(Sq)[1])
kls.append(("multivariateNormal", float(kl_mvn)))
lines.append("    static let mvnOtherMean: [Double] = " + repr(mp.tolist()))
lines.append("    static let mvnOtherCovariance: [[Double]] = " + repr(Sp.tolist()))
lines.append("    static let klDivergences: [String: Double] = [")
for k, v in kls:
    lines.append(f"        \"{k}\": {v!r},")
lines.append("    ]")

header = '''// Generated by Reference/generate_reference_values.py with SciPy; do not edit by hand.

/// Reference log densities, entropies and KL divergences computed by SciPy.
enum ReferenceValues {
    struct Case {
        var parameters: [Double]
        var x: Double
        var value: Double
    }

'''
with open("Tests/VariationalDistributionsTests/ReferenceValues.swift", "w") as f:
    f.write(header + "\n".join(lines) + "\n}\n")
print("wrote", len(lines), "lines")

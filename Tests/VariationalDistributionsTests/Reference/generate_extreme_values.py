"""Reference KL divergences, entropies and Student-t log densities across the whole parameter range, with mpmath.

Run from the repository root:
    python3 Tests/VariationalDistributionsTests/Reference/generate_extreme_values.py
It rewrites Tests/VariationalDistributionsTests/Reference/extreme_values.txt (one case per line: kind, parameters,
value), which ExtremeParameterTests reads. The tests need no Python.

Each value is the textbook formula evaluated at 400 significant digits (concentrations of 1e100 cancel 100 of them), so the cancellation that ruins it in double
precision (terms of size a log a at concentrations of 1e20, ratios of scales of 1e-200) does not arise here; the
library computes other, rearranged forms, and these values check them. Values beyond the Double range are written
as infinity, as a Double computation must return them.
"""
import itertools
import mpmath as mp

mp.mp.dps = 400
M = mp.mpf


def kl_normal(m1, s1, m2, s2):
    m1, s1, m2, s2 = map(M, (m1, s1, m2, s2))
    return mp.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - M(1) / 2


def kl_exponential(l1, l2):
    l1, l2 = M(l1), M(l2)
    return mp.log(l1 / l2) + l2 / l1 - 1


def kl_laplace(m1, b1, m2, b2):
    m1, b1, m2, b2 = map(M, (m1, b1, m2, b2))
    d = abs(m1 - m2)
    return mp.log(b2 / b1) + d / b2 + (b1 / b2) * mp.exp(-d / b1) - 1


def kl_gamma(a1, b1, a2, b2):
    a1, b1, a2, b2 = map(M, (a1, b1, a2, b2))
    return (a1 - a2) * mp.digamma(a1) - mp.loggamma(a1) + mp.loggamma(a2) + a2 * (mp.log(b1) - mp.log(b2)) + a1 * (b2 - b1) / b1


def kl_dirichlet(a, b):
    a, b = [M(x) for x in a], [M(x) for x in b]
    a0, b0 = sum(a), sum(b)
    value = mp.loggamma(a0) - sum(mp.loggamma(x) for x in a) - mp.loggamma(b0) + sum(mp.loggamma(x) for x in b)
    return value + sum((x - y) * (mp.digamma(x) - mp.digamma(a0)) for x, y in zip(a, b))


def kl_poisson(r1, r2):
    r1, r2 = M(r1), M(r2)
    return r1 * mp.log(r1 / r2) - r1 + r2


def xlogy_ratio(p, q):
    return M(0) if p == 0 else (mp.inf if q == 0 else p * mp.log(p / q))


def kl_bernoulli(p, q):
    p, q = M(p), M(q)
    return xlogy_ratio(p, q) + xlogy_ratio(1 - p, 1 - q)


def kl_categorical(p, q):
    sp, sq = sum(M(x) for x in p), sum(M(x) for x in q)
    return sum(xlogy_ratio(M(x) / sp, M(y) / sq) for x, y in zip(p, q))


def kl_uniform(l1, h1, l2, h2):
    l1, h1, l2, h2 = map(M, (l1, h1, l2, h2))
    return mp.log((h2 - l2) / (h1 - l1)) if l2 <= l1 and h1 <= h2 else mp.inf


def entropy_gamma(a, b):
    a, b = M(a), M(b)
    return a - mp.log(b) + mp.loggamma(a) + (1 - a) * mp.digamma(a)


def entropy_dirichlet(a):
    a = [M(x) for x in a]
    a0 = sum(a)
    log_b = sum(mp.loggamma(x) for x in a) - mp.loggamma(a0)
    return log_b + (a0 - len(a)) * mp.digamma(a0) - sum((x - 1) * mp.digamma(x) for x in a)


def entropy_student_t(nu, s):
    nu, s = M(nu), M(s)
    h = nu / 2
    log_beta = mp.loggamma(h) + mp.loggamma(M(1) / 2) - mp.loggamma(h + M(1) / 2)
    return (nu + 1) / 2 * (mp.digamma(h + M(1) / 2) - mp.digamma(h)) + mp.log(nu) / 2 + log_beta + mp.log(s)


def log_student_t(nu, m, s, x):
    nu, m, s, x = map(M, (nu, m, s, x))
    z = (x - m) / s
    return (mp.loggamma((nu + 1) / 2) - mp.loggamma(nu / 2) - mp.log(nu * mp.pi) / 2 - mp.log(s)
            - (nu + 1) / 2 * mp.log1p(z * z / nu))


def double(v):
    if v == mp.inf or v > M("1.7976931348623157e308"):
        return "inf"
    if v == -mp.inf or v < M("-1.7976931348623157e308"):
        return "-inf"
    return repr(float(v))


rows = []


def case(kind, params, value):
    rows.append(" ".join([kind] + [repr(float(p)) for p in params] + [double(value)]))


scales = [1e-300, 1e-200, 1e-10, 0.3, 1.0, 1e10, 1e200]
for s1, s2 in itertools.product(scales, scales):
    for m1, m2 in [(0.0, 0.0), (1.5, -2.0), (1e150, 0.0)]:
        case("normal", [m1, s1, m2, s2], kl_normal(m1, s1, m2, s2))
rates = [1e-300, 1e-100, 1e-5, 0.5, 1.0, 2.0, 1e5, 1e100, 1e300]
for l1, l2 in itertools.product(rates, rates):
    case("exponential", [l1, l2], kl_exponential(l1, l2))
    case("poisson", [l1, l2], kl_poisson(l1, l2))
for b1, b2 in itertools.product([1e-200, 1e-8, 0.7, 1.0, 1e8, 1e200], repeat=2):
    for m1, m2 in [(0.0, 0.0), (0.5, -0.2), (3.0, 3.0 + 1e-9), (1e100, -1e100)]:
        case("laplace", [m1, b1, m2, b2], kl_laplace(m1, b1, m2, b2))
concentrations = [1e-8, 0.01, 0.5, 1.0, 2.5, 30.0, 1e4, 1e8, 1e15, 1e20, 1e100]
priors = [(1.0, 1.0), (0.5, 2.0), (1e3, 1e3), (1e20, 3.0)]
for a1, b1 in itertools.product(concentrations, repeat=2):
    for a2, b2 in priors + [(a1, b1), (a1 * (1 + 1e-3), b1)]:
        case("beta", [a1, b1, a2, b2], kl_dirichlet([a1, b1], [a2, b2]))
    for a2, b2 in [(1.0, 1.0), (3.0, 0.2), (a1, b1), (a1 * 1.001, b1 * 0.999), (1e15, 1e15 / a1 * b1)]:
        case("gamma", [a1, b1, a2, b2], kl_gamma(a1, b1, a2, b2))
    case("gammaEntropy", [a1, b1], entropy_gamma(a1, b1))
    case("betaEntropy", [a1, b1], entropy_dirichlet([a1, b1]))
for a in itertools.product([1e-8, 0.5, 1.0, 40.0, 1e20], repeat=3):
    for b in [(1.0, 1.0, 1.0), (0.3, 2.0, 7.0), a]:
        case("dirichlet", list(a) + list(b), kl_dirichlet(a, b))
    case("dirichletEntropy", list(a), entropy_dirichlet(a))
probabilities = [0.0, 1e-300, 1e-12, 0.3, 0.5, 1 - 1e-12, 1.0]
for p, q in itertools.product(probabilities, repeat=2):
    case("bernoulli", [p, q], kl_bernoulli(p, q))
for p in [(0.0, 0.5, 0.5), (1.0, 0.0, 0.0), (0.2, 0.3, 0.5), (1e-300, 0.5, 0.5)]:
    for q in [(0.2, 0.3, 0.5), (0.0, 0.5, 0.5), (1.0, 0.0, 0.0), (1e-300, 1e-300, 1.0)]:
        case("categorical", list(p) + list(q), kl_categorical(p, q))
for u1, u2 in [((-1e308, 1e308), (-1e308, 1e308)), ((0.0, 1.0), (-1e308, 1e308)), ((0.2, 0.7), (-1.0, 2.0)),
               ((0.0, 1e-300), (0.0, 1.0)), ((0.0, 2.0), (1.0, 3.0)), ((-1e308, 1e308), (0.0, 1.0))]:
    case("uniform", list(u1) + list(u2), kl_uniform(*u1, *u2))
for nu in [0.1, 1.0, 4.5, 30.0, 1e6, 1e12, 1e17, 1e100]:
    case("studentTEntropy", [nu, 2.0], entropy_student_t(nu, 2.0))
    for x in [0.0, 1.0, 37.0, -1e5]:
        case("studentT", [nu, 0.5, 2.0, x], log_student_t(nu, 0.5, 2.0, x))

with open("Tests/VariationalDistributionsTests/Reference/extreme_values.txt", "w") as f:
    f.write("# kind, parameters, reference value (mpmath, 400 digits); generated by generate_extreme_values.py\n")
    f.write("\n".join(rows) + "\n")
print(len(rows), "cases")

#!/usr/bin/env python3
"""Coefficients of the polynomial behind log(1 + e) in the logistic kernels (Sources/CVariationalKernels/kernels.c).

The kernels write log(1 + e) = u (1 + q g(q)) with u = 2s, s = e / (2 + e) and q = s^2 in [0, 1/9], where
g(q) = sum_j q^j / (2j + 3) is the tail of atanh's odd series. Its Taylor polynomial needs 16 terms in double
precision; a polynomial fitted to g over [0, 1/9] alone needs 10, and 5 in single precision.

The fit minimises the largest error of q p(q) against q g(q), which is what reaches the result, by Lawson's
iteratively reweighted least squares (which tends to the minimax polynomial) on Chebyshev nodes, in 60-digit
arithmetic. Each degree is checked after rounding its coefficients to the kernel's precision, on 2,001 points:
the error relative to 1 + q g(q), in units of the last place (2^-53 or 2^-24). The smallest degree whose error is
at most 1/16 of a unit is printed in C. Run: python3 Scripts/logistic_series.py (needs mpmath and numpy; ~1 min).
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 60
END = mp.mpf(1) / 9


def tail(q):
    return mp.fsum(q**j / (2 * j + 3) for j in range(80))


def fit(degree, nodes=600, iterations=60):
    xs = [END * (1 - mp.cos(mp.pi * (k + mp.mpf(1) / 2) / nodes)) / 2 for k in range(nodes)]
    ys = [tail(x) for x in xs]
    weights = [mp.mpf(1)] * nodes
    for _ in range(iterations):
        a = mp.matrix(nodes, degree + 1)
        b = mp.matrix(nodes, 1)
        for i, x in enumerate(xs):
            scale = mp.sqrt(weights[i]) * x
            for j in range(degree + 1):
                a[i, j] = scale * x**j
            b[i] = scale * ys[i]
        c = mp.lu_solve(a.T * a, a.T * b)
        errors = [abs(x * (mp.fsum(c[j] * x**j for j in range(degree + 1)) - y)) for x, y in zip(xs, ys)]
        total = mp.fsum(w * e for w, e in zip(weights, errors))
        weights = [w * e / total for w, e in zip(weights, errors)]
    return [c[j] for j in range(degree + 1)]


def rounded(coefficients, bits):
    kind = np.float64 if bits == 53 else np.float32
    return [kind(float(c)) for c in coefficients]


def worst_error(coefficients, bits):
    cs = [mp.mpf(float(c)) for c in coefficients]
    worst = mp.mpf(0)
    for k in range(2001):
        q = END * k / 2000
        exact = tail(q)
        p = mp.fsum(c * q**j for j, c in enumerate(cs))
        worst = max(worst, abs(q * (p - exact)) / (1 + q * exact))
    return worst * 2**bits


for name, bits, degrees in [("double", 53, range(7, 12)), ("float", 24, range(2, 7))]:
    for degree in degrees:
        coefficients = rounded(fit(degree), bits)
        error = worst_error(coefficients, bits)
        print(f"// {name}, degree {degree}: at most {mp.nstr(error, 3)} units in the last place")
        if error <= mp.mpf(1) / 16:
            suffix = "f" if bits == 24 else ""
            print(", ".join(f"{repr(float(c))}{suffix}" for c in coefficients))
            break

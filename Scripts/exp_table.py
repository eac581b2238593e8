#!/usr/bin/env python3
"""Constants of the double-precision exp in the vector kernels (Sources/CVariationalKernels/kernels.c).

The kernels write x = (16m + j) log(2)/16 + r with j in 0..15 and |r| <= log(2)/32, so that
exp(x) = 2^m * 2^(j/16) * exp(r). This prints, in 50-digit arithmetic rounded once to double:
  - 16/log 2, and log(2)/16 split as high + low (r = x - k high - k low, each step one fused multiply-add);
  - 2^(j/16) for j = 0..15 as high + low, high the nearest double and low the nearest double to the rest;
  - the Taylor coefficients 1/n! for n = 2..7 (exp(r) - 1 - r = r^2 (1/2 + r/6 + ...); the first term left out,
    r^8/8!, is below 2^-62 relative for |r| <= log(2)/32).
Run: python3 Scripts/exp_table.py (needs mpmath).
"""
import mpmath as mp

mp.mp.dps = 50

def hexes(values):
    return ", ".join(v.hex() for v in values)

log2 = mp.log(2)
inverse = float(16 / log2)
high = float(log2 / 16)
low = float(log2 / 16 - mp.mpf(high))
print(f"16/log 2 = {inverse.hex()}")
print(f"log(2)/16 = {high.hex()} + {low.hex()}")
table_high = [float(mp.power(2, mp.mpf(j) / 16)) for j in range(16)]
table_low = [float(mp.power(2, mp.mpf(j) / 16) - mp.mpf(h)) for j, h in enumerate(table_high)]
print("2^(j/16), high:", hexes(table_high))
print("2^(j/16), low:", hexes(table_low))
print("1/n!, n = 2..7:", hexes([float(1 / mp.factorial(n)) for n in range(2, 8)]))

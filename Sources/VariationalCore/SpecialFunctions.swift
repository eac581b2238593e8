import _Differentiation
import Foundation

/// Special functions on scalars, computed in Double.
public enum SpecialFunctions {
    /// ψ(x) = d/dx log Γ(x). Recurrence up to x ≥ 12, then the asymptotic series; reflection for x < 0.
    public static func digamma(_ x: Double) -> Double {
        if x.isNaN || x == -.infinity { return .nan }
        if x <= 0 && x == x.rounded() { return .nan }
        if x < 0 {
            // ψ(1 − x) − ψ(x) = π cot(πx)
            return digamma(1 - x) - Double.pi / tan(Double.pi * x)
        }
        var value = 0.0
        var z = x
        while z < 12 {
            value -= 1 / z
            z += 1
        }
        let f = 1 / (z * z)
        let series = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))))
        return value + log(z) - 0.5 / z - series
    }

    /// ψ′(x), the trigamma function.
    public static func trigamma(_ x: Double) -> Double {
        if x.isNaN || x == -.infinity { return .nan }
        if x <= 0 && x == x.rounded() { return .nan }
        if x < 0 {
            // ψ′(1 − x) + ψ′(x) = π² / sin²(πx)
            let s = sin(Double.pi * x)
            return -trigamma(1 - x) + Double.pi * Double.pi / (s * s)
        }
        var value = 0.0
        var z = x
        while z < 12 {
            value += 1 / (z * z)
            z += 1
        }
        let f = 1 / (z * z)
        // 1/z + 1/(2z²) + 1/(6z³) − 1/(30z⁵) + 1/(42z⁷) − 1/(30z⁹) + 5/(66z¹¹)
        let tail = (1 + f * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30 - f * 5.0 / 66))))) / z
        return value + tail + 0.5 * f
    }

    /// ψ″(x), the tetragamma function (the derivative of trigamma).
    public static func tetragamma(_ x: Double) -> Double {
        if x.isNaN || x == -.infinity { return .nan }
        if x <= 0 && x == x.rounded() { return .nan }
        if x < 0 {
            // Differentiating the trigamma reflection: ψ″(x) = ψ″(1 − x) − 2π³ cos(πx) / sin³(πx)
            let s = sin(Double.pi * x)
            let c = cos(Double.pi * x)
            return tetragamma(1 - x) - 2 * Double.pi * Double.pi * Double.pi * c / (s * s * s)
        }
        var value = 0.0
        var z = x
        while z < 12 {
            value -= 2 / (z * z * z)
            z += 1
        }
        let f = 1 / (z * z)
        // −1/z² − 1/z³ − 1/(2z⁴) + 1/(6z⁶) − 1/(6z⁸) + 3/(10z¹⁰) − 5/(6z¹²)
        let series = -f * (1 + f * (0.5 - f * (1.0 / 6 - f * (1.0 / 6 - f * (3.0 / 10 - f * 5.0 / 6)))))
        return value + series - f / z
    }

    /// P(a, x) = γ(a, x) / Γ(a), the regularised lower incomplete gamma function (the Gamma(a, 1) CDF).
    /// The power series below x < a + 1, Lentz's continued fraction for Q = 1 − P above.
    public static func regularizedLowerIncompleteGamma(_ a: Double, _ x: Double) -> Double {
        require(a > 0, "regularizedLowerIncompleteGamma: a must be positive, got \(a)")
        if x <= 0 { return 0 }
        if x.isInfinite { return 1 }
        let logPrefix = a * log(x) - x - lgamma(a)
        if x < a + 1 {
            var term = 1 / a
            var sum = term
            var n = a
            for _ in 0..<100_000 {
                n += 1
                term *= x / n
                sum += term
                if abs(term) < abs(sum) * 1e-17 { break }
            }
            return Swift.min(1, sum * exp(logPrefix))
        }
        // Continued fraction for Q(a, x) (modified Lentz).
        let tiny = 1e-300
        var b = x + 1 - a
        var c = 1 / tiny
        var d = 1 / b
        var h = d
        for i in 1..<100_000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b
            if abs(d) < tiny { d = tiny }
            c = b + an / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-16 { break }
        }
        return Swift.max(0, 1 - exp(logPrefix) * h)
    }

    /// ∂P(a, x)/∂a, from the series P = Σₙ x^(a+n) e^(−x) / Γ(a+n+1) differentiated term by term:
    /// each term gains a factor log x − ψ(a+n+1). Terms are summed in log space so large x and a stay finite.
    public static func regularizedLowerIncompleteGammaDerivativeWithRespectToShape(_ a: Double, _ x: Double) -> Double {
        require(a > 0, "regularizedLowerIncompleteGamma derivative: a must be positive, got \(a)")
        if x <= 0 || x.isInfinite { return 0 }
        let logX = log(x)
        var logTerm = a * logX - x - lgamma(a + 1)
        var psi = digamma(a + 1)
        var sum = 0.0
        var n = 0.0
        // The terms grow until a + n ≈ x, then fall off; stop once they are negligible past the peak.
        while n < 1_000_000 {
            let term = exp(logTerm) * (logX - psi)
            sum += term
            if a + n > x && exp(logTerm) < 1e-17 * Swift.max(abs(sum), 1e-300) { break }
            n += 1
            logTerm += logX - log(a + n)
            psi += 1 / (a + n)
        }
        return sum
    }
    // Stirling's decomposition, for sums of log Γ and ψ whose large parts cancel (KL divergences and log
    // densities at concentrations of 1e15 and beyond): log Γ(x) = (x − ½) log x − x + ½ log 2π + r(x) and
    // ψ(x) = log x − 1/(2x) − s(x). Written this way, the large parts cancel algebraically instead of in
    // floating point. Below x = 12 the remainders come from log Γ and ψ themselves; above, from their series
    // (the first omitted term is below 3e−15 · r(x)).

    /// r(x) = log Γ(x) − (x − ½) log x + x − ½ log 2π, the remainder of Stirling's series (≈ 1/(12x)).
    public static func logGammaRemainder(_ x: Double) -> Double {
        if x < 12 { return lgamma(x) - ((x - 0.5) * log(x) - x + halfLogTwoPi) }
        let f = 1 / (x * x)
        return (1.0 / 12 - f * (1.0 / 360 - f * (1.0 / 1260 - f * (1.0 / 1680 - f / 1188)))) / x
    }

    /// s(x) = log x − 1/(2x) − ψ(x), the remainder of the digamma series (≈ 1/(12x²)); r′(x) = −s(x).
    public static func digammaRemainder(_ x: Double) -> Double {
        if x < 12 { return log(x) - 0.5 / x - digamma(x) }
        let f = 1 / (x * x)
        return f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))))
    }

    /// s′(x) = 1/x + 1/(2x²) − ψ′(x) (≈ −1/(6x³)).
    public static func digammaRemainderDerivative(_ x: Double) -> Double {
        if x < 12 { return 1 / x + 0.5 / (x * x) - trigamma(x) }
        let f = 1 / (x * x)
        return -f / x * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30 - f * 5.0 / 66))))
    }

    /// log(a / b) for positive a and b without overflow, and to full relative precision when a ≈ b.
    public static func logRatio(_ a: Double, _ b: Double) -> Double {
        let ratio = a / b
        if ratio > 0.5 && ratio < 2 { return log1p((a - b) / b) }
        return log(a) - log(b)
    }

    /// log(b/a) for positive a and b given also their difference d = b − a, for a caller who knows d more precisely
    /// than b − a would give it (a sum of the differences of parameters when one parameter is 10⁸⁰ times another).
    public static func logRatio(_ b: Double, _ a: Double, difference d: Double) -> Double {
        abs(d) < 0.5 * a ? log1p(d / a) : log(b) - log(a)
    }

    /// a log(a/b) − a + b for positive a and b (the Poisson KL divergence, ≥ 0), given also d = b − a: with t = d/a it
    /// is a (t − log(1 + t)), summed as a series when |t| < ¼ so that it keeps full relative precision as b → a.
    public static func generalizedKL(_ a: Double, _ b: Double, difference d: Double) -> Double {
        let t = d / a
        guard abs(t) < 0.25 else { return a * (log(a) - log(b)) + d }
        // t − log(1 + t) = t²/2 − t³/3 + t⁴/4 − …
        var power = t * t
        var sum = 0.0
        var n = 2.0
        while true {
            let term = power / n
            sum += term
            if abs(term) <= 1e-17 * abs(sum) { break }
            power *= -t
            n += 1
        }
        return a * sum
    }

    /// rᵖ − 1 − p log r with r = a/b, for positive a and b (the Itakura–Saito divergence for p = 1): never negative,
    /// to full relative precision when r ≈ 1 (a series, where the plain form cancels), without overflow in the
    /// logarithm at extreme ratios.
    public static func ratioDivergence(_ a: Double, _ b: Double, power p: Double) -> Double {
        let r = a / b
        if r > 0.5 && r < 2 { return expm1MinusIdentity(p * log1p((a - b) / b)) }
        if r.isNormal { return pow(r, p) - 1 - p * log(r) }
        return expm1MinusIdentity(p * (log(a) - log(b)))
    }

    /// eˣ − 1 − x, by its series near 0 (where the plain form cancels).
    public static func expm1MinusIdentity(_ x: Double) -> Double {
        if abs(x) >= 0.25 { return expm1(x) - x }
        var term = x * x / 2
        var sum = term
        var n = 2.0
        while abs(term) > 1e-17 * abs(sum) {
            n += 1
            term *= x / n
            sum += term
        }
        return sum
    }

    /// ½ log 2π.
    public static let halfLogTwoPi = 0.5 * log(2 * Double.pi)
}

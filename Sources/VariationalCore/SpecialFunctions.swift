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
}

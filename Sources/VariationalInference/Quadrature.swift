import VariationalCore
import Foundation

/// Gauss–Legendre quadrature: nodes and weights on [−1, 1], by Newton's method on the Legendre polynomial.
public enum GaussLegendre {
    public static func rule(points n: Int) -> (nodes: [Double], weights: [Double]) {
        require(n >= 1, "GaussLegendre: needs at least one point")
        var nodes = [Double](repeating: 0, count: n)
        var weights = [Double](repeating: 0, count: n)
        for i in 0..<((n + 1) / 2) {
            var x = cos(Double.pi * (Double(i) + 0.75) / (Double(n) + 0.5))
            var derivative = 0.0
            for _ in 0..<100 {
                var p0 = 1.0
                var p1 = x
                for k in 2...Swift.max(n, 2) where k <= n {
                    let p2 = ((2 * Double(k) - 1) * x * p1 - (Double(k) - 1) * p0) / Double(k)
                    p0 = p1
                    p1 = p2
                }
                if n == 1 { p1 = x; p0 = 1 }
                derivative = Double(n) * (x * p1 - p0) / (x * x - 1)
                let step = p1 / derivative
                x -= step
                if abs(step) < 1e-15 { break }
            }
            nodes[i] = -x
            nodes[n - 1 - i] = x
            let w = 2 / ((1 - x * x) * derivative * derivative)
            weights[i] = w
            weights[n - 1 - i] = w
        }
        return (nodes, weights)
    }

    /// log ∫ exp(f(x)) dx over [a, b] by composite Gauss–Legendre (`panels` × `points`), in log space.
    public static func logIntegral(_ f: (Double) -> Double, from a: Double, to b: Double, panels: Int = 200, points: Int = 16) -> Double {
        let (nodes, weights) = rule(points: points)
        let width = (b - a) / Double(panels)
        var terms: [Double] = []
        terms.reserveCapacity(panels * points)
        for p in 0..<panels {
            let center = a + (Double(p) + 0.5) * width
            for (x, w) in zip(nodes, weights) {
                terms.append(f(center + 0.5 * width * x) + Foundation.log(0.5 * width * w))
            }
        }
        return logSumExp(terms)
    }
}

/// log Σ exp(xᵢ), stable; −∞ for an empty list or all −∞.
public func logSumExp(_ values: [Double]) -> Double {
    guard let peak = values.max(), peak > -.infinity else { return -.infinity }
    if peak == .infinity { return .infinity }
    return peak + Foundation.log(values.reduce(0) { $0 + Foundation.exp($1 - peak) })
}

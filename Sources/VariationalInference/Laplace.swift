import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// The Laplace approximation of a model's posterior in the unconstrained space: the mode of log p(x, θ) + log|J|
/// and the inverse of the negative Hessian there. A start for q at the posterior's location and scale, whatever
/// the units of the data (a posterior 1e-3 wide, or centred at 1e9, is then as easy as one at 0 of width 1).
public struct LaplaceApproximation {
    /// The mode, [D].
    public var mode: Tensor<Double>
    /// The Cholesky factor L of the covariance (−∇²)⁻¹ = L Lᵀ, [D, D].
    public var scaleTril: Tensor<Double>
    /// Newton steps taken.
    public var iterations: Int

    /// Finds the mode by Newton's method from θ = 0, the Hessian by central differences of the gradient, each step
    /// damped (Levenberg) until the negative Hessian is positive definite and halved until log p rises. Nil when no
    /// mode is found within `maxIterations` steps, or the log joint or its gradient is not finite on the way.
    public init?<M: ProbabilisticModel>(model: M, maxIterations: Int = 100) {
        let d = model.latentSpace.dimension
        func value(_ theta: [Double]) -> Double {
            model.logJointUnconstrained(Tensor(shape: [1, d], scalars: theta), observations: nil).scalars[0]
        }
        func gradientAt(_ theta: [Double]) -> [Double] {
            gradient(at: Tensor(shape: [1, d], scalars: theta)) { model.logJointUnconstrained($0, observations: nil).sum() }.scalars.array
        }
        func negativeHessian(_ theta: [Double]) -> [Double] {
            var h = [Double](repeating: 0, count: d * d)
            for j in 0..<d {
                let step = 1e-5 * Swift.max(1, Swift.abs(theta[j]))
                var plus = theta, minus = theta
                plus[j] += step
                minus[j] -= step
                let (gp, gm) = (gradientAt(plus), gradientAt(minus))
                for i in 0..<d { h[i * d + j] = -(gp[i] - gm[i]) / (2 * step) }
            }
            for i in 0..<d { for j in 0..<i { let m = (h[i * d + j] + h[j * d + i]) / 2; (h[i * d + j], h[j * d + i]) = (m, m) } }
            return h
        }
        /// Solves (A + λI) x = b by Cholesky, raising λ until A + λI is positive definite; nil if it never is.
        func dampedSolve(_ a: [Double], _ b: [Double]) -> (solution: [Double], factor: Tensor<Double>, damping: Double)? {
            let size = a.map(Swift.abs).max() ?? 1
            var damping = 0.0
            for _ in 0..<60 {
                var shifted = a
                for i in 0..<d { shifted[i * d + i] += damping }
                if let l = Tensor(shape: [d, d], scalars: shifted).choleskyFactor(), l.scalars.allSatisfy(\.isFinite) {
                    let y = Tensor.triangularSolve(lower: l, Tensor(shape: [d, 1], scalars: b))
                    return (Tensor.triangularSolve(lower: l, y, transposed: true).scalars.array, l, damping)
                }
                damping = damping == 0 ? 1e-8 * Swift.max(size, 1) : damping * 10
            }
            return nil
        }
        var theta = [Double](repeating: 0, count: d)
        var current = value(theta)
        guard current.isFinite else { return nil }
        for iteration in 1...Swift.max(maxIterations, 1) {
            let g = gradientAt(theta)
            guard g.allSatisfy(\.isFinite) else { return nil }
            let h = negativeHessian(theta)
            guard h.allSatisfy(\.isFinite), let (direction, factor, damping) = dampedSolve(h, g) else { return nil }
            let slope = zip(g, direction).reduce(0) { $0 + $1.0 * $1.1 }
            var t = 1.0
            var accepted = false
            for _ in 0..<40 where slope >= 1e-12 * Swift.max(1, Swift.abs(current)) {
                let candidate = zip(theta, direction).map { $0 + t * $1 }
                let next = value(candidate)
                if next.isFinite && next >= current + 1e-4 * t * slope {
                    (theta, current, accepted) = (candidate, next, true)
                    break
                }
                t /= 2
            }
            // Converged: the Newton decrement is negligible (or no step can raise log p any more, which rounding
            // allows only when it is small) and the Hessian itself is negative definite.
            let settled = slope < 1e-12 * Swift.max(1, Swift.abs(current)) || (!accepted && slope < 1e-6 * Swift.max(1, Swift.abs(current)))
            if settled && damping == 0 {
                // The covariance's factor: (L Lᵀ)⁻¹ = L⁻ᵀ L⁻¹, whose lower Cholesky factor comes from inverting.
                let inverse = Tensor.triangularSolve(lower: factor, Tensor(shape: [d, d], scalars: (0..<(d * d)).map { $0 / d == $0 % d ? 1 : 0 }))
                let covariance = matmul(inverse.transposed(), inverse)
                guard let l = covariance.choleskyFactor(), l.scalars.allSatisfy(\.isFinite) else { return nil }
                self.mode = Tensor(theta)
                self.scaleTril = l
                self.iterations = iteration
                return
            }
            if !accepted { return nil }
        }
        return nil
    }
}

extension MeanFieldGaussian {
    /// Starts at a Laplace approximation: its mode, and the square roots of its covariance's diagonal.
    public init(laplace: LaplaceApproximation) {
        self.init(dimension: laplace.mode.scalarCount, mean: laplace.mode)
        let l = laplace.scaleTril
        let d = laplace.mode.scalarCount
        let scales = (0..<d).map { i in (0...i).reduce(0.0) { $0 + l[i, $1] * l[i, $1] }.squareRoot() }
        rawScale = Softplus<Double>().inverse(Tensor(scales))
    }
}

extension FullRankGaussian {
    /// Starts at a Laplace approximation: its mode and its covariance's Cholesky factor.
    public init(laplace: LaplaceApproximation) {
        self.init(dimension: laplace.mode.scalarCount, mean: laplace.mode)
        lowerFactor = laplace.scaleTril
        rawDiagonal = Softplus<Double>().inverse(laplace.scaleTril.diagonalPart())
    }
}

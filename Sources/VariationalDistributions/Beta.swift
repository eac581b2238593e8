import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// log B(a, b) = log Γ(a) + log Γ(b) − log Γ(a + b).
@differentiable(reverse)
func logBeta<Scalar: TensorScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) -> Tensor<Scalar> {
    a.logGamma() + b.logGamma() - (a + b).logGamma()
}

/// The beta distribution: p(x) = x^(a−1) (1 − x)^(b−1) / B(a, b) on (0, 1). Samples are G₁ / (G₁ + G₂) with
/// G₁ ~ Gamma(a), G₂ ~ Gamma(b), implicitly reparameterised.
public struct Beta<Scalar: TensorScalar>: ReparameterizedDistribution {
    public typealias KLPartner = Beta
    public var alpha: Tensor<Scalar>
    public var beta: Tensor<Scalar>
    @noDerivative public let batchShape: TensorShape

    public init(alpha: Tensor<Scalar>, beta: Tensor<Scalar>) throws {
        try Check.positive(alpha, "Beta", "alpha")
        try Check.positive(beta, "Beta", "beta")
        _ = try Check.broadcastable(alpha.shape, beta.shape, "Beta", "alpha and beta")
        self.init(uncheckedAlpha: alpha, beta: beta)
    }

    @differentiable(reverse)
    public init(uncheckedAlpha alpha: Tensor<Scalar>, beta: Tensor<Scalar>) {
        self.alpha = alpha
        self.beta = beta
        self.batchShape = withoutDerivative(at: broadcastShape(alpha.shape, beta.shape))
    }

    public var eventShape: TensorShape { [] }
    public var support: Support { .unitInterval }
    public static var fixedSupport: Support? { .unitInterval }
    public var supportBijector: Sigmoid<Scalar> { Sigmoid() }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let value = broadcastValue(value, withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        let mask = withoutDerivative(at: outside(.unitInterval, value))
        let x = value.replacing(with: 0.5, where: mask)
        let result = (alpha - 1) * x.log() + (beta - 1) * (-x).log1p() - logBeta(alpha, beta)
        return result.replacing(with: -.infinity, where: mask)
    }

    /// Two standard gamma draws per sample, stacked on a trailing axis of size 2.
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        let g1 = standardGammaDraws(alpha, shape: shape, using: &generator)
        let g2 = standardGammaDraws(beta, shape: shape, using: &generator)
        return Tensor.stacking([g1, g2], alongAxis: -1)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> {
        let last = withoutDerivative(at: noise.rank - 1)
        let g1 = implicitStandardGamma(concentration: alpha, draws: noise.slice(axis: last, range: 0..<1).squeezingShape(at: last))
        let g2 = implicitStandardGamma(concentration: beta, draws: noise.slice(axis: last, range: 1..<2).squeezingShape(at: last))
        // Keep draws inside the open interval: a ratio that rounds to exactly 0 or 1 would have −∞ log density.
        let largestBelowOne = 1 - Scalar.ulpOfOne / 2
        return (g1 / (g1 + g2)).clamped(to: Scalar.leastNormalMagnitude...largestBelowOne)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { (alpha / (alpha + beta)).broadcasted(to: batchShape) }
    public var variance: Tensor<Scalar> {
        let total = alpha + beta
        return (alpha * beta / (total.squared() * (total + 1))).broadcasted(to: batchShape)
    }

    public static var hasClosedFormEntropy: Bool { true }

    /// log B(a, b) − (a − 1) ψ(a) − (b − 1) ψ(b) + (a + b − 2) ψ(a + b), written with Stirling's remainders so that
    /// the terms of size a and b cancel algebraically (with n = a + b):
    /// ½ log(ab/n³) + ½ log 2πe − 1/(2a) − 1/(2b) + 1/n + r(a) + r(b) − r(n) + (a − 1) s(a) + (b − 1) s(b) − (n − 2) s(n).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        let (a, b) = (alpha, beta)
        let n = a + b
        let logs = (a.log() + b.log()) * 0.5 - n.log() * 1.5 + Scalar(0.5 + SpecialFunctions.halfLogTwoPi)
        let rational = 1 / n - 0.5 / a - 0.5 / b
        let remainders = a.logGammaRemainder() + b.logGammaRemainder() - n.logGammaRemainder()
            + (a - 1) * a.digammaRemainder() + (b - 1) * b.digammaRemainder() - (n - 2) * n.digammaRemainder()
        return (logs + rational + remainders).broadcasted(to: withoutDerivative(at: batchShape))
    }

    /// log B(a₂, b₂) − log B(a₁, b₁) + (a₁ − a₂) ψ(a₁) + (b₁ − b₂) ψ(b₁) + (a₂ − a₁ + b₂ − b₁) ψ(a₁ + b₁): the
    /// Dirichlet divergence with two components (see `Dirichlet.klDivergence(to:)` for the form it is computed in).
    @differentiable(reverse)
    public func klDivergence(to other: Beta) -> Tensor<Scalar> {
        dirichletKL(q: [alpha, beta], p: [other.alpha, other.beta])
    }
}

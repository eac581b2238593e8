import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// The inverse-gamma distribution with shape α and scale β: p(x) = β^α x^(−α−1) e^(−β/x) / Γ(α) for x > 0.
public struct InverseGamma<Scalar: TensorScalar>: ReparameterizedDistribution {
    public var concentration: Tensor<Scalar>
    public var scale: Tensor<Scalar>
    @noDerivative public let batchShape: TensorShape

    public init(concentration: Tensor<Scalar>, scale: Tensor<Scalar>) throws {
        try Check.positive(concentration, "InverseGamma", "concentration")
        try Check.positive(scale, "InverseGamma", "scale")
        _ = try Check.broadcastable(concentration.shape, scale.shape, "InverseGamma", "concentration and scale")
        self.init(uncheckedConcentration: concentration, scale: scale)
    }

    @differentiable(reverse)
    public init(uncheckedConcentration concentration: Tensor<Scalar>, scale: Tensor<Scalar>) {
        self.concentration = concentration
        self.scale = scale
        self.batchShape = withoutDerivative(at: broadcastShape(concentration.shape, scale.shape))
    }

    public var eventShape: TensorShape { [] }
    public var support: Support { .positive }
    public static var fixedSupport: Support? { .positive }
    public var supportBijector: Exp<Scalar> { Exp() }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let value = broadcastValue(value, withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        let mask = withoutDerivative(at: outside(.positive, value))
        let x = value.replacing(with: 1, where: mask)
        let alpha = concentration
        let result = alpha * scale.log() - alpha.logGamma() - (alpha + 1) * x.log() - scale / x
        return result.replacing(with: -.infinity, where: mask)
    }

    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        standardGammaDraws(concentration, shape: sampleShape + batchShape, using: &generator)
    }

    /// β / g with g ~ Gamma(α, 1), implicitly reparameterised in α.
    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> {
        scale / implicitStandardGamma(concentration: concentration, draws: noise)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    /// β / (α − 1) for α > 1, ∞ otherwise.
    public var mean: Tensor<Scalar> {
        let a = concentration.broadcasted(to: batchShape)
        return scale.broadcasted(to: batchShape).combinedElementwise(a) { b, a in a > 1 ? b / (a - 1) : .infinity }
    }

    /// β² / ((α − 1)² (α − 2)) for α > 2, ∞ otherwise.
    public var variance: Tensor<Scalar> {
        let a = concentration.broadcasted(to: batchShape)
        return scale.broadcasted(to: batchShape).combinedElementwise(a) { b, a in a > 2 ? b * b / ((a - 1) * (a - 1) * (a - 2)) : .infinity }
    }

    public static var hasClosedFormEntropy: Bool { true }

    /// α + log β + log Γ(α) − (1 + α) ψ(α).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        let alpha = concentration
        return (alpha + scale.log() + alpha.logGamma() - (1 + alpha) * alpha.digamma()).broadcasted(to: withoutDerivative(at: batchShape))
    }
}

import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// The gamma distribution with shape (concentration) α and rate β:
/// p(x) = β^α x^(α−1) e^(−βx) / Γ(α) for x > 0. Samples are implicitly reparameterised in α and β.
public struct Gamma<Scalar: TensorScalar>: ReparameterizedDistribution {
    public typealias KLPartner = Gamma
    public var concentration: Tensor<Scalar>
    public var rate: Tensor<Scalar>
    @noDerivative public let batchShape: TensorShape

    public init(concentration: Tensor<Scalar>, rate: Tensor<Scalar>) throws {
        try Check.positive(concentration, "Gamma", "concentration")
        try Check.positive(rate, "Gamma", "rate")
        _ = try Check.broadcastable(concentration.shape, rate.shape, "Gamma", "concentration and rate")
        self.init(uncheckedConcentration: concentration, rate: rate)
    }

    @differentiable(reverse)
    public init(uncheckedConcentration concentration: Tensor<Scalar>, rate: Tensor<Scalar>) {
        self.concentration = concentration
        self.rate = rate
        self.batchShape = withoutDerivative(at: broadcastShape(concentration.shape, rate.shape))
    }

    public var eventShape: TensorShape { [] }
    public var support: Support { .positive }
    public static var fixedSupport: Support? { .positive }
    public var supportBijector: Exp<Scalar> { Exp() }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueBroadcasts(withoutDerivative(at: value.shape), withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        return gammaLogDensity(value, concentration, rate)
    }

    /// Standard Gamma(α, 1) draws with this α.
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        standardGammaDraws(concentration, shape: sampleShape + batchShape, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> {
        implicitStandardGamma(concentration: concentration, draws: noise) / rate
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { (concentration / rate).broadcasted(to: batchShape) }
    public var variance: Tensor<Scalar> { (concentration / rate.squared()).broadcasted(to: batchShape) }
    public static var hasClosedFormEntropy: Bool { true }

    /// α − log β + log Γ(α) + (1 − α) ψ(α).
    @differentiable(reverse, wrt: self)
    /// Written with Stirling's remainders (`logGammaRemainder`, `digammaRemainder`) so that the terms of size α cancel
    /// algebraically: ½ log α + ½ log 2π + ½ − 1/(2α) + r(α) + (α − 1) s(α) − log β.
    public func entropy() -> Tensor<Scalar> {
        let alpha = concentration
        let value = alpha.log() * 0.5 + Scalar(0.5 + SpecialFunctions.halfLogTwoPi) - 0.5 / alpha
            + alpha.logGammaRemainder() + (alpha - 1) * alpha.digammaRemainder() - rate.log()
        return value.broadcasted(to: withoutDerivative(at: batchShape))
    }

    /// (α₁ − α₂) ψ(α₁) − log Γ(α₁) + log Γ(α₂) + α₂ (log β₁ − log β₂) + α₁ (β₂ − β₁) / β₁.
    @differentiable(reverse)
    /// Computed in the form that Stirling's remainders give, where the terms of size α₁ cancel algebraically (it stays
    /// exact at α₁ = 10²⁰): with u = α₁β₂/(α₂β₁),
    /// α₂ (u − 1 − log u) − ½ log(α₂/α₁) − ½ + α₂/(2α₁) + (α₂ − α₁) s(α₁) + r(α₂) − r(α₁).
    public func klDivergence(to other: Gamma) -> Tensor<Scalar> {
        let (a1, b1, a2, b2) = (concentration, rate, other.concentration, other.rate)
        let logU = Tensor.logRatio(a1, a2) + Tensor.logRatio(b2, b1)
        let mismatch = a2 * logU.expm1MinusIdentity()
        let rest = a2 / (a1 * 2) - Tensor.logRatio(a2, a1) * 0.5 - 0.5 + (a2 - a1) * a1.digammaRemainder()
        return mismatch + rest + a2.logGammaRemainder() - a1.logGammaRemainder()
    }
}

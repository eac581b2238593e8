import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// The Dirichlet distribution on the simplex: p(x) = Π xₖ^(αₖ−1) / B(α), event shape [K].
/// Samples are normalised gamma draws, implicitly reparameterised.
public struct Dirichlet<Scalar: TensorScalar>: ReparameterizedDistribution {
    public typealias KLPartner = Dirichlet
    /// α, shape batchShape + [K].
    public var concentration: Tensor<Scalar>

    public init(concentration: Tensor<Scalar>) throws {
        guard concentration.rank >= 1, concentration.shape.last! >= 2 else {
            throw DistributionError("Dirichlet: concentration needs a last axis of at least 2 categories, got shape \(concentration.shape)")
        }
        try Check.positive(concentration, "Dirichlet", "concentration")
        self.init(uncheckedConcentration: concentration)
    }

    @differentiable(reverse)
    public init(uncheckedConcentration concentration: Tensor<Scalar>) { self.concentration = concentration }

    public var batchShape: TensorShape { TensorShape(concentration.shape.dropLast()) }
    public var eventShape: TensorShape { [concentration.shape.last!] }
    public var support: Support { .simplex }
    public static var fixedSupport: Support? { .simplex }
    public var supportBijector: StickBreaking<Scalar> { StickBreaking() }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let value = broadcastValue(value, withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        let k = withoutDerivative(at: eventShape[0])
        // Outside the simplex: a negative or non-finite coordinate, or coordinates not summing to 1.
        let sums = withoutDerivative(at: value.sum(squeezingAxes: -1))
        let badCoordinate = withoutDerivative(at: value.scalars.map { !($0 >= 0 && $0.isFinite) })
        let mask = withoutDerivative(at: sums.scalars.indices.map { i in
            Swift.abs(Double(sums.scalars[i]) - 1) > 1e-4 || badCoordinate[(i * k)..<((i + 1) * k)].contains(true)
        })
        let alpha = concentration
        let normalizer = alpha.logGamma().sum(squeezingAxes: -1) - alpha.sum(squeezingAxes: -1).logGamma()
        let x = value.replacing(with: 1, where: badCoordinate)
        let result = ((alpha - 1) * x.log()).sum(squeezingAxes: -1) - normalizer
        return result.replacing(with: -.infinity, where: mask)
    }

    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        standardGammaDraws(concentration, shape: sampleShape + batchShape + eventShape, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> {
        let g = implicitStandardGamma(concentration: concentration, draws: noise)
        return g / g.sum(alongAxes: -1)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { concentration / concentration.sum(alongAxes: -1) }
    public var variance: Tensor<Scalar> {
        let total = concentration.sum(alongAxes: -1)
        return concentration * (total - concentration) / (total.squared() * (total + 1))
    }

    public static var hasClosedFormEntropy: Bool { true }

    /// log B(α) + (α₀ − K) ψ(α₀) − Σ (αₖ − 1) ψ(αₖ), written with Stirling's remainders r and s so that the terms
    /// of size α cancel algebraically: ½ Σ log αₖ + (½ − K) log α₀ + (K − 1)(½ log 2π + ½) + K/(2α₀) − Σ 1/(2αₖ)
    /// + Σ r(αₖ) − r(α₀) − (α₀ − K) s(α₀) + Σ (αₖ − 1) s(αₖ).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        let alpha = concentration
        let total = alpha.sum(squeezingAxes: -1)
        let k = Scalar(withoutDerivative(at: alpha.shape[alpha.rank - 1]))
        let perComponent = alpha.log() * 0.5 - 0.5 / alpha + alpha.logGammaRemainder() + (alpha - 1) * alpha.digammaRemainder()
        let constant = (k - 1) * Scalar(SpecialFunctions.halfLogTwoPi + 0.5)
        let totalTerms = (0.5 - k) * total.log() + k * 0.5 / total - total.logGammaRemainder()
            - (total - k) * total.digammaRemainder()
        return perComponent.sum(squeezingAxes: -1) + totalTerms + constant
    }

    /// log Γ(α₀) − Σ log Γ(αₖ) − log Γ(β₀) + Σ log Γ(βₖ) + Σ (αₖ − βₖ)(ψ(αₖ) − ψ(α₀)), computed by
    /// `DirichletDivergence` in forms where the terms of size α log α cancel algebraically (exact at α = 10²⁰).
    @differentiable(reverse)
    public func klDivergence(to other: Dirichlet) -> Tensor<Scalar> {
        let k = withoutDerivative(at: concentration.shape[concentration.rank - 1])
        let shape = withoutDerivative(at: broadcastShape(concentration.shape, other.concentration.shape))
        let (a, b) = (concentration.broadcasted(to: shape), other.concentration.broadcasted(to: shape))
        return dirichletKL(q: components(of: a, count: k), p: components(of: b, count: k))
    }
}

/// The K components of a tensor whose last axis has K entries, each without that axis.
@differentiable(reverse)
private func components<Scalar: TensorScalar>(of tensor: Tensor<Scalar>, count: Int) -> [Tensor<Scalar>] {
    var parts: [Tensor<Scalar>] = []
    for i in 0..<count {
        parts.append(tensor.slice(axis: -1, range: i..<(i + 1)).squeezingShape(at: -1))
    }
    return parts
}

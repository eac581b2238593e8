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

    public var batchShape: [Int] { Array(concentration.shape.dropLast()) }
    public var eventShape: [Int] { [concentration.shape.last!] }
    public var support: Support { .simplex }
    public var supportBijector: StickBreaking<Scalar> { StickBreaking() }

    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
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

    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        standardGammaDraws(concentration, shape: sampleShape + batchShape + eventShape, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> {
        let g = implicitStandardGamma(concentration: concentration, draws: noise)
        return g / g.sum(alongAxes: -1)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { concentration / concentration.sum(alongAxes: -1) }
    public var variance: Tensor<Scalar> {
        let total = concentration.sum(alongAxes: -1)
        return concentration * (total - concentration) / (total.squared() * (total + 1))
    }

    public static var hasClosedFormEntropy: Bool { true }

    /// log B(α) + (α₀ − K) ψ(α₀) − Σ (αₖ − 1) ψ(αₖ).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        let alpha = concentration
        let total = alpha.sum(squeezingAxes: -1)
        let k = Scalar(withoutDerivative(at: alpha.shape[alpha.rank - 1]))
        let logB = alpha.logGamma().sum(squeezingAxes: -1) - total.logGamma()
        return logB + (total - k) * total.digamma() - ((alpha - 1) * alpha.digamma()).sum(squeezingAxes: -1)
    }

    /// log Γ(α₀) − Σ log Γ(αₖ) − log Γ(β₀) + Σ log Γ(βₖ) + Σ (αₖ − βₖ)(ψ(αₖ) − ψ(α₀)).
    @differentiable(reverse)
    public func klDivergence(to other: Dirichlet) -> Tensor<Scalar> {
        let (a, b) = (concentration, other.concentration)
        let a0 = a.sum(alongAxes: -1)
        let b0 = b.sum(squeezingAxes: -1)
        return a0.squeezingShape(at: -1).logGamma() - a.logGamma().sum(squeezingAxes: -1) - b0.logGamma()
            + b.logGamma().sum(squeezingAxes: -1) + ((a - b) * (a.digamma() - a0.digamma())).sum(squeezingAxes: -1)
    }
}

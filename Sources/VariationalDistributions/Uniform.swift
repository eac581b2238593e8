import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// The continuous uniform distribution on (low, high): p(x) = 1 / (high − low).
public struct Uniform<Scalar: TensorScalar>: ReparameterizedDistribution {
    public typealias KLPartner = Uniform
    public var low: Tensor<Scalar>
    public var high: Tensor<Scalar>
    @noDerivative public let batchShape: TensorShape

    public init(low: Tensor<Scalar>, high: Tensor<Scalar>) throws {
        try Check.finite(low, "Uniform", "low")
        try Check.finite(high, "Uniform", "high")
        let shape = try Check.broadcastable(low.shape, high.shape, "Uniform", "low and high")
        let l = low.broadcasted(to: shape)
        let h = high.broadcasted(to: shape)
        if let i = l.scalars.indices.first(where: { !(l.scalars[$0] < h.scalars[$0]) }) {
            throw DistributionError("Uniform: low must be below high, got low \(l.scalars[i]) and high \(h.scalars[i])")
        }
        self.init(uncheckedLow: low, high: high)
    }

    @differentiable(reverse)
    public init(uncheckedLow low: Tensor<Scalar>, high: Tensor<Scalar>) {
        self.low = low
        self.high = high
        self.batchShape = withoutDerivative(at: broadcastShape(low.shape, high.shape))
    }

    public var eventShape: TensorShape { [] }
    public var support: Support {
        low.scalarCount == 1 && high.scalarCount == 1 ? .interval(Double(low.scalars[0]), Double(high.scalars[0])) : .real
    }

    /// Affine(low, high − low) ∘ Sigmoid: the real line onto (low, high).
    public var supportBijector: VariationalBijectors.Chain<Sigmoid<Scalar>, Affine<Scalar>> {
        VariationalBijectors.Chain(Sigmoid(), Affine(shift: low, scale: high - low))
    }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let value = broadcastValue(value, withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        let l = withoutDerivative(at: low.broadcasted(to: value.shape))
        let h = withoutDerivative(at: high.broadcasted(to: value.shape))
        let mask = withoutDerivative(at: value.scalars.indices.map { !(value.scalars[$0] >= l.scalars[$0] && value.scalars[$0] <= h.scalars[$0]) })
        return (value * 0 - logWidth(low, high)).replacing(with: -.infinity, where: mask)
    }

    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        Tensor(randomUniform: sampleShape + batchShape, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { low * (1 - noise) + high * noise }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { ((low + high) * 0.5).broadcasted(to: batchShape) }
    public var variance: Tensor<Scalar> { ((high - low).squared() / 12).broadcasted(to: batchShape) }
    public static var hasClosedFormEntropy: Bool { true }

    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> { logWidth(low, high).broadcasted(to: withoutDerivative(at: batchShape)) }

    /// log((h₂ − l₂) / (h₁ − l₁)) when (l₁, h₁) ⊂ (l₂, h₂), +∞ otherwise.
    @differentiable(reverse)
    public func klDivergence(to other: Uniform) -> Tensor<Scalar> {
        let value = logWidth(other.low, other.high) - logWidth(low, high)
        let shape = withoutDerivative(at: value.shape)
        let (l1, h1) = (withoutDerivative(at: low.broadcasted(to: shape)), withoutDerivative(at: high.broadcasted(to: shape)))
        let (l2, h2) = (withoutDerivative(at: other.low.broadcasted(to: shape)), withoutDerivative(at: other.high.broadcasted(to: shape)))
        let mask = withoutDerivative(at: l1.scalars.indices.map { !(l2.scalars[$0] <= l1.scalars[$0] && h1.scalars[$0] <= h2.scalars[$0]) })
        return value.replacing(with: .infinity, where: mask)
    }
}

/// log(high − low) without overflow when the width exceeds the largest Double (low = −1e308, high = 1e308).
@differentiable(reverse)
func logWidth<S: TensorScalar>(_ low: Tensor<S>, _ high: Tensor<S>) -> Tensor<S> {
    let width = high - low
    if withoutDerivative(at: width.scalars.allSatisfy { $0.isFinite }) { return width.log() }
    return (high * 0.5 - low * 0.5).log() + S(Foundation.log(2.0))
}

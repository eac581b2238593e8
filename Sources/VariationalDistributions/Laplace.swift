import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// Laplace(μ, b): p(x) = exp(−|x − μ| / b) / (2b).
public struct Laplace<Scalar: TensorScalar>: ReparameterizedDistribution {
    public typealias KLPartner = Laplace
    public var location: Tensor<Scalar>
    public var scale: Tensor<Scalar>
    @noDerivative public let batchShape: TensorShape

    public init(location: Tensor<Scalar>, scale: Tensor<Scalar>) throws {
        try Check.finite(location, "Laplace", "location")
        try Check.positive(scale, "Laplace", "scale")
        _ = try Check.broadcastable(location.shape, scale.shape, "Laplace", "location and scale")
        self.init(uncheckedLocation: location, scale: scale)
    }

    @differentiable(reverse)
    public init(uncheckedLocation location: Tensor<Scalar>, scale: Tensor<Scalar>) {
        self.location = location
        self.scale = scale
        self.batchShape = withoutDerivative(at: broadcastShape(location.shape, scale.shape))
    }

    public var eventShape: TensorShape { [] }
    public var support: Support { .real }
    public static var fixedSupport: Support? { .real }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let value = broadcastValue(value, withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        return -(value - location).abs() / scale - (scale * 2).log()
    }

    /// Uniform noise on (−½, ½).
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        return Tensor(shape: shape, scalars: (0..<shape.elementCount).map { _ in Scalar(Random.openUnit(using: &generator) - 0.5) })
    }

    /// μ − b sign(u) log(1 − 2|u|).
    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> {
        let standard = noise.map { u in -(u > 0 ? 1 : -1) * Scalar.log(1 - 2 * Swift.abs(u)) }
        return location + scale * standard
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { location.broadcasted(to: batchShape) }
    public var variance: Tensor<Scalar> { (scale.squared() * 2).broadcasted(to: batchShape) }
    public static var hasClosedFormEntropy: Bool { true }

    /// 1 + log(2b).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        (scale.log() + Scalar(1 + Foundation.log(2.0))).broadcasted(to: withoutDerivative(at: batchShape))
    }

    /// log(b₂/b₁) + |μ₁ − μ₂| / b₂ + (b₁/b₂) exp(−|μ₁ − μ₂| / b₁) − 1.
    @differentiable(reverse)
    public func klDivergence(to other: Laplace) -> Tensor<Scalar> {
        let distance = (location - other.location).abs()
        // With ρ = log(b₁/b₂): expm1(ρ − |μ₁ − μ₂|/b₁) − ρ + |μ₁ − μ₂|/b₂, exact at extreme ratios of scales.
        let logRatio = Tensor.logRatio(scale, other.scale)
        return (logRatio - distance / scale).expm1() - logRatio + distance / other.scale
    }
}

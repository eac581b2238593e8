import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// The exponential distribution with rate λ: p(x) = λ e^(−λx) for x ≥ 0.
public struct Exponential<Scalar: TensorScalar>: ReparameterizedDistribution {
    public typealias KLPartner = Exponential
    public var rate: Tensor<Scalar>

    public init(rate: Tensor<Scalar>) throws {
        try Check.positive(rate, "Exponential", "rate")
        self.init(uncheckedRate: rate)
    }

    @differentiable(reverse)
    public init(uncheckedRate rate: Tensor<Scalar>) { self.rate = rate }

    public var batchShape: TensorShape { rate.shape }
    public var eventShape: TensorShape { [] }
    public var support: Support { .nonNegative }
    public static var fixedSupport: Support? { .nonNegative }
    public var supportBijector: Exp<Scalar> { Exp() }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let value = broadcastValue(value, withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        let mask = withoutDerivative(at: outside(.nonNegative, value))
        return (rate.log() - rate * value).replacing(with: -.infinity, where: mask)
    }

    /// Standard exponential noise, −log U.
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        return Tensor(shape: shape, scalars: (0..<shape.elementCount).map { _ in Scalar(-Foundation.log(Random.openUnit(using: &generator))) })
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { noise / rate }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { 1 / rate }
    public var variance: Tensor<Scalar> { 1 / rate.squared() }
    public static var hasClosedFormEntropy: Bool { true }

    /// 1 − log λ.
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> { 1 - rate.log() }

    /// log(λ₁/λ₂) + λ₂/λ₁ − 1.
    @differentiable(reverse)
    /// Computed by `Tensor.ratioDivergence`: no overflow or cancellation at extreme ratios.
    public func klDivergence(to other: Exponential) -> Tensor<Scalar> { Tensor.ratioDivergence(other.rate, rate) }
}

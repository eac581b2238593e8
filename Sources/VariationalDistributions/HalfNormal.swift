import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// The half-normal distribution: |N(0, σ²)|, p(x) = √(2/π) / σ · exp(−x²/(2σ²)) for x ≥ 0.
public struct HalfNormal<Scalar: TensorScalar>: ReparameterizedDistribution {
    public var scale: Tensor<Scalar>

    public init(scale: Tensor<Scalar>) throws {
        try Check.positive(scale, "HalfNormal", "scale")
        self.init(uncheckedScale: scale)
    }

    @differentiable(reverse)
    public init(uncheckedScale scale: Tensor<Scalar>) { self.scale = scale }

    public var batchShape: TensorShape { scale.shape }
    public var eventShape: TensorShape { [] }
    public var support: Support { .nonNegative }
    public static var fixedSupport: Support? { .nonNegative }
    public var supportBijector: Exp<Scalar> { Exp() }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueBroadcasts(withoutDerivative(at: value.shape), withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        return halfNormalLogDensity(value, scale)
    }

    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        Tensor(randomNormal: sampleShape + batchShape, using: &generator).map { Swift.abs($0) }
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { scale * noise }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    /// σ √(2/π).
    public var mean: Tensor<Scalar> { scale * Scalar((2 / Double.pi).squareRoot()) }
    /// σ² (1 − 2/π).
    public var variance: Tensor<Scalar> { scale.squared() * Scalar(1 - 2 / Double.pi) }
    public static var hasClosedFormEntropy: Bool { true }

    /// ½ log(πσ²/2) + ½.
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> { scale.log() + Scalar(0.5 * Foundation.log(Double.pi / 2) + 0.5) }
}

import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// The half-Cauchy distribution: |Cauchy(0, γ)|, p(x) = 2 / (πγ (1 + (x/γ)²)) for x ≥ 0. No mean or variance.
public struct HalfCauchy<Scalar: TensorScalar>: ReparameterizedDistribution {
    public var scale: Tensor<Scalar>

    public init(scale: Tensor<Scalar>) throws {
        try Check.positive(scale, "HalfCauchy", "scale")
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
        return cauchyLogDensity(value, Tensor(0), scale, half: true)
    }

    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        return Tensor(shape: shape, scalars: (0..<shape.elementCount).map { _ in
            Scalar(Foundation.tan(Double.pi / 2 * Random.openUnit(using: &generator)))
        })
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { scale * noise }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { Tensor(repeating: .infinity, shape: batchShape) }
    public var variance: Tensor<Scalar> { Tensor(repeating: .infinity, shape: batchShape) }
    public static var hasClosedFormEntropy: Bool { true }

    /// log(2πγ).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> { scale.log() + Scalar(Foundation.log(2 * Double.pi)) }
}

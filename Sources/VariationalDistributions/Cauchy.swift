import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// Cauchy(x₀, γ): p(x) = 1 / (πγ (1 + ((x − x₀)/γ)²)). Its mean and variance do not exist (NaN).
public struct Cauchy<Scalar: TensorScalar>: ReparameterizedDistribution {
    public var location: Tensor<Scalar>
    public var scale: Tensor<Scalar>
    @noDerivative public let batchShape: TensorShape

    public init(location: Tensor<Scalar>, scale: Tensor<Scalar>) throws {
        try Check.finite(location, "Cauchy", "location")
        try Check.positive(scale, "Cauchy", "scale")
        _ = try Check.broadcastable(location.shape, scale.shape, "Cauchy", "location and scale")
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
        checkValueBroadcasts(withoutDerivative(at: value.shape), withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        return cauchyLogDensity(value, location, scale, half: false)
    }

    /// Standard Cauchy noise, tan(π(u − ½)).
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        return Tensor(shape: shape, scalars: (0..<shape.elementCount).map { _ in
            Scalar(Foundation.tan(Double.pi * (Random.openUnit(using: &generator) - 0.5)))
        })
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { location + scale * noise }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { Tensor(repeating: .nan, shape: batchShape) }
    public var variance: Tensor<Scalar> { Tensor(repeating: .nan, shape: batchShape) }
    public static var hasClosedFormEntropy: Bool { true }

    /// log(4πγ).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        (scale.log() + Scalar(Foundation.log(4 * Double.pi))).broadcasted(to: withoutDerivative(at: batchShape))
    }
}

import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// The normal distribution N(μ, σ²): p(x) = exp(−(x − μ)² / (2σ²)) / (σ √(2π)).
public struct Normal<Scalar: TensorScalar>: ReparameterizedDistribution {
    public typealias KLPartner = Normal
    /// μ.
    public var location: Tensor<Scalar>
    /// σ > 0.
    public var scale: Tensor<Scalar>
    @noDerivative public let batchShape: TensorShape

    /// A normal distribution; throws when σ is not positive or a parameter is not finite.
    public init(location: Tensor<Scalar>, scale: Tensor<Scalar>) throws {
        try Check.finite(location, "Normal", "location")
        try Check.positive(scale, "Normal", "scale")
        _ = try Check.broadcastable(location.shape, scale.shape, "Normal", "location and scale")
        self.init(uncheckedLocation: location, scale: scale)
    }

    /// A scalar normal distribution; throws when σ is not positive or a parameter is not finite.
    public init(location: Scalar, scale: Scalar) throws {
        try self.init(location: Tensor(location), scale: Tensor(scale))
    }

    /// A normal distribution without parameter checks, for use inside differentiated code.
    @differentiable(reverse)
    public init(uncheckedLocation location: Tensor<Scalar>, scale: Tensor<Scalar>) {
        self.location = location
        self.scale = scale
        self.batchShape = withoutDerivative(at: broadcastShape(location.shape, scale.shape))
    }

    // The derivatives of the initialiser and of the log density, written out and specialised: the ones
    // differentiation derives are generic code (metadata look-ups, generic `+=` on the tangent) that a model in
    // another module runs unspecialised; eight schools' step went from 77.3k to 75.0k instructions by callgrind.
    @derivative(of: init(uncheckedLocation:scale:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpInit(uncheckedLocation location: Tensor<Scalar>, scale: Tensor<Scalar>)
        -> (value: Normal, pullback: (TangentVector) -> (Tensor<Scalar>, Tensor<Scalar>))
    {
        (Normal(uncheckedLocation: location, scale: scale), { v in (v.location, v.scale) })
    }

    @derivative(of: logProbability, wrt: self)
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    func vjpLogProbabilityInParameters(of value: Tensor<Scalar>) -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> TangentVector) {
        checkValueBroadcasts(value.shape, batchShape, eventShape, Self.self)
        let (location, scale) = (self.location, self.scale)
        return (normalLogDensityValue(value, location, scale), { v in
            let g = normalLogDensityGradient(value, location, scale, v, wanted: [.b, .c])
            return TangentVector(location: g.1, scale: g.2)
        })
    }

    public var eventShape: TensorShape { [] }
    public var support: Support { .real }
    public static var fixedSupport: Support? { .real }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueBroadcasts(withoutDerivative(at: value.shape), withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        return normalLogDensity(value, location, scale)
    }

    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        Tensor(randomNormal: sampleShape + batchShape, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { location + scale * noise }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { location.broadcasted(to: batchShape) }
    public var variance: Tensor<Scalar> { scale.squared().broadcasted(to: batchShape) }

    public static var hasClosedFormEntropy: Bool { true }

    /// ½ log(2πe σ²).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        (scale.log() + Scalar(0.5 + 0.5 * Foundation.log(2 * Double.pi))).broadcasted(to: withoutDerivative(at: batchShape))
    }

    /// log(σ₂/σ₁) + (σ₁² + (μ₁ − μ₂)²) / (2σ₂²) − ½.
    @differentiable(reverse)
    /// Computed as ½ (r² − 1 − 2 log r + ((μ₁ − μ₂)/σ₂)²) with r = σ₁/σ₂ by `Tensor.ratioDivergence`, so that
    /// neither a tiny nor a huge ratio of scales overflows or cancels.
    public func klDivergence(to other: Normal) -> Tensor<Scalar> {
        let meanTerm = ((location - other.location) / other.scale).squared()
        return (Tensor.ratioDivergence(scale, other.scale, power: 2) + meanTerm) * 0.5
    }
}

import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// The log-normal distribution: exp of a normal N(μ, σ²).
public struct LogNormal<Scalar: TensorScalar>: ReparameterizedDistribution {
    public typealias KLPartner = LogNormal
    /// The normal distribution of log x.
    public var base: Normal<Scalar>

    public init(location: Tensor<Scalar>, scale: Tensor<Scalar>) throws {
        do {
            base = try Normal(location: location, scale: scale)
        } catch let error as DistributionError {
            throw DistributionError(error.description.replacingOccurrences(of: "Normal:", with: "LogNormal:"))
        }
    }

    @differentiable(reverse)
    public init(uncheckedLocation location: Tensor<Scalar>, scale: Tensor<Scalar>) {
        base = Normal(uncheckedLocation: location, scale: scale)
    }

    public var batchShape: TensorShape { base.batchShape }
    public var eventShape: TensorShape { [] }
    public var support: Support { .positive }
    public static var fixedSupport: Support? { .positive }
    public var supportBijector: Exp<Scalar> { Exp() }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let value = broadcastValue(value, withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        let mask = withoutDerivative(at: outside(.positive, value))
        let safe = value.replacing(with: 1, where: mask)
        let logX = safe.log()
        return (base.logProbability(of: logX) - logX).replacing(with: -.infinity, where: mask)
    }

    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        base.sampleNoise(sampleShape: sampleShape, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { base.sample(fromNoise: noise).exp() }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    /// exp(μ + σ²/2).
    public var mean: Tensor<Scalar> { (base.location + base.scale.squared() * 0.5).exp().broadcasted(to: batchShape) }
    /// (exp(σ²) − 1) exp(2μ + σ²).
    public var variance: Tensor<Scalar> {
        let s2 = base.scale.squared()
        return (s2.expm1() * (base.location * 2 + s2).exp()).broadcasted(to: batchShape)
    }

    public static var hasClosedFormEntropy: Bool { true }

    /// μ + ½ + ½ log(2πσ²).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> { base.entropy() + base.location }

    /// Equal to the KL divergence of the underlying normals.
    @differentiable(reverse)
    public func klDivergence(to other: LogNormal) -> Tensor<Scalar> { base.klDivergence(to: other.base) }
}

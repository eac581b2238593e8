import _Differentiation
import VariationalBijectors
import VariationalCore

/// A distribution pushed through a bijector: y = f(x), x ~ base; log p(y) = log p_base(f⁻¹(y)) + log |det ∂f⁻¹/∂y|.
/// The bijector acts on the base's events (elementwise bijectors on any event shape). Mean and variance have no
/// closed form in general (NaN).
public struct TransformedDistribution<Base: Distribution, Transform: Bijector>: Distribution
where Base.Scalar == Transform.Scalar {
    public typealias Scalar = Base.Scalar
    public var base: Base
    public var bijector: Transform

    @differentiable(reverse)
    public init(_ base: Base, bijector: Transform) {
        self.base = base
        self.bijector = bijector
    }

    public var batchShape: TensorShape { base.batchShape }
    public var eventShape: TensorShape { base.eventShape }
    public var support: Support { .real }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let value = broadcastValue(value, withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        let x = bijector.inverse(value)
        let logDet = bijector.inverseLogDetJacobian(value)
        // An elementwise bijector on vector events: its log-determinants add up over each event.
        let extra = withoutDerivative(at: base.eventShape.count - bijector.inputEventRank)
        return base.logProbability(of: x) + sumTrailing(logDet, extra)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        bijector.forward(base.sample(sampleShape: sampleShape, using: &generator))
    }

    public var mean: Tensor<Scalar> { Tensor(repeating: .nan, shape: batchShape + eventShape) }
    public var variance: Tensor<Scalar> { Tensor(repeating: .nan, shape: batchShape + eventShape) }
}

extension TransformedDistribution: ReparameterizedDistribution where Base: ReparameterizedDistribution {
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        base.sampleNoise(sampleShape: sampleShape, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { bijector.forward(base.sample(fromNoise: noise)) }
}

import _Differentiation
import VariationalBijectors
import VariationalCore

/// Reinterprets the last `reinterpretedBatchDimensions` batch dimensions of a distribution as event dimensions:
/// log densities, entropies and KL divergences are summed over them.
///
/// `Independent(Normal(location: μ, scale: σ), reinterpretedBatchDimensions: 1)` with μ of shape [128, 20] is a
/// batch of 128 diagonal Gaussians over 20 dimensions: batch shape [128], event shape [20].
public struct Independent<Base: Distribution>: Distribution {
    public typealias Scalar = Base.Scalar
    public typealias KLPartner = Independent<Base.KLPartner>
    public typealias SupportBijector = Base.SupportBijector
    public var base: Base
    @noDerivative public let reinterpretedBatchDimensions: Int

    @differentiable(reverse)
    public init(_ base: Base, reinterpretedBatchDimensions: Int) {
        require(
            reinterpretedBatchDimensions >= 0 && reinterpretedBatchDimensions <= base.batchShape.count,
            "Independent: cannot reinterpret \(reinterpretedBatchDimensions) of the batch dimensions \(base.batchShape)")
        self.base = base
        self.reinterpretedBatchDimensions = reinterpretedBatchDimensions
    }

    public var batchShape: TensorShape { TensorShape(base.batchShape.dropLast(reinterpretedBatchDimensions)) }
    public var eventShape: TensorShape { Array(base.batchShape.suffix(reinterpretedBatchDimensions)) + base.eventShape }
    public var support: Support { base.support }
    public static var fixedSupport: Support? { Base.fixedSupport }
    public static var isDiscrete: Bool { Base.isDiscrete }
    public var supportBijector: Base.SupportBijector { base.supportBijector }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        sumReinterpreted(base.logProbability(of: value))
    }

    @differentiable(reverse)
    func sumReinterpreted(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        let n = withoutDerivative(at: reinterpretedBatchDimensions)
        if n == 0 { return x }
        let rank = withoutDerivative(at: x.rank)
        return x.sum(squeezingAxes: withoutDerivative(at: Array((rank - n)..<rank)))
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        base.sample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { base.mean }
    public var variance: Tensor<Scalar> { base.variance }
    public static var hasClosedFormEntropy: Bool { Base.hasClosedFormEntropy }

    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> { sumReinterpreted(base.entropy()) }

    @differentiable(reverse)
    public func klDivergence(to other: Independent<Base.KLPartner>) -> Tensor<Scalar> {
        sumReinterpreted(base.klDivergence(to: other.base))
    }
}

extension Independent: ReparameterizedDistribution where Base: ReparameterizedDistribution {
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        base.sampleNoise(sampleShape: sampleShape, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { base.sample(fromNoise: noise) }
}

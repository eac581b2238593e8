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
        precondition(
            reinterpretedBatchDimensions >= 0 && reinterpretedBatchDimensions <= base.batchShape.count,
            "Independent: cannot reinterpret \(reinterpretedBatchDimensions) of the batch dimensions \(base.batchShape)")
        self.base = base
        self.reinterpretedBatchDimensions = reinterpretedBatchDimensions
    }

    public var batchShape: [Int] { Array(base.batchShape.dropLast(reinterpretedBatchDimensions)) }
    public var eventShape: [Int] { Array(base.batchShape.suffix(reinterpretedBatchDimensions)) + base.eventShape }
    public var support: Support { base.support }
    public var supportBijector: Base.SupportBijector { base.supportBijector }

    @differentiable(reverse)
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

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
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
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        base.sampleNoise(sampleShape: sampleShape, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { base.sample(fromNoise: noise) }
}

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

    public var batchShape: [Int] { base.batchShape }
    public var eventShape: [Int] { base.eventShape }
    public var support: Support { .real }

    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let x = bijector.inverse(value)
        let logDet = bijector.inverseLogDetJacobian(value)
        // An elementwise bijector on vector events: its log-determinants add up over each event.
        let extra = withoutDerivative(at: base.eventShape.count - bijector.inputEventRank)
        return base.logProbability(of: x) + sumTrailing(logDet, extra)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        bijector.forward(base.sample(sampleShape: sampleShape, using: &generator))
    }

    public var mean: Tensor<Scalar> { Tensor(repeating: .nan, shape: batchShape + eventShape) }
    public var variance: Tensor<Scalar> { Tensor(repeating: .nan, shape: batchShape + eventShape) }
}

extension TransformedDistribution: ReparameterizedDistribution where Base: ReparameterizedDistribution {
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        base.sampleNoise(sampleShape: sampleShape, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { bijector.forward(base.sample(fromNoise: noise)) }
}

/// A mixture of K components of one family: p(x) = Σₖ πₖ pₖ(x), with π = softmax(mixture logits).
/// The components' last batch dimension indexes the K components.
public struct MixtureSameFamily<Components: Distribution>: Distribution {
    public typealias Scalar = Components.Scalar
    public var mixture: Categorical<Scalar>
    public var components: Components

    public init(mixture: Categorical<Scalar>, components: Components) throws {
        guard components.batchShape.last == mixture.categoryCount,
              Array(components.batchShape.dropLast()) == mixture.batchShape
        else {
            throw DistributionError("MixtureSameFamily: components of batch shape \(components.batchShape) do not match mixture logits of shape \(mixture.logits.shape)")
        }
        self.init(uncheckedMixture: mixture, components: components)
    }

    @differentiable(reverse)
    public init(uncheckedMixture mixture: Categorical<Scalar>, components: Components) {
        self.mixture = mixture
        self.components = components
    }

    public var batchShape: [Int] { mixture.batchShape }
    public var eventShape: [Int] { components.eventShape }
    public var support: Support { components.support }

    /// log Σₖ exp(log πₖ + log pₖ(x)).
    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let eventRank = withoutDerivative(at: eventShape.count)
        let k = withoutDerivative(at: mixture.categoryCount)
        var expandedShape = withoutDerivative(at: value.shape)
        expandedShape.insert(k, at: expandedShape.count - eventRank)
        let expanded = value.expandingShape(at: -(eventRank + 1)).broadcasted(to: expandedShape)
        let joint = components.logProbability(of: expanded) + mixture.logits.logSoftmax()
        return joint.logSumExp(squeezingAxes: -1)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        let chosen = mixture.sample(sampleShape: sampleShape, using: &generator)  // sampleShape + batch
        let all = components.sample(sampleShape: sampleShape, using: &generator)  // sampleShape + batch + [K] + event
        let k = mixture.categoryCount
        let eventSize = eventShape.reduce(1, *)
        var values: [Scalar] = []
        values.reserveCapacity(chosen.scalarCount * eventSize)
        for (row, index) in chosen.scalars.enumerated() {
            let start = (row * k + Int(index)) * eventSize
            values.append(contentsOf: all.scalars[start..<(start + eventSize)])
        }
        return Tensor(shape: sampleShape + batchShape + eventShape, scalars: values)
    }

    /// Σₖ πₖ μₖ.
    public var mean: Tensor<Scalar> { weightedOverComponents(components.mean) }

    /// Σₖ πₖ (σₖ² + μₖ²) − mean².
    public var variance: Tensor<Scalar> {
        weightedOverComponents(components.variance + components.mean.squared()) - mean.squared()
    }

    func weightedOverComponents(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        var weights = mixture.logits.softmax()
        for _ in 0..<eventShape.count { weights = weights.expandingShape(at: -1) }
        return (x * weights).sum(squeezingAxes: -(eventShape.count + 1))
    }
}

import _Differentiation
import VariationalBijectors
import VariationalCore

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

    public var batchShape: TensorShape { mixture.batchShape }
    public var eventShape: TensorShape { components.eventShape }
    public var support: Support { components.support }

    /// log Σₖ exp(log πₖ + log pₖ(x)).
    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let value = broadcastValue(value, withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        let eventRank = withoutDerivative(at: eventShape.count)
        let k = withoutDerivative(at: mixture.categoryCount)
        var expandedShape = withoutDerivative(at: value.shape)
        expandedShape.insert(k, at: expandedShape.count - eventRank)
        let expanded = value.expandingShape(at: -(eventRank + 1)).broadcasted(to: expandedShape)
        let joint = components.logProbability(of: expanded) + mixture.logits.logSoftmax()
        return joint.logSumExp(squeezingAxes: -1)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
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

import _Differentiation
import Foundation
import VariationalCore

/// A categorical distribution over {0, …, K − 1} with probabilities softmax(logits); logits have shape
/// batchShape + [K] and values are category indices (stored as floating-point numbers).
public struct Categorical<Scalar: TensorScalar>: Distribution {
    public typealias KLPartner = Categorical
    public var logits: Tensor<Scalar>

    public init(logits: Tensor<Scalar>) throws {
        guard logits.rank >= 1, logits.shape.last! >= 1 else {
            throw DistributionError("Categorical: logits need a last axis of categories, got shape \(logits.shape)")
        }
        if let i = logits.scalars.firstIndex(where: { $0.isNaN || $0 == .infinity }) {
            throw DistributionError("Categorical: logits must not be NaN or +∞, got \(logits.scalars[i])\(Check.at(i, logits))")
        }
        self.init(uncheckedLogits: logits)
    }

    public init(probabilities: Tensor<Scalar>) throws {
        try Check.probability(probabilities, "Categorical", "probabilities")
        try self.init(logits: probabilities.log())
    }

    @differentiable(reverse)
    public init(uncheckedLogits logits: Tensor<Scalar>) { self.logits = logits }

    public var categoryCount: Int { logits.shape.last! }
    public var batchShape: TensorShape { TensorShape(logits.shape.dropLast()) }
    public var eventShape: TensorShape { [] }
    public var support: Support { .integerInterval(0, categoryCount - 1) }

    /// log softmax(logits)[value]. (Values are discrete: their gradient is zero.)
    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let value = broadcastValue(value, withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        let k = withoutDerivative(at: categoryCount)
        let mask = withoutDerivative(at: outside(.integerInterval(0, k - 1), value))
        let indices = withoutDerivative(at: value.scalars.enumerated().map { mask[$0.offset] ? 0 : Int($0.element) })
        let oneHot = withoutDerivative(at: Tensor<Scalar>(oneHotAtIndices: indices, depth: k).reshaped(to: value.shape + [k]))
        let selected = (logits.logSoftmax() * oneHot).sum(squeezingAxes: -1) + value * 0
        return selected.replacing(with: -.infinity, where: mask)
    }
    public static var isDiscrete: Bool { true }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        let k = categoryCount
        let rows = logits.reshaped(to: [-1, k])
        let count = sampleShape.reduce(1, *)
        var values: [Scalar] = []
        values.reserveCapacity(count * rows.shape[0])
        for _ in 0..<count {
            for r in 0..<rows.shape[0] {
                let row = rows.scalars[(r * k)..<((r + 1) * k)].map(Double.init)
                values.append(Scalar(Random.categorical(logits: row, using: &generator)))
            }
        }
        return Tensor(shape: sampleShape + batchShape, scalars: values)
    }

    /// Σ k pₖ.
    public var mean: Tensor<Scalar> {
        let index = Tensor<Scalar>((0..<categoryCount).map { Scalar($0) })
        return (logits.softmax() * index).sum(squeezingAxes: -1)
    }

    public var variance: Tensor<Scalar> {
        let index = Tensor<Scalar>((0..<categoryCount).map { Scalar($0) })
        let p = logits.softmax()
        return (p * index.squared()).sum(squeezingAxes: -1) - mean.squared()
    }

    public static var hasClosedFormEntropy: Bool { true }

    /// −Σ pₖ log pₖ.
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        let logP = logits.logSoftmax()
        return -zeroWhereWeightIsZero(logP.exp(), logP).sum(squeezingAxes: -1)
    }

    /// Σ pₖ (log pₖ − log qₖ).
    @differentiable(reverse)
    public func klDivergence(to other: Categorical) -> Tensor<Scalar> {
        let logP = logits.logSoftmax()
        return zeroWhereWeightIsZero(logP.exp(), logP - other.logits.logSoftmax()).sum(squeezingAxes: -1)
    }
}

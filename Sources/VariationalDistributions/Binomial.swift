import _Differentiation
import Foundation
import VariationalCore

/// The binomial distribution: the number of successes in n independent Bernoulli(σ(logits)) trials.
public struct Binomial<Scalar: TensorScalar>: Distribution {
    /// The number of trials n (not differentiated).
    @noDerivative public var totalCount: Tensor<Scalar>
    public var logits: Tensor<Scalar>
    @noDerivative public let batchShape: TensorShape

    public init(totalCount: Tensor<Scalar>, logits: Tensor<Scalar>) throws {
        if let i = totalCount.scalars.firstIndex(where: { !($0 >= 0 && $0 == $0.rounded() && Double($0) <= 0x1p53) }) {
            throw DistributionError("Binomial: totalCount must be an integer from 0 to 2^53, got \(totalCount.scalars[i])\(Check.at(i, totalCount))")
        }
        if let i = logits.scalars.firstIndex(where: \.isNaN) {
            throw DistributionError("Binomial: logits must not be NaN\(Check.at(i, logits))")
        }
        _ = try Check.broadcastable(totalCount.shape, logits.shape, "Binomial", "totalCount and logits")
        self.init(uncheckedTotalCount: totalCount, logits: logits)
    }

    public init(totalCount: Tensor<Scalar>, probabilities: Tensor<Scalar>) throws {
        try Check.probability(probabilities, "Binomial", "probabilities")
        try self.init(totalCount: totalCount, logits: VariationalDistributions.logits(fromProbabilities: probabilities))
    }

    @differentiable(reverse, wrt: logits)
    public init(uncheckedTotalCount totalCount: Tensor<Scalar>, logits: Tensor<Scalar>) {
        self.totalCount = totalCount
        self.logits = logits
        self.batchShape = withoutDerivative(at: broadcastShape(totalCount.shape, logits.shape))
    }

    public var eventShape: TensorShape { [] }
    public var support: Support {
        totalCount.scalarCount == 1 ? .integerInterval(0, Int(totalCount.scalars[0])) : .nonNegativeIntegers
    }
    public static var isDiscrete: Bool { true }

    /// log C(n, k) + k log p + (n − k) log(1 − p).
    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let value = broadcastValue(value, withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        let n = withoutDerivative(at: totalCount.broadcasted(to: value.shape))
        let mask = withoutDerivative(at: value.scalars.indices.map { i in
            let k = value.scalars[i]
            return !(k >= 0 && k <= n.scalars[i] && k == k.rounded())
        })
        let k = value.replacing(with: 0, where: mask)
        let choose = (n + 1).logGamma() - (k + 1).logGamma() - (n - k + 1).logGamma()
        // 0 · log 0 = 0: with a probability of exactly 0 or 1 (infinite logits), the term of the outcome that did
        // not occur is dropped rather than turned into NaN.
        let noSuccess = withoutDerivative(at: k.scalars.map { $0 == 0 })
        let noFailure = withoutDerivative(at: (n - k).scalars.map { $0 == 0 })
        let successes = (k * logits.logSigmoid()).replacing(with: 0, where: noSuccess)
        let failures = ((n - k) * (-logits).logSigmoid()).replacing(with: 0, where: noFailure)
        let result = choose + successes + failures
        return result.replacing(with: -.infinity, where: mask)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        let n = totalCount.broadcasted(to: shape)
        let p = logits.sigmoid().broadcasted(to: shape)
        return Tensor(shape: shape, scalars: n.scalars.indices.map { i in
            Scalar(Random.binomial(count: Double(n.scalars[i]), probability: Double(p.scalars[i]), using: &generator))
        })
    }

    public var mean: Tensor<Scalar> { (totalCount * logits.sigmoid()).broadcasted(to: batchShape) }
    public var variance: Tensor<Scalar> {
        let p = logits.sigmoid()
        return (totalCount * p * (1 - p)).broadcasted(to: batchShape)
    }
}

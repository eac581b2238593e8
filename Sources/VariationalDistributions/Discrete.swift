import _Differentiation
import Foundation
import VariationalCore

/// Logits from probabilities: log p − log(1 − p).
@differentiable(reverse)
func logits<Scalar: TensorScalar>(fromProbabilities p: Tensor<Scalar>) -> Tensor<Scalar> {
    p.log() - (-p).log1p()
}

/// The Bernoulli distribution on {0, 1} with P(1) = σ(logits).
public struct Bernoulli<Scalar: TensorScalar>: Distribution {
    public typealias KLPartner = Bernoulli
    public var logits: Tensor<Scalar>

    public init(logits: Tensor<Scalar>) throws {
        if let i = logits.scalars.firstIndex(where: \.isNaN) {
            throw DistributionError("Bernoulli: logits must not be NaN\(Check.at(i, logits))")
        }
        self.init(uncheckedLogits: logits)
    }

    public init(probabilities: Tensor<Scalar>) throws {
        try Check.probability(probabilities, "Bernoulli", "probabilities")
        self.init(uncheckedLogits: VariationalDistributions.logits(fromProbabilities: probabilities))
    }

    @differentiable(reverse)
    public init(uncheckedLogits logits: Tensor<Scalar>) { self.logits = logits }

    public var probabilities: Tensor<Scalar> { logits.sigmoid() }
    public var batchShape: [Int] { logits.shape }
    public var eventShape: [Int] { [] }
    public var support: Support { .boolean }

    /// x log p + (1 − x) log(1 − p), from the logits without overflow.
    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let mask = withoutDerivative(at: outside(.boolean, value))
        let broadcastLogits = logits.broadcasted(to: withoutDerivative(at: value.shape))
        return (-sigmoidCrossEntropy(logits: broadcastLogits, labels: value)).replacing(with: -.infinity, where: mask)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        Tensor(randomBernoulliWithProbabilities: probabilities.broadcasted(to: sampleShape + batchShape), using: &generator)
    }

    public var mean: Tensor<Scalar> { probabilities }
    public var variance: Tensor<Scalar> { probabilities * (1 - probabilities) }
    public static var hasClosedFormEntropy: Bool { true }

    /// softplus(l) − p·l.
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> { logits.softplus() - logits.sigmoid() * logits }

    /// p (log p − log q) + (1 − p)(log(1 − p) − log(1 − q)), from logits.
    @differentiable(reverse)
    public func klDivergence(to other: Bernoulli) -> Tensor<Scalar> {
        let p = logits.sigmoid()
        let logP = logits.logSigmoid()
        let logNotP = (-logits).logSigmoid()
        return p * (logP - other.logits.logSigmoid()) + (1 - p) * (logNotP - (-other.logits).logSigmoid())
    }
}

/// The binomial distribution: the number of successes in n independent Bernoulli(σ(logits)) trials.
public struct Binomial<Scalar: TensorScalar>: Distribution {
    /// The number of trials n (not differentiated).
    @noDerivative public var totalCount: Tensor<Scalar>
    public var logits: Tensor<Scalar>
    @noDerivative public let batchShape: [Int]

    public init(totalCount: Tensor<Scalar>, logits: Tensor<Scalar>) throws {
        if let i = totalCount.scalars.firstIndex(where: { !($0 >= 0 && $0 == $0.rounded() && $0.isFinite) }) {
            throw DistributionError("Binomial: totalCount must be a non-negative integer, got \(totalCount.scalars[i])\(Check.at(i, totalCount))")
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

    public var eventShape: [Int] { [] }
    public var support: Support {
        totalCount.scalarCount == 1 ? .integerInterval(0, Int(totalCount.scalars[0])) : .nonNegativeIntegers
    }

    /// log C(n, k) + k log p + (n − k) log(1 − p).
    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let n = withoutDerivative(at: totalCount.broadcasted(to: value.shape))
        let mask = withoutDerivative(at: value.scalars.indices.map { i in
            let k = value.scalars[i]
            return !(k >= 0 && k <= n.scalars[i] && k == k.rounded())
        })
        let k = value.replacing(with: 0, where: mask)
        let choose = (n + 1).logGamma() - (k + 1).logGamma() - (n - k + 1).logGamma()
        let result = choose + k * logits.logSigmoid() + (n - k) * (-logits).logSigmoid()
        return result.replacing(with: -.infinity, where: mask)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        let n = totalCount.broadcasted(to: shape)
        let p = logits.sigmoid().broadcasted(to: shape)
        return Tensor(shape: shape, scalars: n.scalars.indices.map { i in
            var successes = 0
            for _ in 0..<Int(n.scalars[i]) where Random.bernoulli(probability: Double(p.scalars[i]), using: &generator) {
                successes += 1
            }
            return Scalar(successes)
        })
    }

    public var mean: Tensor<Scalar> { (totalCount * logits.sigmoid()).broadcasted(to: batchShape) }
    public var variance: Tensor<Scalar> {
        let p = logits.sigmoid()
        return (totalCount * p * (1 - p)).broadcasted(to: batchShape)
    }
}

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
    public var batchShape: [Int] { Array(logits.shape.dropLast()) }
    public var eventShape: [Int] { [] }
    public var support: Support { .integerInterval(0, categoryCount - 1) }

    /// log softmax(logits)[value]. (Values are discrete: their gradient is zero.)
    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let k = withoutDerivative(at: categoryCount)
        let mask = withoutDerivative(at: outside(.integerInterval(0, k - 1), value))
        let indices = withoutDerivative(at: value.scalars.enumerated().map { mask[$0.offset] ? 0 : Int($0.element) })
        let oneHot = withoutDerivative(at: Tensor<Scalar>(oneHotAtIndices: indices, depth: k).reshaped(to: value.shape + [k]))
        let selected = (logits.logSoftmax() * oneHot).sum(squeezingAxes: -1) + value * 0
        return selected.replacing(with: -.infinity, where: mask)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
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
        return -(logP.exp() * logP).sum(squeezingAxes: -1)
    }

    /// Σ pₖ (log pₖ − log qₖ).
    @differentiable(reverse)
    public func klDivergence(to other: Categorical) -> Tensor<Scalar> {
        let logP = logits.logSoftmax()
        return (logP.exp() * (logP - other.logits.logSoftmax())).sum(squeezingAxes: -1)
    }
}

/// A categorical distribution whose values are one-hot vectors: event shape [K].
public struct OneHotCategorical<Scalar: TensorScalar>: Distribution {
    public typealias KLPartner = OneHotCategorical
    public var logits: Tensor<Scalar>

    public init(logits: Tensor<Scalar>) throws {
        _ = try Categorical(logits: logits)
        self.init(uncheckedLogits: logits)
    }

    @differentiable(reverse)
    public init(uncheckedLogits logits: Tensor<Scalar>) { self.logits = logits }

    public var batchShape: [Int] { Array(logits.shape.dropLast()) }
    public var eventShape: [Int] { [logits.shape.last!] }
    public var support: Support { .simplex }

    /// Σ xₖ log softmax(logits)ₖ, −∞ unless x is one-hot.
    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let k = withoutDerivative(at: eventShape[0])
        let mask = withoutDerivative(at: (0..<(value.scalarCount / k)).map { row -> Bool in
            let entries = value.scalars[(row * k)..<((row + 1) * k)]
            return !(entries.allSatisfy { $0 == 0 || $0 == 1 } && entries.reduce(0, +) == 1)
        })
        return (logits.logSoftmax() * value).sum(squeezingAxes: -1).replacing(with: -.infinity, where: mask)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        let k = eventShape[0]
        let indices = Categorical(uncheckedLogits: logits).sample(sampleShape: sampleShape, using: &generator)
        return Tensor(oneHotAtIndices: indices.scalars.map { Int($0) }, depth: k).reshaped(to: sampleShape + batchShape + [k])
    }

    public var mean: Tensor<Scalar> { logits.softmax() }
    public var variance: Tensor<Scalar> { logits.softmax() * (1 - logits.softmax()) }
    public static var hasClosedFormEntropy: Bool { true }

    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> { Categorical(uncheckedLogits: logits).entropy() }

    @differentiable(reverse)
    public func klDivergence(to other: OneHotCategorical) -> Tensor<Scalar> {
        Categorical(uncheckedLogits: logits).klDivergence(to: Categorical(uncheckedLogits: other.logits))
    }
}

/// The Poisson distribution with rate λ: P(k) = λᵏ e^(−λ) / k!.
public struct Poisson<Scalar: TensorScalar>: Distribution {
    public typealias KLPartner = Poisson
    public var rate: Tensor<Scalar>

    public init(rate: Tensor<Scalar>) throws {
        try Check.positive(rate, "Poisson", "rate")
        self.init(uncheckedRate: rate)
    }

    @differentiable(reverse)
    public init(uncheckedRate rate: Tensor<Scalar>) { self.rate = rate }

    public var batchShape: [Int] { rate.shape }
    public var eventShape: [Int] { [] }
    public var support: Support { .nonNegativeIntegers }

    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let mask = withoutDerivative(at: outside(.nonNegativeIntegers, value))
        let k = value.replacing(with: 0, where: mask)
        return (k * rate.log() - rate - (k + 1).logGamma()).replacing(with: -.infinity, where: mask)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        return Tensor(shape: shape, scalars: rate.broadcasted(to: shape).scalars.map {
            Scalar(PoissonSampler.draw(rate: Double($0), using: &generator))
        })
    }

    public var mean: Tensor<Scalar> { rate }
    public var variance: Tensor<Scalar> { rate }

    /// λ₁ log(λ₁/λ₂) − λ₁ + λ₂.
    @differentiable(reverse)
    public func klDivergence(to other: Poisson) -> Tensor<Scalar> {
        rate * (rate.log() - other.rate.log()) - rate + other.rate
    }
}

/// Poisson draws: multiplication of uniforms for small rates, Hörmann's transformed rejection (PTRS) above 10.
enum PoissonSampler {
    static func draw<G: RandomNumberGenerator>(rate: Double, using generator: inout G) -> Int {
        if rate < 10 {
            let limit = exp(-rate)
            var product = Random.openUnit(using: &generator)
            var count = 0
            while product > limit {
                product *= Random.openUnit(using: &generator)
                count += 1
            }
            return count
        }
        let root = rate.squareRoot()
        let logRate = log(rate)
        let b = 0.931 + 2.53 * root
        let a = -0.059 + 0.02483 * b
        let inverseAlpha = 1.1239 + 1.1328 / (b - 3.4)
        let vr = 0.9277 - 3.6224 / (b - 2)
        while true {
            let u = Random.openUnit(using: &generator) - 0.5
            let v = Random.openUnit(using: &generator)
            let us = 0.5 - abs(u)
            let k = floor((2 * a / us + b) * u + rate + 0.43)
            if us >= 0.07 && v <= vr { return Int(k) }
            if k < 0 || (us < 0.013 && v > us) { continue }
            if log(v) + log(inverseAlpha) - log(a / (us * us) + b) <= -rate + k * logRate - lgamma(k + 1) {
                return Int(k)
            }
        }
    }
}

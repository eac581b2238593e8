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

    // The initialiser's and the log density's derivatives written out and specialised, as Normal's are (the ones
    // differentiation derives are generic code that a model in another module runs unspecialised).
    @derivative(of: init(uncheckedLogits:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpInit(uncheckedLogits logits: Tensor<Scalar>) -> (value: Bernoulli, pullback: (TangentVector) -> Tensor<Scalar>) {
        (Bernoulli(uncheckedLogits: logits), { v in v.logits })
    }

    @derivative(of: logProbability, wrt: self)
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    func vjpLogProbabilityInParameters(of value: Tensor<Scalar>) -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> TangentVector) {
        let value = broadcastValue(value, batchShape, eventShape, Self.self)
        let shape = logits.shape
        // The pullback made here of the gradient that comes with the value: one closure (one context a step), not
        // one calling the density's own pullback.
        let (result, g) = bernoulliLogDensityWithLogitGradient(value, logits.broadcasted(to: value.shape))
        return (result, { v in TangentVector(logits: upstreamTimes(v, g).summed(toShape: shape)) })
    }

    public var probabilities: Tensor<Scalar> { logits.sigmoid() }
    public var batchShape: TensorShape { logits.shape }
    public var eventShape: TensorShape { [] }
    public var support: Support { .boolean }
    public static var fixedSupport: Support? { .boolean }
    public static var isDiscrete: Bool { true }

    /// x log p + (1 − x) log(1 − p), from the logits without overflow.
    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let value = broadcastValue(value, withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        return bernoulliLogDensity(value, logits.broadcasted(to: withoutDerivative(at: value.shape)))
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        Tensor(randomBernoulliWithProbabilities: probabilities.broadcasted(to: sampleShape + batchShape), using: &generator)
    }

    public var mean: Tensor<Scalar> { probabilities }
    public var variance: Tensor<Scalar> { probabilities * (1 - probabilities) }
    public static var hasClosedFormEntropy: Bool { true }

    /// softplus(l) − p·l.
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> { logits.softplus() - zeroWhereWeightIsZero(logits.sigmoid(), logits) }

    /// p (log p − log q) + (1 − p)(log(1 − p) − log(1 − q)), from logits.
    @differentiable(reverse)
    public func klDivergence(to other: Bernoulli) -> Tensor<Scalar> {
        let p = logits.sigmoid()
        let notP = (-logits).sigmoid()
        let logP = logits.logSigmoid()
        let logNotP = (-logits).logSigmoid()
        return zeroWhereWeightIsZero(p, logP - other.logits.logSigmoid())
            + zeroWhereWeightIsZero(notP, logNotP - (-other.logits).logSigmoid())
    }
}

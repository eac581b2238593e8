import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// The relaxed one-hot categorical (Concrete, Gumbel-softmax) distribution on the simplex with temperature τ:
/// y = softmax((logits + g) / τ) with g standard Gumbel noise; event shape [K]. Mean and variance have no closed
/// form (NaN).
public struct RelaxedOneHotCategorical<Scalar: TensorScalar>: ReparameterizedDistribution {
    @noDerivative public var temperature: Scalar
    public var logits: Tensor<Scalar>

    public init(temperature: Scalar, logits: Tensor<Scalar>) throws {
        guard temperature > 0, temperature.isFinite else {
            throw DistributionError("RelaxedOneHotCategorical: temperature must be positive and finite, got \(temperature)")
        }
        guard logits.rank >= 1, logits.shape.last! >= 2 else {
            throw DistributionError("RelaxedOneHotCategorical: logits need a last axis of at least 2 categories, got shape \(logits.shape)")
        }
        try Check.finite(logits, "RelaxedOneHotCategorical", "logits")
        self.init(uncheckedTemperature: temperature, logits: logits)
    }

    @differentiable(reverse, wrt: logits)
    public init(uncheckedTemperature temperature: Scalar, logits: Tensor<Scalar>) {
        self.temperature = temperature
        self.logits = logits
    }

    public var batchShape: TensorShape { TensorShape(logits.shape.dropLast()) }
    public var eventShape: TensorShape { [logits.shape.last!] }
    public var support: Support { .simplex }
    public static var fixedSupport: Support? { .simplex }
    public var supportBijector: StickBreaking<Scalar> { StickBreaking() }

    /// log Γ(K) + (K − 1) log τ + Σₖ (lₖ − (τ + 1) log yₖ) − K log Σₖ exp(lₖ − τ log yₖ),
    /// the density of the first K − 1 coordinates.
    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let value = broadcastValue(value, withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        let k = withoutDerivative(at: eventShape[0])
        let mask = withoutDerivative(at: (0..<(value.scalarCount / k)).map { row -> Bool in
            let entries = value.scalars[(row * k)..<((row + 1) * k)]
            return !(entries.allSatisfy { $0 > 0 } && Swift.abs(Double(entries.reduce(0, +)) - 1) < 1e-4)
        })
        let rowsMask = withoutDerivative(at: mask.flatMap { Array(repeating: $0, count: k) })
        let y = value.replacing(with: 1 / Scalar(k), where: rowsMask)
        let logY = y.log()
        let tau = temperature
        let kk = Scalar(k)
        let constant = Scalar.logGamma(kk) + (kk - 1) * Scalar.log(tau)
        let terms = (logits - logY * (tau + 1)).sum(squeezingAxes: -1)
        let result = terms - (logits - logY * tau).logSumExp(squeezingAxes: -1) * kk + constant
        return result.replacing(with: -.infinity, where: mask)
    }

    /// Standard Gumbel noise.
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        Tensor(randomGumbel: sampleShape + batchShape + eventShape, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { ((logits + noise) / temperature).softmax() }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { Tensor(repeating: .nan, shape: batchShape + eventShape) }
    public var variance: Tensor<Scalar> { Tensor(repeating: .nan, shape: batchShape + eventShape) }
}

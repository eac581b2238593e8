import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// The relaxed Bernoulli (binary Concrete) distribution on (0, 1) with temperature τ (Maddison et al. 2017):
/// y = σ((logits + L) / τ) with L standard logistic noise. As τ → 0 it approaches Bernoulli(σ(logits)).
/// Mean and variance have no closed form (NaN).
public struct RelaxedBernoulli<Scalar: TensorScalar>: ReparameterizedDistribution {
    @noDerivative public var temperature: Scalar
    public var logits: Tensor<Scalar>

    public init(temperature: Scalar, logits: Tensor<Scalar>) throws {
        guard temperature > 0, temperature.isFinite else {
            throw DistributionError("RelaxedBernoulli: temperature must be positive and finite, got \(temperature)")
        }
        try Check.finite(logits, "RelaxedBernoulli", "logits")
        self.init(uncheckedTemperature: temperature, logits: logits)
    }

    @differentiable(reverse, wrt: logits)
    public init(uncheckedTemperature temperature: Scalar, logits: Tensor<Scalar>) {
        self.temperature = temperature
        self.logits = logits
    }

    public var batchShape: [Int] { logits.shape }
    public var eventShape: [Int] { [] }
    public var support: Support { .unitInterval }
    public var supportBijector: Sigmoid<Scalar> { Sigmoid() }

    /// log τ + l − (τ + 1)(log y + log(1 − y)) − 2 log(e^l y^(−τ) + (1 − y)^(−τ)).
    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let mask = withoutDerivative(at: outside(.unitInterval, value))
        let y = value.replacing(with: 0.5, where: mask)
        let logY = y.log()
        let logNotY = (-y).log1p()
        let tau = temperature
        let a = logits - logY * tau
        let b = logNotY * -tau
        let logSum = Tensor.stacking([a, b], alongAxis: -1).logSumExp(squeezingAxes: -1)
        let result = logits + Scalar.log(tau) - (logY + logNotY) * (tau + 1) - logSum * 2
        return result.replacing(with: -.infinity, where: mask)
    }

    /// Standard logistic noise, log U − log(1 − U).
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in
            let u = Random.openUnit(using: &generator)
            return Scalar(log(u) - log1p(-u))
        })
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { ((logits + noise) / temperature).sigmoid() }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { Tensor(repeating: .nan, shape: batchShape) }
    public var variance: Tensor<Scalar> { Tensor(repeating: .nan, shape: batchShape) }
}

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

    public var batchShape: [Int] { Array(logits.shape.dropLast()) }
    public var eventShape: [Int] { [logits.shape.last!] }
    public var support: Support { .simplex }
    public var supportBijector: StickBreaking<Scalar> { StickBreaking() }

    /// log Γ(K) + (K − 1) log τ + Σₖ (lₖ − (τ + 1) log yₖ) − K log Σₖ exp(lₖ − τ log yₖ),
    /// the density of the first K − 1 coordinates.
    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
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
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        Tensor(randomGumbel: sampleShape + batchShape + eventShape, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { ((logits + noise) / temperature).softmax() }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { Tensor(repeating: .nan, shape: batchShape + eventShape) }
    public var variance: Tensor<Scalar> { Tensor(repeating: .nan, shape: batchShape + eventShape) }
}

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

    public var batchShape: TensorShape { logits.shape }
    public var eventShape: TensorShape { [] }
    public var support: Support { .unitInterval }
    public static var fixedSupport: Support? { .unitInterval }
    public var supportBijector: Sigmoid<Scalar> { Sigmoid() }

    /// log τ + l − (τ + 1)(log y + log(1 − y)) − 2 log(e^l y^(−τ) + (1 − y)^(−τ)).
    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let value = broadcastValue(value, withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
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
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        return Tensor(shape: shape, scalars: (0..<shape.elementCount).map { _ in
            let u = Random.openUnit(using: &generator)
            return Scalar(log(u) - log1p(-u))
        })
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { ((logits + noise) / temperature).sigmoid() }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { Tensor(repeating: .nan, shape: batchShape) }
    public var variance: Tensor<Scalar> { Tensor(repeating: .nan, shape: batchShape) }
}

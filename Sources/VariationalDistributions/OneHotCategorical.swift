import _Differentiation
import Foundation
import VariationalCore

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

    public var batchShape: TensorShape { TensorShape(logits.shape.dropLast()) }
    public var eventShape: TensorShape { [logits.shape.last!] }
    public var support: Support { .simplex }
    public static var fixedSupport: Support? { .simplex }
    public static var isDiscrete: Bool { true }

    /// Σ xₖ log softmax(logits)ₖ, −∞ unless x is one-hot.
    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let value = broadcastValue(value, withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        let k = withoutDerivative(at: eventShape[0])
        let mask = withoutDerivative(at: (0..<(value.scalarCount / k)).map { row -> Bool in
            let entries = value.scalars[(row * k)..<((row + 1) * k)]
            return !(entries.allSatisfy { $0 == 0 || $0 == 1 } && entries.reduce(0, +) == 1)
        })
        return (logits.logSoftmax() * value).sum(squeezingAxes: -1).replacing(with: -.infinity, where: mask)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
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

import _Differentiation
import VariationalCore

/// A differentiable function of a tensor with trainable parameters (all of them Tensors).
///
/// The requirement is differentiable both with respect to the input and the layer, and with respect to the layer
/// alone: the compiler then picks the smaller derivative when the input is data, and backward never computes the
/// gradient of the data.
public protocol Layer: Differentiable {
    associatedtype Scalar: TensorScalar

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar>
}

/// Two layers applied one after the other: `second(first(x))`.
public struct Chain<First: Layer, Second: Layer>: Layer where First.Scalar == Second.Scalar {
    public typealias Scalar = First.Scalar
    public var first: First
    public var second: Second

    public init(_ first: First, _ second: Second) {
        self.first = first
        self.second = second
    }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
        second(first(input))
    }
}

extension Layer {
    /// This layer followed by `next`.
    public func then<Next: Layer>(_ next: Next) -> Chain<Self, Next> where Next.Scalar == Scalar {
        Chain(self, next)
    }
}

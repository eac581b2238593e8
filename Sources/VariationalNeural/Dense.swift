import _Differentiation
import Foundation
import VariationalCore

/// An elementwise activation function.
public enum Activation: Sendable, Equatable {
    case identity, relu, tanh, sigmoid, softplus, elu, leakyRelu(slope: Double)

    @differentiable(reverse)
    public func callAsFunction<Scalar: TensorScalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        switch self {
        case .identity: return x
        case .relu: return x.relu()
        case .tanh: return x.tanh()
        case .sigmoid: return x.sigmoid()
        case .softplus: return x.softplus()
        case .elu: return x.elu()
        case .leakyRelu(let slope): return x.leakyRelu(slope: Scalar(slope))
        }
    }
}

/// A fully connected layer: activation(x · weight + bias), for inputs of shape [batch, inputSize].
public struct Dense<Scalar: TensorScalar>: Layer {
    /// Shape [inputSize, outputSize].
    public var weight: Tensor<Scalar>
    /// Shape [outputSize].
    public var bias: Tensor<Scalar>
    @noDerivative public var activation: Activation

    /// A layer with given parameters.
    @differentiable(reverse, wrt: (weight, bias))
    public init(weight: Tensor<Scalar>, bias: Tensor<Scalar>, activation: Activation = .identity) {
        require(weight.rank == 2, "Dense: weight must be a matrix, got shape \(weight.shape)")
        require(
            bias.shape == [weight.shape[1]],
            "Dense: bias of shape \(bias.shape) does not match weight of shape \(weight.shape)")
        self.weight = weight
        self.bias = bias
        self.activation = activation
    }

    /// A layer with Glorot-uniform weights and zero bias.
    public init<G: RandomNumberGenerator>(
        inputSize: Int, outputSize: Int, activation: Activation = .identity, using generator: inout G
    ) {
        require(inputSize > 0 && outputSize > 0, "Dense: sizes must be positive, got \(inputSize)→\(outputSize)")
        let limit = Scalar(Foundation.sqrt(6 / Double(inputSize + outputSize)))
        self.init(
            weight: Tensor(randomUniform: [inputSize, outputSize], low: -limit, high: limit, using: &generator),
            bias: Tensor(zeros: [outputSize]), activation: activation)
    }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
        require(
            input.rank == 2 && input.shape[1] == weight.shape[0],
            "Dense: input of shape \(input.shape) does not match weight of shape \(weight.shape)")
        // The rectified layer in one operation (one pass fewer each way, and one tensor fewer kept for backward).
        if activation == .relu { return linearReLU(input, weight, bias) }
        return activation(linear(input, weight, bias))
    }
}

import _Differentiation
import VariationalCore

/// Dense layers applied in turn, their number chosen at run time (a multilayer perceptron).
public struct DenseStack<Scalar: TensorScalar>: Layer {
    public var layers: [Dense<Scalar>]

    public init(_ layers: [Dense<Scalar>]) {
        require(!layers.isEmpty, "DenseStack: at least one layer")
        for i in 1..<layers.count where layers[i - 1].weight.shape[1] != layers[i].weight.shape[0] {
            usageFailure("DenseStack: layer \(i - 1) gives \(layers[i - 1].weight.shape[1]) outputs, layer \(i) takes \(layers[i].weight.shape[0])")
        }
        self.layers = layers
    }

    /// Layers of the given sizes (`sizes[0]` inputs, then each layer's outputs), Glorot-uniform weights, each with
    /// `activation` except the last, which has `finalActivation`.
    public init<G: RandomNumberGenerator>(
        sizes: [Int], activation: Activation, finalActivation: Activation = .identity, using generator: inout G
    ) {
        require(sizes.count >= 2, "DenseStack: sizes need an input and at least one output, got \(sizes)")
        var layers: [Dense<Scalar>] = []
        for i in 1..<sizes.count {
            let act = i == sizes.count - 1 ? finalActivation : activation
            layers.append(Dense(inputSize: sizes[i - 1], outputSize: sizes[i], activation: act, using: &generator))
        }
        self.init(layers)
    }

    /// The number of outputs.
    public var outputSize: Int { layers[layers.count - 1].weight.shape[1] }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
        var h = input
        for i in 0..<withoutDerivative(at: layers.count) {
            h = layers[i](h)
        }
        return h
    }
}

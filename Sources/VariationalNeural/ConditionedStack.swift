import _Differentiation
import VariationalCore

/// A multilayer perceptron that reads each input row as [x, c], data and a conditioning vector of `conditionSize`
/// columns, and gives c to every layer beside its input:
///
///     h₀ = x,   h_{i+1} = f_i(W_i [h_i, c] + b_i),
///
/// so that the condition (a diffusion step's embedding, say) shapes every layer rather than only the first, where
/// it is a few columns among the data's hundreds.
public struct ConditionedStack<Scalar: TensorScalar>: Layer {
    public var layers: [Dense<Scalar>]
    @noDerivative public let conditionSize: Int

    public init(_ layers: [Dense<Scalar>], conditionSize: Int) {
        require(!layers.isEmpty, "ConditionedStack: at least one layer")
        require(conditionSize >= 0, "ConditionedStack: the condition size must be non-negative, got \(conditionSize)")
        for i in 1..<layers.count where layers[i - 1].weight.shape[1] + conditionSize != layers[i].weight.shape[0] {
            usageFailure("ConditionedStack: layer \(i - 1) gives \(layers[i - 1].weight.shape[1]) outputs and the condition \(conditionSize) more, layer \(i) takes \(layers[i].weight.shape[0])")
        }
        self.layers = layers
        self.conditionSize = conditionSize
    }

    /// Layers of the given sizes (`sizes[0]` data columns, then each layer's outputs), each taking the condition's
    /// `conditionSize` columns as well; Glorot-uniform weights, `activation` on every layer but the last, which has
    /// `finalActivation`.
    public init<G: RandomNumberGenerator>(
        sizes: [Int], conditionSize: Int, activation: Activation, finalActivation: Activation = .identity, using generator: inout G
    ) {
        require(sizes.count >= 2, "ConditionedStack: sizes need an input and at least one output, got \(sizes)")
        var layers: [Dense<Scalar>] = []
        for i in 1..<sizes.count {
            let act = i == sizes.count - 1 ? finalActivation : activation
            layers.append(Dense(inputSize: sizes[i - 1] + conditionSize, outputSize: sizes[i], activation: act, using: &generator))
        }
        self.init(layers, conditionSize: conditionSize)
    }

    /// The number of outputs.
    public var outputSize: Int { layers[layers.count - 1].weight.shape[1] }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
        let width = withoutDerivative(at: input.shape[1])
        let dataWidth = width - conditionSize
        let condition = input.slice(axis: 1, range: dataWidth..<width)
        var h = input.slice(axis: 1, range: 0..<dataWidth)
        for i in 0..<withoutDerivative(at: layers.count) {
            h = layers[i](h.concatenated(with: condition, alongAxis: 1))
        }
        return h
    }
}

import _Differentiation
import VariationalCore
import VariationalNeural

/// An amortised variational family: q(z | x) for any datapoint x, whose parameters a network computes from x.
/// Training it fits one network for all datapoints instead of one q per datapoint.
///
/// The same conditional Gaussian serves inside a model with several stochastic layers, where its input is the
/// layer below (q(z₂ | z₁)) or above (the learned prior p(z₁ | z₂)); it is then differentiated through its input
/// too.
public protocol AmortizedFamily: Differentiable {
    associatedtype Scalar: TensorScalar
    /// L, the number of latent units per datapoint.
    var latentDimension: Int { get }
    /// A short name for reports.
    var name: String { get }

    /// q(z_b | x_b) for a batch x of shape [B, D].
    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    func posterior(given x: Tensor<Scalar>) -> LocalNormal<Scalar>
}

/// A Gaussian encoder: a body network x ↦ h, then two linear heads, μ = W_μ h + b_μ and log σ² = W_v h + b_v.
public struct GaussianEncoder<Body: Layer>: AmortizedFamily {
    public typealias Scalar = Body.Scalar
    public var body: Body
    public var meanHead: Dense<Scalar>
    public var logVarianceHead: Dense<Scalar>

    public init(body: Body, meanHead: Dense<Scalar>, logVarianceHead: Dense<Scalar>) {
        require(meanHead.weight.shape == logVarianceHead.weight.shape,
                     "GaussianEncoder: heads of shapes \(meanHead.weight.shape) and \(logVarianceHead.weight.shape) differ")
        self.body = body
        self.meanHead = meanHead
        self.logVarianceHead = logVarianceHead
    }

    /// Heads with Glorot-uniform weights from the body's `hiddenSize` outputs to `latentDimension` units.
    public init<G: RandomNumberGenerator>(body: Body, hiddenSize: Int, latentDimension: Int, using generator: inout G) {
        self.init(
            body: body,
            meanHead: Dense(inputSize: hiddenSize, outputSize: latentDimension, using: &generator),
            logVarianceHead: Dense(inputSize: hiddenSize, outputSize: latentDimension, using: &generator))
    }

    public var latentDimension: Int { meanHead.weight.shape[1] }
    public var name: String { "gaussian encoder" }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func posterior(given x: Tensor<Scalar>) -> LocalNormal<Scalar> {
        let h = body(x)
        guard meanHead.activation == .identity && logVarianceHead.activation == .identity else {
            return LocalNormal(mean: meanHead(h), logScale: logVarianceHead(h) * Scalar(0.5))
        }
        // Both heads as one product of twice the width (see `linearPair`).
        let heads = linearPair(h, meanHead.weight, meanHead.bias, logVarianceHead.weight, logVarianceHead.bias)
        return LocalNormal(mean: heads.first, logScale: heads.second * Scalar(0.5))
    }
}

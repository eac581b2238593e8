import _Differentiation
import Foundation
import VariationalCore
import VariationalNeural

/// The generative half of a latent-variable model: p(x | z), a decoder network and a likelihood.
public protocol ObservationModel: Differentiable {
    associatedtype Scalar: TensorScalar
    /// A short name for reports.
    var name: String { get }

    /// log p(x_b | z_sb) for data x of shape [B, D] and particles z of shape [S, B, L]: [S, B].
    @differentiable(reverse, wrt: (self, z))
    func logLikelihood(of x: Tensor<Scalar>, given z: Tensor<Scalar>) -> Tensor<Scalar>

    /// The mean of p(x | z) for latents z of shape [N, L]: [N, D] (for reconstructions and samples).
    func mean(given z: Tensor<Scalar>) -> Tensor<Scalar>
}

/// The network's input for particles z [S, B, L]: [S·B, L].
@differentiable(reverse)
func flattenedParticles<Scalar: TensorScalar>(_ z: Tensor<Scalar>) -> Tensor<Scalar> {
    require(z.rank == 3, "decoder: latents must be [particles, batch, latent], got \(z.shape)")
    let shape = withoutDerivative(at: z.shape)
    return z.reshaped(to: [shape[0] * shape[1], shape[2]])
}

/// The data repeated for each particle, as the rows of the decoder's output: [S·B, D] (no copy for S = 1).
func dataPerParticle<Scalar: TensorScalar>(_ x: Tensor<Scalar>, particles: Int) -> Tensor<Scalar> {
    particles == 1 ? x : x.broadcasted(to: [particles] + x.shape).reshaped(to: [particles * x.shape[0], x.shape[1]])
}

/// Bernoulli pixels with logits from a network: log p(x | z) = Σ_d x_d l_d − softplus(l_d), for x in [0, 1]
/// (binary data, or grey levels read as probabilities as in the usual MNIST VAE).
public struct BernoulliDecoder<Network: Layer>: ObservationModel {
    public typealias Scalar = Network.Scalar
    /// z ↦ logits.
    public var network: Network

    public init(network: Network) { self.network = network }

    public var name: String { "bernoulli" }

    @differentiable(reverse, wrt: (self, z))
    public func logLikelihood(of x: Tensor<Scalar>, given z: Tensor<Scalar>) -> Tensor<Scalar> {
        let shape = withoutDerivative(at: z.shape)
        let particles = shape[0]
        let logits = network(flattenedParticles(z))
        // Row p·B + b of the logits is particle p of datapoint b: scored against row b of the batch, not a copy.
        let perRow = bernoulliRowLogLikelihoods(logits: logits, labels: withoutDerivative(at: x))
        return perRow.reshaped(to: [particles, shape[1]])
    }

    public func mean(given z: Tensor<Scalar>) -> Tensor<Scalar> { network(z).sigmoid() }
}

/// Gaussian pixels around a network's output μ(z).
///
/// - `.fixed(σ)`: log p(x | z) = −‖x − μ‖² / (2σ²) − D log σ − (D/2) log 2π.
/// - `.learned`: the same with a trained σ_d per output coordinate (`logScale`, initially 0).
/// - `.squaredError`: the plain sum-of-squares loss, −‖x − μ‖². It is the Gaussian log-likelihood with variance ½
///   less its constant: −‖x − μ‖² = log N(x | μ, ½ I) + (D/2) log π. A per-pixel *mean* squared error (the default
///   reduction of most libraries) divides this by D as well, which weights the KL term D times more than the
///   ELBO does.
public struct GaussianDecoder<Network: Layer>: ObservationModel {
    public typealias Scalar = Network.Scalar

    public enum Variance: Sendable, Equatable {
        case fixed(standardDeviation: Double)
        case learned
        case squaredError
    }

    public var network: Network
    /// log σ_d, [D]: trained with `.learned`, fixed otherwise.
    public var logScale: Tensor<Scalar>
    @noDerivative public var variance: Variance

    public init(network: Network, outputSize: Int, variance: Variance) {
        if case .fixed(let sd) = variance, !(sd > 0 && sd.isFinite) {
            fatalError("GaussianDecoder: the standard deviation must be positive and finite, got \(sd)")
        }
        self.network = network
        self.variance = variance
        let logSD: Double
        switch variance {
        case .fixed(let sd): logSD = Foundation.log(sd)
        case .learned: logSD = 0
        case .squaredError: logSD = -0.5 * Foundation.log(2)
        }
        self.logScale = Tensor(repeating: Scalar(logSD), shape: [outputSize])
    }

    public var name: String {
        switch variance {
        case .fixed: return "gaussian"
        case .learned: return "gaussian-learned-variance"
        case .squaredError: return "squared-error"
        }
    }

    @differentiable(reverse, wrt: (self, z))
    public func logLikelihood(of x: Tensor<Scalar>, given z: Tensor<Scalar>) -> Tensor<Scalar> {
        let shape = withoutDerivative(at: z.shape)
        let particles = shape[0]
        let batchShape: TensorShape = [particles, shape[1]]
        let residual = withoutDerivative(at: dataPerParticle(x, particles: particles)) - network(flattenedParticles(z))
        if withoutDerivative(at: variance) == .squaredError {
            return -residual.squared().sum(squeezingAxes: 1).reshaped(to: batchShape)
        }
        let logSigma = withoutDerivative(at: variance) == .learned ? logScale : withoutDerivative(at: logScale)
        let outputs = withoutDerivative(at: logScale).shape[0]
        let d = Scalar(outputs)
        let quadratic = (residual * (-logSigma).exp()).squared().sum(squeezingAxes: 1) * Scalar(-0.5)
        let constant = logSigma.sum() + d * Scalar(0.5 * Foundation.log(2 * Double.pi))
        return (quadratic - constant).reshaped(to: batchShape)
    }

    public func mean(given z: Tensor<Scalar>) -> Tensor<Scalar> { network(z) }
}

import _Differentiation
import VariationalCore

/// A model together with its variational family: everything that is trained, and what an ELBO estimator asks of
/// it at each step.
///
/// Two kinds of problem share the estimators and the training loop: a Bayesian model with one global latent vector
/// and a family q(θ) (``GlobalLatentProblem``), and a model with a latent vector per datapoint whose q(z | x) an
/// encoder network computes (``VariationalAutoencoder``). The problem *is* the trained value: its tangent is the
/// gradient the optimiser follows.
public protocol VariationalProblem: Differentiable {
    associatedtype Scalar: TensorScalar
    /// What one step sees of the data: minibatch indices for a global model, a batch of datapoints for an
    /// amortised one.
    associatedtype Batch

    /// A short name of the variational family, for messages ("meanfield", "gaussian encoder", …).
    var familyName: String { get }
    /// The terms this problem can compute.
    var availableTerms: ELBOTermSet { get }

    /// Noise for `particles` particles for the batch (drawn outside differentiated code).
    func sampleNoise<G: RandomNumberGenerator>(particles: Int, batch: Batch, using generator: inout G) -> Tensor<Scalar>

    /// The requested terms at the particles that `noise` gives.
    @differentiable(reverse, wrt: self)
    func terms(noise: Tensor<Scalar>, batch: Batch, requesting requested: ELBOTermSet) -> ELBOTerms<Scalar>

    /// A gradient whose variational-family part comes from `variational` and whose generative-model part comes
    /// from `generative`, for estimators that use different surrogates for the two (DReG, score function).
    func combining(variational: TangentVector, generative: TangentVector) -> TangentVector

    /// False when the particles carry no reparameterisation gradient (discrete latents): only estimators that do
    /// not need one (the score function) can train the problem. True by default.
    var hasReparameterizedSamples: Bool { get }

    /// Why the `missing` terms cannot be had, for messages; the default names the family.
    func reasonUnavailable(_ missing: ELBOTermSet) -> String

    /// The reparameterised loss −(mean over particles of log p(x, z) + H(q)) and its gradient written out by hand,
    /// where model and family allow it; nil (the default) leaves the step to automatic differentiation.
    func reparameterizedLossWithHandWrittenGradient(noise: Tensor<Scalar>, batch: Batch) -> (loss: Double, gradient: TangentVector)?
}

extension VariationalProblem {
    public func reasonUnavailable(_ missing: ELBOTermSet) -> String { "\(familyName) cannot give them" }

    public var hasReparameterizedSamples: Bool { true }

    public func reparameterizedLossWithHandWrittenGradient(noise: Tensor<Scalar>, batch: Batch) -> (loss: Double, gradient: TangentVector)? {
        nil
    }
}

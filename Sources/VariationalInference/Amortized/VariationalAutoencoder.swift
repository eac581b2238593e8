import _Differentiation
import Foundation
import VariationalCore

/// A variational autoencoder: a latent vector z_b ~ N(0, I) for each datapoint, an observation model p(x | z)
/// (the decoder) and an amortised family q(z | x) (the encoder), trained together on the ELBO of each datapoint,
///
///     ELBO(x) = E_q(z|x)[log p(x | z)] − KL(q(z | x) ‖ p(z)) ≤ log p(x),
///
/// averaged over minibatches. Per-datapoint latents are not scaled by N/B: the loss is the negative ELBO per
/// datapoint, and N times it estimates the data set's. Any ``ELBOEstimator`` trains it: the reparameterised or
/// analytic-KL ELBO (a VAE), β and free bits (a β-VAE), the importance-weighted bound (an IWAE, with DReG).
public struct VariationalAutoencoder<Encoder: AmortizedFamily, Decoder: ObservationModel>: VariationalProblem
where Encoder.Scalar == Decoder.Scalar {
    public typealias Scalar = Encoder.Scalar
    /// A batch of datapoints, [B, D].
    public typealias Batch = Tensor<Scalar>

    public var encoder: Encoder
    public var decoder: Decoder

    public init(encoder: Encoder, decoder: Decoder) {
        self.encoder = encoder
        self.decoder = decoder
    }

    public var latentDimension: Int { encoder.latentDimension }
    public var familyName: String { encoder.name }
    public var availableTerms: ELBOTermSet {
        [.logJoint, .logLikelihood, .klToPrior, .logQ, .pathLogQ, .entropy, .stoppedSample]
    }

    public func sampleNoise<G: RandomNumberGenerator>(particles: Int, batch x: Tensor<Scalar>, using generator: inout G) -> Tensor<Scalar> {
        Tensor(randomNormal: [particles, x.shape[0], latentDimension], using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func terms(noise: Tensor<Scalar>, batch x: Tensor<Scalar>, requesting requested: ELBOTermSet) -> ELBOTerms<Scalar> {
        let q = encoder.posterior(given: x)
        var z = q.sample(fromNoise: noise)
        if requested.contains(.stoppedSample) { z = withoutDerivative(at: z) }
        var logLikelihood = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.logLikelihood) || requested.contains(.logJoint) {
            logLikelihood = decoder.logLikelihood(of: x, given: z)
        }
        var logJoint = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.logJoint) { logJoint = logLikelihood + standardNormalLogDensity(z) }
        var logQ = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.logQ) { logQ = q.logDensity(z) }
        var pathLogQ = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.pathLogQ) { pathLogQ = withoutDerivative(at: q).logDensity(z) }
        var klToPrior = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.klToPrior) { klToPrior = q.klToStandardNormal() }
        var entropy = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.entropy) { entropy = q.entropy() }
        if !requested.contains(.logLikelihood) { logLikelihood = withoutDerivative(at: Tensor<Scalar>.zero) }
        return ELBOTerms(
            logJoint: logJoint, logLikelihood: logLikelihood, klToPrior: klToPrior, logQ: logQ, pathLogQ: pathLogQ,
            entropy: entropy)
    }

    /// The encoder's gradient from the variational surrogate, the decoder's from the generative one.
    public func combining(variational: TangentVector, generative: TangentVector) -> TangentVector {
        TangentVector(encoder: variational.encoder, decoder: generative.decoder)
    }
}

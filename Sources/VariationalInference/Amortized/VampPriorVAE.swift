import _Differentiation
import Foundation
import VariationalCore

/// A VAE whose prior is learned: the VampPrior (Tomczak & Welling 2018), the mixture of the encoder's own
/// posteriors at K trained pseudo-inputs u_k,
///
///     p(z) = (1/K) Σ_k q(z | u_k).
///
/// The ELBO's best prior for a fixed encoder is the aggregate posterior (1/N) Σ_n q(z | x_n); the VampPrior
/// approximates it with K ≪ N points that training moves. The KL to a mixture has no closed form: the prior enters
/// log p(x, z), and the reparameterised ELBO (with q's closed-form entropy) or the IWAE bound trains it.
public struct VampPriorVAE<Encoder: AmortizedFamily, Decoder: ObservationModel>: VariationalProblem
where Encoder.Scalar == Decoder.Scalar {
    public typealias Scalar = Encoder.Scalar
    /// A batch of datapoints, [B, D].
    public typealias Batch = Tensor<Scalar>

    public var encoder: Encoder
    public var decoder: Decoder
    /// The pseudo-inputs u_k, [K, D], trained with the rest.
    public var pseudoInputs: Tensor<Scalar>

    public init(encoder: Encoder, decoder: Decoder, pseudoInputs: Tensor<Scalar>) {
        require(pseudoInputs.rank == 2 && pseudoInputs.shape[0] >= 1,
                "VampPriorVAE: the pseudo-inputs must be [K, D] with K ≥ 1, got \(pseudoInputs.shape)")
        self.encoder = encoder
        self.decoder = decoder
        self.pseudoInputs = pseudoInputs
    }

    public var latentDimension: Int { encoder.latentDimension }
    public var familyName: String { encoder.name }
    public var availableTerms: ELBOTermSet { [.logJoint, .logLikelihood, .logQ, .pathLogQ, .entropy, .stoppedSample] }

    public func reasonUnavailable(_ missing: ELBOTermSet) -> String {
        "the KL to the VampPrior, a mixture, has no closed form (use the reparameterised ELBO or the IWAE bound)"
    }

    public func sampleNoise<G: RandomNumberGenerator>(particles: Int, batch x: Tensor<Scalar>, using generator: inout G) -> Tensor<Scalar> {
        Tensor(randomNormal: [particles, x.shape[0], latentDimension], using: &generator)
    }

    /// log p(z) = logsumexp_k log q(z | u_k) − log K for particles z of shape [S, B, L]: [S, B].
    @differentiable(reverse)
    public func logPrior(_ z: Tensor<Scalar>) -> Tensor<Scalar> {
        let shape = withoutDerivative(at: z.shape)
        let components = encoder.posterior(given: pseudoInputs)
        let k = withoutDerivative(at: pseudoInputs).shape[0]
        // Each of the S·B particles against each of the K components: [S·B, K].
        let logComponents = components.logDensityOfEach(z.reshaped(to: [shape[0] * shape[1], shape[2]]))
        return (logComponents.logSumExp(squeezingAxes: 1) - Scalar(Foundation.log(Double(k)))).reshaped(to: [shape[0], shape[1]])
    }

    @differentiable(reverse, wrt: self)
    public func terms(noise: Tensor<Scalar>, batch x: Tensor<Scalar>, requesting requested: ELBOTermSet) -> ELBOTerms<Scalar> {
        let q = encoder.posterior(given: x)
        var z = q.sample(fromNoise: noise)
        if requested.contains(.stoppedSample) { z = withoutDerivative(at: z) }
        let logLikelihood = decoder.logLikelihood(of: x, given: z)
        var logJoint = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.logJoint) { logJoint = logLikelihood + logPrior(z) }
        var logQ = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.logQ) { logQ = q.logDensity(z) }
        var pathLogQ = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.pathLogQ) { pathLogQ = withoutDerivative(at: q).logDensity(z) }
        var entropy = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.entropy) { entropy = q.entropy() }
        var requestedLikelihood = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.logLikelihood) { requestedLikelihood = logLikelihood }
        return ELBOTerms(logJoint: logJoint, logLikelihood: requestedLikelihood, logQ: logQ, pathLogQ: pathLogQ, entropy: entropy)
    }

    /// The encoder's gradient from the variational surrogate; the decoder's and the pseudo-inputs' (the prior is
    /// part of the generative model) from the generative one.
    public func combining(variational: TangentVector, generative: TangentVector) -> TangentVector {
        TangentVector(encoder: variational.encoder, decoder: generative.decoder, pseudoInputs: generative.pseudoInputs)
    }
}

extension VampPriorVAE: AmortizedModel {
    /// The KL term E_q[log q(z | x) − log p(z)] by Monte Carlo (a mixture prior does not separate over units), and
    /// E_q[z | x] = μ(x).
    public func latentUsage<G: RandomNumberGenerator>(of x: Tensor<Scalar>, particles: Int, using generator: inout G) -> [LatentLayerUsage<Scalar>] {
        let q = encoder.posterior(given: x)
        let z = q.sample(fromNoise: sampleNoise(particles: particles, batch: x, using: &generator))
        return [LatentLayerUsage(kl: (q.logDensity(z) - logPrior(z)).mean(squeezingAxes: 0), posteriorMean: q.mean)]
    }

    /// z from the mixture: a pseudo-input drawn uniformly, then z ~ q(z | u_k); the decoder's mean.
    public func samples<G: RandomNumberGenerator>(count: Int, using generator: inout G) -> Tensor<Scalar> {
        let k = pseudoInputs.shape[0]
        let chosen = (0..<count).map { _ in Int.random(in: 0..<k, using: &generator) }
        let q = encoder.posterior(given: pseudoInputs.gathering(atIndices: chosen, alongAxis: 0))
        let z = q.sample(fromNoise: q.sampleNoise(particles: 1, using: &generator))
        return decoder.mean(given: z.reshaped(to: [count, latentDimension]))
    }

    public func reconstructions(of x: Tensor<Scalar>) -> Tensor<Scalar> { decoder.mean(given: encoder.posterior(given: x).mean) }
}

import _Differentiation
import Foundation
import VariationalCore

/// A variational autoencoder with two stochastic layers (Burda et al. 2016): the generative model
///
///     p(z₂) = N(0, I),   p(z₁ | z₂) = N(μ_p(z₂), σ_p(z₂)²),   p(x | z₁)
///
/// and the posterior q(z₁, z₂ | x) = q(z₁ | x) q(z₂ | z₁), both Gaussian layers computed by networks. The ELBO is
///
///     E_q[log p(x | z₁)] − E_q[log q(z₁ | x) − log p(z₁ | z₂)] − E_q[log q(z₂ | z₁) − log p(z₂)],
///
/// the likelihood less the KL of each layer. The posterior layers are not independent of each other, so there is
/// no closed-form KL or entropy: train it with the reparameterised ELBO (a VAE) or the importance-weighted bound
/// (an IWAE, with DReG as an option). The exact posterior has the same factorisation (z₂ depends on x only through
/// z₁), so q can represent it where the networks can.
public struct HierarchicalVAE<Encoder: AmortizedFamily, TopEncoder: AmortizedFamily, Prior: AmortizedFamily, Decoder: ObservationModel>: VariationalProblem
where Encoder.Scalar == Decoder.Scalar, TopEncoder.Scalar == Decoder.Scalar, Prior.Scalar == Decoder.Scalar {
    public typealias Scalar = Decoder.Scalar
    /// A batch of datapoints, [B, D].
    public typealias Batch = Tensor<Scalar>

    /// q(z₁ | x).
    public var encoder: Encoder
    /// q(z₂ | z₁).
    public var topEncoder: TopEncoder
    /// p(z₁ | z₂), the learned prior of the lower layer.
    public var prior: Prior
    /// p(x | z₁).
    public var decoder: Decoder

    public init(encoder: Encoder, topEncoder: TopEncoder, prior: Prior, decoder: Decoder) {
        require(prior.latentDimension == encoder.latentDimension,
                "HierarchicalVAE: the prior p(z₁ | z₂) gives \(prior.latentDimension) units, the encoder q(z₁ | x) \(encoder.latentDimension)")
        self.encoder = encoder
        self.topEncoder = topEncoder
        self.prior = prior
        self.decoder = decoder
    }

    public var familyName: String { "two-layer gaussian encoder" }
    public var availableTerms: ELBOTermSet { [.logJoint, .logLikelihood, .logQ, .pathLogQ, .stoppedSample] }

    public func reasonUnavailable(_ missing: ELBOTermSet) -> String {
        "a VAE with two stochastic layers has no closed-form KL or entropy (use the reparameterised ELBO or the IWAE bound)"
    }

    /// Noise for both layers, [S, B, L₁ + L₂].
    public func sampleNoise<G: RandomNumberGenerator>(particles: Int, batch x: Tensor<Scalar>, using generator: inout G) -> Tensor<Scalar> {
        Tensor(randomNormal: [particles, x.shape[0], encoder.latentDimension + topEncoder.latentDimension], using: &generator)
    }

    /// One pass down both layers at the particles that `noise` gives: q(z₁ | x) and z₁ [S, B, L₁]; then, with the
    /// S·B particles of z₁ as one batch, q(z₂ | z₁) and z₂ [1, S·B, L₂], and the prior p(z₁ | z₂).
    @differentiable(reverse, wrt: self)
    func draw(noise: Tensor<Scalar>, batch x: Tensor<Scalar>, stoppedSample: Bool = false) -> HierarchicalDraw<Scalar> {
        let shape = withoutDerivative(at: noise.shape)
        let (s, b, l1) = (shape[0], shape[1], withoutDerivative(at: encoder.latentDimension))
        let l2 = shape[2] - l1
        let q1 = encoder.posterior(given: x)
        var z1 = q1.sample(fromNoise: noise.slice(axis: 2, range: 0..<l1))
        if stoppedSample { z1 = withoutDerivative(at: z1) }
        let q2 = topEncoder.posterior(given: z1.reshaped(to: [s * b, l1]))
        var z2 = q2.sample(fromNoise: noise.slice(axis: 2, range: l1..<(l1 + l2)).reshaped(to: [1, s * b, l2]))
        if stoppedSample { z2 = withoutDerivative(at: z2) }
        return HierarchicalDraw(q1: q1, z1: z1, q2: q2, z2: z2, prior: prior.posterior(given: z2.reshaped(to: [s * b, l2])))
    }

    /// The log densities of the ELBO, layer by layer, at the particles that `noise` gives, each [S, B].
    @differentiable(reverse, wrt: self)
    public func layerTerms(noise: Tensor<Scalar>, batch x: Tensor<Scalar>, stoppedSample: Bool = false, pathLogQ: Bool = false) -> HierarchicalTerms<Scalar> {
        let shape = withoutDerivative(at: noise.shape)
        let (s, b) = (shape[0], shape[1])
        let d = draw(noise: noise, batch: x, stoppedSample: stoppedSample)
        var terms = HierarchicalTerms(
            logLikelihood: decoder.logLikelihood(of: x, given: d.z1),
            logPrior1: d.prior.logDensity(d.z1Rows).reshaped(to: [s, b]),
            logPrior2: standardNormalLogDensity(d.z2).reshaped(to: [s, b]),
            logQ1: d.q1.logDensity(d.z1),
            logQ2: d.q2.logDensity(d.z2).reshaped(to: [s, b]))
        if pathLogQ {
            // q's parameters held fixed, the path through z₁ into q(z₂ | z₁) kept.
            let l1 = withoutDerivative(at: encoder.latentDimension)
            let fixedQ2 = withoutDerivative(at: topEncoder).posterior(given: d.z1.reshaped(to: [s * b, l1]))
            terms.pathLogQ = withoutDerivative(at: d.q1).logDensity(d.z1) + fixedQ2.logDensity(d.z2).reshaped(to: [s, b])
        }
        return terms
    }

    @differentiable(reverse, wrt: self)
    public func terms(noise: Tensor<Scalar>, batch x: Tensor<Scalar>, requesting requested: ELBOTermSet) -> ELBOTerms<Scalar> {
        let t = layerTerms(noise: noise, batch: x, stoppedSample: requested.contains(.stoppedSample), pathLogQ: requested.contains(.pathLogQ))
        var logJoint = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.logJoint) { logJoint = t.logLikelihood + t.logPrior1 + t.logPrior2 }
        var logQ = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.logQ) { logQ = t.logQ1 + t.logQ2 }
        var logLikelihood = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.logLikelihood) { logLikelihood = t.logLikelihood }
        return ELBOTerms(logJoint: logJoint, logLikelihood: logLikelihood, logQ: logQ, pathLogQ: t.pathLogQ)
    }

    /// The encoders' gradient from the variational surrogate, the prior's and decoder's from the generative one.
    public func combining(variational: TangentVector, generative: TangentVector) -> TangentVector {
        TangentVector(encoder: variational.encoder, topEncoder: variational.topEncoder, prior: generative.prior, decoder: generative.decoder)
    }
}

/// One draw through a two-layer VAE: q(z₁ | x) and z₁ [S, B, L₁]; q(z₂ | z₁) and z₂ [1, S·B, L₂] for the S·B
/// particles of z₁; the prior p(z₁ | z₂) for them.
struct HierarchicalDraw<Scalar: TensorScalar>: Differentiable {
    var q1: LocalNormal<Scalar>
    var z1: Tensor<Scalar>
    var q2: LocalNormal<Scalar>
    var z2: Tensor<Scalar>
    var prior: LocalNormal<Scalar>

    /// z₁ as the prior reads it, [1, S·B, L₁].
    @differentiable(reverse)
    var z1Rows: Tensor<Scalar> {
        let shape = withoutDerivative(at: z1.shape)
        return z1.reshaped(to: [1, shape[0] * shape[1], shape[2]])
    }
}

/// The log densities in the ELBO of a two-layer VAE at each particle, [S, B] each:
/// ELBO = E[logLikelihood + logPrior1 + logPrior2 − logQ1 − logQ2].
public struct HierarchicalTerms<Scalar: TensorScalar>: Differentiable {
    /// log p(x | z₁).
    public var logLikelihood: Tensor<Scalar>
    /// log p(z₁ | z₂).
    public var logPrior1: Tensor<Scalar>
    /// log p(z₂).
    public var logPrior2: Tensor<Scalar>
    /// log q(z₁ | x).
    public var logQ1: Tensor<Scalar>
    /// log q(z₂ | z₁).
    public var logQ2: Tensor<Scalar>
    /// log q(z₁, z₂ | x) with q's parameters held fixed (the symbolic zero unless asked for).
    public var pathLogQ: Tensor<Scalar>

    @differentiable(reverse)
    public init(
        logLikelihood: Tensor<Scalar>, logPrior1: Tensor<Scalar>, logPrior2: Tensor<Scalar>, logQ1: Tensor<Scalar>,
        logQ2: Tensor<Scalar>, pathLogQ: Tensor<Scalar> = .zero
    ) {
        self.logLikelihood = logLikelihood
        self.logPrior1 = logPrior1
        self.logPrior2 = logPrior2
        self.logQ1 = logQ1
        self.logQ2 = logQ2
        self.pathLogQ = pathLogQ
    }
}

extension HierarchicalVAE: AmortizedModel {
    /// Layer 1: the KL term E_q[log q(z₁ | x) − log p(z₁ | z₂)] unit by unit, and E_q[z₁ | x] = μ₁(x). Layer 2:
    /// E_q(z₁|x)[KL(q(z₂ | z₁) ‖ N(0, I))] unit by unit (in closed form given z₁) and E_q[z₂ | x] = E_q(z₁|x)[μ₂(z₁)],
    /// both averaged over `particles` draws of z₁.
    public func latentUsage<G: RandomNumberGenerator>(of x: Tensor<Scalar>, particles: Int, using generator: inout G) -> [LatentLayerUsage<Scalar>] {
        let (s, b, l1, l2) = (particles, x.shape[0], encoder.latentDimension, topEncoder.latentDimension)
        let d = draw(noise: sampleNoise(particles: s, batch: x, using: &generator), batch: x)
        let logRatio1 = d.q1.logDensityPerUnit(d.z1) - d.prior.logDensityPerUnit(d.z1Rows).reshaped(to: [s, b, l1])
        return [
            LatentLayerUsage(klPerUnit: logRatio1.mean(squeezingAxes: 0), posteriorMean: d.q1.mean),
            LatentLayerUsage(
                klPerUnit: d.q2.klToStandardNormal().reshaped(to: [s, b, l2]).mean(squeezingAxes: 0),
                posteriorMean: d.q2.mean.reshaped(to: [s, b, l2]).mean(squeezingAxes: 0)),
        ]
    }

    /// z₂ ~ N(0, I), z₁ ~ p(z₁ | z₂), then the decoder's mean.
    public func samples<G: RandomNumberGenerator>(count: Int, using generator: inout G) -> Tensor<Scalar> {
        let z2 = Tensor<Scalar>(randomNormal: [count, topEncoder.latentDimension], using: &generator)
        let p1 = prior.posterior(given: z2)
        let z1 = p1.sample(fromNoise: p1.sampleNoise(particles: 1, using: &generator))
        return decoder.mean(given: z1.reshaped(to: [count, encoder.latentDimension]))
    }

    /// The decoder's mean at z₁ = E_q[z₁ | x].
    public func reconstructions(of x: Tensor<Scalar>) -> Tensor<Scalar> { decoder.mean(given: encoder.posterior(given: x).mean) }
}

import _Differentiation
import Foundation
import VariationalCore
import VariationalData
import VariationalNeural

/// A VAE with discrete latents (a dVAE, as DALL-E's first stage): N categorical variables with K classes each per
/// datapoint, a uniform prior over the classes, and an encoder network that gives each variable's logits.
///
/// The ELBO is E_q[log p(x | z)] − Σₙ KL(q(zₙ | x) ‖ U(K)), with the KL in closed form,
/// KL = Σₖ qₖ log qₖ + log K. A discrete z has no reparameterisation gradient, so training uses one of
/// - the relaxed one-hot (Gumbel-softmax, Jang et al. 2017; the Concrete distribution, Maddison et al. 2017): the
///   decoder reads z̃ = softmax((log q + g)/τ) with Gumbel noise g, which tends to a one-hot sample as τ → 0;
/// - the straight-through estimator: the decoder reads the one-hot sample, and the gradient is z̃'s;
/// - the exact route: the score-function estimator on one-hot samples, unbiased and noisier.
///
/// The first two train a *relaxed* objective (the decoder sees points between the classes); the terms
/// log p(x, z) and log q(z | x) — and so every bound in evaluation — are always those of the discrete model at
/// one-hot samples z = onehot(argmax(log q + g)) (the Gumbel-max trick), whose gradient reaches the encoder through
/// log q only.
public struct DiscreteVAE<Encoder: Layer, Decoder: ObservationModel>: VariationalProblem where Encoder.Scalar == Decoder.Scalar {
    public typealias Scalar = Encoder.Scalar
    /// A batch of datapoints, [B, D].
    public typealias Batch = Tensor<Scalar>

    /// What the decoder reads for log p(x | z) in the analytic-KL objective.
    public enum Relaxation: String, Sendable, Equatable {
        /// The relaxed one-hot z̃ at the current temperature.
        case gumbelSoftmax = "gumbel-softmax"
        /// The one-hot sample forward, z̃'s gradient backward.
        case straightThrough = "straight-through"
        /// The one-hot sample, no gradient through it (for the score-function estimator).
        case none
    }

    /// x ↦ logits, [B, N·K].
    public var encoder: Encoder
    public var decoder: Decoder
    /// N.
    @noDerivative public let variables: Int
    /// K.
    @noDerivative public let classes: Int
    /// τ of the relaxation.
    @noDerivative public var temperature: Double
    @noDerivative public var relaxation: Relaxation

    public init(encoder: Encoder, decoder: Decoder, variables: Int, classes: Int, temperature: Double = 1, relaxation: Relaxation = .gumbelSoftmax) {
        require(variables >= 1 && classes >= 2, "DiscreteVAE: needs at least one variable of at least two classes, got \(variables) × \(classes)")
        require(temperature > 0 && temperature.isFinite, "DiscreteVAE: the temperature must be positive and finite, got \(temperature)")
        self.encoder = encoder
        self.decoder = decoder
        self.variables = variables
        self.classes = classes
        self.temperature = temperature
        self.relaxation = relaxation
    }

    public var familyName: String { "categorical encoder" }

    /// What training may use: the analytic-KL ELBO when relaxed, the score function's terms otherwise. (Evaluation
    /// reads log p(x, z) and log q(z | x) at one-hot samples in every mode: their values are the discrete model's.)
    public var availableTerms: ELBOTermSet {
        relaxation == .none ? [.logJoint, .logQ, .stoppedSample, .klToPrior, .logLikelihood] : [.logLikelihood, .klToPrior]
    }

    public var hasReparameterizedSamples: Bool { relaxation != .none }

    public func reasonUnavailable(_ missing: ELBOTermSet) -> String {
        relaxation == .none
            ? "discrete latents have no reparameterisation gradient (relax them, or use the score-function estimator)"
            : "a relaxed discrete VAE trains the analytic-KL ELBO (its log p(x, z) and log q are the discrete model's, without a reparameterisation gradient)"
    }

    /// Standard Gumbel noise, [S, B, N, K].
    public func sampleNoise<G: RandomNumberGenerator>(particles: Int, batch x: Tensor<Scalar>, using generator: inout G) -> Tensor<Scalar> {
        Tensor(randomGumbel: [particles, x.shape[0], variables, classes], using: &generator)
    }

    /// log q(zₙ = k | x), [B, N, K].
    @differentiable(reverse, wrt: self)
    public func logProbabilities(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        let logits = encoder(x)
        return logits.reshaped(to: [withoutDerivative(at: x).shape[0], variables, classes]).logSoftmax(alongAxis: 2)
    }

    /// KL(q(zₙ | x) ‖ U(K)) = Σₖ qₖ log qₖ + log K for log probabilities [B, N, K]: [B, N].
    @differentiable(reverse)
    func klToUniform(_ logQ: Tensor<Scalar>) -> Tensor<Scalar> {
        (logQ.exp() * logQ).sum(squeezingAxes: 2) + Scalar(Foundation.log(Double(classes)))
    }

    /// The one-hot samples argmax(log q + g), [S, B, N, K].
    public func oneHotSamples(logProbabilities: Tensor<Scalar>, noise: Tensor<Scalar>) -> Tensor<Scalar> {
        let perturbed = (logProbabilities + noise).scalars
        let k = classes
        return Tensor(shape: noise.shape, initializingWith: { out in
            for start in stride(from: 0, to: perturbed.count, by: k) {
                var best = start
                for i in (start + 1)..<(start + k) where perturbed[i] > perturbed[best] { best = i }
                for i in start..<(start + k) { out[i] = i == best ? 1 : 0 }
            }
        })
    }

    /// The decoder's input for samples [S, B, N, K]: [S, B, N·K].
    @differentiable(reverse)
    func flattened(_ z: Tensor<Scalar>) -> Tensor<Scalar> {
        let shape = withoutDerivative(at: z.shape)
        return z.reshaped(to: [shape[0], shape[1], shape[2] * shape[3]])
    }

    @differentiable(reverse, wrt: self)
    public func terms(noise: Tensor<Scalar>, batch x: Tensor<Scalar>, requesting requested: ELBOTermSet) -> ELBOTerms<Scalar> {
        let logQ = logProbabilities(x)
        let hard = withoutDerivative(at: oneHotSamples(logProbabilities: withoutDerivative(at: logQ), noise: noise))
        var logLikelihood = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.logLikelihood) {
            var z = hard
            if relaxation != .none {
                let relaxed = ((logQ + noise) * Scalar(1 / temperature)).softmax(alongAxis: 3)
                z = relaxation == .gumbelSoftmax ? relaxed : relaxed + withoutDerivative(at: hard - relaxed)
            }
            logLikelihood = decoder.logLikelihood(of: x, given: flattened(z))
        }
        var klToPrior = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.klToPrior) { klToPrior = klToUniform(logQ) }
        var logJoint = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.logJoint) {
            let logPrior = -Double(variables) * Foundation.log(Double(classes))
            logJoint = decoder.logLikelihood(of: x, given: flattened(hard)) + Scalar(logPrior)
        }
        var logQAtSample = withoutDerivative(at: Tensor<Scalar>.zero)
        if requested.contains(.logQ) { logQAtSample = (hard * logQ).sum(squeezingAxes: 2, 3) }
        return ELBOTerms(logJoint: logJoint, logLikelihood: logLikelihood, klToPrior: klToPrior, logQ: logQAtSample)
    }

    /// The encoder's gradient from the variational surrogate, the decoder's from the generative one.
    public func combining(variational: TangentVector, generative: TangentVector) -> TangentVector {
        TangentVector(encoder: variational.encoder, decoder: generative.decoder)
    }
}

extension DiscreteVAE: AmortizedModel {
    /// KL(q(zₙ | x) ‖ U(K)) for each variable, in closed form, and the class probabilities as E_q[z | x] (one-hot
    /// z), [B, N·K].
    public func latentUsage<G: RandomNumberGenerator>(of x: Tensor<Scalar>, particles: Int, using generator: inout G) -> [LatentLayerUsage<Scalar>] {
        let logQ = logProbabilities(x)
        return [LatentLayerUsage(klPerUnit: klToUniform(logQ), posteriorMean: logQ.exp().reshaped(to: [x.shape[0], variables * classes]))]
    }

    /// z from the uniform prior, one class per variable; the decoder's mean.
    public func samples<G: RandomNumberGenerator>(count: Int, using generator: inout G) -> Tensor<Scalar> {
        let indices = (0..<(count * variables)).map { _ in Int.random(in: 0..<classes, using: &generator) }
        return decoder.mean(given: Tensor(oneHotAtIndices: indices, depth: classes).reshaped(to: [count, variables * classes]))
    }

    /// The decoder's mean at each variable's most probable class.
    public func reconstructions(of x: Tensor<Scalar>) -> Tensor<Scalar> {
        let logQ = logProbabilities(x)
        let mode = oneHotSamples(logProbabilities: logQ, noise: Tensor(zeros: [1] + logQ.shape))
        return decoder.mean(given: mode.reshaped(to: [x.shape[0], variables * classes]))
    }

}

/// A model trained on a relaxation of its discrete latents at a temperature τ.
public protocol RelaxedLatentModel: AmortizedModel {
    /// τ of the relaxation.
    var temperature: Double { get set }
    /// The relaxed objective's ELBO per datapoint over `data`, at the current temperature (beside the discrete
    /// ELBO, it shows what the relaxation changes).
    func meanRelaxedELBO<G: RandomNumberGenerator>(on data: ImageDataset, binarization: Binarization, using generator: inout G) -> Double
}

extension DiscreteVAE: RelaxedLatentModel {
    public func meanRelaxedELBO<G: RandomNumberGenerator>(on data: ImageDataset, binarization: Binarization, using generator: inout G) -> Double {
        var relaxed = self
        if relaxed.relaxation == .none { relaxed.relaxation = .gumbelSoftmax }
        return -relaxed.meanLoss(of: AnalyticKLELBO(), on: data, binarization: binarization, maxRows: 1000, using: &generator)
    }
}

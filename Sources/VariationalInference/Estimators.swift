import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions

/// An ELBO estimator: a reduction of the terms a ``VariationalProblem`` computes (``ELBOTerms``) to a loss whose
/// value is the negative of the bound it estimates, averaged over the batch's datapoints, and whose gradient with
/// respect to the problem's parameters is the estimator's gradient.
///
/// The same estimator serves global latents (a Bayesian model, B = 1) and per-datapoint latents (a VAE): bounds
/// are formed for each datapoint over its particles, then averaged over the datapoints.
public protocol ELBOEstimator {
    /// The number of particles drawn per step (per datapoint, for amortised problems).
    var particleCount: Int { get }
    /// A short name for reports.
    var name: String { get }

    /// The terms the loss reads, chosen among those the problem can give (`available`).
    func requestedTerms(available: ELBOTermSet) -> ELBOTermSet

    /// The loss as a differentiable function of the terms computed for `requested`.
    ///
    /// A closure rather than a method because differentiating through a generic protocol requirement with a
    /// `@differentiable` attribute miscompiles on this toolchain.
    func objective<Scalar: TensorScalar>(_ scalar: Scalar.Type, requested: ELBOTermSet)
        -> @differentiable(reverse) (ELBOTerms<Scalar>) -> Tensor<Scalar>

    /// True when the generative model's parameters follow `generativeObjective` instead of `objective` (whose
    /// gradient then serves the variational family's parameters only).
    var separatesGenerativeGradient: Bool { get }

    /// The surrogate whose gradient the generative model's parameters follow, when `separatesGenerativeGradient`.
    func generativeObjective<Scalar: TensorScalar>(_ scalar: Scalar.Type, requested: ELBOTermSet)
        -> @differentiable(reverse) (ELBOTerms<Scalar>) -> Tensor<Scalar>

    /// The loss and its gradient written out by hand, where the problem allows it; nil to differentiate.
    func handWrittenLossAndGradient<P: VariationalProblem>(problem: P, noise: Tensor<P.Scalar>, batch: P.Batch)
        -> (loss: Double, gradient: P.TangentVector)?

    /// True when the gradient differentiates through the particles (every estimator but the score function's).
    var needsReparameterizedSamples: Bool { get }

    /// True when `observe` wants each step's terms (a baseline); the step then keeps them.
    var observesTerms: Bool { get }

    /// Called after each accepted step with the terms of that step (for baselines).
    mutating func observe<Scalar: TensorScalar>(_ terms: ELBOTerms<Scalar>)

    /// True when the objective is the ELBO itself (its expectation, whatever the estimator's variance): false for
    /// the importance-weighted and Rényi bounds and a reweighted KL, whose optimum is another q. ``SVI`` then also
    /// checks that its fit did not end with a lower ELBO than it started with.
    var maximizesTheELBO: Bool { get }

    /// Called by a training loop with a stopping rule (``SVI``) with true when its first stage ends and the learning
    /// rate starts to fall (the iterates have reached the neighbourhood of an optimum), with false when it starts
    /// the annealing again from the first rate.
    mutating func annealingChanged(isAnnealing: Bool)
}

extension ELBOEstimator {
    public var separatesGenerativeGradient: Bool { false }
    public var maximizesTheELBO: Bool { true }

    public func generativeObjective<Scalar: TensorScalar>(_ scalar: Scalar.Type, requested: ELBOTermSet)
        -> @differentiable(reverse) (ELBOTerms<Scalar>) -> Tensor<Scalar>
    {
        objective(scalar, requested: requested)
    }

    public func handWrittenLossAndGradient<P: VariationalProblem>(problem: P, noise: Tensor<P.Scalar>, batch: P.Batch)
        -> (loss: Double, gradient: P.TangentVector)?
    {
        nil
    }

    public var needsReparameterizedSamples: Bool { true }

    public var observesTerms: Bool { false }

    public mutating func observe<Scalar: TensorScalar>(_ terms: ELBOTerms<Scalar>) {}

    public mutating func annealingChanged(isAnnealing: Bool) {}

    /// Why this estimator cannot run on `problem`, or nil when it can.
    public func incompatibility<P: VariationalProblem>(with problem: P) -> String? {
        let available = problem.availableTerms
        if needsReparameterizedSamples && !problem.hasReparameterizedSamples {
            return "the \(name) estimator differentiates through the particles: \(problem.reasonUnavailable([]))"
        }
        let missing = requestedTerms(available: available).subtracting(available)
        if missing.isEmpty { return nil }
        return "the \(name) estimator needs \(missing): \(problem.reasonUnavailable(missing))"
    }

    /// The loss and its gradient for one draw of noise: by hand where the estimator and problem allow it,
    /// otherwise by automatic differentiation of the problem's terms and this estimator's reduction of them.
    public func lossAndGradient<P: VariationalProblem>(problem: P, noise: Tensor<P.Scalar>, batch: P.Batch)
        -> (loss: Double, gradient: P.TangentVector, terms: ELBOTerms<P.Scalar>?)
    {
        if let byHand = handWrittenLossAndGradient(problem: problem, noise: noise, batch: batch) {
            return (byHand.loss, byHand.gradient, nil)
        }
        let requested = requestedTerms(available: problem.availableTerms)
        if !separatesGenerativeGradient && !observesTerms {
            // One pass: the reduction composed with the terms (no tangent of the terms in between).
            let reduce = objective(P.Scalar.self, requested: requested)
            let (loss, gradient) = valueWithGradient(at: problem) { p in
                reduce(p.terms(noise: noise, batch: batch, requesting: requested))
            }
            return (Double(loss.scalar), gradient, nil)
        }
        let (terms, pullback) = valueWithPullback(at: problem) { p in
            p.terms(noise: noise, batch: batch, requesting: requested)
        }
        let (loss, termsGradient) = valueWithGradient(at: terms, of: objective(P.Scalar.self, requested: requested))
        var gradient = pullback(termsGradient)
        if separatesGenerativeGradient {
            let generative = pullback(valueWithGradient(at: terms, of: generativeObjective(P.Scalar.self, requested: requested)).gradient)
            gradient = problem.combining(variational: gradient, generative: generative)
        }
        return (Double(loss.scalar), gradient, terms)
    }

    /// The loss alone (no gradient).
    public func loss<P: VariationalProblem>(problem: P, noise: Tensor<P.Scalar>, batch: P.Batch) -> Tensor<P.Scalar> {
        let requested = requestedTerms(available: problem.availableTerms)
        let terms = problem.terms(noise: noise, batch: batch, requesting: requested)
        return objective(P.Scalar.self, requested: requested)(terms)
    }
}

/// A loss with the value of `value` and the gradient of `surrogate`: surrogate − stop(surrogate) + stop(value).
@differentiable(reverse, wrt: surrogate)
func withValue<Scalar: TensorScalar>(_ surrogate: Tensor<Scalar>, _ value: Tensor<Scalar>) -> Tensor<Scalar> {
    surrogate - withoutDerivative(at: surrogate) + withoutDerivative(at: value)
}

/// log K for the K particles of `terms`.
func logParticleCount<Scalar: TensorScalar>(_ terms: ELBOTerms<Scalar>) -> Scalar {
    let k = withoutDerivative(at: terms.logJoint.shape[0])
    return Scalar(Foundation.log(Double(k)))
}

/// The reparameterised Monte-Carlo ELBO: mean over particles of log p(x, z) − log q(z), with the closed-form
/// entropy in place of −log q when the family has one.
///
/// With `klWeight` β ≠ 1 the gradient is that of E[log p(x | z)] + β E[log p(z) − log q(z)], the KL term weighted
/// by Monte Carlo (a β-VAE or a KL warm-up where the KL has no closed form: two stochastic layers, a VampPrior);
/// the loss's value stays the negative ELBO. It needs log p(x | z) beside log p(x, z).
public struct ReparameterizedELBO: ELBOEstimator {
    public var particleCount: Int
    /// Use the family's closed-form entropy when it has one.
    public var useClosedFormEntropy: Bool
    /// β: the weight of the KL term in the gradient.
    public var klWeight: Double

    public init(particleCount: Int = 1, useClosedFormEntropy: Bool = true, klWeight: Double = 1) {
        require(particleCount >= 1, "ReparameterizedELBO: particleCount must be at least 1, got \(particleCount)")
        require(klWeight >= 0 && klWeight.isFinite, "ReparameterizedELBO: klWeight must be finite and non-negative, got \(klWeight)")
        self.particleCount = particleCount
        self.useClosedFormEntropy = useClosedFormEntropy
        self.klWeight = klWeight
    }

    public var name: String { klWeight == 1 ? "reparam" : "reparam(β=\(klWeight))" }

    public func requestedTerms(available: ELBOTermSet) -> ELBOTermSet {
        let base: ELBOTermSet = useClosedFormEntropy && available.contains(.entropy) ? [.logJoint, .entropy] : [.logJoint, .logQ]
        return klWeight == 1 ? base : base.union(.logLikelihood)
    }

    public func objective<Scalar: TensorScalar>(_ scalar: Scalar.Type, requested: ELBOTermSet)
        -> @differentiable(reverse) (ELBOTerms<Scalar>) -> Tensor<Scalar>
    {
        if requested.contains(.logLikelihood) {
            let beta = Scalar(klWeight)
            if requested.contains(.entropy) {
                return { t in
                    let (elbo, reconstruction) = (t.logJoint.mean() + t.entropy.mean(), t.logLikelihood.mean())
                    return withValue(-(reconstruction + (elbo - reconstruction) * beta), -elbo)
                }
            }
            return { t in
                let (elbo, reconstruction) = ((t.logJoint - t.logQ).mean(), t.logLikelihood.mean())
                return withValue(-(reconstruction + (elbo - reconstruction) * beta), -elbo)
            }
        }
        if requested.contains(.entropy) {
            // The mean over [S, B] is the mean over datapoints of the means over particles.
            return { t in -(t.logJoint.mean() + t.entropy.mean()) }
        }
        return { t in -(t.logJoint - t.logQ).mean() }
    }

    /// −(mean over particles of log p(x, θ) + H(q)) with its gradient by the chain rule, when the problem writes
    /// its model's gradient and its family's sampling pullback out.
    public func handWrittenLossAndGradient<P: VariationalProblem>(problem: P, noise: Tensor<P.Scalar>, batch: P.Batch)
        -> (loss: Double, gradient: P.TangentVector)?
    {
        guard useClosedFormEntropy, klWeight == 1, problem.availableTerms.contains(.entropy) else { return nil }
        return problem.reparameterizedLossWithHandWrittenGradient(noise: noise, batch: batch)
    }
}

/// E_q[log p(x | z)] − KL(q ‖ p(z)) with the KL in closed form. With `klWeight` β ≠ 1 it is the β-VAE objective
/// E_q[log p(x | z)] − β KL, and with `freeBits` λ > 0 each latent unit's KL, averaged over the batch, counts as
/// at least λ nats (Kingma et al. 2016); the loss's value is still the negative ELBO, its gradient that of the
/// weighted objective.
public struct AnalyticKLELBO: ELBOEstimator {
    public var particleCount: Int
    /// β: the weight of the KL term in the gradient (1 for the ELBO; a warm-up raises it from 0 to 1).
    public var klWeight: Double
    /// λ in nats per latent unit (0 for none).
    public var freeBits: Double

    public init(particleCount: Int = 1, klWeight: Double = 1, freeBits: Double = 0) {
        require(particleCount >= 1, "AnalyticKLELBO: particleCount must be at least 1, got \(particleCount)")
        require(klWeight >= 0 && klWeight.isFinite, "AnalyticKLELBO: klWeight must be finite and non-negative, got \(klWeight)")
        require(freeBits >= 0 && freeBits.isFinite, "AnalyticKLELBO: freeBits must be finite and non-negative, got \(freeBits)")
        self.particleCount = particleCount
        self.klWeight = klWeight
        self.freeBits = freeBits
    }

    public var name: String { klWeight == 1 && freeBits == 0 ? "analytic-kl" : "analytic-kl(β=\(klWeight), λ=\(freeBits))" }
    public var maximizesTheELBO: Bool { klWeight == 1 && freeBits == 0 }

    public func requestedTerms(available: ELBOTermSet) -> ELBOTermSet { [.logLikelihood, .klToPrior] }

    public func objective<Scalar: TensorScalar>(_ scalar: Scalar.Type, requested: ELBOTermSet)
        -> @differentiable(reverse) (ELBOTerms<Scalar>) -> Tensor<Scalar>
    {
        let (beta, lambda) = (Scalar(klWeight), Scalar(freeBits))
        if beta == 1 && lambda == 0 {
            return { t in t.klToPrior.sum(squeezingAxes: 1).mean() - t.logLikelihood.mean() }
        }
        return { t in
            let reconstruction = t.logLikelihood.mean()
            let kl = t.klToPrior.sum(squeezingAxes: 1).mean()
            let perUnit = t.klToPrior.mean(squeezingAxes: 0)
            // λ beyond Float's range (rounded to infinity) would make an empty range.
            let floor = Swift.min(lambda, Scalar.greatestFiniteMagnitude)
            let weighted = (lambda > 0 ? perUnit.clamped(to: floor...Scalar.greatestFiniteMagnitude) : perUnit).sum()
            return withValue(weighted * beta - reconstruction, kl - reconstruction)
        }
    }
}

/// Sticking the landing (Roeder et al. 2017): the reparameterised ELBO with log q evaluated at fixed parameters, so
/// the score term (zero in expectation) leaves the gradient; its variance vanishes as q → p(z | x).
///
/// Far from the posterior the same path term is noisy: its part of the gradient has a spread of about 1/σ for a
/// Gaussian q of width σ, so a q much narrower than p moves slowly under Adam. With `warmUp` the estimator is the
/// plain reparameterised one (``ReparameterizedELBO``, closed-form entropy where the family has one) until the
/// training loop says the annealing began (``SVI`` does, when its first stage ends), and sticks the landing after
/// (back to the plain gradient if the loop starts the annealing again).
public struct StickingTheLandingELBO: ELBOEstimator {
    public var particleCount: Int
    /// Whether the plain reparameterised gradient serves while the training loop is not annealing.
    public let warmUp: Bool
    /// True once the stopped-path gradient is in use (from the start without `warmUp`).
    public private(set) var isStoppingPath: Bool

    public init(particleCount: Int = 1, warmUp: Bool = false) {
        require(particleCount >= 1, "StickingTheLandingELBO: particleCount must be at least 1, got \(particleCount)")
        self.particleCount = particleCount
        self.warmUp = warmUp
        self.isStoppingPath = !warmUp
    }

    public var name: String { "stl" }

    var warmUpEstimator: ReparameterizedELBO { ReparameterizedELBO(particleCount: particleCount) }

    /// During the warm-up the plain estimator's terms, unless the problem cannot give q's density at fixed
    /// parameters: then the stopped-path terms from the start, so that the incompatibility shows at once.
    public func requestedTerms(available: ELBOTermSet) -> ELBOTermSet {
        if !isStoppingPath && available.contains(.pathLogQ) { return warmUpEstimator.requestedTerms(available: available) }
        return [.logJoint, .pathLogQ]
    }

    public func objective<Scalar: TensorScalar>(_ scalar: Scalar.Type, requested: ELBOTermSet)
        -> @differentiable(reverse) (ELBOTerms<Scalar>) -> Tensor<Scalar>
    {
        if !requested.contains(.pathLogQ) { return warmUpEstimator.objective(scalar, requested: requested) }
        return { t in -(t.logJoint - t.pathLogQ).mean() }
    }

    public mutating func annealingChanged(isAnnealing: Bool) { isStoppingPath = !warmUp || isAnnealing }
}

/// The score-function (REINFORCE) gradient: E_q[(f(z) − b) ∇ log q(z)] with f = log p − log q. With two or more
/// particles each is baselined by the mean of the others (leave-one-out, per datapoint); with one particle, by a
/// moving average of past values. Needs no gradient of the model through z, so it also serves non-differentiable
/// and discrete models; a generative model's own parameters follow ∇ log p(x, z) at the drawn z.
public struct ScoreFunctionELBO: ELBOEstimator {
    public var particleCount: Int
    /// The decay of the moving-average baseline.
    public var baselineDecay: Double
    /// The moving-average baseline (nil until the first step).
    public private(set) var baseline: Double?

    public init(particleCount: Int = 10, baselineDecay: Double = 0.9) {
        require(particleCount >= 1, "ScoreFunctionELBO: particleCount must be at least 1, got \(particleCount)")
        require(baselineDecay >= 0 && baselineDecay < 1, "ScoreFunctionELBO: baselineDecay must be in [0, 1), got \(baselineDecay)")
        self.particleCount = particleCount
        self.baselineDecay = baselineDecay
    }

    public var name: String { "score" }

    public func requestedTerms(available: ELBOTermSet) -> ELBOTermSet { [.logJoint, .logQ, .stoppedSample] }

    public var needsReparameterizedSamples: Bool { false }

    public func objective<Scalar: TensorScalar>(_ scalar: Scalar.Type, requested: ELBOTermSet)
        -> @differentiable(reverse) (ELBOTerms<Scalar>) -> Tensor<Scalar>
    {
        let baseline = self.baseline.map { Scalar($0) }
        return { t in
            let f = withoutDerivative(at: t.logJoint - t.logQ)
            let advantages = withoutDerivative(at: ScoreFunctionELBO.advantage(f, baseline: baseline))
            // log p carries no gradient through the (stopped) particles: only through a generative model's parameters.
            let surrogate = -(advantages * t.logQ).mean() - t.logJoint.mean()
            return withValue(surrogate, -f.mean())
        }
    }

    /// f minus its baseline: the mean of the other particles of the same datapoint, or the moving average.
    static func advantage<Scalar: TensorScalar>(_ f: Tensor<Scalar>, baseline: Scalar?) -> Tensor<Scalar> {
        let s = f.shape[0]
        if s >= 2 {
            let others = (f.sum(alongAxes: 0) - f) / Scalar(s - 1)
            return f - others
        }
        return f.map { $0 - (baseline ?? $0) }
    }

    public var observesTerms: Bool { true }

    public mutating func observe<Scalar: TensorScalar>(_ terms: ELBOTerms<Scalar>) {
        let mean = Double(terms.logWeights.mean().scalar)
        baseline = baseline.map { baselineDecay * $0 + (1 - baselineDecay) * mean } ?? mean
    }
}

/// The importance-weighted bound (IWAE, Burda et al. 2016): log (1/K Σₖ wₖ), wₖ = p(x, zₖ) / q(zₖ), with K
/// particles per datapoint; tighter than the ELBO as K grows. With `doublyReparameterized` the variational
/// family's gradient is DReG (Tucker et al. 2019): Σₖ w̃ₖ² ∇ log wₖ along the sample path only, of lower
/// variance; a generative model's parameters keep the IWAE gradient Σₖ w̃ₖ ∇ log p(x, zₖ).
public struct ImportanceWeightedELBO: ELBOEstimator {
    public var particleCount: Int
    public var doublyReparameterized: Bool

    public init(particleCount: Int = 10, doublyReparameterized: Bool = false) {
        require(particleCount >= 1, "ImportanceWeightedELBO: particleCount must be at least 1, got \(particleCount)")
        self.particleCount = particleCount
        self.doublyReparameterized = doublyReparameterized
    }

    public var name: String { doublyReparameterized ? "iwae-dreg" : "iwae" }
    /// With one particle the bound is the ELBO.
    public var maximizesTheELBO: Bool { particleCount == 1 }

    public func requestedTerms(available: ELBOTermSet) -> ELBOTermSet {
        doublyReparameterized ? [.logJoint, .pathLogQ] : [.logJoint, .logQ]
    }

    public var separatesGenerativeGradient: Bool { doublyReparameterized }

    public func objective<Scalar: TensorScalar>(_ scalar: Scalar.Type, requested: ELBOTermSet)
        -> @differentiable(reverse) (ELBOTerms<Scalar>) -> Tensor<Scalar>
    {
        if !requested.contains(.pathLogQ) {
            return { t in -((t.logJoint - t.logQ).logSumExp(squeezingAxes: 0) - withoutDerivative(at: logParticleCount(t))).mean() }
        }
        return { t in
            // log q at fixed parameters has the value of log q: the weights come from it.
            let logWeights = withoutDerivative(at: t.logJoint - t.pathLogQ)
            let normalized = logWeights.softmax(alongAxis: 0)
            let surrogate = -(normalized.squared() * (t.logJoint - t.pathLogQ)).sum(squeezingAxes: 0).mean()
            return withValue(surrogate, -(logWeights.logSumExp(squeezingAxes: 0) - withoutDerivative(at: logParticleCount(t))).mean())
        }
    }

    public func generativeObjective<Scalar: TensorScalar>(_ scalar: Scalar.Type, requested: ELBOTermSet)
        -> @differentiable(reverse) (ELBOTerms<Scalar>) -> Tensor<Scalar>
    {
        { t in
            let normalized = withoutDerivative(at: (t.logJoint - t.pathLogQ).softmax(alongAxis: 0))
            return -(normalized * t.logJoint).sum(squeezingAxes: 0).mean()
        }
    }
}

/// The Rényi α-divergence bound (Li & Turner 2016): 1/(1 − α) log (1/K Σₖ wₖ^(1−α)). α → 1 gives the ELBO,
/// α = 0 the IWAE bound; α < 0 gives upper bounds in the limit.
public struct RenyiELBO: ELBOEstimator {
    public var particleCount: Int
    public var alpha: Double

    public init(particleCount: Int = 10, alpha: Double = 0.5) {
        require(particleCount >= 1, "RenyiELBO: particleCount must be at least 1, got \(particleCount)")
        require(alpha != 1 && alpha.isFinite, "RenyiELBO: alpha must be finite and not 1 (use the ELBO), got \(alpha)")
        self.particleCount = particleCount
        self.alpha = alpha
    }

    public var name: String { "renyi" }
    /// With one particle every α gives the ELBO.
    public var maximizesTheELBO: Bool { particleCount == 1 }

    public func requestedTerms(available: ELBOTermSet) -> ELBOTermSet { [.logJoint, .logQ] }

    public func objective<Scalar: TensorScalar>(_ scalar: Scalar.Type, requested: ELBOTermSet)
        -> @differentiable(reverse) (ELBOTerms<Scalar>) -> Tensor<Scalar>
    {
        let oneMinusAlpha = Scalar(1 - alpha)
        return { t in -(((t.logJoint - t.logQ) * oneMinusAlpha).logSumExp(squeezingAxes: 0) - withoutDerivative(at: logParticleCount(t))).mean() / oneMinusAlpha }
    }
}

import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions

/// An ELBO estimator: given a model, a variational family and noise, a loss whose gradient with respect to the
/// family's parameters is the estimator's gradient, and whose value is the negative of the bound it estimates.
public protocol ELBOEstimator {
    /// The number of particles drawn per step.
    var particleCount: Int { get }
    /// A short name for reports.
    var name: String { get }

    /// The loss as a differentiable function of the family, for particles drawn from `noise` (shape from
    /// `family.sampleNoise(count: particleCount, …)`) and the given minibatch.
    ///
    /// Each estimator also has a concrete `loss(model:family:noise:observations:)`; this requirement returns a
    /// closure over it because differentiating through a generic protocol requirement with a `@differentiable`
    /// attribute miscompiles (the pullback calls the model's forward-mode derivative).
    func objective<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F.Type, noise: Tensor<Double>, observations: [Int]?
    ) -> @differentiable(reverse) (F) -> Tensor<Double>

    /// The loss and its gradient written out by hand, when the model, the family and this estimator all allow
    /// it (a hand-written log-joint gradient, a family with a hand-written pullback); nil to differentiate
    /// `objective` instead. Both ways give the same numbers; this one spares the step automatic differentiation.
    func lossAndGradient<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F, noise: Tensor<Double>, observations: [Int]?
    ) -> (loss: Double, gradient: F.TangentVector)?

    /// Called after each accepted step with the per-particle ELBO terms log p − log q (for baselines).
    mutating func observe(_ perParticleELBO: [Double])

    /// Why this estimator cannot run on this model and family, or nil when it can.
    func incompatibility<M: ProbabilisticModel, F: VariationalFamily>(model: M, family: F) -> String?
}

extension ELBOEstimator {
    public func lossAndGradient<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F, noise: Tensor<Double>, observations: [Int]?
    ) -> (loss: Double, gradient: F.TangentVector)? {
        nil
    }

    public mutating func observe(_ perParticleELBO: [Double]) {}
    public func incompatibility<M: ProbabilisticModel, F: VariationalFamily>(model: M, family: F) -> String? { nil }
}

/// A loss with the value of `value` and the gradient of `surrogate`: surrogate − stop(surrogate) + stop(value).
@differentiable(reverse, wrt: surrogate)
func withValue(_ surrogate: Tensor<Double>, _ value: Tensor<Double>) -> Tensor<Double> {
    surrogate - withoutDerivative(at: surrogate) + withoutDerivative(at: value)
}

/// log p(x, z(θ)) + log|J| − log q(θ) for each particle, [S] (no gradient).
func perParticleELBO<M: ProbabilisticModel, F: VariationalFamily>(
    model: M, family: F, noise: Tensor<Double>, observations: [Int]?
) -> Tensor<Double> {
    let (theta, logQ) = family.sampleWithLogDensity(fromNoise: noise)
    return model.logJointUnconstrained(theta, observations: observations) - logQ
}

/// The reparameterised Monte-Carlo ELBO: mean over particles of log p(x, z) + log|J| − log q, with the
/// closed-form entropy in place of −log q when the family has one.
public struct ReparameterizedELBO: ELBOEstimator {
    public var particleCount: Int
    /// Use the family's closed-form entropy when it has one.
    public var useClosedFormEntropy: Bool

    public init(particleCount: Int = 1, useClosedFormEntropy: Bool = true) {
        precondition(particleCount >= 1, "ReparameterizedELBO: particleCount must be at least 1, got \(particleCount)")
        self.particleCount = particleCount
        self.useClosedFormEntropy = useClosedFormEntropy
    }

    public var name: String { "reparam" }

    /// −(mean over particles of log p(x, θ) + H(q)) with its gradient by the chain rule, when the model writes
    /// its gradient out and the family its sampling pullback and entropy gradient.
    public func lossAndGradient<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F, noise: Tensor<Double>, observations: [Int]?
    ) -> (loss: Double, gradient: F.TangentVector)? {
        guard useClosedFormEntropy, family.hasClosedFormEntropy else { return nil }
        return family.reparameterizedLossWithHandWrittenGradient(fromNoise: noise) { theta in
            model.logJointUnconstrainedWithGradient(theta, observations: observations)
        }
    }

    public func objective<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F.Type, noise: Tensor<Double>, observations: [Int]?
    ) -> @differentiable(reverse) (F) -> Tensor<Double> {
        { f in loss(model: model, family: f, noise: noise, observations: observations) }
    }

    @differentiable(reverse, wrt: family)
    public func loss<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F, noise: Tensor<Double>, observations: [Int]?
    ) -> Tensor<Double> {
        if useClosedFormEntropy && withoutDerivative(at: family.hasClosedFormEntropy) {
            // log q is not needed: the entropy replaces −E[log q].
            let theta = family.sample(fromNoise: noise)
            return -(model.logJointUnconstrained(theta, observations: observations).mean() + family.entropy())
        }
        let (theta, logQ) = family.sampleWithLogDensity(fromNoise: noise)
        return -(model.logJointUnconstrained(theta, observations: observations) - logQ).mean()
    }
}

/// E_q[log p(x | z)] − KL(q ‖ p(z)) with the KL in closed form: for Gaussian families and models whose prior is
/// independent normals over real-valued latents.
public struct AnalyticKLELBO: ELBOEstimator {
    public var particleCount: Int

    public init(particleCount: Int = 1) {
        precondition(particleCount >= 1, "AnalyticKLELBO: particleCount must be at least 1, got \(particleCount)")
        self.particleCount = particleCount
    }

    public var name: String { "analytic-kl" }

    public func objective<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F.Type, noise: Tensor<Double>, observations: [Int]?
    ) -> @differentiable(reverse) (F) -> Tensor<Double> {
        { f in loss(model: model, family: f, noise: noise, observations: observations) }
    }

    public func incompatibility<M: ProbabilisticModel, F: VariationalFamily>(model: M, family: F) -> String? {
        if !family.isGaussian { return "the analytic-KL estimator needs a Gaussian family, not \(family.name)" }
        if model.unconstrainedGaussianPrior == nil {
            return "the analytic-KL estimator needs a model whose prior is independent normals over real latents"
        }
        return nil
    }

    @differentiable(reverse, wrt: family)
    public func loss<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F, noise: Tensor<Double>, observations: [Int]?
    ) -> Tensor<Double> {
        let prior = withoutDerivative(at: model.unconstrainedGaussianPrior!)
        let priorDistribution = MultivariateNormal(uncheckedLocation: prior.mean, scaleDiagonal: prior.standardDeviation)
        let theta = family.sample(fromNoise: noise)
        let likelihood = model.logLikelihoodUnconstrained(theta, observations: observations)
        return family.gaussian().klDivergence(to: priorDistribution) - likelihood.mean()
    }
}

/// Sticking the landing (Roeder et al. 2017): the reparameterised ELBO with log q evaluated at stopped
/// parameters, so the score term (zero in expectation) leaves the gradient; its variance vanishes as q → p(z|x).
public struct StickingTheLandingELBO: ELBOEstimator {
    public var particleCount: Int

    public init(particleCount: Int = 1) {
        precondition(particleCount >= 1, "StickingTheLandingELBO: particleCount must be at least 1, got \(particleCount)")
        self.particleCount = particleCount
    }

    public var name: String { "stl" }

    public func objective<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F.Type, noise: Tensor<Double>, observations: [Int]?
    ) -> @differentiable(reverse) (F) -> Tensor<Double> {
        { f in loss(model: model, family: f, noise: noise, observations: observations) }
    }

    public func incompatibility<M: ProbabilisticModel, F: VariationalFamily>(model: M, family: F) -> String? {
        family.canEvaluateDensity ? nil : "sticking the landing needs a family that evaluates its density, not \(family.name)"
    }

    @differentiable(reverse, wrt: family)
    public func loss<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F, noise: Tensor<Double>, observations: [Int]?
    ) -> Tensor<Double> {
        let theta = family.sample(fromNoise: noise)
        let logQ = withoutDerivative(at: family).logDensity(theta)
        return -(model.logJointUnconstrained(theta, observations: observations) - logQ).mean()
    }
}

/// The score-function (REINFORCE) gradient: E_q[(f(θ) − b) ∇ log q(θ)] with f = log p − log q. With two or more
/// particles each is baselined by the mean of the others (leave-one-out); with one particle, by a moving average
/// of past values. Needs no gradient of the model, so it also serves non-differentiable and discrete models.
public struct ScoreFunctionELBO: ELBOEstimator {
    public var particleCount: Int
    /// The decay of the moving-average baseline.
    public var baselineDecay: Double
    /// The moving-average baseline (nil until the first step).
    public private(set) var baseline: Double?

    public init(particleCount: Int = 10, baselineDecay: Double = 0.9) {
        precondition(particleCount >= 1, "ScoreFunctionELBO: particleCount must be at least 1, got \(particleCount)")
        precondition(baselineDecay >= 0 && baselineDecay < 1, "ScoreFunctionELBO: baselineDecay must be in [0, 1), got \(baselineDecay)")
        self.particleCount = particleCount
        self.baselineDecay = baselineDecay
    }

    public var name: String { "score" }

    public func objective<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F.Type, noise: Tensor<Double>, observations: [Int]?
    ) -> @differentiable(reverse) (F) -> Tensor<Double> {
        { f in loss(model: model, family: f, noise: noise, observations: observations) }
    }

    public func incompatibility<M: ProbabilisticModel, F: VariationalFamily>(model: M, family: F) -> String? {
        family.canEvaluateDensity ? nil : "the score-function estimator needs a family that evaluates its density, not \(family.name)"
    }

    @differentiable(reverse, wrt: family)
    public func loss<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F, noise: Tensor<Double>, observations: [Int]?
    ) -> Tensor<Double> {
        let theta = withoutDerivative(at: family.sample(fromNoise: noise))
        let logQ = family.logDensity(theta)
        let f = withoutDerivative(at: model.logJointUnconstrained(theta, observations: observations) - logQ)
        let advantages = withoutDerivative(at: advantage(f))
        let surrogate = -(advantages * logQ).mean()
        return withValue(surrogate, -f.mean())
    }

    func advantage(_ f: Tensor<Double>) -> Tensor<Double> {
        let s = f.scalarCount
        if s >= 2 {
            let total = f.scalars.reduce(0, +)
            return f.map { $0 - (total - $0) / Double(s - 1) }
        }
        return f.map { $0 - (baseline ?? $0) }
    }

    public mutating func observe(_ perParticleELBO: [Double]) {
        let mean = perParticleELBO.reduce(0, +) / Double(perParticleELBO.count)
        baseline = baseline.map { baselineDecay * $0 + (1 - baselineDecay) * mean } ?? mean
    }
}

/// The importance-weighted bound (IWAE, Burda et al. 2016): log (1/K Σₖ wₖ), wₖ = p(x, θₖ) / q(θₖ), with K
/// particles; tighter than the ELBO as K grows. With `doublyReparameterized` the gradient is DReG (Tucker et al.
/// 2019): Σₖ w̃ₖ² ∇ log wₖ along the sample path only, lower-variance for the family's parameters.
public struct ImportanceWeightedELBO: ELBOEstimator {
    public var particleCount: Int
    public var doublyReparameterized: Bool

    public init(particleCount: Int = 10, doublyReparameterized: Bool = false) {
        precondition(particleCount >= 1, "ImportanceWeightedELBO: particleCount must be at least 1, got \(particleCount)")
        self.particleCount = particleCount
        self.doublyReparameterized = doublyReparameterized
    }

    public var name: String { doublyReparameterized ? "iwae-dreg" : "iwae" }

    public func objective<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F.Type, noise: Tensor<Double>, observations: [Int]?
    ) -> @differentiable(reverse) (F) -> Tensor<Double> {
        { f in loss(model: model, family: f, noise: noise, observations: observations) }
    }

    public func incompatibility<M: ProbabilisticModel, F: VariationalFamily>(model: M, family: F) -> String? {
        if doublyReparameterized && !family.canEvaluateDensity {
            return "the doubly-reparameterised gradient needs a family that evaluates its density, not \(family.name)"
        }
        return nil
    }

    @differentiable(reverse, wrt: family)
    public func loss<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F, noise: Tensor<Double>, observations: [Int]?
    ) -> Tensor<Double> {
        let k = Double(withoutDerivative(at: noise.shape[0]))
        let (theta, logQ) = family.sampleWithLogDensity(fromNoise: noise)
        let logJoint = model.logJointUnconstrained(theta, observations: observations)
        let logWeights = logJoint - logQ
        let bound = logWeights.logSumExp() - Foundation.log(k)
        if !withoutDerivative(at: doublyReparameterized) { return -bound }
        let pathLogWeights = logJoint - withoutDerivative(at: family).logDensity(theta)
        let normalized = withoutDerivative(at: logWeights.softmax(alongAxis: 0))
        let surrogate = -(normalized.squared() * pathLogWeights).sum()
        return withValue(surrogate, -bound)
    }
}

/// The Rényi α-divergence bound (Li & Turner 2016): 1/(1 − α) log (1/K Σₖ wₖ^(1−α)). α → 1 gives the ELBO,
/// α = 0 the IWAE bound; α < 0 gives upper bounds in the limit.
public struct RenyiELBO: ELBOEstimator {
    public var particleCount: Int
    public var alpha: Double

    public init(particleCount: Int = 10, alpha: Double = 0.5) {
        precondition(particleCount >= 1, "RenyiELBO: particleCount must be at least 1, got \(particleCount)")
        precondition(alpha != 1 && alpha.isFinite, "RenyiELBO: alpha must be finite and not 1 (use the ELBO), got \(alpha)")
        self.particleCount = particleCount
        self.alpha = alpha
    }

    public var name: String { "renyi" }

    public func objective<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F.Type, noise: Tensor<Double>, observations: [Int]?
    ) -> @differentiable(reverse) (F) -> Tensor<Double> {
        { f in loss(model: model, family: f, noise: noise, observations: observations) }
    }

    @differentiable(reverse, wrt: family)
    public func loss<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F, noise: Tensor<Double>, observations: [Int]?
    ) -> Tensor<Double> {
        let k = Double(withoutDerivative(at: noise.shape[0]))
        let (theta, logQ) = family.sampleWithLogDensity(fromNoise: noise)
        let logWeights = model.logJointUnconstrained(theta, observations: observations) - logQ
        let a = withoutDerivative(at: alpha)
        return -((logWeights * (1 - a)).logSumExp() - Foundation.log(k)) / (1 - a)
    }
}

extension ProbabilisticModel {
    /// log p(x_B | z(θ)) scaled by N/B for minibatches, [S].
    @differentiable(reverse)
    public func logLikelihoodUnconstrained(_ theta: Tensor<Double>, observations: [Int]? = nil) -> Tensor<Double> {
        let space = withoutDerivative(at: latentSpace)
        let z = Latents(values: space.constrain(theta).values, space: space)
        let likelihood = logLikelihood(z, observations: observations)
        guard let batch = observations else { return likelihood }
        return likelihood * (Double(withoutDerivative(at: observationCount)) / Double(batch.count))
    }
}

import _Differentiation
import VariationalCore
import VariationalDistributions

/// A Bayesian model with one global latent vector and a variational family q(θ) over its unconstrained
/// coordinates: the problem stochastic variational inference solves. Only the family is trained.
///
/// Its terms have one column (B = 1): the likelihood of a minibatch is scaled by N/B inside log p(x, z), since a
/// global latent is shared by every observation.
public struct GlobalLatentProblem<Model: ProbabilisticModel, Family: VariationalFamily>: VariationalProblem {
    public typealias Scalar = Double
    /// Minibatch indices, or nil for all observations.
    public typealias Batch = [Int]?

    @noDerivative public let model: Model
    public var family: Family
    /// Found once: asking the model for its Gaussian prior may build tensors, and every step reads this.
    @noDerivative public let availableTerms: ELBOTermSet

    @differentiable(reverse, wrt: family)
    public init(model: Model, family: Family) {
        self.model = model
        self.family = family
        self.availableTerms = withoutDerivative(at: Self.terms(available: model, family))
    }

    static func terms(available model: Model, _ family: Family) -> ELBOTermSet {
        var terms: ELBOTermSet = [.logJoint, .logQ]
        if family.canEvaluateDensity { terms.formUnion([.pathLogQ, .stoppedSample]) }
        if family.hasClosedFormEntropy { terms.insert(.entropy) }
        if family.isGaussian && model.unconstrainedGaussianPrior != nil { terms.formUnion([.logLikelihood, .klToPrior]) }
        return terms
    }

    public var familyName: String { family.name }

    public func sampleNoise<G: RandomNumberGenerator>(particles: Int, batch: [Int]?, using generator: inout G) -> Tensor<Double> {
        family.sampleNoise(count: particles, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func terms(noise: Tensor<Double>, batch observations: [Int]?, requesting requested: ELBOTermSet) -> ELBOTerms<Double> {
        // The reparameterised ELBO's terms without branches: each branch of a differentiated function costs the
        // pullback an allocation, which a small model notices.
        if requested == [.logJoint, .entropy] { return logJointAndEntropy(noise: noise, observations: observations) }
        return anyTerms(noise: noise, observations: observations, requesting: requested)
    }

    /// log p(x, θ) as [S] and H(q) as a scalar: the shapes with the datapoint axis left out, which the
    /// reparameterised reduction reads alike (two reshapes fewer in a step of a small model).
    @differentiable(reverse, wrt: self)
    func logJointAndEntropy(noise: Tensor<Double>, observations: [Int]?) -> ELBOTerms<Double> {
        let theta = family.sample(fromNoise: noise)
        return ELBOTerms(logJoint: model.logJointUnconstrained(theta, observations: observations), entropy: family.entropy())
    }

    @differentiable(reverse, wrt: self)
    func anyTerms(noise: Tensor<Double>, observations: [Int]?, requesting requested: ELBOTermSet) -> ELBOTerms<Double> {
        let s = withoutDerivative(at: noise.shape[0])
        let column = withoutDerivative(at: [s, 1] as TensorShape)
        var theta: Tensor<Double>
        var logQ = withoutDerivative(at: Tensor<Double>.zero)
        if requested.contains(.stoppedSample) {
            theta = withoutDerivative(at: family.sample(fromNoise: noise))
            if requested.contains(.logQ) { logQ = family.logDensity(theta).reshaped(to: column) }
        } else if requested.contains(.logQ) {
            let sampled = family.sampleWithLogDensity(fromNoise: noise)
            theta = sampled.theta
            logQ = sampled.logDensity.reshaped(to: column)
        } else {
            theta = family.sample(fromNoise: noise)
        }
        var logJoint = withoutDerivative(at: Tensor<Double>.zero)
        if requested.contains(.logJoint) {
            logJoint = model.logJointUnconstrained(theta, observations: observations).reshaped(to: column)
        }
        var logLikelihood = withoutDerivative(at: Tensor<Double>.zero)
        var klToPrior = withoutDerivative(at: Tensor<Double>.zero)
        if requested.contains(.klToPrior) {
            logLikelihood = model.logLikelihoodUnconstrained(theta, observations: observations).reshaped(to: column)
            let prior = withoutDerivative(at: model.unconstrainedGaussianPrior!)
            let p = withoutDerivative(at: MultivariateNormal(uncheckedLocation: prior.mean, scaleDiagonal: prior.standardDeviation))
            klToPrior = family.gaussian().klDivergence(to: p).reshaped(to: [1, 1])
        }
        var pathLogQ = withoutDerivative(at: Tensor<Double>.zero)
        if requested.contains(.pathLogQ) {
            pathLogQ = withoutDerivative(at: family).logDensity(theta).reshaped(to: column)
        }
        var entropy = withoutDerivative(at: Tensor<Double>.zero)
        if requested.contains(.entropy) { entropy = family.entropy().reshaped(to: [1]) }
        return ELBOTerms(
            logJoint: logJoint, logLikelihood: logLikelihood, klToPrior: klToPrior, logQ: logQ, pathLogQ: pathLogQ,
            entropy: entropy)
    }

    public func reasonUnavailable(_ missing: ELBOTermSet) -> String {
        var reasons: [String] = []
        if !missing.isDisjoint(with: [.logLikelihood, .klToPrior]) {
            if !family.isGaussian { reasons.append("it needs a Gaussian family, not \(family.name)") }
            if model.unconstrainedGaussianPrior == nil {
                reasons.append("it needs a model whose prior is independent normals over real latents")
            }
        }
        if !missing.isDisjoint(with: [.pathLogQ, .stoppedSample]) {
            reasons.append("\(family.name) cannot evaluate its density at points it did not draw")
        }
        if missing.contains(.entropy) { reasons.append("\(family.name) has no closed-form entropy") }
        return reasons.isEmpty ? "\(family.name) cannot give them" : reasons.joined(separator: "; ")
    }

    /// The model has no parameters of its own: every gradient is the family's.
    public func combining(variational: TangentVector, generative: TangentVector) -> TangentVector { variational }

    public func reparameterizedLossWithHandWrittenGradient(noise: Tensor<Double>, batch observations: [Int]?) -> (loss: Double, gradient: TangentVector)? {
        let byHand = family.reparameterizedLossWithHandWrittenGradient(fromNoise: noise) { theta in
            model.logJointUnconstrainedWithGradient(theta, observations: observations)
                ?? logJointWithGradientByDifferentiation(model, theta, observations: observations)
        }
        return byHand.map { ($0.loss, TangentVector(family: $0.gradient)) }
    }
}

extension ELBOEstimator {
    /// Why this estimator cannot run on this model and family, or nil when it can.
    public func incompatibility<M: ProbabilisticModel, F: VariationalFamily>(model: M, family: F) -> String? {
        incompatibility(with: GlobalLatentProblem(model: model, family: family))
    }

    /// The loss as a differentiable function of the family, for particles drawn from `noise` and the given minibatch.
    public func objective<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F, noise: Tensor<Double>, observations: [Int]?
    ) -> @differentiable(reverse) (F) -> Tensor<Double> {
        let requested = requestedTerms(available: GlobalLatentProblem(model: model, family: family).availableTerms)
        let reduce = objective(Double.self, requested: requested)
        return { f in reduce(GlobalLatentProblem(model: model, family: f).terms(noise: noise, batch: observations, requesting: requested)) }
    }

    /// The loss (no gradient).
    public func loss<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F, noise: Tensor<Double>, observations: [Int]?
    ) -> Tensor<Double> {
        loss(problem: GlobalLatentProblem(model: model, family: family), noise: noise, batch: observations)
    }

    /// The loss and its gradient written out by hand, or nil where automatic differentiation is needed.
    public func handWrittenLossAndGradient<M: ProbabilisticModel, F: VariationalFamily>(
        model: M, family: F, noise: Tensor<Double>, observations: [Int]?
    ) -> (loss: Double, gradient: F.TangentVector)? {
        handWrittenLossAndGradient(problem: GlobalLatentProblem(model: model, family: family), noise: noise, batch: observations)
            .map { ($0.loss, $0.gradient.family) }
    }
}

/// log p(x, z(θ)) + log|J| at particles θ [S, D] and its gradient in θ [S, D] for a model without a hand-written
/// one: automatic differentiation of the model's own code alone where the latents map elementwise onto their
/// supports, of the whole log joint otherwise. Each particle's value depends on its own row only, so pulling back
/// ones gives every row's gradient at once. The family's sampling map and entropy around it are differentiated by
/// hand, which spares a step the bookkeeping of differentiating them (and the ELBO's reduction) through closures.
func logJointWithGradientByDifferentiation<M: ProbabilisticModel>(
    _ model: M, _ theta: Tensor<Double>, observations: [Int]?
) -> (value: Tensor<Double>, gradient: Tensor<Double>) {
    if let byParts = model.logJointUnconstrainedByParts(theta, observations: observations) { return byParts }
    let (value, pullback) = valueWithPullback(at: theta) {
        model.logJointUnconstrainedByDifferentiation($0, observations: observations)
    }
    return (value, pullback(Tensor(ones: value.shape)))
}

/// log p(x, z(θ)) + log|J| − log q(θ) for each particle, [S] (no gradient).
func perParticleELBO<M: ProbabilisticModel, F: VariationalFamily>(
    model: M, family: F, noise: Tensor<Double>, observations: [Int]?
) -> Tensor<Double> {
    let (theta, logQ) = family.sampleWithLogDensity(fromNoise: noise)
    return logJointInChunks(model, theta, observations: observations) - logQ
}

/// The most particle × observation entries one evaluation of the log joint may hold outside of training: beyond
/// it the particles go in chunks, so that memory stays the data plus a bounded amount however many rows there are.
let evaluationEntryBudget = 1 << 22

/// log p(x, z(θ)) + log|J| for particles θ [S, D], evaluated a chunk of particles at a time (no gradient).
func logJointInChunks<M: ProbabilisticModel>(_ model: M, _ theta: Tensor<Double>, observations: [Int]?) -> Tensor<Double> {
    let s = theta.shape[0]
    let rows = observations?.count ?? model.observationCount
    let values = evaluatedInChunks(count: s, rows: rows) { range in
        model.logJointUnconstrained(range.count == s ? theta : theta.slice(axis: 0, range: range), observations: observations).scalars.array
    }
    return Tensor(shape: [s], scalars: values)
}

/// `evaluate` over 0 ..< count in consecutive ranges of at most `evaluationEntryBudget / rows` items (at least one),
/// each item costing `rows` entries; the results joined in order. One range when everything fits.
func evaluatedInChunks(count: Int, rows: Int, _ evaluate: (Range<Int>) -> [Double]) -> [Double] {
    let chunk = Swift.max(1, evaluationEntryBudget / Swift.max(rows, 1))
    if chunk >= count { return evaluate(0..<count) }
    var values: [Double] = []
    values.reserveCapacity(count)
    for start in stride(from: 0, to: count, by: chunk) { values += evaluate(start..<Swift.min(start + chunk, count)) }
    return values
}

extension ProbabilisticModel {
    /// log p(x_B | z(θ)) scaled by N/B for minibatches, [S].
    @differentiable(reverse)
    public func logLikelihoodUnconstrained(_ theta: Tensor<Double>, observations: [Int]? = nil) -> Tensor<Double> {
        let space = withoutDerivative(at: latentSpace)
        let z = Latents(values: space.constrain(theta).values, space: space)
        let likelihood = logLikelihoodPerParticle(z, observations: observations)
        guard let batch = observations else { return likelihood }
        return likelihood * (Double(withoutDerivative(at: observationCount)) / Double(batch.count))
    }
}

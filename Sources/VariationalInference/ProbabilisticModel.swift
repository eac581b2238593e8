import _Differentiation
import VariationalCore
import VariationalDistributions

/// A Bayesian model written as Swift code: its latent variables, each declared once with its prior, and the log
/// likelihood of the observations for a batch of particles.
///
/// ```swift
/// struct EightSchools: ProbabilisticModel {
///     let y: Tensor<Double>, sigma: Tensor<Double>
///     var latents: [Latent] {
///         [Latent("mu", Normal(0, 5)), Latent("tau", HalfCauchy(5)), Latent("theta", Normal(0, 1), shape: [8])]
///     }
///     @differentiable(reverse)
///     func logLikelihood(_ z: Latents, observations: [Int]?) -> Tensor<Double> {
///         Normal(z["mu"] + z["tau"] * z["theta"], sigma).logProbability(of: y)
///     }
/// }
/// ```
///
/// `Model` writes the same without a type of its own. The inference engine works in the unconstrained space that
/// the priors' supports give, counts the log-Jacobians, sums the likelihood over every axis but the particles',
/// and scales a minibatch's likelihood by N/B. `Examples/` in the repository holds complete models to copy.
public protocol ProbabilisticModel {
    /// The latent variables with their priors, in the order of the flat parameter vector. A prior may depend on
    /// other latents, in any order.
    var latents: [Latent] { get }
    /// The layout of the latents in the flat unconstrained vector (derived from `latents` unless a model keeps its
    /// own copy, as `Model` does, since a fit reads it at every step).
    var latentSpace: LatentSpace { get }
    /// N, the number of observations that minibatches are drawn from (0..<N); 0 (the default) for a model that is
    /// not subsampled.
    var observationCount: Int { get }

    /// log p(x_B | z) for the observations `observations` (all of them when nil): shape [S] or [S, …], one row per
    /// particle; the engine sums it over every axis but the first.
    @differentiable(reverse)
    func logLikelihood(_ z: Latents, observations: [Int]?) -> Tensor<Double>

    /// Draws of new data from p(x̃ | z) for each particle, shape [S, …], if the model can simulate.
    func posteriorPredictive<G: RandomNumberGenerator>(_ z: Latents, using generator: inout G) -> Tensor<Double>?

    /// A hand-written log joint with its gradient, for models that want to spare the step the cost of automatic
    /// differentiation: at unconstrained particles θ [S, D], the value of `logJointUnconstrained(_:observations:)`
    /// ([S]: log prior + N/B-scaled log likelihood + log-Jacobian) and its gradient in θ ([S, D]). Nil (the
    /// default) lets automatic differentiation derive the gradient from the priors and `logLikelihood`.
    func logJointUnconstrainedWithGradient(_ theta: Tensor<Double>, observations: [Int]?) -> (value: Tensor<Double>, gradient: Tensor<Double>)?
}

extension ProbabilisticModel {
    public var observationCount: Int { 0 }

    /// The layout of the latents in the flat unconstrained vector.
    public var latentSpace: LatentSpace { LatentSpace(latents) }

    /// log p(z), the sum of the latents' priors, one value per particle: shape [S].
    @differentiable(reverse)
    public func logPrior(_ z: Latents) -> Tensor<Double> {
        let latents = withoutDerivative(at: self.latents)
        if latents.isEmpty { return withoutDerivative(at: Tensor(zeros: [z.particleCount])) }
        var total = latents[0].logPrior(z)
        for i in 1..<withoutDerivative(at: latents.count) { total = total + latents[i].logPrior(z) }
        return total
    }

    /// The log likelihood summed to one value per particle, [S].
    @differentiable(reverse)
    public func logLikelihoodPerParticle(_ z: Latents, observations: [Int]?) -> Tensor<Double> {
        sumPerParticle(logLikelihood(z, observations: observations))
    }

    /// The prior as independent normals over the unconstrained coordinates, when every latent has a fixed normal
    /// prior (the analytic-KL estimator uses it); nil otherwise.
    public var unconstrainedGaussianPrior: (mean: Tensor<Double>, standardDeviation: Tensor<Double>)? {
        var mean: [Double] = []
        var standardDeviation: [Double] = []
        for latent in latents {
            guard let gaussian = latent.fixed?.gaussian else { return nil }
            mean += gaussian.mean
            standardDeviation += gaussian.standardDeviation
        }
        return (Tensor(mean), Tensor(standardDeviation))
    }

    /// The prior's marginal log density of one element of a latent variable at a value, where it is known (an
    /// elementwise prior with fixed parameters; for plots).
    public func priorMarginalLogDensity(_ variable: String, element: Int, at value: Double) -> Double? {
        latents.first { $0.name == variable }?.fixed?.marginal(element, value)
    }
}

extension ProbabilisticModel {
    public func posteriorPredictive<G: RandomNumberGenerator>(_ z: Latents, using generator: inout G) -> Tensor<Double>? {
        nil
    }

    public func logJointUnconstrainedWithGradient(_ theta: Tensor<Double>, observations: [Int]?) -> (value: Tensor<Double>, gradient: Tensor<Double>)? {
        nil
    }

    /// log p(x, z(θ)) + log |det ∂z/∂θ| for unconstrained particles θ [S, D], with the likelihood of a minibatch
    /// scaled by N/B; shape [S]. Its derivative is the model's hand-written gradient when it gives one.
    @differentiable(reverse)
    public func logJointUnconstrained(_ theta: Tensor<Double>, observations: [Int]? = nil) -> Tensor<Double> {
        logJointOfModel(self, theta, observations)
    }

    /// `logJointUnconstrained` as automatic differentiation sees it, composed from the priors, `logLikelihood`
    /// and the latent space's log-Jacobian (what a hand-written gradient is tested against).
    @differentiable(reverse)
    public func logJointUnconstrainedByDifferentiation(_ theta: Tensor<Double>, observations: [Int]? = nil) -> Tensor<Double> {
        let space = withoutDerivative(at: latentSpace)
        let constrained = space.constrain(theta)
        let z = Latents(values: constrained.values, space: space)
        let logJacobian = constrained.logJacobian
        var likelihood = logLikelihoodPerParticle(z, observations: observations)
        if let batch = observations {
            likelihood = likelihood * (Double(withoutDerivative(at: observationCount)) / Double(batch.count))
        }
        return logPrior(z) + likelihood + logJacobian
    }

    /// The constrained latents for unconstrained particles (no gradient).
    public func latents(atUnconstrained theta: Tensor<Double>) -> Latents {
        Latents(values: latentSpace.constrain(theta).values, space: latentSpace)
    }
}

/// Routes the log joint through the model's hand-written gradient when it has one.
func logJointOfModel<M: ProbabilisticModel>(_ model: M, _ theta: Tensor<Double>, _ observations: [Int]?) -> Tensor<Double> {
    model.logJointUnconstrainedByDifferentiation(theta, observations: observations)
}

@derivative(of: logJointOfModel, wrt: theta)
func vjpLogJointOfModel<M: ProbabilisticModel>(_ model: M, _ theta: Tensor<Double>, _ observations: [Int]?)
    -> (value: Tensor<Double>, pullback: (Tensor<Double>) -> Tensor<Double>)
{
    guard let (value, gradient) = model.logJointUnconstrainedWithGradient(theta, observations: observations)
        ?? model.logJointUnconstrainedByParts(theta, observations: observations)
    else {
        return valueWithPullback(at: theta) { model.logJointUnconstrainedByDifferentiation($0, observations: observations) }
    }
    return (value, { v in v.isSymbolicZero ? .zero : gradient * v.expandingShape(at: 1) })
}

extension ProbabilisticModel {
    /// `logJointUnconstrainedByDifferentiation`'s value [S] and gradient in θ [S, D], with automatic
    /// differentiation confined to what the model's author wrote: the likelihood and the priors that depend on
    /// other latents. The map onto the supports, its log-Jacobian and the priors with fixed parameters (one small
    /// pullback each) are chained by hand. Every particle's value depends on its own row only. Nil where the map
    /// onto the supports is not elementwise (a simplex).
    func logJointUnconstrainedByParts(_ theta: Tensor<Double>, observations: [Int]?) -> (value: Tensor<Double>, gradient: Tensor<Double>)? {
        let space = latentSpace
        guard let maps = space.coordinateMaps else { return nil }
        let latents = self.latents
        let scale = observations.map { Double(observationCount) / Double($0.count) }
        // With real latents only, z is θ itself: nothing to copy, no log-Jacobian, no chain rule.
        let identity = space.mapsAreIdentity
        let (constrained, chain) = identity
            ? (ConstrainedValues(values: theta, logJacobian: .zero), TensorElements())
            : constrainElementwiseValue(theta, maps)
        let (s, d) = (theta.shape[0], theta.shape[1])
        // The reads z["name"] put their gradients straight into the sink's [S, C] buffer during the pullback.
        let sink = LatentGradientSink(for: constrained.values)
        // Without priors that depend on other latents the closure has no loop, for which differentiation would
        // allocate a context at every step.
        let (modelValue, pullback) = sink.finding {
            latents.contains(where: { $0.fixed == nil })
            ? valueWithPullback(at: constrained.values) { values -> Tensor<Double> in
                let z = Latents(values: values, space: space)
                var total = logLikelihoodPerParticle(z, observations: observations)
                if let scale { total = total * scale }
                for i in 0..<latents.count where latents[i].fixed == nil { total = total + latents[i].logPrior(z) }
                return total
            }
            : observations == nil
            // On all observations the closure holds the model alone, which serves as its context: with more to
            // hold, each of the functions differentiation makes of it allocates a context of its own at every step.
            ? valueWithPullback(at: constrained.values) { values -> Tensor<Double> in
                logLikelihoodPerParticle(Latents(values: values, space: latentSpace), observations: nil)
            }
            : valueWithPullback(at: constrained.values) { values -> Tensor<Double> in
                let total = logLikelihoodPerParticle(Latents(values: values, space: space), observations: observations)
                guard let scale else { return total }
                return total * scale
            }
        }
        let seed = Tensor<Double>(ones: modelValue.shape)
        var value = Self.perParticle(consume modelValue, s)
        sink.isCollecting = true
        let direct = pullback(seed)
        sink.isCollecting = false
        // The gradient is taken over from the sink rather than kept there, so that it is written in place below.
        var gradient = sink.take(adding: direct)
        value.withUnsafeMutableBufferPointer { value in
            gradient.withUnsafeMutableBufferPointer { gradient in
                constrained.values.scalars.withUnsafeBufferPointer { z in
                    // The log-Jacobian first, as a sum of tensors would add it, then the priors.
                    if !identity {
                        constrained.logJacobian.scalars.withUnsafeBufferPointer { logJacobian in
                            for p in 0..<s { value[p] += logJacobian[p] }
                        }
                    }
                    for i in latents.indices {
                        guard let fixed = latents[i].fixed else { continue }
                        let (offset, size) = (space.constrainedOffsets[i], space.variables[i].size)
                        // Priors written out by hand read and write their columns in place; the others see a slice.
                        if let score = fixed.score {
                            score.accumulate(z, stride: d, offset: offset, particles: s, value: value, gradient: gradient)
                            continue
                        }
                        let values = Latents(values: constrained.values, space: space)[latents[i].name]
                        let (prior, priorGradient) = fixed.logDensityWithGradient(values)
                        for p in 0..<s {
                            value[p] += prior.scalars[p]
                            for j in 0..<size { gradient[p * d + offset + j] += priorGradient.scalars[p * size + j] }
                        }
                    }
                    // Through the map θ ↦ z: the chain rule, plus the log-Jacobian's own derivative.
                    if identity { return }
                    withDerivativesAndSlopes(chain) { derivatives, slopes in
                        for i in 0..<(s * d) { gradient[i] = gradient[i] * derivatives[i] + slopes[i] }
                    }
                }
            }
        }
        // No array literal for the shape: it would allocate an array.
        return (Tensor(shape: TensorShape(repeating: s, count: 1), scalars: value), Tensor(shape: theta.shape, scalars: gradient))
    }

    /// The model's value as one number per particle, [S], taken over (a likelihood that gave fewer dimensions is
    /// broadcast, as adding the log-Jacobian did).
    private static func perParticle(_ value: consuming Tensor<Double>, _ s: Int) -> TensorElements<Double> {
        value.shape.rank == 1 && value.shape[0] == s
            ? value.scalars : value.broadcasted(to: TensorShape(repeating: s, count: 1)).scalars
    }
}

/// A model written as a value rather than a type: its latents and a closure for the log likelihood.
///
/// ```swift
/// let model = Model([Latent("mu", Normal(0, 10)), Latent("sigma", HalfNormal(5))]) { z in
///     Normal(z["mu"], z["sigma"]).logProbability(of: y)
/// }
/// ```
///
/// For minibatches, give `observationCount` and a closure that also receives the indices of the batch (nil for
/// all observations): `Model(latents, observationCount: n) { z, batch in … y.rows(batch) … }`.
public struct Model: ProbabilisticModel {
    public var latents: [Latent] { storage.latents }
    public var latentSpace: LatentSpace { storage.latentSpace }
    public var observationCount: Int { storage.observationCount }
    var likelihood: @differentiable(reverse) (Latents, @noDerivative [Int]?) -> Tensor<Double> { storage.likelihood }

    /// The model's parts behind one reference: a fit copies the model into several closures at every step.
    final class Storage {
        let latents: [Latent]
        let latentSpace: LatentSpace
        let observationCount: Int
        let likelihood: @differentiable(reverse) (Latents, @noDerivative [Int]?) -> Tensor<Double>
        /// The likelihood of all observations: the closure as written when it takes the latents alone, which the
        /// derivative of `logLikelihood` then calls directly (through `likelihood`, a wrapper, each step's derivative
        /// went through one more layer of pullbacks: a context allocated, thunks and references counted).
        let likelihoodOfLatents: @differentiable(reverse) (Latents) -> Tensor<Double>

        init(
            _ latents: [Latent], observationCount: Int,
            likelihood: @escaping @differentiable(reverse) (Latents, @noDerivative [Int]?) -> Tensor<Double>
        ) {
            self.latents = latents
            self.latentSpace = LatentSpace(latents)
            self.observationCount = observationCount
            self.likelihood = likelihood
            self.likelihoodOfLatents = { z in likelihood(z, nil) }
        }

        init(_ latents: [Latent], likelihood: @escaping @differentiable(reverse) (Latents) -> Tensor<Double>) {
            self.latents = latents
            self.latentSpace = LatentSpace(latents)
            self.observationCount = 0
            self.likelihood = { z, _ in likelihood(z) }
            self.likelihoodOfLatents = likelihood
        }
    }
    let storage: Storage

    /// A model whose likelihood is evaluated on all observations at every step.
    public init(
        _ latents: [Latent], file: StaticString = #fileID, line: UInt = #line,
        likelihood: @escaping @differentiable(reverse) (Latents) -> Tensor<Double>
    ) {
        Model.requireLatents(latents, file, line)
        storage = Storage(latents, likelihood: likelihood)
    }

    /// A model that can be subsampled: the closure receives the minibatch's indices into 0..<observationCount.
    public init(
        _ latents: [Latent], observationCount: Int, file: StaticString = #fileID, line: UInt = #line,
        likelihood: @escaping @differentiable(reverse) (Latents, @noDerivative [Int]?) -> Tensor<Double>
    ) {
        Model.requireLatents(latents, file, line)
        require(observationCount >= 1, "Model: observationCount must be at least 1, got \(observationCount)", file: file, line: line)
        storage = Storage(latents, observationCount: observationCount, likelihood: likelihood)
    }

    @differentiable(reverse)
    public func logLikelihood(_ z: Latents, observations: [Int]?) -> Tensor<Double> {
        likelihood(z, observations)
    }

    @derivative(of: logLikelihood)
    @usableFromInline
    func vjpLogLikelihood(_ z: Latents, observations: [Int]?) -> (value: Tensor<Double>, pullback: (Tensor<Double>) -> Latents.TangentVector) {
        if observations == nil { return valueWithPullback(at: z, of: storage.likelihoodOfLatents) }
        let likelihood = storage.likelihood
        return valueWithPullback(at: z) { z in likelihood(z, observations) }
    }

    /// Stops when there is nothing to infer, or when two latents share a name (`z["name"]` could not tell them apart).
    static func requireLatents(_ latents: [Latent], _ file: StaticString, _ line: UInt) {
        require(!latents.isEmpty, "Model: no latent variables; declare at least one Latent with its prior", file: file, line: line)
        if let name = LatentSpace.repeatedName(latents.map(\.name)) {
            usageFailure("Model: two latents are named '\(name)'", file: file, line: line)
        }
    }
}

/// A model whose posterior and evidence are known in closed form.
public protocol ConjugateModel: ProbabilisticModel {
    /// log p(x), exactly.
    var exactLogEvidence: Double { get }
    /// The exact posterior mean and standard deviation of each constrained coordinate, by variable name.
    var exactPosterior: [String: (mean: [Double], standardDeviation: [Double])] { get }
    /// The exact posterior as a multivariate normal over the unconstrained vector, when it is one.
    var exactGaussianPosterior: MultivariateNormal<Double>? { get }
}

extension ConjugateModel {
    public var exactGaussianPosterior: MultivariateNormal<Double>? { nil }
}

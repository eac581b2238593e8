import _Differentiation
import VariationalCore
import VariationalDistributions

/// A Bayesian model written as Swift code: latent variables with their supports, a log prior and a log
/// likelihood over observations, both for a batch of particles.
///
/// `logLikelihood(_:observations:)` receives the indices of a minibatch (or nil for all observations); the
/// inference engine scales it by N/B. See `Examples/CustomModel.swift` in the repository for a model to copy.
public protocol ProbabilisticModel {
    /// The latent variables, in the order of the flat parameter vector.
    var latentSpace: LatentSpace { get }
    /// N, the number of observations (minibatches are drawn from 0..<N).
    var observationCount: Int { get }

    /// log p(z), one value per particle: shape [S].
    @differentiable(reverse)
    func logPrior(_ z: Latents) -> Tensor<Double>

    /// log p(x_B | z) summed over the observations in `observations` (all when nil), shape [S].
    @differentiable(reverse)
    func logLikelihood(_ z: Latents, observations: [Int]?) -> Tensor<Double>

    /// The prior as independent normals over the unconstrained coordinates, when it is one (for the
    /// analytic-KL estimator); nil otherwise.
    var unconstrainedGaussianPrior: (mean: Tensor<Double>, standardDeviation: Tensor<Double>)? { get }

    /// Draws of new data from p(x̃ | z) for each particle, shape [S, …], if the model can simulate.
    func posteriorPredictive<G: RandomNumberGenerator>(_ z: Latents, using generator: inout G) -> Tensor<Double>?

    /// The prior's marginal log density of one element of a latent variable, where it is known (for plots).
    func priorMarginalLogDensity(_ variable: String, element: Int, at value: Double) -> Double?

    /// A hand-written log joint with its gradient, for models that want to spare the step the cost of automatic
    /// differentiation: at unconstrained particles θ [S, D], the value of `logJointUnconstrained(_:observations:)`
    /// ([S]: log prior + N/B-scaled log likelihood + log-Jacobian) and its gradient in θ ([S, D]). Nil (the
    /// default) lets automatic differentiation derive the gradient from `logPrior` and `logLikelihood`.
    func logJointUnconstrainedWithGradient(_ theta: Tensor<Double>, observations: [Int]?) -> (value: Tensor<Double>, gradient: Tensor<Double>)?
}

extension ProbabilisticModel {
    public var unconstrainedGaussianPrior: (mean: Tensor<Double>, standardDeviation: Tensor<Double>)? { nil }

    public func posteriorPredictive<G: RandomNumberGenerator>(_ z: Latents, using generator: inout G) -> Tensor<Double>? {
        nil
    }

    public func priorMarginalLogDensity(_ variable: String, element: Int, at value: Double) -> Double? { nil }

    public func logJointUnconstrainedWithGradient(_ theta: Tensor<Double>, observations: [Int]?) -> (value: Tensor<Double>, gradient: Tensor<Double>)? {
        nil
    }

    /// log p(x, z(θ)) + log |det ∂z/∂θ| for unconstrained particles θ [S, D], with the likelihood of a minibatch
    /// scaled by N/B; shape [S]. Its derivative is the model's hand-written gradient when it gives one.
    @differentiable(reverse)
    public func logJointUnconstrained(_ theta: Tensor<Double>, observations: [Int]? = nil) -> Tensor<Double> {
        logJointOfModel(self, theta, observations)
    }

    /// `logJointUnconstrained` as automatic differentiation sees it, composed from `logPrior`, `logLikelihood`
    /// and the latent space's log-Jacobian (what a hand-written gradient is tested against).
    @differentiable(reverse)
    public func logJointUnconstrainedByDifferentiation(_ theta: Tensor<Double>, observations: [Int]? = nil) -> Tensor<Double> {
        let space = withoutDerivative(at: latentSpace)
        let (values, logJacobian) = space.constrain(theta)
        let z = Latents(values: values, space: space)
        var likelihood = logLikelihood(z, observations: observations)
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
    guard let (value, gradient) = model.logJointUnconstrainedWithGradient(theta, observations: observations) else {
        return valueWithPullback(at: theta) { model.logJointUnconstrainedByDifferentiation($0, observations: observations) }
    }
    return (value, { v in v.isSymbolicZero ? .zero : gradient * v.expandingShape(at: 1) })
}

/// A model given as a plain log-joint function of the constrained latents (no minibatching).
public struct LogJointModel: ProbabilisticModel {
    public let latentSpace: LatentSpace
    public let logJoint: @differentiable(reverse) (Latents) -> Tensor<Double>

    public init(latents: [LatentVariable], logJoint: @escaping @differentiable(reverse) (Latents) -> Tensor<Double>) {
        self.latentSpace = LatentSpace(latents)
        self.logJoint = logJoint
    }

    public var observationCount: Int { 0 }

    @differentiable(reverse)
    public func logPrior(_ z: Latents) -> Tensor<Double> { logJoint(z) }

    @differentiable(reverse)
    public func logLikelihood(_ z: Latents, observations: [Int]?) -> Tensor<Double> {
        require(observations == nil, "LogJointModel: a plain log joint cannot be subsampled")
        return z.values.sum(squeezingAxes: 1) * 0
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

import _Differentiation
import VariationalCore
import VariationalOptimizers

/// Stochastic optimisation of an ELBO estimator over a variational problem, one step at a time, with all of its
/// state in plain view: the problem (every trained parameter), the estimator (its baseline, its KL weight), the
/// optimiser (its moments) and the count of steps. SVI and VAE training are loops around `step(on:using:)`.
public struct Trainer<Problem: VariationalProblem, Estimator: ELBOEstimator> {
    /// The problem with its current parameters.
    public var problem: Problem
    public var estimator: Estimator
    /// Any optimiser of `VariationalOptimizers`.
    public var optimizer: Optimizer
    /// Accepted steps so far.
    public internal(set) var iteration = 0

    /// The outcome of one step.
    public struct Step {
        /// The loss (the negative bound, averaged over the batch's datapoints) at the parameters before the step.
        public var loss: Double
        /// False when the loss or the gradient was not finite: the parameters and the optimiser are then untouched.
        public var accepted: Bool
        /// The noise the step drew (to diagnose a rejected step).
        public var noise: Tensor<Problem.Scalar>
    }

    /// Stops with the estimator's reason when it cannot work on this problem: call
    /// `estimator.incompatibility(with:)` first to handle that as an error.
    public init(problem: Problem, estimator: Estimator, optimizer: Optimizer) {
        if let reason = estimator.incompatibility(with: problem) { fatalError(reason) }
        self.problem = problem
        self.estimator = estimator
        self.optimizer = optimizer
    }

    /// Draws noise for `batch`, computes the loss and its gradient, and moves the parameters when both are finite.
    @discardableResult
    public mutating func step<G: RandomNumberGenerator>(on batch: Problem.Batch, using generator: inout G) -> Step {
        let noise = problem.sampleNoise(particles: estimator.particleCount, batch: batch, using: &generator)
        let (loss, gradient, terms) = estimator.lossAndGradient(problem: problem, noise: noise, batch: batch)
        guard loss.isFinite, optimizer.updateIfFinite(&problem, along: consume gradient) else {
            return Step(loss: loss, accepted: false, noise: noise)
        }
        if let terms { estimator.observe(terms) }
        iteration += 1
        return Step(loss: loss, accepted: true, noise: noise)
    }
}

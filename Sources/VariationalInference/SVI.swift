import _Differentiation
import Foundation
import VariationalCore
import VariationalOptimizers

/// Settings of stochastic variational inference.
public struct SVIConfiguration: Sendable {
    /// The most iterations of the main run (adaptation not counted).
    public var maxIterations = 10_000
    /// Adam's learning rate; nil chooses one among `candidateLearningRates` by a short trial of each.
    public var learningRate: Double? = nil
    public var candidateLearningRates: [Double] = [0.3, 0.1, 0.03, 0.01]
    /// Iterations of each trial when choosing the learning rate.
    public var adaptationIterations = 100
    /// Stop when the relative change between means of consecutive windows of ELBO estimates is below this.
    public var tolerance = 1e-4
    /// The window of iterations for the stopping rule (and for iterate averaging).
    public var window = 100
    /// After the stopping rule first holds, halve the learning rate this many times, waiting for it again each time.
    public var annealingSteps = 5
    /// Average the parameters over the last stage of the annealing (Polyak–Ruppert), which removes most of
    /// Adam's jitter.
    public var averageLastWindow = true
    /// Minibatch size, or nil for all observations.
    public var batchSize: Int? = nil
    /// Consecutive rejected steps (non-finite loss or gradient) after which the fit stops.
    public var maxConsecutiveFailures = 20

    public init() {}
}

/// The outcome of a fit.
public struct SVIResult<Family: VariationalFamily> {
    /// The fitted family (iterate-averaged when configured).
    public var family: Family
    /// Main-run iterations made.
    public var iterations: Int
    /// True when the stopping rule held (rather than the iteration cap or repeated failures).
    public var converged: Bool
    /// The learning rate chosen or given.
    public var learningRate: Double
    /// The per-iteration estimates of the bound (negated losses).
    public var trace: [Double]
    /// Warnings and the reason for stopping early, if any.
    public var messages: [String]
}

/// Stochastic variational inference: maximises an ELBO estimator over a variational family with Adam.
/// The state is explicit: `init`, then `step` as often as wanted, or `run` for the stopping rule.
public struct SVI<Model: ProbabilisticModel, Family: VariationalFamily, Estimator: ELBOEstimator> {
    /// The training state: the family, the estimator and the optimiser (Adam).
    public private(set) var trainer: Trainer<GlobalLatentProblem<Model, Family>, Estimator>
    public let configuration: SVIConfiguration
    public private(set) var trace: [Double] = []
    public private(set) var messages: [String] = []
    private var consecutiveFailures = 0

    /// Stops with a message when the estimator cannot work with this model and family (check
    /// `estimator.incompatibility(model:family:)` first to handle that as an error).
    public init(model: Model, family: Family, estimator: Estimator, configuration: SVIConfiguration = SVIConfiguration(), learningRate: Double = 0.01) {
        if family.dimension != model.latentSpace.dimension {
            fatalError("SVI: family of dimension \(family.dimension) for a model of dimension \(model.latentSpace.dimension)")
        }
        self.trainer = Trainer(
            problem: GlobalLatentProblem(model: model, family: family), estimator: estimator,
            optimizer: Adam(learningRate: configuration.learningRate ?? learningRate))
        self.configuration = configuration
    }

    public var model: Model { trainer.problem.model }
    /// The current family.
    public var family: Family {
        get { trainer.problem.family }
        set { trainer.problem.family = newValue }
    }
    public var estimator: Estimator { trainer.estimator }
    public var optimizer: Optimizer { trainer.optimizer }
    /// Accepted steps of the main run.
    public var iteration: Int { trainer.iteration }

    /// One step: returns the bound's estimate, or nil when the step was rejected (non-finite loss or gradient;
    /// the learning rate is then halved and the reason recorded in `messages`).
    @discardableResult
    public mutating func step<G: RandomNumberGenerator>(using generator: inout G) -> Double? {
        let observations = minibatch(using: &generator)
        let outcome = trainer.step(on: observations, using: &generator)
        guard outcome.accepted else {
            consecutiveFailures += 1
            let reason = diagnose(noise: outcome.noise, observations: observations, loss: outcome.loss)
            let rate = optimizer.learningRate / 2
            optimizer.schedule = ConstantRate(rate)
            messages.append("iteration \(iteration + 1): step rejected, \(reason); learning rate halved to \(rate)")
            return nil
        }
        consecutiveFailures = 0
        trace.append(-outcome.loss)
        return -outcome.loss
    }

    func minibatch<G: RandomNumberGenerator>(using generator: inout G) -> [Int]? {
        guard let size = configuration.batchSize, size < model.observationCount else { return nil }
        var indices = Array(0..<model.observationCount)
        for i in 0..<size {
            let j = i + Int(generator.next() % UInt64(indices.count - i))
            indices.swapAt(i, j)
        }
        return Array(indices[0..<size]).sorted()
    }

    /// Names what went non-finite: a latent variable out of range, or a term of the ELBO.
    func diagnose(noise: Tensor<Double>, observations: [Int]?, loss: Double) -> String {
        let (theta, logQ) = family.sampleWithLogDensity(fromNoise: noise)
        if let bad = theta.scalars.firstIndex(where: { !$0.isFinite }) {
            return "the variational parameters give a non-finite value of \(coordinateName(bad % model.latentSpace.dimension))"
        }
        let space = model.latentSpace
        let (values, logJacobian) = space.constrain(theta)
        for (i, v) in space.variables.enumerated() {
            let start = space.constrainedOffsets[i]
            for s in 0..<values.shape[0] {
                for j in 0..<v.size where !values[s, start + j].isFinite {
                    return "latent '\(v.name)' overflowed to \(values[s, start + j]) in constrained space"
                }
            }
        }
        let z = Latents(values: values, space: space)
        let terms: [(String, Tensor<Double>)] = [
            ("the log prior", model.logPrior(z)), ("the log likelihood", model.logLikelihood(z, observations: observations)),
            ("the log-Jacobian", logJacobian), ("log q", logQ),
        ]
        for (name, value) in terms where value.scalars.contains(where: { !$0.isFinite }) {
            return "\(name) is \(value.scalars.first { !$0.isFinite }!)"
        }
        return loss.isFinite ? "the gradient is not finite" : "the loss is \(loss)"
    }

    func coordinateName(_ index: Int) -> String {
        let space = model.latentSpace
        let i = (space.unconstrainedOffsets.lastIndex { $0 <= index }) ?? 0
        let v = space.variables[i]
        return v.unconstrainedSize > 1 ? "\(v.name)[\(index - space.unconstrainedOffsets[i])]" : v.name
    }

    /// Runs to the stopping rule or the iteration cap, after choosing a learning rate if none was given.
    public mutating func run<G: RandomNumberGenerator>(
        using generator: inout G, progress: ((Int, Double) -> Void)? = nil
    ) -> SVIResult<Family> {
        if configuration.learningRate == nil {
            trainer.optimizer = Adam(learningRate: chooseLearningRate(using: &generator))
        }
        let chosenRate = optimizer.learningRate
        let window = Swift.max(configuration.window, 1)
        var previousMean: Double?
        var annealingLeft = configuration.annealingSteps
        var converged = false
        let average = ParameterAverage<Family>()
        var structure: Family.TangentVector?
        while iteration < configuration.maxIterations {
            if step(using: &generator) == nil {
                if consecutiveFailures >= configuration.maxConsecutiveFailures {
                    messages.append("stopped after \(consecutiveFailures) consecutive rejected steps; returning the last good state")
                    break
                }
                continue
            }
            if configuration.averageLastWindow {
                if structure == nil { structure = zeroTangent() }
                average.add(family, structure: structure!)
            }
            if let progress, iteration % 50 == 0 { progress(iteration, trace.last!) }
            guard iteration % window == 0 else { continue }
            let mean = trace.suffix(window).reduce(0, +) / Double(window)
            defer { previousMean = mean }
            if let previous = previousMean,
               Swift.abs(mean - previous) / Swift.max(1, Swift.abs(previous)) < configuration.tolerance {
                if annealingLeft == 0 {
                    converged = true
                    break
                }
                annealingLeft -= 1
                optimizer.schedule = ConstantRate(optimizer.learningRate / 2)
                // Each learning rate is a stage; the average covers the latest stage only.
                average.reset()
            } else if annealingLeft == configuration.annealingSteps {
                // Before the first stage ends the iterates still travel: keep only the latest window.
                average.reset()
            }
        }
        var result = family
        if configuration.averageLastWindow, let structure, average.count > 0 {
            average.write(into: &result, structure: structure)
        }
        return SVIResult(
            family: result, iterations: iteration, converged: converged, learningRate: chosenRate, trace: trace,
            messages: messages)
    }

    /// A tangent of the family's type, for walking its tensors in a fixed order (its values do not matter).
    func zeroTangent() -> Family.TangentVector {
        var generator = SeededGenerator(seed: 0)
        let noise = family.sampleNoise(count: 1, using: &generator)
        return gradient(at: family) { f in f.sample(fromNoise: noise).sum() }
    }

    /// Tries each candidate rate for `adaptationIterations` steps from the initial family and keeps the one whose
    /// final ELBO (estimated with 200 particles of fixed noise) is highest.
    mutating func chooseLearningRate<G: RandomNumberGenerator>(using generator: inout G) -> Double {
        var evaluationGenerator = SeededGenerator(seed: generator.next())
        let evaluationNoise = family.sampleNoise(count: 200, using: &evaluationGenerator)
        var best: (rate: Double, elbo: Double)?
        for rate in configuration.candidateLearningRates {
            var trial = SVI(model: model, family: family, estimator: estimator, configuration: configuration, learningRate: rate)
            var trialGenerator = SeededGenerator(seed: generator.next())
            for _ in 0..<configuration.adaptationIterations { trial.step(using: &trialGenerator) }
            let values = perParticleELBO(model: model, family: trial.family, noise: evaluationNoise, observations: nil)
            let elbo = values.mean().scalar
            if elbo.isFinite && elbo > (best?.elbo ?? -.infinity) { best = (rate, elbo) }
        }
        guard let chosen = best else {
            messages.append("no candidate learning rate gave a finite ELBO; using the smallest")
            return configuration.candidateLearningRates.min() ?? 0.01
        }
        return chosen.rate
    }
}

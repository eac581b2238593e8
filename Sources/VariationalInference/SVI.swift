import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions
import VariationalOptimizers

/// Settings of stochastic variational inference.
///
/// The stopping rule. The run goes in stages of a constant learning rate. At the end of every `window` iterations
/// the parameters averaged over that window are scored with a fixed set of `checkParticles` draws of noise (common
/// random numbers, on a fixed subset of the observations when minibatching), so that the difference between two
/// scores measures how far q moved up the ELBO, free of most of the Monte-Carlo noise of the training estimates.
/// A stage ends when the rise from the window three windows back to the latest one is below two of its standard
/// errors (taken over the shared draws) or below `tolerance` relative to the ELBO. Then the learning rate is halved
/// and a new stage begins, of at least four windows; after `annealingSteps` halvings the run has converged, and the
/// parameters are averaged over the last stage. That last stage counts only if the averaged q is at a stationary
/// point: no coordinate of the estimator's gradient, from `stationarityParticles` fresh draws, is more than
/// `stationarityThreshold` standard errors from zero; otherwise the annealing steps back up (one stage more after
/// each failed check) and goes on. What "converged" guarantees: at the smallest learning rate, three windows of
/// steps raised the ELBO of the averaged parameters by less than `tolerance` relative or by an amount
/// indistinguishable from zero, and its gradient there is indistinguishable from zero. It does not guarantee the
/// global optimum (compare seeds), nor that q fits p well (see k̂). A run that reaches `maxIterations` first reports
/// converged = false and says at which stage it was.
public struct SVIConfiguration: Sendable {
    /// The most gradient steps in all, the learning-rate trials included.
    public var maxIterations = 20_000
    /// Adam's learning rate; nil chooses one among `candidateLearningRates` by a short trial of each.
    public var learningRate: Double? = nil
    public var candidateLearningRates: [Double] = [0.1, 0.03, 0.01]
    /// Iterations of each trial when choosing the learning rate.
    public var adaptationIterations = 100
    /// A stage also ends when the window means differ by less than this relative change (noise-free estimates).
    public var tolerance = 1e-4
    /// The window of iterations for the stopping rule (and for iterate averaging).
    public var window = 100
    /// Draws of noise, fixed for the whole run, that score the parameters at the end of each window.
    public var checkParticles = 32
    /// Single-particle gradients that test, when the last stage ends, whether q is at a stationary point.
    public var stationarityParticles = 256
    /// The stopping rule holds only if no coordinate of the ELBO's gradient is more than this many standard errors
    /// from zero; otherwise the annealing steps back up.
    public var stationarityThreshold = 4.0
    /// After the stopping rule first holds, halve the learning rate this many times, waiting for it again each time.
    public var annealingSteps = 5
    /// Average the parameters over the last stage of the annealing (Polyak–Ruppert), which removes most of
    /// Adam's jitter.
    public var averageLastWindow = true
    /// Minibatch size, or nil for all observations.
    public var batchSize: Int? = nil
    /// Consecutive rejected steps (non-finite loss or gradient) after which the fit stops.
    public var maxConsecutiveFailures = 20
    /// Rejected steps halve the learning rate down to this, at which the fit stops.
    public var minimumLearningRate = 1e-10

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
    /// Whether a rejected step can return to the family at which the last accepted step's loss was finite, since a
    /// step is rejected for what the previous update did (a learning rate too large can leave the scale infinite,
    /// and then no smaller rate from there helps). The optimiser keeps those values (`keepsPreviousParameters`).
    private var canRollBack = false

    /// Stops with a message when the estimator cannot work with this model and family (check
    /// `estimator.incompatibility(model:family:)` first to handle that as an error).
    public init(model: Model, family: Family, estimator: Estimator, configuration: SVIConfiguration = SVIConfiguration(), learningRate: Double = 0.01) {
        if family.dimension != model.latentSpace.dimension {
            fatalError("SVI: family of dimension \(family.dimension) for a model of dimension \(model.latentSpace.dimension)")
        }
        if let size = configuration.batchSize, size < 1 {
            usageFailure("SVI: the minibatch size (SVIConfiguration.batchSize) must be at least 1, got \(size)")
        }
        self.trainer = Trainer(
            problem: GlobalLatentProblem(model: model, family: family), estimator: estimator,
            optimizer: Adam(learningRate: configuration.learningRate ?? learningRate))
        trainer.optimizer.keepsPreviousParameters = true
        self.configuration = configuration
    }

    public var model: Model { trainer.problem.model }
    /// The current family.
    public var family: Family {
        get { trainer.problem.family }
        set {
            trainer.problem.family = newValue
            canRollBack = false
        }
    }
    public var estimator: Estimator { trainer.estimator }
    public var optimizer: Optimizer { trainer.optimizer }
    /// Accepted steps of the main run.
    public var iteration: Int { trainer.iteration }

    /// One step: returns the bound's estimate, or nil when the step was rejected (non-finite loss or gradient;
    /// the learning rate is then halved and the reason recorded in `messages`).
    @discardableResult
    // Specialised for models written with `Model` and the Gaussian families, the common case: the generic step
    // otherwise runs every layer below it (problem, estimator, automatic differentiation of the model) unspecialised
    // when it is called from another module.
    @_specialize(where Model == VariationalInference.Model, Family == MeanFieldGaussian, Estimator == ReparameterizedELBO, G == SeededGenerator)
    @_specialize(where Model == VariationalInference.Model, Family == FullRankGaussian, Estimator == ReparameterizedELBO, G == SeededGenerator)
    public mutating func step<G: RandomNumberGenerator>(using generator: inout G) -> Double? {
        let observations = minibatch(using: &generator)
        let outcome = trainer.step(on: observations, using: &generator)
        guard outcome.accepted else {
            consecutiveFailures += 1
            let reason = diagnose(noise: outcome.noise, observations: observations, loss: outcome.loss)
            let rate = Swift.max(optimizer.learningRate / 2, configuration.minimumLearningRate)
            optimizer.schedule = ConstantRate(rate)
            var message = "iteration \(iteration + 1): step rejected, \(reason); learning rate halved to \(rate)"
            if canRollBack, trainer.optimizer.restorePreviousParameters(&trainer.problem) {
                message += ", from the parameters before the last step"
            }
            canRollBack = false
            messages.append(message)
            return nil
        }
        canRollBack = true
        consecutiveFailures = 0
        trace.append(-outcome.loss)
        return -outcome.loss
    }

    func minibatch<G: RandomNumberGenerator>(using generator: inout G) -> [Int]? {
        guard let size = configuration.batchSize, size < model.observationCount else { return nil }
        return randomObservations(size, using: &generator)
    }

    /// `count` distinct observation indices drawn uniformly, sorted, in time and memory in proportion to `count`
    /// whatever N is (a shuffle of all N indices cost 8 MB and a pass over them per step at N = 10⁶).
    func randomObservations<G: RandomNumberGenerator>(_ count: Int, using generator: inout G) -> [Int] {
        let words = (0..<count).map { _ in generator.next() }
        return distinctSortedIndices(count, below: model.observationCount, words: words)
    }

    /// Names what went non-finite: a latent variable out of range, or a term of the ELBO.
    func diagnose(noise: Tensor<Double>, observations: [Int]?, loss: Double) -> String {
        let (theta, logQ) = family.sampleWithLogDensity(fromNoise: noise)
        if let bad = theta.scalars.firstIndex(where: { !$0.isFinite }) {
            return "the variational parameters give a non-finite value of \(coordinateName(bad % model.latentSpace.dimension))"
        }
        let space = model.latentSpace
        let constrained = space.constrain(theta)
        let (values, logJacobian) = (constrained.values, constrained.logJacobian)
        for (i, v) in space.variables.enumerated() {
            let start = space.constrainedOffsets[i]
            for s in 0..<values.shape[0] {
                for j in 0..<v.size where !values[s, start + j].isFinite {
                    return "latent '\(v.name)' overflowed to \(values[s, start + j]) in constrained space"
                }
            }
        }
        let z = Latents(values: values, space: space)
        for latent in model.latents {
            let prior = latent.logPrior(z)
            if let s = prior.scalars.firstIndex(where: { !$0.isFinite }) {
                let value = z[latent.name].reshaped(to: [values.shape[0], -1])
                let shown = (0..<value.shape[1]).prefix(4).map { "\(value[s, $0])" }.joined(separator: ", ")
                return "the log prior of latent '\(latent.name)' (support \(latent.support)) is \(prior.scalars[s]) at \(latent.name) = \(shown)"
            }
        }
        let terms: [(String, Tensor<Double>)] = [
            ("the log likelihood", model.logLikelihoodPerParticle(z, observations: observations)),
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

    /// Runs to the stopping rule or the iteration cap, after choosing a learning rate if none was given (see
    /// `SVIConfiguration` for the rule and what it guarantees).
    public mutating func run<G: RandomNumberGenerator>(
        using generator: inout G, progress: ((Int, Double) -> Void)? = nil
    ) -> SVIResult<Family> {
        var budget = configuration.maxIterations
        if configuration.learningRate == nil {
            let (rate, used) = chooseLearningRate(budget: budget, using: &generator)
            trainer.optimizer = Adam(learningRate: rate)
            budget -= used
        }
        let chosenRate = optimizer.learningRate
        let window = Swift.max(configuration.window, 1)
        var annealingLeft = configuration.annealingSteps
        var converged = false
        let average = ParameterAverage<Family>()
        let windowAverage = ParameterAverage<Family>()
        let structure = zeroTangent()
        var checkGenerator = SeededGenerator(seed: generator.next())
        let checkNoise = family.sampleNoise(count: Swift.max(configuration.checkParticles, 2), using: &checkGenerator)
        let checkObservations = checkSubset(using: &checkGenerator)
        let startScores = perParticleELBO(model: model, family: family, noise: checkNoise, observations: checkObservations).scalars.array
        // The scores of this stage's windows, the latest last.
        var stageScores: [[Double]] = []
        let firstIteration = iteration
        var failedChecks = 0
        var stoppedByFailures = false
        while iteration - firstIteration < budget {
            if step(using: &generator) == nil {
                if consecutiveFailures >= configuration.maxConsecutiveFailures {
                    messages.append("stopped after \(consecutiveFailures) consecutive rejected steps; returning the last good state")
                    stoppedByFailures = true
                    break
                }
                if optimizer.learningRate <= configuration.minimumLearningRate {
                    messages.append(
                        "stopped: rejected steps took the learning rate down to \(configuration.minimumLearningRate); returning the last good state")
                    stoppedByFailures = true
                    break
                }
                // The averages hold the iterate the step was rejected for: start them again.
                average.reset()
                windowAverage.reset()
                continue
            }
            if configuration.averageLastWindow { average.add(family, structure: structure) }
            windowAverage.add(family, structure: structure)
            if let progress, iteration % 50 == 0 { progress(iteration, trace.last!) }
            guard windowAverage.count == window else { continue }
            var averaged = family
            windowAverage.write(into: &averaged, structure: structure)
            windowAverage.reset()
            let scores = perParticleELBO(model: model, family: averaged, noise: checkNoise, observations: checkObservations).scalars.array
            stageScores.append(scores)
            guard stageScores.count >= Self.stageSpan else { continue }
            if Self.hasLevelled(from: stageScores[stageScores.count - Self.stageSpan], to: scores, tolerance: configuration.tolerance) {
                if annealingLeft == 0 {
                    var candidate = family
                    if configuration.averageLastWindow, average.count > 0 { average.write(into: &candidate, structure: structure) }
                    // Stationary when no coordinate is far from zero; a z-score that is NaN (no finite gradient to
                    // judge by) is not evidence of stationarity.
                    guard let (index, z, shapes) = largestGradientZScore(candidate, observations: checkObservations),
                          !(Swift.abs(z) <= configuration.stationarityThreshold)
                    else {
                        converged = true
                        break
                    }
                    // Levelled off but not at a stationary point: progress had become too slow to see. Step back
                    // up the annealing, one stage more after each failed check (back to the first rate at worst).
                    failedChecks += 1
                    annealingLeft = Swift.min(failedChecks, configuration.annealingSteps)
                    let rate = chosenRate / Foundation.pow(2, Double(configuration.annealingSteps - annealingLeft))
                    let gradient = z.isNaN
                        ? "no finite gradient came from \(configuration.stationarityParticles) draws"
                        : "its gradient in \(parameterName(index, shapes: shapes)) was \(String(format: "%.1f", z)) standard errors from zero"
                    messages.append(
                        "iteration \(iteration): the ELBO had levelled off but \(gradient); annealing resumed at learning rate \(rate)")
                    optimizer.schedule = ConstantRate(rate)
                    if annealingLeft == configuration.annealingSteps { trainer.estimator.annealingChanged(isAnnealing: false) }
                    stageScores = []
                    average.reset()
                    continue
                }
                if annealingLeft == configuration.annealingSteps { trainer.estimator.annealingChanged(isAnnealing: true) }
                annealingLeft -= 1
                optimizer.schedule = ConstantRate(optimizer.learningRate / 2)
                // Each learning rate is a stage; the average covers the latest stage only.
                stageScores = []
                average.reset()
            } else if annealingLeft == configuration.annealingSteps {
                // Before the first stage ends the iterates still travel: keep only the latest window.
                average.reset()
            }
        }
        if !converged && !stoppedByFailures {
            let stage = configuration.annealingSteps - annealingLeft
            messages.append(
                "reached the iteration cap (\(configuration.maxIterations)) before the stopping rule held: at stage \(stage + 1) of "
                    + "\(configuration.annealingSteps + 1), learning rate \(optimizer.learningRate), the ELBO was still rising "
                    + "detectably; raise --max-iterations or the learning rate")
        }
        var result = family
        if configuration.averageLastWindow, average.count > 0 {
            average.write(into: &result, structure: structure)
        }
        // A rate too large for the model can wander off to where the noise hides every rise and every gradient, and
        // the stopping rule then holds far from the optimum: a q worse than the one the run started from has not
        // converged, whatever the rule says. (Only for the ELBO: the optimum of another bound has a lower ELBO.)
        if estimator.maximizesTheELBO {
            let endScores = perParticleELBO(model: model, family: result, noise: checkNoise, observations: checkObservations).scalars.array
            if Self.hasFallen(from: startScores, to: endScores, tolerance: configuration.tolerance) {
                converged = false
                messages.append(
                    "the ELBO of the final q is below that of the q the run started from (\(Self.meanDescription(endScores)) against "
                        + "\(Self.meanDescription(startScores)) on the same draws): the learning rate, \(chosenRate), may be too large for this model")
            }
        }
        return SVIResult(
            family: result, iterations: iteration, converged: converged, learningRate: chosenRate, trace: trace,
            messages: messages)
    }

    /// The stage's test compares the latest window with the one `stageSpan − 1` windows before it, so that a slow,
    /// steady rise adds up over several windows before it is weighed against the noise (consecutive windows alone
    /// let a fit drifting along a noisy direction stop early); a stage thus lasts at least `stageSpan` windows.
    static var stageSpan: Int { 4 }

    /// The stage's test on two windows' scores under the same draws: their mean difference (the rise) is below two
    /// of its standard errors or below `tolerance` relative. Draws where either score is not finite are left out;
    /// with none left the test fails.
    static func hasLevelled(from previous: [Double], to current: [Double], tolerance: Double) -> Bool {
        guard let paired = pairedChange(from: previous, to: current) else { return false }
        return paired.change < Swift.max(2 * paired.standardError, tolerance * Swift.max(1, Swift.abs(paired.level)))
    }

    /// Whether the scores fell from `start` to `end` under the same draws, by more than `tolerance` relative: a draw
    /// finite at the start is not at the end; or the mean difference is negative and either below minus two of its
    /// standard errors or, since one far draw can hide a fall from that test, the median difference is negative too
    /// and more than n/2 + √n of the n draws fell (two standard deviations of a fair coin's count).
    static func hasFallen(from start: [Double], to end: [Double], tolerance: Double) -> Bool {
        if zip(start, end).contains(where: { $0.0.isFinite && !$0.1.isFinite }) { return true }
        guard let paired = pairedChange(from: start, to: end) else { return false }
        let negligible = tolerance * Swift.max(1, Swift.abs(paired.level))
        guard paired.change < -negligible else { return false }
        if paired.change < -2 * paired.standardError { return true }
        let differences = paired.differences.sorted()
        let n = Double(differences.count)
        let fell = differences.filter { $0 < 0 }.count
        return differences[differences.count / 2] < -negligible && Double(fell) > n / 2 + n.squareRoot()
    }

    /// Two sets of scores under the same draws, over the draws where both are finite: the differences `to − from`,
    /// their mean and its standard error, and the mean of `from` (the level the tolerance is relative to). Nil with
    /// fewer than two such draws.
    static func pairedChange(from: [Double], to: [Double]) -> (differences: [Double], change: Double, standardError: Double, level: Double)? {
        let pairs = zip(from, to).filter { $0.0.isFinite && $0.1.isFinite }
        guard pairs.count >= 2 else { return nil }
        let differences = pairs.map { $0.1 - $0.0 }
        let (change, standardError) = meanAndStandardError(differences)
        return (differences, change, standardError, pairs.reduce(0) { $0 + $1.0 } / Double(pairs.count))
    }

    static func meanDescription(_ scores: [Double]) -> String {
        String(format: "%.6g", scores.reduce(0, +) / Double(Swift.max(scores.count, 1)))
    }

    /// The coordinate of the ELBO's gradient at `candidate` farthest from zero in standard errors, estimated from
    /// independent gradients of the training estimator (as many draws as make `stationarityParticles` particles),
    /// nil when every coordinate's mean is negligible, z = NaN when fewer than two draws gave a finite gradient, with
    /// the shapes of the tensors the flat index runs over. At a stationary point every coordinate's mean is zero; the
    /// estimator's own gradient is used because sticking the landing measures it far more sharply near p.
    func largestGradientZScore(_ candidate: Family, observations: [Int]?) -> (index: Int, z: Double, shapes: [TensorShape])? {
        var generator = SeededGenerator(seed: 0x5EED)
        var problem = trainer.problem
        problem.family = candidate
        let estimator = trainer.estimator
        let draws = Swift.max(configuration.stationarityParticles / estimator.particleCount, 16)
        var sums: [Double] = []
        var squares: [Double] = []
        var shapes: [TensorShape] = []
        var used = 0
        var lossSum = 0.0
        for _ in 0..<draws {
            let noise = problem.sampleNoise(particles: estimator.particleCount, batch: observations, using: &generator)
            let (loss, g, _) = estimator.lossAndGradient(problem: problem, noise: noise, batch: observations)
            let flat: [Double]
            (flat, shapes) = flattened(g, of: problem)
            guard loss.isFinite, flat.allSatisfy(\.isFinite) else { continue }
            if sums.isEmpty { (sums, squares) = (.zeros(count: flat.count), .zeros(count: flat.count)) }
            for j in flat.indices { sums[j] += flat[j]; squares[j] += flat[j] * flat[j] }
            used += 1
            lossSum += loss
        }
        // Fewer than two finite draws say nothing about stationarity.
        guard used >= 2 else { return (0, .nan, shapes) }
        let n = Double(used)
        // Gradients below this are rounding (an exact fit's are 1e-16 with a bias of the same size).
        let negligible = 1e-9 * Swift.max(1, Swift.abs(lossSum / n))
        var best: (index: Int, z: Double, shapes: [TensorShape])?
        for j in sums.indices {
            let mean = sums[j] / n
            if Swift.abs(mean) <= negligible { continue }
            let variance = Swift.max(squares[j] / n - mean * mean, 0) * n / (n - 1)
            let standardError = (variance / n).squareRoot()
            // A coordinate whose every draw agrees (no noise at all) is measured exactly.
            let z = standardError > 0 ? mean / standardError : (mean == 0 ? 0 : mean > 0 ? .infinity : -.infinity)
            if Swift.abs(z) > Swift.abs(best?.z ?? -1) { best = (j, z, shapes) }
        }
        return best
    }

    /// A parameter of q by its place in the flat gradient: the mean, scale or a factor entry of a named latent
    /// coordinate when the tensor's shape says so (the Gaussian families), otherwise its number.
    func parameterName(_ index: Int, shapes: [TensorShape]) -> String {
        let d = model.latentSpace.dimension
        var start = 0
        for (t, shape) in shapes.enumerated() {
            let size = shape.elementCount
            defer { start += size }
            guard index < start + size else { continue }
            let k = index - start
            if shape == [d] { return t == 0 ? "the mean of \(coordinateName(k))" : "the scale of \(coordinateName(k))" }
            if shape.count == 2, shape[0] == d { return "q's factor entry (\(coordinateName(k / shape[1])), \(k % shape[1]))" }
            break
        }
        return "parameter \(index) of q"
    }

    /// A tangent's tensors in the value's order, one flat array, and their shapes.
    func flattened<Value: Differentiable>(_ tangent: Value.TangentVector, of value: Value) -> (values: [Double], shapes: [TensorShape]) {
        let collector = TangentCollector()
        var copy = value
        visitTensors(of: &copy, along: tangent, with: collector)
        return (collector.values, collector.shapes)
    }

    /// The observations that score the windows: all of them, or a fixed random subset of the minibatch size
    /// (at least 1,000) when minibatching.
    func checkSubset<G: RandomNumberGenerator>(using generator: inout G) -> [Int]? {
        guard let size = configuration.batchSize, Swift.max(size, 1000) < model.observationCount else { return nil }
        return randomObservations(Swift.max(size, 1000), using: &generator)
    }

    /// A tangent of the family's type, for walking its tensors in a fixed order (its values do not matter).
    func zeroTangent() -> Family.TangentVector {
        var generator = SeededGenerator(seed: 0)
        let noise = family.sampleNoise(count: 1, using: &generator)
        return gradient(at: family) { f in f.sample(fromNoise: noise).sum() }
    }

    /// Tries each candidate rate for `adaptationIterations` steps from the initial family and keeps the one whose
    /// final ELBO (estimated with 200 particles of fixed noise) is highest. The trials take at most a quarter of
    /// `budget` steps; below 10 steps per candidate there are no trials and the second candidate is used. Returns
    /// the rate and the steps spent.
    mutating func chooseLearningRate<G: RandomNumberGenerator>(budget: Int, using generator: inout G) -> (rate: Double, steps: Int) {
        let candidates = configuration.candidateLearningRates
        let trialSteps = Swift.min(configuration.adaptationIterations, budget / (4 * Swift.max(candidates.count, 1)))
        guard trialSteps >= 10 else {
            let rate = candidates.count > 1 ? candidates[1] : (candidates.first ?? 0.01)
            messages.append("learning rate \(rate) used without trials: the iteration cap leaves too few steps to compare rates")
            return (rate, 0)
        }
        return (chooseLearningRate(trialSteps: trialSteps, using: &generator), trialSteps * candidates.count)
    }

    mutating func chooseLearningRate<G: RandomNumberGenerator>(trialSteps: Int, using generator: inout G) -> Double {
        var evaluationGenerator = SeededGenerator(seed: generator.next())
        let evaluationNoise = family.sampleNoise(count: 200, using: &evaluationGenerator)
        var best: (rate: Double, elbo: Double)?
        for rate in configuration.candidateLearningRates {
            var trial = SVI(model: model, family: family, estimator: estimator, configuration: configuration, learningRate: rate)
            var trialGenerator = SeededGenerator(seed: generator.next())
            for _ in 0..<trialSteps { trial.step(using: &trialGenerator) }
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

/// Collects the offsets (a tangent's tensors) of a walk over a value's tensors.
private final class TangentCollector: TensorVisitor, @unchecked Sendable {
    var values: [Double] = []
    var shapes: [TensorShape] = []
    func visit(_ parameter: inout Tensor<Float>, offset: Tensor<Float>, id: Int) {
        values += offset.scalars.map(Double.init)
        shapes.append(parameter.shape)
    }
    func visit(_ parameter: inout Tensor<Double>, offset: Tensor<Double>, id: Int) {
        values += offset.scalars
        shapes.append(parameter.shape)
    }
}

/// `count` distinct indices below `n`, uniform over the subsets of that size, sorted, from `count` random words:
/// Floyd's algorithm over an open-addressing table, then a bucket sort (the indices are uniform, so buckets hold
/// one on average) finished by an insertion sort over the few inversions left inside buckets.
func distinctSortedIndices(_ count: Int, below n: Int, words: [UInt64]) -> [Int] {
    var capacity = 1
    while capacity < 2 * count { capacity <<= 1 }
    let mask = capacity - 1
    var table = [Int](repeating: -1, count: capacity)
    var chosen = [Int](repeating: 0, count: count)
    var filled = 0
    for (k, j) in ((n - count)..<n).enumerated() {
        var value = Int(words[k] % UInt64(j + 1))
        var slot = Int(truncatingIfNeeded: (UInt64(value) &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
        while table[slot] >= 0 {
            if table[slot] == value {
                // Taken already: j itself is new (every earlier draw was below j).
                value = j
                slot = Int(truncatingIfNeeded: (UInt64(value) &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
                continue
            }
            slot = (slot + 1) & mask
        }
        table[slot] = value
        chosen[filled] = value
        filled += 1
    }
    var starts = [Int](repeating: 0, count: count + 1)
    let scale = Double(count) / Double(n)
    for value in chosen { starts[Swift.min(count - 1, Int(Double(value) * scale)) + 1] += 1 }
    for b in 0..<count { starts[b + 1] += starts[b] }
    var sorted = [Int](repeating: 0, count: count)
    for value in chosen {
        let b = Swift.min(count - 1, Int(Double(value) * scale))
        sorted[starts[b]] = value
        starts[b] += 1
    }
    for i in 1..<Swift.max(count, 1) {
        let value = sorted[i]
        var k = i
        while k > 0 && sorted[k - 1] > value {
            sorted[k] = sorted[k - 1]
            k -= 1
        }
        sorted[k] = value
    }
    return sorted
}


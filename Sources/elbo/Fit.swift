import ArgumentParser
import Foundation
import Variational

/// `elbo fit MODEL`: variational inference on a built-in model.
struct Fit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit a built-in Bayesian model by maximising the ELBO, then check the fit.",
        discussion: """
            Models: \(BuiltInModel.allCases.map(\.rawValue).joined(separator: ", ")).
            Data: a CSV file with a header — a column x for normal-normal, beta-bernoulli, gamma-poisson and \
            gaussian-mixture; a column y and feature columns for the regressions; columns y and sigma for \
            eight-schools — or a NumPy .npy array. Without --data the model fits built-in simulated data.
            """)

    @Argument(help: "The model.")
    var model: BuiltInModel

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Variational family: meanfield, fullrank, lowrank, planar, iaf (default: fullrank up to 50 latent dimensions, meanfield above).")
    var family: FamilyChoice?

    @Option(name: .customLong("flow-layers"), help: "Layers of the planar or iaf flow.")
    var flowLayers: Int = 4

    @Option(help: "ELBO estimator: reparam, analytic-kl, stl, score, iwae, renyi (default: stl, after a first stage on the plain reparameterised gradient).")
    var estimator: EstimatorChoice = .stl

    @Option(help: "Particles per step (default: 1; 10 for score, iwae and renyi).")
    var particles: Int?

    @Option(help: "Random seed: the same seed gives the same fit.")
    var seed: UInt64 = 0

    @Option(name: .customLong("max-iterations"), help: "The iteration cap.")
    var maxIterations: Int = 20_000

    @Option(name: .customLong("learning-rate"), help: "Adam's learning rate (default: chosen by short trials).")
    var learningRate: Double?

    @Option(name: .customLong("batch-size"), help: "Minibatch size (default: all observations).")
    var batchSize: Int?

    @Option(help: "Draws from q for the diagnostics.")
    var draws: Int = 4000

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @Option(help: "Write the ELBO trace as an SVG plot to this file.")
    var plot: String?

    @Option(help: "Write a self-contained HTML report to this file.")
    var report: String?

    @Option(parsing: .upToNextOption, help: "Hyper-parameters to learn first by empirical Bayes (type-II maximum likelihood), e.g. --learn prior-sd noise-sd (normal-normal, linear-regression).")
    var learn: [String] = []

    @Option(name: .customLong("learn-steps"), help: "Steps of the empirical-Bayes stage (default 20000).")
    var learnSteps: Int = 20_000

    @Option(name: .customLong("write-data"), help: "Write the data the model fits (the built-in data without --data) to this CSV file.")
    var writeData: String?

    func validate() throws {
        if let particles, particles < 1 { throw CommandError("--particles must be at least 1, got \(particles)") }
        if maxIterations < 1 { throw CommandError("--max-iterations must be at least 1, got \(maxIterations)") }
        if let learningRate, !(learningRate > 0 && learningRate.isFinite) {
            throw CommandError("--learning-rate must be positive, got \(learningRate)")
        }
        if let batchSize, batchSize < 1 { throw CommandError("--batch-size must be at least 1, got \(batchSize)") }
        if draws < 100 { throw CommandError("--draws must be at least 100, got \(draws)") }
        if Set(learn).count != learn.count { throw CommandError("--learn names a hyper-parameter twice: \(learn.joined(separator: " "))") }
        if learnSteps < 100 { throw CommandError("--learn-steps must be at least 100, got \(learnSteps)") }
        if !(1...64).contains(flowLayers) { throw CommandError("--flow-layers must be between 1 and 64, got \(flowLayers)") }
    }

    func run() throws {
        for path in [plot, self.report, writeData].compactMap({ $0 }) { try AtomicFile.checkFolder(of: path) }
        let report = try modelOptions.withModel(model, FitVisitor(command: self))
        if let plot { try AtomicFile.write(FitPlots.traceSVG(report), to: plot) }
        if let path = self.report { try AtomicFile.write(report.html, to: path) }
        if json {
            print(report.json())
        } else {
            print(report.text())
        }
    }
}

enum FamilyChoice: String, ExpressibleByArgument, CaseIterable {
    case meanfield, fullrank, lowrank, planar, iaf
}

enum EstimatorChoice: String, ExpressibleByArgument, CaseIterable {
    case reparam, analyticKL = "analytic-kl", stl, score, iwae, renyi
}

private struct FitVisitor: ModelVisitor {
    let command: Fit

    func visit<M: ProbabilisticModel>(_ model: M, _ table: DataTable) throws -> FitReport {
        if let path = command.writeData { try AtomicFile.write(table.csv, to: path) }
        if !command.learn.isEmpty {
            guard let learnable = model as? any EmpiricalBayesModel & ConjugateModel else {
                throw CommandError("--learn applies to normal-normal and linear-regression, not \(command.model.rawValue)")
            }
            return try learnThenFit(learnable, table)
        }
        return try fitWithDefaultFamily(model, table)
    }

    /// Empirical Bayes first, then the usual fit of the model with the learned values, beside the maximiser of the
    /// closed-form evidence.
    func learnThenFit<M: EmpiricalBayesModel & ConjugateModel>(_ model: M, _ table: DataTable) throws -> FitReport {
        let start = try model.hyperparameters(named: command.learn)
        var generator = SeededGenerator(seed: command.seed &+ 0xEB)
        let result = try learnHyperparameters(model: model, learning: command.learn, steps: command.learnSteps, using: &generator)
        let learnedModel: M
        do { learnedModel = try model.with(result.values) } catch { throw CommandError("--learn: the learned values are not valid: \(error)") }
        let exact = try model.exactEvidenceMaximizer(command.learn, from: result.values)
        var report = try fitWithDefaultFamily(learnedModel, table)
        report.learningSteps = result.steps
        report.learned = start.map { h in
            LearnedHyperparameter(
                name: h.name, value: result.values[h.name]!, standardError: result.standardErrors[h.name]!, start: h.value,
                exactMaximizer: exact[h.name])
        }
        return report
    }

    func fitWithDefaultFamily<M: ProbabilisticModel>(_ model: M, _ table: DataTable) throws -> FitReport {
        let d = model.latentSpace.dimension
        // Gaussian families of up to 50 dimensions start at the Laplace approximation (its Hessian costs 2D
        // gradients), so that the data's units do not matter; without a mode, at the standard normal.
        func laplace() -> LaplaceApproximation? { d <= 50 ? LaplaceApproximation(model: model) : nil }
        switch command.family ?? (d <= 50 ? .fullrank : .meanfield) {
        case .meanfield: return try withFamily(model, table, laplace().map(MeanFieldGaussian.init(laplace:)) ?? MeanFieldGaussian(dimension: d))
        case .fullrank: return try withFamily(model, table, laplace().map(FullRankGaussian.init(laplace:)) ?? FullRankGaussian(dimension: d))
        case .lowrank: return try withFamily(model, table, LowRankGaussian(dimension: d, rank: Swift.min(2, d), seed: command.seed))
        case .planar: return try withFamily(model, table, PlanarFlow(dimension: d, layers: command.flowLayers, seed: command.seed))
        case .iaf: return try withFamily(model, table, InverseAutoregressiveFlow(dimension: d, layers: command.flowLayers, seed: command.seed))
        }
    }

    func withFamily<M: ProbabilisticModel, F: VariationalFamily>(_ model: M, _ table: DataTable, _ family: F) throws -> FitReport {
        let p = command.particles
        switch command.estimator {
        case .reparam: return try fit(model, table, family, ReparameterizedELBO(particleCount: p ?? 1))
        case .analyticKL: return try fit(model, table, family, AnalyticKLELBO(particleCount: p ?? 1))
        case .stl: return try fit(model, table, family, StickingTheLandingELBO(particleCount: p ?? 1, warmUp: true))
        case .score: return try fit(model, table, family, ScoreFunctionELBO(particleCount: p ?? 10))
        case .iwae: return try fit(model, table, family, ImportanceWeightedELBO(particleCount: p ?? 10))
        case .renyi: return try fit(model, table, family, RenyiELBO(particleCount: p ?? 10, alpha: 0.5))
        }
    }

    func fit<M: ProbabilisticModel, F: VariationalFamily, E: ELBOEstimator>(
        _ model: M, _ table: DataTable, _ family: F, _ estimator: E
    ) throws -> FitReport {
        if let reason = estimator.incompatibility(model: model, family: family) {
            throw CommandError("--estimator \(command.estimator.rawValue) cannot fit \(command.model.rawValue): \(reason)")
        }
        var configuration = SVIConfiguration()
        configuration.maxIterations = command.maxIterations
        configuration.learningRate = command.learningRate
        configuration.batchSize = command.batchSize
        var generator = SeededGenerator(seed: command.seed)
        var svi = SVI(model: model, family: family, estimator: estimator, configuration: configuration)
        let showProgress = !command.json && isatty(2) != 0
        let result = svi.run(using: &generator) { iteration, elbo in
            if showProgress {
                FileHandle.standardError.write("\riteration \(iteration)  ELBO \(String(format: "%.4f", elbo))   ".data(using: .utf8)!)
            }
        }
        if showProgress { FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!) }
        let diagnostics = diagnose(model: model, family: result.family, drawCount: command.draws, using: &generator)
        guard diagnostics.elbo.isFinite else {
            // A table of NaNs would be a silently wrong answer: say that the fit failed, and the last thing it noted.
            let last = result.messages.last.map { "; last note: \($0)" } ?? ""
            throw CommandError(
                "the fit failed: the ELBO of the fitted q is \(diagnostics.elbo) after \(result.iterations) iterations at learning "
                    + "rate \(result.learningRate) (the data or the settings overflow double precision?)\(last)")
        }
        var report = FitReport(
            model: command.model.rawValue, dataSource: table.source, rows: table.rowCount, family: family.name,
            estimator: estimator.name, particles: estimator.particleCount, seed: command.seed, result: result,
            diagnostics: diagnostics, variables: model.latentSpace.variables)
        if let conjugate = model as? any ConjugateModel {
            report.exact = exactSection(conjugate, result.family, diagnostics)
        }
        if command.report != nil { report.html = FitPlots.html(report, model: model) }
        return report
    }

    func exactSection<F: VariationalFamily>(_ model: any ConjugateModel, _ family: F, _ diagnostics: FitDiagnostics) -> FitReport.Exact {
        let evidence = model.exactLogEvidence
        if let posterior = model.exactGaussianPosterior, family.isGaussian {
            let kl = family.gaussian().klDivergence(to: posterior).scalar
            return .init(logEvidence: evidence, posterior: model.exactPosterior, klToPosterior: Swift.max(kl, 0), klMethod: "closed-form")
        }
        return .init(logEvidence: evidence, posterior: model.exactPosterior, klToPosterior: Swift.max(evidence - diagnostics.elbo, 0),
                     klMethod: "log p(x) − ELBO, Monte Carlo", klStandardError: diagnostics.elboStandardError)
    }
}

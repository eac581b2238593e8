import ArgumentParser
import Foundation
import Variational

/// `elbo explain`: the ELBO identity with exact numbers, and why the evidence is intractable in general.
struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show log p(x) = ELBO(q) + KL(q ‖ p(z|x)) with exact numbers on a model whose evidence is known.",
        discussion: """
            Models: normal-normal (default), beta-bernoulli, gamma-poisson, linear-regression; and diffusion: a diffusion \
            model as a deep VAE on one-dimensional Gaussian data, its ELBO in closed form against the number of steps.
            """)

    @Option(help: "normal-normal, beta-bernoulli, gamma-poisson, linear-regression or diffusion.")
    var model: String = BuiltInModel.normalNormal.rawValue

    @Option(help: "diffusion: the steps T of the chain whose terms are shown (default 1000).")
    var steps: Int?

    @Option(help: "Learn this hyper-parameter by empirical Bayes and show log p(x | η) and the ELBO against it (normal-normal, linear-regression; e.g. prior-sd).")
    var learn: String?

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .customLong("q-mean"), help: "The mean of the starting q (default: a deliberately poor q).")
    var qMean: Double?

    @Option(name: .customLong("q-sd"), help: "The standard deviation of the starting q.")
    var qSD: Double?

    @Option(help: "Gradient-ascent iterations on q.")
    var iterations: Int = 3000

    @Option(name: .customLong("max-dimension"), help: "The most weights in the intractability demonstration (1…6).")
    var maxDimension: Int = 5

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    @Flag(help: "Print the numbers of steps 2–5 as one JSON object.")
    var json = false

    @Option(help: "Write the optimisation trace as an SVG plot to this file.")
    var plot: String?

    @Option(help: "Write a self-contained HTML report to this file.")
    var report: String?

    /// The built-in model, or nil for diffusion.
    var builtInModel: BuiltInModel? { BuiltInModel(rawValue: model) }

    func validate() throws {
        if model == "diffusion" {
            let given: [(String, Bool)] = [
                ("--data", modelOptions.data != nil), ("--q-mean", qMean != nil), ("--q-sd", qSD != nil), ("--plot", plot != nil),
                ("--report", report != nil), ("--prior-mean", modelOptions.priorMean != nil), ("--prior-sd", modelOptions.priorSD != nil),
                ("--noise-sd", modelOptions.noiseSD != nil), ("--prior-alpha", modelOptions.priorAlpha != nil),
                ("--prior-beta", modelOptions.priorBeta != nil), ("--intercept", modelOptions.intercept),
            ]
            if let first = given.first(where: { $0.1 }) { throw CommandError("\(first.0) does not apply to diffusion") }
            if let steps, !(1...100_000).contains(steps) { throw CommandError("--steps must be between 1 and 100000, got \(steps)") }
            return
        }
        if steps != nil { throw CommandError("--steps applies to --model diffusion only") }
        if learn != nil {
            guard builtInModel == .normalNormal || builtInModel == .linearRegression else {
                throw CommandError("--learn applies to normal-normal and linear-regression, not \(model)")
            }
            if report != nil || qMean != nil { throw CommandError("--learn shows its own section: --report and --q-mean do not apply") }
        }
        guard let builtInModel, [.normalNormal, .betaBernoulli, .gammaPoisson, .linearRegression].contains(builtInModel) else {
            throw CommandError("explain covers normal-normal, beta-bernoulli, gamma-poisson, linear-regression and diffusion, not \(model)")
        }
        if (qMean == nil) != (qSD == nil) { throw CommandError("give both --q-mean and --q-sd, or neither") }
        guard iterations >= 1 else { throw CommandError("--iterations must be at least 1, got \(iterations)") }
        guard (1...6).contains(maxDimension) else { throw CommandError("--max-dimension must be between 1 and 6, got \(maxDimension)") }
    }

    func run() throws {
        guard let builtInModel else {
            let explanation = try DiffusionExplanation(steps: steps ?? 1000)
            print(json ? explanation.json : explanation.text)
            return
        }
        for path in [plot, report].compactMap({ $0 }) { try AtomicFile.checkFolder(of: path) }
        if let learn {
            let explanation = try modelOptions.withModel(builtInModel, LearnExplainVisitor(name: learn, seed: seed))
            if let plot { try AtomicFile.write(explanation.svg, to: plot) }
            print(json ? explanation.json : explanation.text)
            return
        }
        let output = try modelOptions.withModel(builtInModel, ExplainVisitor(command: self))
        if let plot { try AtomicFile.write(output.svg, to: plot) }
        if let report { try AtomicFile.write(output.html, to: report) }
        print(json ? output.json : output.text)
    }
}

struct ExplainOutput {
    var text: String
    var json: String
    var svg: String
    var html: String
}

private struct ExplainVisitor: ModelVisitor {
    let command: Explain

    func visit<M: ProbabilisticModel>(_ model: M, _ table: DataTable) throws -> ExplainOutput {
        switch model {
        case let m as NormalNormalModel: return try explain(m, table)
        case let m as BetaBernoulliModel: return try explain(m, table)
        case let m as GammaPoissonModel: return try explain(m, table)
        case let m as LinearRegressionModel: return try explain(m, table)
        default: throw CommandError("explain does not cover \(command.model)")
        }
    }

    func explain<M: ExactExplanation>(_ model: M, _ table: DataTable) throws -> ExplainOutput {
        var generator = SeededGenerator(seed: command.seed)
        let start = try command.qMean.map { try model.q(mean: $0, standardDeviation: command.qSD!) } ?? model.poorQ()
        let e = model.explain(startingFrom: start, iterations: command.iterations, using: &generator)
        // The identity is only worth showing with numbers that hold: refuse, naming them, rather than print ∞ or NaN.
        let shown = [("log p(x) in closed form", e.logEvidence), ("log p(x) computed numerically", e.logEvidenceQuadrature),
                     ("the ELBO", e.elbo), ("KL(q ‖ p(z | x))", e.klToPosterior)]
        if let (name, value) = shown.first(where: { !$0.1.isFinite }) {
            throw CommandError("\(name) is \(value) for this model and data (\(model.dataSummary); \(model.priorDescription)): "
                + "beyond double precision; rescale the data or the prior")
        }
        let importance = command.json ? [] : ImportanceTable.rows(model, start, using: &generator)
        let intractability = command.json ? [] : Intractability.rows(maxDimension: command.maxDimension)
        let text = ExplainText.render(model, table, e, importance, intractability)
        let svg = TracePlot.svg(e)
        let html = ExplainReport.html(model, table, e, svg: svg)
        return ExplainOutput(text: text, json: ExplainText.json(e), svg: svg, html: html)
    }
}

/// Importance sampling with q as the proposal, for growing k: one estimate with its standard error, and the
/// IWAE bound (the expectation of log (1/k Σ w), averaged over repeats).
enum ImportanceTable {
    struct Row {
        var k: Int
        var estimate: Double
        var standardError: Double
        var bound: Double
        var boundStandardError: Double
    }

    static func rows<M: ExactExplanation, G: RandomNumberGenerator>(_ model: M, _ q: M.Q, using generator: inout G) -> [Row] {
        // k up to 1,000, but only as far as 20 repeats of k draws fit the work a large data set allows.
        [1, 10, 100, 1000].filter { $0 == 1 || 20 * $0 <= model.affordableDraws(20_000) }.map { k in
            let single = importanceSampledLogEvidence(model.logWeightsInChunks(q, count: k, using: &generator))
            // 20,000 draws for the repeated bounds, fewer for large data (at least 20 repeats).
            let repeats = Swift.max(20, model.affordableDraws(20_000) / k)
            let bounds = (0..<repeats).map { _ in logSumExp(model.logWeightsInChunks(q, count: k, using: &generator)) - Foundation.log(Double(k)) }
            let (mean, error) = meanAndStandardError(bounds)
            return Row(k: k, estimate: single.estimate, standardError: single.standardError, bound: mean, boundStandardError: error)
        }
    }
}

/// Grid quadrature for Bayesian logistic regression with 1…D weights: its cost multiplies with each weight,
/// while a gradient step on the ELBO costs about the same.
enum Intractability {
    struct Row {
        var dimension: Int
        var points: Int
        var quadratureSeconds: Double
        var logEvidence: Double
        var elboStepMicroseconds: Double
    }

    static let pointsPerWeight = 16

    static func rows(maxDimension: Int) -> [Row] {
        var generator = SeededGenerator(seed: 11)
        let n = 50
        let fullX = (0..<(n * 6)).map { _ in Random.standardNormal(using: &generator) }
        let y = (0..<n).map { i in fullX[i * 6] - 0.5 * fullX[i * 6 + 1] > 0 ? 1.0 : 0.0 }
        let (nodes, weights) = GaussLegendre.rule(points: pointsPerWeight)
        return (1...maxDimension).map { d in
            // Scalar loops over the grid on [−6, 6]^d (the prior is Normal(0, 2²) per weight).
            let x = (0..<n).map { i in Array(fullX[(i * 6)..<(i * 6 + d)]) }
            let total = Int(pow(Double(pointsPerWeight), Double(d)))
            let started = DispatchTime.now().uptimeNanoseconds
            var index = [Int](repeating: 0, count: d)
            var terms = [Double](repeating: 0, count: total)
            var w = [Double](repeating: 0, count: d)
            for t in 0..<total {
                var logWeight = 0.0
                var logPrior = 0.0
                for j in 0..<d {
                    w[j] = 6 * nodes[index[j]]
                    logWeight += Foundation.log(6 * weights[index[j]])
                    logPrior += -0.5 * (w[j] / 2) * (w[j] / 2) - Foundation.log(2 * (2 * Double.pi).squareRoot())
                }
                var logLikelihood = 0.0
                for i in 0..<n {
                    var logit = 0.0
                    for j in 0..<d { logit += x[i][j] * w[j] }
                    logLikelihood += y[i] * logit - (Swift.max(logit, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(logit))))
                }
                terms[t] = logPrior + logLikelihood + logWeight
                var j = d - 1
                while j >= 0 {
                    index[j] += 1
                    if index[j] < pointsPerWeight { break }
                    index[j] = 0
                    j -= 1
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9
            let features = Tensor<Double>(shape: [n, d], scalars: x.flatMap { $0 })
            let model = try! LogisticRegressionModel(features: features, responses: y, priorStandardDeviation: 2)
            var configuration = SVIConfiguration()
            configuration.learningRate = 0.01
            var svi = SVI(model: model, family: MeanFieldGaussian(dimension: d), estimator: ReparameterizedELBO(), configuration: configuration)
            var stepGenerator = SeededGenerator(seed: 12)
            for _ in 0..<5 { svi.step(using: &stepGenerator) }
            let stepStart = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<50 { svi.step(using: &stepGenerator) }
            let step = Double(DispatchTime.now().uptimeNanoseconds - stepStart) * 1e-3 / 50
            return Row(dimension: d, points: total, quadratureSeconds: seconds, logEvidence: logSumExp(terms), elboStepMicroseconds: step)
        }
    }
}

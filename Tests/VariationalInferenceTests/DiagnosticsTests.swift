import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions
import VariationalInference
import VariationalTestSupport
import XCTest

final class DiagnosticsTests: XCTestCase {
    /// Weights with a generalised-Pareto tail of known shape k: w = U^(−k). With 400,000 draws the tail holds
    /// M = 1,898 weights and k̂ has a standard error of about (1 + k)/√M ≈ 0.05, so 0.15 is 3 standard errors.
    func testParetoShapeOfKnownTails() {
        var generator = SeededGenerator(seed: 1)
        for k in [0.3, 0.8, 1.2] {
            let logWeights = (0..<400_000).map { _ in -k * Foundation.log(Random.openUnit(using: &generator)) }
            XCTAssertEqual(paretoShape(logWeights), k, accuracy: 0.15, "k = \(k)")
        }
        // Light tails: log-normal weights with a small spread.
        let light = (0..<10_000).map { _ in 0.1 * Random.standardNormal(using: &generator) }
        XCTAssertLessThan(paretoShape(light), 0.5)
        XCTAssertEqual(FitDiagnostics.verdict(0.3), "good")
        XCTAssertEqual(FitDiagnostics.verdict(0.6), "usable")
        XCTAssertEqual(FitDiagnostics.verdict(0.9), "unreliable")
    }

    /// k̂ against ArviZ's psislw on the same log weights (Reference/psis_log_weights.txt, with the script that wrote
    /// it): heavy and light tails, weights bounded above, ties, and nearly constant weights from a fit.
    func testParetoShapeMatchesArviZ() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Reference/psis_log_weights.txt")
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") }
        XCTAssertEqual(lines.count, 8)
        for line in lines {
            let fields = line.split(separator: " ")
            let name = String(fields[0])
            let reference = Double(fields[1])!
            let logWeights = fields.dropFirst(2).map { Double($0)! }
            XCTAssertEqual(logWeights.count, 1000, name)
            XCTAssertEqual(paretoShape(logWeights), reference, accuracy: 1e-9, name)
        }
    }

    func testImportanceSampledEvidence() {
        // Weights all equal to e^−3: the estimate is −3 with no error.
        let (estimate, error) = importanceSampledLogEvidence([Double](repeating: -3, count: 100))
        XCTAssertEqual(estimate, -3, accuracy: 1e-12)
        XCTAssertEqual(error, 0, accuracy: 1e-12)
        // log mean of e^0 and e^(log 3) = log 2.
        XCTAssertEqual(importanceSampledLogEvidence([0, Foundation.log(3)]).estimate, Foundation.log(2), accuracy: 1e-12)
    }

    /// A fit of a one-latent model started at `start` with learning rate 0.1, stopping after `failures` rejected steps.
    func runFrom(_ start: Double, _ model: Model, failures: Int) -> (SVIResult<MeanFieldGaussian>, start: MeanFieldGaussian) {
        var family = MeanFieldGaussian(dimension: 1, initialScale: 0.1)
        family.mean = Tensor([start])
        var configuration = SVIConfiguration()
        configuration.learningRate = 0.1
        configuration.maxConsecutiveFailures = failures
        var svi = SVI(model: model, family: family, estimator: ReparameterizedELBO(), configuration: configuration)
        var generator = SeededGenerator(seed: 2)
        return (svi.run(using: &generator), family)
    }

    /// A prior that is −∞ where the step took a latent is named, with the latent's value and support.
    func testNonFinitePriorNamesTheLatent() {
        // λ = e^−800 underflows to 0, where (α − 1) log λ = −∞.
        let (result, _) = runFrom(-800, Model([Latent("lambda", Gamma(2, 1))]) { z in z["lambda"] * 0 }, failures: 2)
        XCTAssertFalse(result.converged)
        XCTAssertTrue(result.messages.first!.contains("the log prior of latent 'lambda' (support positive) is -inf at lambda = 0.0"), "\(result.messages)")
    }

    /// A non-finite loss rejects the step, halves the learning rate, names the term, and after repeated failures
    /// stops with the last good state.
    func testNonFiniteStepsAreRejectedAndNamed() {
        let (result, family) = runFrom(800, Model([Latent("z", Normal(0, 1))]) { z in -z["z"].exp().exp() }, failures: 5)
        XCTAssertFalse(result.converged)
        XCTAssertEqual(result.iterations, 0)
        XCTAssertEqual(result.family.mean, family.mean)
        XCTAssertTrue(result.messages.first!.contains("the log likelihood is -inf"), "\(result.messages)")
        XCTAssertTrue(result.messages.first!.contains("learning rate halved to 0.05"), "\(result.messages)")
        XCTAssertTrue(result.messages.last!.contains("5 consecutive rejected steps"), "\(result.messages)")
    }

    func testPosteriorSummariesAndPredictive() throws {
        let model = try NormalNormalModel(observations: [1, 2, 3], priorMean: 0, priorStandardDeviation: 10, noiseStandardDeviation: 1)
        let exact = model.posteriorMeanAndStandardDeviation
        var q = MeanFieldGaussian(dimension: 1, initialScale: exact.standardDeviation)
        q.mean = Tensor([exact.mean])
        var generator = SeededGenerator(seed: 3)
        let d = diagnose(model: model, family: q, drawCount: 40_000, using: &generator)
        // mu lives on the whole real line and q is Gaussian: its summaries are q's exact moments and quantiles.
        let summary = d.posterior["mu"]![0]
        XCTAssertTrue(summary.isExact)
        XCTAssertEqual(summary.meanStandardError, 0)
        XCTAssertEqual(summary.mean, exact.mean, accuracy: 1e-12)
        XCTAssertEqual(summary.standardDeviation, exact.standardDeviation, accuracy: 1e-12)
        XCTAssertEqual(summary.q05, exact.mean - 1.6448536269514722 * exact.standardDeviation, accuracy: 1e-12)
        XCTAssertEqual(summary.q95, exact.mean + 1.6448536269514722 * exact.standardDeviation, accuracy: 1e-12)
        // The draws agree with them (the mean within 4 Monte-Carlo standard errors).
        let draws = d.draws["mu"]![0]
        XCTAssertEqual(draws.reduce(0, +) / Double(draws.count), exact.mean, accuracy: 4 * exact.standardDeviation / 200)
        XCTAssertEqual(d.elbo, model.exactLogEvidence, accuracy: 1e-9)
        XCTAssertEqual(d.predictive?.shape, [100])
    }

    /// A latent on (0, 1) is a transformed Gaussian: its summaries come from the draws, with the mean's standard error.
    func testTransformedLatentsAreSummarisedFromDraws() throws {
        let model = try BetaBernoulliModel(observations: [1, 0, 0, 1, 1, 0, 1, 1])
        let q = MeanFieldGaussian(dimension: 1, initialScale: 0.7)
        var generator = SeededGenerator(seed: 4)
        let d = diagnose(model: model, family: q, drawCount: 10_000, using: &generator)
        let summary = d.posterior["theta"]![0]
        let draws = d.draws["theta"]![0]
        XCTAssertFalse(summary.isExact)
        XCTAssertEqual(summary.mean, draws.reduce(0, +) / 10_000, accuracy: 1e-12)
        XCTAssertEqual(summary.meanStandardError, summary.standardDeviation / 100, accuracy: 1e-12)
        XCTAssertEqual(summary.q50, 0.5, accuracy: 0.02)  // the logistic of a normal centred at 0 has median 1/2
    }
}

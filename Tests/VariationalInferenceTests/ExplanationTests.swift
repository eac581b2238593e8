import Foundation
import VariationalCore
import VariationalDistributions
import VariationalInference
import XCTest

/// The ELBO identity with exact numbers on every model `elbo explain` covers.
final class ExplanationTests: XCTestCase {
    func check<M: ExactExplanation>(_ name: String, _ model: M, gaussianPosterior: Bool, file: StaticString = #filePath, line: UInt = #line) {
        var generator = SeededGenerator(seed: 1)
        let e = model.explain(startingFrom: model.poorQ(), using: &generator)
        XCTAssertLessThan(Swift.abs(e.identityResidual), 1e-9, "\(name): residual \(e.identityResidual)", file: file, line: line)
        XCTAssertEqual(e.logEvidenceQuadrature, e.logEvidence, accuracy: 1e-6, "\(name): quadrature", file: file, line: line)
        XCTAssertEqual(e.elbo, e.elboMonteCarlo.estimate, accuracy: 5 * e.elboMonteCarlo.standardError, "\(name): Monte-Carlo ELBO", file: file, line: line)
        XCTAssertGreaterThan(e.klToPosterior, 0.1, "\(name): the starting q should be poor", file: file, line: line)
        for row in e.trace {
            XCTAssertLessThanOrEqual(row.elbo, e.logEvidence + 1e-9, "\(name): ELBO above log p(x) at iteration \(row.iteration)", file: file, line: line)
            XCTAssertEqual(row.elbo + row.klToPosterior, e.logEvidence, accuracy: 1e-8, "\(name): identity at iteration \(row.iteration)", file: file, line: line)
        }
        XCTAssertLessThan(e.trace.last!.klToPosterior, e.trace.first!.klToPosterior / 100, "\(name)", file: file, line: line)
        if gaussianPosterior {
            XCTAssertLessThan(e.trace.last!.klToPosterior, 1e-6, "\(name): final KL", file: file, line: line)
        }
    }

    func testNormalNormal() throws {
        check("normal-normal", try NormalNormalModel(observations: [1.2, 0.4, 2.5, 1.9, 0.7, 3.1], priorMean: 0, priorStandardDeviation: 2, noiseStandardDeviation: 1.3), gaussianPosterior: true)
    }

    /// Log weights for a large data set are evaluated a chunk of draws at a time (100,000 rows: 41 draws per chunk),
    /// and their mean is still the closed-form ELBO; `affordableDraws` keeps draws × rows within 10⁹.
    func testLogWeightsForLargeDataComeInChunks() throws {
        var generator = SeededGenerator(seed: 5)
        let data = (0..<100_000).map { _ in 2 + Random.standardNormal(using: &generator) }
        let model = try NormalNormalModel(observations: data)
        let q = try model.q(mean: 2.001, standardDeviation: 0.004)
        let weights = model.logWeightsInChunks(q, count: 500, using: &generator)
        XCTAssertEqual(weights.count, 500)
        let (mean, error) = meanAndStandardError(weights)
        XCTAssertEqual(mean, model.elbo(q).scalar, accuracy: 4 * error)
        XCTAssertEqual(model.affordableDraws(10_000), 10_000)
        let huge = try NormalNormalModel(observations: [Double](repeating: 1, count: 2_000_000))
        XCTAssertEqual(huge.affordableDraws(10_000), 500)
    }

    func testBetaBernoulli() throws {
        check("beta-bernoulli", try BetaBernoulliModel(observations: [1, 0, 0, 1, 0, 0, 0, 1, 0, 0], priorAlpha: 2, priorBeta: 2), gaussianPosterior: false)
    }

    func testGammaPoisson() throws {
        check("gamma-poisson", try GammaPoissonModel(observations: [3, 5, 2, 4, 6, 1], priorAlpha: 2, priorBeta: 0.5), gaussianPosterior: false)
    }

    func testLinearRegression() throws {
        let x = Tensor<Double>([[1, 0.5], [1, -1.2], [1, 2.2], [1, 0.1], [1, -0.7], [1, 1.5]])
        check("linear-regression", try LinearRegressionModel(features: x, responses: [1.1, -1.4, 3.6, 0.2, -0.9, 2.4], priorStandardDeviation: 3, noiseStandardDeviation: 0.5), gaussianPosterior: true)
    }

    /// Beyond four weights the evidence is checked by importance sampling with bounded work (a grid grows as
    /// 16^d: six weights took minutes, sixteen trapped converting 16^16 to Int); it agrees with the closed form
    /// within 4 of its standard errors, and the standard error is small.
    func testManyWeightsUseBoundedImportanceSampling() throws {
        var generator = SeededGenerator(seed: 5)
        for d in [5, 16] {
            let x = Tensor<Double>(randomNormal: [40, d], standardDeviation: 1, using: &generator)
            let y = (0..<40).map { _ in Random.standardNormal(using: &generator) }
            let model = try LinearRegressionModel(features: x, responses: y, priorStandardDeviation: 2)
            let (value, error) = model.importanceSampledLogEvidence(draws: 20_000, using: &generator)
            XCTAssertEqual(value, model.exactLogEvidence, accuracy: 4 * error, "d = \(d)")
            XCTAssertLessThan(error, 0.02, "d = \(d)")
        }
    }

    /// Values whose posterior cannot be formed in double precision are refused in one line, never a trap or NaN.
    func testExtremeValuesAreRefused() throws {
        let x = Tensor<Double>([[1], [2]])
        XCTAssertThrowsError(try LinearRegressionModel(features: x, responses: [1, 2], priorStandardDeviation: 1e-300)) { error in
            XCTAssertTrue("\(error)".contains("--prior-sd must be between 1e-100 and 1e100, got 1e-300"), "\(error)")
        }
        XCTAssertThrowsError(try LinearRegressionModel(features: Tensor<Double>([[1e160], [2]]), responses: [1, 2])) { error in
            XCTAssertTrue("\(error)".contains("cannot be formed in double precision"), "\(error)")
        }
        XCTAssertThrowsError(try LinearRegressionModel(features: Tensor<Double>([[1e200], [2]]), responses: [1, 2]))
        XCTAssertThrowsError(try GammaPoissonModel(observations: [1e20, 2])) { error in
            XCTAssertTrue("\(error)".contains("above 2^53"), "\(error)")
        }
        let wide = try GammaPoissonModel(observations: [3, 5], priorAlpha: 1e300, priorBeta: 0.5)
        let described = wide.describe(wide.poorQ())
        XCTAssertFalse(described.contains("inf") || described.contains("nan"), described)
        XCTAssertThrowsError(try wide.q(mean: 1e300, standardDeviation: 1))
        // Poisson draws beyond Int's range.
        var generator = SeededGenerator(seed: 2)
        let draws = try Poisson(rate: Tensor<Double>(1e20)).sample(sampleShape: [100], using: &generator).scalars
        XCTAssertEqual(draws.reduce(0, +) / 100, 1e20, accuracy: 1e20 * 1e-9)
    }

    func testGaussLegendre() {
        let (nodes, weights) = GaussLegendre.rule(points: 5)
        XCTAssertEqual(weights.reduce(0, +), 2, accuracy: 1e-14)
        // Exact for polynomials of degree ≤ 9: ∫ x⁸ dx over [−1, 1] = 2/9.
        XCTAssertEqual(zip(nodes, weights).reduce(0) { $0 + $1.1 * pow($1.0, 8) }, 2.0 / 9, accuracy: 1e-14)
        XCTAssertEqual(GaussLegendre.logIntegral({ -$0 * $0 / 2 }, from: -12, to: 12), 0.5 * Foundation.log(2 * Double.pi), accuracy: 1e-12)
    }
}

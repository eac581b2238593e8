import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions
import VariationalInference
import VariationalTestSupport
import XCTest

/// The full-rank family recovers the exact posterior of every conjugate model: posterior means and standard
/// deviations within 1%, the ELBO within 0.01 nats of the exact log evidence, k̂ < 0.5.
final class ConjugateRecoveryTests: XCTestCase {
    func fitAndCompare<M: ConjugateModel>(_ name: String, _ model: M, seed: UInt64 = 1, file: StaticString = #filePath, line: UInt = #line) {
        var generator = SeededGenerator(seed: seed)
        var configuration = SVIConfiguration()
        configuration.maxIterations = 20_000
        var svi = SVI(model: model, family: FullRankGaussian(dimension: model.latentSpace.dimension),
                      estimator: StickingTheLandingELBO(particleCount: 8), configuration: configuration)
        let result = svi.run(using: &generator)
        let diagnostics = diagnose(model: model, family: result.family, drawCount: 100_000, using: &generator)
        for (variable, exact) in model.exactPosterior {
            let fitted = diagnostics.posterior[variable]!
            for i in exact.mean.indices {
                let scale = exact.standardDeviation[i]
                XCTAssertEqual(fitted[i].mean, exact.mean[i], accuracy: 0.01 * Swift.max(Swift.abs(exact.mean[i]), scale),
                               "\(name) \(variable)[\(i)] mean", file: file, line: line)
                XCTAssertEqual(fitted[i].standardDeviation, scale, accuracy: 0.01 * scale, "\(name) \(variable)[\(i)] sd", file: file, line: line)
            }
        }
        XCTAssertEqual(diagnostics.elbo, model.exactLogEvidence, accuracy: 0.01, "\(name) ELBO vs log evidence", file: file, line: line)
        XCTAssertLessThanOrEqual(diagnostics.elbo, model.exactLogEvidence + 5 * diagnostics.elboStandardError + 1e-9, "\(name): ELBO above the evidence", file: file, line: line)
        XCTAssertLessThan(diagnostics.paretoK, 0.5, "\(name) k̂", file: file, line: line)
        XCTAssertEqual(diagnostics.logEvidence, model.exactLogEvidence, accuracy: 0.01, "\(name) IS evidence", file: file, line: line)
        XCTAssertTrue(result.converged, "\(name) did not converge: \(result.messages)", file: file, line: line)
    }

    func testNormalNormal() throws {
        var generator = SeededGenerator(seed: 5)
        let x = (0..<50).map { _ in 2 + 1.5 * Random.standardNormal(using: &generator) }
        fitAndCompare("normal-normal", try NormalNormalModel(observations: x, priorMean: 0, priorStandardDeviation: 3, noiseStandardDeviation: 1.5))
    }

    func testBetaBernoulli() throws {
        var generator = SeededGenerator(seed: 6)
        let x = (0..<2000).map { _ in Random.bernoulli(probability: 0.3, using: &generator) ? 1.0 : 0.0 }
        fitAndCompare("beta-bernoulli", try BetaBernoulliModel(observations: x, priorAlpha: 2, priorBeta: 2))
    }

    func testGammaPoisson() throws {
        var generator = SeededGenerator(seed: 7)
        let x = (0..<2000).map { _ in Double(Poisson(uncheckedRate: Tensor(4.0)).sample(using: &generator).scalar) }
        fitAndCompare("gamma-poisson", try GammaPoissonModel(observations: x, priorAlpha: 2, priorBeta: 0.5))
    }
}

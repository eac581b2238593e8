import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions
@testable import VariationalInference
import VariationalTestSupport
import XCTest

/// The stopping rule: what ends a stage, what the last stage's stationarity check catches, and the warm-up of
/// sticking the landing.
final class StoppingRuleTests: XCTestCase {
    let model = try! NormalNormalModel(observations: [1.2, 0.4, 2.5, 1.9, 0.7, 3.1, 2.2], priorMean: 0, priorStandardDeviation: 3)

    /// Scores under shared draws: a rise of 1 with little spread has not levelled; a rise within its noise has;
    /// a rise below the tolerance has whatever its noise; draws with a non-finite score are left out.
    func testLevelledTest() {
        let previous = (0..<32).map { Double($0 % 7) }
        XCTAssertFalse(SVI<NormalNormalModel, MeanFieldGaussian, ReparameterizedELBO>.hasLevelled(
            from: previous, to: previous.enumerated().map { $1 + 1 + 0.1 * Double($0 % 3) }, tolerance: 1e-4))
        let noisy = previous.enumerated().map { $1 + ($0 % 2 == 0 ? 1.0 : -1.0) }
        XCTAssertTrue(SVI<NormalNormalModel, MeanFieldGaussian, ReparameterizedELBO>.hasLevelled(from: previous, to: noisy, tolerance: 1e-4))
        XCTAssertTrue(SVI<NormalNormalModel, MeanFieldGaussian, ReparameterizedELBO>.hasLevelled(
            from: previous, to: previous.map { $0 + 1e-6 }, tolerance: 1e-4))
        var withNaN = previous.map { $0 + 1 }
        withNaN[3] = .nan
        XCTAssertFalse(SVI<NormalNormalModel, MeanFieldGaussian, ReparameterizedELBO>.hasLevelled(from: previous, to: withNaN, tolerance: 1e-4))
        XCTAssertFalse(SVI<NormalNormalModel, MeanFieldGaussian, ReparameterizedELBO>.hasLevelled(from: [.nan, 1], to: [1, .nan], tolerance: 1e-4))
    }

    /// A rule that would end every stage at once (a tolerance of 1,000%) on a q still far from p: the last
    /// stage's gradient check refuses "converged" and says why; without the check the same run claims it.
    func testStationarityCheckCatchesAFitThatHasNotArrived() {
        var configuration = SVIConfiguration()
        configuration.tolerance = 10
        configuration.learningRate = 1e-3
        configuration.annealingSteps = 1
        configuration.maxIterations = 3000
        var generator = SeededGenerator(seed: 1)
        var svi = SVI(model: model, family: MeanFieldGaussian(dimension: 1), estimator: StickingTheLandingELBO(), configuration: configuration)
        let result = svi.run(using: &generator)
        XCTAssertFalse(result.converged)
        XCTAssertTrue(result.messages.contains { $0.contains("standard errors from zero") && $0.contains("the mean of mu") }, "\(result.messages)")
        XCTAssertTrue(result.messages.last?.contains("reached the iteration cap (3000)") ?? false, "\(result.messages)")

        configuration.stationarityThreshold = .infinity
        generator = SeededGenerator(seed: 1)
        var unchecked = SVI(model: model, family: MeanFieldGaussian(dimension: 1), estimator: StickingTheLandingELBO(), configuration: configuration)
        let claimed = unchecked.run(using: &generator)
        XCTAssertTrue(claimed.converged)
        XCTAssertLessThan(claimed.iterations, 1000)
    }

    /// With defaults the same fit converges to the exact posterior, and the gradient check has nothing to say.
    func testDefaultRuleConvergesToTheExactPosterior() {
        var generator = SeededGenerator(seed: 2)
        var svi = SVI(model: model, family: MeanFieldGaussian(dimension: 1), estimator: StickingTheLandingELBO(warmUp: true))
        let result = svi.run(using: &generator)
        XCTAssertTrue(result.converged, "\(result.messages)")
        let exact = model.posteriorMeanAndStandardDeviation
        XCTAssertEqual(result.family.mean.scalars[0], exact.mean, accuracy: 1e-6 * exact.standardDeviation)
        XCTAssertEqual(result.family.scale.scalars[0], exact.standardDeviation, accuracy: 1e-6 * exact.standardDeviation)
        XCTAssertTrue(svi.estimator.isStoppingPath, "the warm-up should have ended with the first stage")
    }

    /// The warm-up estimator is the plain reparameterised one until the annealing begins, and again when the loop
    /// goes back to the first rate; without a warm-up it sticks the landing throughout.
    func testStickingTheLandingWarmUp() {
        let available: ELBOTermSet = [.logJoint, .logQ, .pathLogQ, .entropy, .stoppedSample]
        var estimator = StickingTheLandingELBO(warmUp: true)
        XCTAssertEqual(estimator.requestedTerms(available: available), ReparameterizedELBO().requestedTerms(available: available))
        estimator.annealingChanged(isAnnealing: true)
        XCTAssertEqual(estimator.requestedTerms(available: available), [.logJoint, .pathLogQ])
        estimator.annealingChanged(isAnnealing: false)
        XCTAssertFalse(estimator.isStoppingPath)
        var plain = StickingTheLandingELBO()
        XCTAssertEqual(plain.requestedTerms(available: available), [.logJoint, .pathLogQ])
        plain.annealingChanged(isAnnealing: false)
        XCTAssertTrue(plain.isStoppingPath)
        // A problem that cannot give q's density at fixed parameters hears of it at once, warm-up or not.
        XCTAssertEqual(StickingTheLandingELBO(warmUp: true).requestedTerms(available: [.logJoint, .entropy]), [.logJoint, .pathLogQ])
    }
}

/// The Laplace start: exact where the posterior is Gaussian, and found whatever the data's units.
final class LaplaceTests: XCTestCase {
    func testLaplaceIsExactOnLinearRegression() throws {
        var generator = SeededGenerator(seed: 3)
        let x = Tensor<Double>(randomNormal: [40, 3], using: &generator)
        let y = (0..<40).map { i in 1.5 * x[i, 0] - 0.7 * x[i, 1] + 0.2 + Random.standardNormal(using: &generator) }
        let model = try LinearRegressionModel(features: x, responses: y, priorStandardDeviation: 2)
        let laplace = try XCTUnwrap(LaplaceApproximation(model: model))
        let exact = try XCTUnwrap(model.posterior)
        for i in 0..<3 { XCTAssertEqual(laplace.mode.scalars[i], exact.mean.scalars[i], accuracy: 1e-8) }
        let covariance = matmul(laplace.scaleTril, laplace.scaleTril.transposed())
        for (a, b) in zip(covariance.scalars, exact.covariance.scalars) { XCTAssertEqual(a, b, accuracy: 1e-6 * exact.covariance.scalars.map(abs).max()!) }
    }

    func testLaplaceFindsAPosteriorFarFromTheOrigin() throws {
        let model = try NormalNormalModel(observations: [1e9, 1], priorMean: 0, priorStandardDeviation: 1e10)
        let laplace = try XCTUnwrap(LaplaceApproximation(model: model))
        let exact = model.posteriorMeanAndStandardDeviation
        XCTAssertEqual(laplace.mode.scalars[0], exact.mean, accuracy: 1e-6 * exact.standardDeviation + 1e-6 * abs(exact.mean) * 1e-6)
        XCTAssertEqual(laplace.scaleTril[0, 0], exact.standardDeviation, accuracy: 1e-4 * exact.standardDeviation)
    }
}

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

    /// A fall in the scores under shared draws: a clear one; one hidden from the mean's test by a single far draw
    /// (caught by the count of draws that fell); a draw that became non-finite. Not a fall: a rise in the mean
    /// although most draws fell; a change below the tolerance; no change.
    func testFallenTest() {
        typealias Rule = SVI<NormalNormalModel, MeanFieldGaussian, ReparameterizedELBO>
        let start = (0..<32).map { -40 - Double($0 % 5) }
        XCTAssertTrue(Rule.hasFallen(from: start, to: start.map { $0 - 3 }, tolerance: 1e-4))
        var farDraw = start.map { $0 - 50 }
        farDraw[7] = -1e9
        XCTAssertTrue(Rule.hasFallen(from: start, to: farDraw, tolerance: 1e-4))
        var nonFinite = start
        nonFinite[2] = -.infinity
        XCTAssertTrue(Rule.hasFallen(from: start, to: nonFinite, tolerance: 1e-4))
        var risingMean = start.map { $0 - 1 }
        risingMean[0] += 100
        XCTAssertFalse(Rule.hasFallen(from: start, to: risingMean, tolerance: 1e-4))
        XCTAssertFalse(Rule.hasFallen(from: start, to: start.map { $0 - 1e-4 }, tolerance: 1e-4))
        XCTAssertFalse(Rule.hasFallen(from: start, to: start, tolerance: 1e-4))
    }

    /// A learning rate of 10⁶: Adam moves q's raw scale ρ by about 10⁶ a step; once ρ ≈ −10⁶, σ = softplus(ρ) is
    /// zero and the next step is rejected (log q is NaN). The fit goes back to the parameters before the step that
    /// did it (no rate from σ = 0 could help) and halves the rate.
    func testRejectedStepReturnsToTheParametersBeforeTheLastStep() {
        var configuration = SVIConfiguration()
        configuration.learningRate = 1e6
        var svi = SVI(model: model, family: MeanFieldGaussian(dimension: 1), estimator: ReparameterizedELBO(), configuration: configuration)
        var generator = SeededGenerator(seed: 3)
        var states = [svi.family]
        for _ in 0..<20 {
            if svi.step(using: &generator) == nil { break }
            states.append(svi.family)
        }
        XCTAssertGreaterThanOrEqual(states.count, 2)
        XCTAssertLessThan(states.count, 21, "no step was rejected")
        XCTAssertEqual(svi.family.mean.scalars, states[states.count - 2].mean.scalars)
        XCTAssertEqual(svi.family.rawScale.scalars, states[states.count - 2].rawScale.scalars)
        XCTAssertTrue(svi.family.rawScale.softplus().scalars.allSatisfy { $0 > 0 })
        XCTAssertEqual(svi.optimizer.learningRate, 5e5)
        XCTAssertTrue(svi.messages.last?.hasSuffix("learning rate halved to 500000.0, from the parameters before the last step") == true, "\(svi.messages)")
    }

    /// Eight schools with Adam at rate 1 wanders to τ ≈ 0 with the school effects far out, where the ELBO's noise
    /// hides every rise and gradient and the rule held: the final q's ELBO, far below the starting q's, now says
    /// that it has not converged.
    func testFitThatEndsBelowItsStartHasNotConverged() {
        let schools = try! EightSchoolsModel()
        var configuration = SVIConfiguration()
        configuration.learningRate = 1
        var generator = SeededGenerator(seed: 0)
        // As `elbo fit eight-schools --learning-rate 1` starts.
        let start = LaplaceApproximation(model: schools).map(FullRankGaussian.init(laplace:)) ?? FullRankGaussian(dimension: 10)
        var svi = SVI(model: schools, family: start, estimator: StickingTheLandingELBO(warmUp: true), configuration: configuration)
        let result = svi.run(using: &generator)
        XCTAssertFalse(result.converged, result.messages.joined(separator: "\n"))
        XCTAssertTrue(result.messages.last?.contains("the ELBO of the final q is below that of the q the run started from") == true, "\(result.messages)")
    }

    /// A q at which no draw gives a finite gradient (its mean at 1e300) has a NaN z-score, not "nothing to see":
    /// the check once returned nil there, which the rule reads as every gradient negligible, that is, stationary.
    func testStationarityCheckWithoutFiniteGradientsIsNaN() {
        let svi = SVI(model: model, family: MeanFieldGaussian(dimension: 1), estimator: StickingTheLandingELBO())
        let far = MeanFieldGaussian(dimension: 1, mean: Tensor([1e300]))
        let check = svi.largestGradientZScore(far, observations: nil)
        XCTAssertNotNil(check)
        XCTAssertTrue(check?.z.isNaN ?? false, "\(String(describing: check))")
        let near = svi.largestGradientZScore(MeanFieldGaussian(dimension: 1), observations: nil)
        XCTAssertTrue(near.map { $0.z.isFinite && Swift.abs($0.z) > 4 } ?? false, "\(String(describing: near))")
    }

    /// The importance-weighted bound's optimum is a wider q, whose ELBO can end below the Laplace start's: no failure
    /// to converge (`ElboToolTests.testFitWithAnotherBoundIsNotJudgedByTheELBO`). Its fall is not checked; the ELBO
    /// estimators' is, and so is IWAE's or Rényi's with one particle (the ELBO).
    func testFallIsCheckedOnlyForTheELBO() {
        XCTAssertFalse(ImportanceWeightedELBO(particleCount: 10).maximizesTheELBO)
        XCTAssertTrue(ImportanceWeightedELBO(particleCount: 1).maximizesTheELBO)
        XCTAssertFalse(RenyiELBO(particleCount: 10, alpha: 0.5).maximizesTheELBO)
        XCTAssertTrue(RenyiELBO(particleCount: 1, alpha: 0.5).maximizesTheELBO)
        XCTAssertFalse(AnalyticKLELBO(klWeight: 0.5).maximizesTheELBO)
        XCTAssertTrue(AnalyticKLELBO().maximizesTheELBO && StickingTheLandingELBO().maximizesTheELBO && ScoreFunctionELBO().maximizesTheELBO)
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

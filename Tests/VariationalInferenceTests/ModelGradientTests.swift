import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions
import VariationalInference
import VariationalTestSupport
import XCTest

/// A model that claims a hand-written gradient twice the true one: a derivative that reaches it proves that the
/// hand-written gradient is what differentiation uses.
struct DoubledGradientModel: ProbabilisticModel {
    var latents: [Latent] { [Latent("z", Normal(0, 1), shape: [2])] }

    @differentiable(reverse)
    func logLikelihood(_ z: Latents, observations: [Int]?) -> Tensor<Double> { z["z"] * 0 }

    func logJointUnconstrainedWithGradient(_ theta: Tensor<Double>, observations: [Int]?) -> (value: Tensor<Double>, gradient: Tensor<Double>)? {
        (theta.squared().sum(squeezingAxes: 1) * -0.5, theta * -2)
    }
}

/// Hand-written log-joint gradients against automatic differentiation of the same model's log prior and likelihood.
final class ModelGradientTests: XCTestCase {
    func logisticModel() throws -> LogisticRegressionModel {
        var generator = SeededGenerator(seed: 21)
        let x = Tensor<Double>(randomNormal: [40, 3], using: &generator)
        let y = (0..<40).map { _ in Double(generator.next() % 2) }
        return try LogisticRegressionModel(features: x, responses: y, priorMean: 0.3, priorStandardDeviation: 2)
    }

    func testLogisticRegressionGradientMatchesDifferentiation() throws {
        let model = try logisticModel()
        var generator = SeededGenerator(seed: 22)
        // Weights of sd 8 put logits out to ±50, where σ saturates and the softplus tail matters.
        let theta = Tensor<Double>(randomNormal: [3, 3], standardDeviation: 8, using: &generator)
        for observations in [nil, [0, 5, 7, 39]] as [[Int]?] {
            let (value, gradient) = try XCTUnwrap(model.logJointUnconstrainedWithGradient(theta, observations: observations))
            let (reference, pullback) = valueWithPullback(at: theta) {
                model.logJointUnconstrainedByDifferentiation($0, observations: observations)
            }
            let referenceGradient = pullback(Tensor(ones: [3]))
            XCTAssertEqual(value.shape, [3])
            XCTAssertEqual(gradient.shape, [3, 3])
            for i in 0..<3 { assertClose(value.scalars[i], reference.scalars[i], relativeTolerance: 1e-12) }
            for i in 0..<9 { assertClose(gradient.scalars[i], referenceGradient.scalars[i], relativeTolerance: 1e-10) }
        }
        // One particle takes the path without broadcasting the labels.
        let one = theta.slice(axis: 0, range: 1..<2)
        let (oneValue, oneGradient) = try XCTUnwrap(model.logJointUnconstrainedWithGradient(one, observations: nil))
        assertClose(oneValue.scalar, model.logJointUnconstrainedByDifferentiation(one).scalar, relativeTolerance: 1e-12)
        let oneReference = gradient(at: one) { model.logJointUnconstrainedByDifferentiation($0).sum() }
        for i in 0..<3 { assertClose(oneGradient.scalars[i], oneReference.scalars[i], relativeTolerance: 1e-10) }
    }

    func testDifferentiationUsesTheHandWrittenGradient() {
        let model = DoubledGradientModel()
        let theta = Tensor<Double>([[0.5, -1.5], [2, 1]])
        let routed = gradient(at: theta) { model.logJointUnconstrained($0).sum() }
        let automatic = gradient(at: theta) { model.logJointUnconstrainedByDifferentiation($0).sum() }
        XCTAssertEqual(routed, theta * -2)
        XCTAssertEqual(automatic, theta * -1)
        // Weights on the particles reach the hand-written gradient row by row.
        let weighted = gradient(at: theta) { (model.logJointUnconstrained($0) * Tensor([1, 3])).sum() }
        XCTAssertEqual(weighted, Tensor([[-1, 3], [-12, -6]]))
    }

    func testModelsWithoutOneAreDifferentiatedAutomatically() throws {
        let model = try NormalNormalModel(observations: [1.2, 0.4, 2.5], priorMean: 0.5, priorStandardDeviation: 2, noiseStandardDeviation: 1.3)
        XCTAssertNil(model.logJointUnconstrainedWithGradient(Tensor([[0.3]]), observations: nil))
        let theta = Tensor<Double>([[0.3], [1.1]])
        let viaRoute = gradient(at: theta) { model.logJointUnconstrained($0, observations: [0, 2]).sum() }
        let direct = gradient(at: theta) { model.logJointUnconstrainedByDifferentiation($0, observations: [0, 2]).sum() }
        XCTAssertEqual(viaRoute, direct)
        // d/dμ of Σ log N(xᵢ | μ, σ²) · N/B + log N(μ | m, s²) at μ = 0.3 with the minibatch {1.2, 2.5}.
        let expected = (1.2 - 0.3 + 2.5 - 0.3) / (1.3 * 1.3) * 1.5 - (0.3 - 0.5) / 4
        assertClose(viaRoute.scalars[0], expected, relativeTolerance: 1e-12)
    }

    /// The reparameterised ELBO written out by hand (model gradient, mean-field pullback, entropy gradient) gives
    /// the numbers automatic differentiation gives for the same noise.
    func testHandWrittenELBOGradientMatchesDifferentiation() throws {
        let model = try logisticModel()
        var family = MeanFieldGaussian(dimension: 3, initialScale: 0.4)
        family.mean = Tensor([0.2, -0.7, 1.1])
        family.rawScale = Tensor([-1, 0.3, 0.8])
        var generator = SeededGenerator(seed: 23)
        let estimator = ReparameterizedELBO(particleCount: 3)
        let noise = family.sampleNoise(count: 3, using: &generator)
        for observations in [nil, [1, 2, 30]] as [[Int]?] {
            let (loss, gradient) = try XCTUnwrap(estimator.handWrittenLossAndGradient(model: model, family: family, noise: noise, observations: observations))
            let objective = estimator.objective(model: model, family: family, noise: noise, observations: observations)
            let (reference, referenceGradient) = valueWithGradient(at: family, of: objective)
            assertClose(loss, reference.scalar, relativeTolerance: 1e-12)
            for j in 0..<3 {
                assertClose(gradient.mean.scalars[j], referenceGradient.mean.scalars[j], relativeTolerance: 1e-10)
                assertClose(gradient.rawScale.scalars[j], referenceGradient.rawScale.scalars[j], relativeTolerance: 1e-10)
            }
        }
        // Anything not written out by hand leaves the step to automatic differentiation.
        XCTAssertNil(ReparameterizedELBO(particleCount: 3, useClosedFormEntropy: false)
            .handWrittenLossAndGradient(model: model, family: family, noise: noise, observations: nil))
        XCTAssertNil(StickingTheLandingELBO(particleCount: 3).handWrittenLossAndGradient(model: model, family: family, noise: noise, observations: nil))
        XCTAssertNil(estimator.handWrittenLossAndGradient(model: model, family: LowRankGaussian(dimension: 3, rank: 1), noise: noise, observations: nil))
    }

    /// A model written as a user writes it (constrained latents, a minibatch) has no hand-written gradient: the
    /// step differentiates the model alone and the Gaussian families' sampling maps and entropies by hand. Both
    /// families must give the loss and gradient that differentiating the whole objective gives.
    func testUserModelsTakeTheHandWrittenFamilyPath() throws {
        let y = Tensor<Double>([2.1, -0.3, 1.4, 0.8, 3.0])
        let model = Model([Latent("mu", Normal(0, 5)), Latent("sigma", HalfNormal(2)), Latent("shift", Normal(0, 1), shape: [2])],
                          observationCount: 5) { z, batch in
            let rows = withoutDerivative(at: batch ?? Array(0..<5))
            return Normal(z["mu"] + z["shift"].sum(squeezingAxes: 1).expandingShape(at: 1), z["sigma"])
                .logProbability(of: Tensor(rows.map { y.scalars[$0] }))
        }
        XCTAssertNil(model.logJointUnconstrainedWithGradient(Tensor(zeros: [1, 4]), observations: nil))
        var meanField = MeanFieldGaussian(dimension: 4)
        meanField.mean = Tensor([0.4, -0.2, 0.3, -0.9])
        meanField.rawScale = Tensor([-0.5, 0.2, 1.1, -2])
        var fullRank = FullRankGaussian(dimension: 4)
        fullRank.mean = meanField.mean
        fullRank.rawDiagonal = meanField.rawScale
        var generator = SeededGenerator(seed: 24)
        fullRank.lowerFactor = Tensor(randomNormal: [4, 4], standardDeviation: 0.3, using: &generator)
        let estimator = ReparameterizedELBO(particleCount: 3)
        let noise = meanField.sampleNoise(count: 3, using: &generator)
        for observations in [nil, [4, 1]] as [[Int]?] {
            let (loss, gradient) = try XCTUnwrap(estimator.handWrittenLossAndGradient(model: model, family: meanField, noise: noise, observations: observations))
            let (reference, referenceGradient) = valueWithGradient(at: meanField, of: estimator.objective(model: model, family: meanField, noise: noise, observations: observations))
            assertClose(loss, reference.scalar, relativeTolerance: 1e-12)
            assertAllClose(gradient.mean, referenceGradient.mean, 1e-10)
            assertAllClose(gradient.rawScale, referenceGradient.rawScale, 1e-10)

            let (fullLoss, fullGradient) = try XCTUnwrap(estimator.handWrittenLossAndGradient(model: model, family: fullRank, noise: noise, observations: observations))
            let (fullReference, fullReferenceGradient) = valueWithGradient(at: fullRank, of: estimator.objective(model: model, family: fullRank, noise: noise, observations: observations))
            assertClose(fullLoss, fullReference.scalar, relativeTolerance: 1e-12)
            assertAllClose(fullGradient.mean, fullReferenceGradient.mean, 1e-10)
            assertAllClose(fullGradient.lowerFactor, fullReferenceGradient.lowerFactor, 1e-10)
            assertAllClose(fullGradient.rawDiagonal, fullReferenceGradient.rawDiagonal, 1e-10)
        }
    }

    func assertAllClose(_ a: Tensor<Double>, _ b: Tensor<Double>, _ tolerance: Double, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, file: file, line: line)
        for (x, y) in zip(a.scalars.array, b.scalars.array) {
            XCTAssertEqual(x, y, accuracy: tolerance * Swift.max(1, Swift.abs(y)), file: file, line: line)
        }
    }
}

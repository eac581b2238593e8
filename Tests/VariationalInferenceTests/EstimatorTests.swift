import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions
import VariationalInference
import VariationalTestSupport
import XCTest

/// Estimators on the normal–normal model, where the ELBO of a Gaussian q(μ) = N(m, s²) is known in closed form:
/// E_q[log p(x | μ)] + E_q[log p(μ)] + H(q) with E_q[(x − μ)²] = (x − m)² + s². Statistical checks are seeded and
/// allow 5 standard errors.
final class EstimatorTests: XCTestCase {
    let model = try! NormalNormalModel(observations: [1.2, 0.4, 2.5, 1.9, 0.7], priorMean: 0.5, priorStandardDeviation: 2, noiseStandardDeviation: 1.3)
    var family: MeanFieldGaussian {
        var q = MeanFieldGaussian(dimension: 1, initialScale: 0.6)
        q.mean = Tensor([0.9])
        return q
    }

    /// The exact ELBO as a differentiable function of the family.
    func exactELBO(_ q: MeanFieldGaussian) -> Tensor<Double> {
        let (x, m0, s0, sigma) = (Tensor(model.observations), model.priorMean, model.priorStandardDeviation, model.noiseStandardDeviation)
        func elbo(_ q: MeanFieldGaussian) -> Tensor<Double> {
            let m = q.mean.reshaped(to: [])
            let s2 = q.scale.reshaped(to: []).squared()
            let n = Double(x.scalarCount)
            let likelihood = ((x - m).squared().sum() + s2 * n) / (sigma * sigma) * -0.5 - n * Foundation.log(sigma * (2 * Double.pi).squareRoot())
            let prior = ((m - m0).squared() + s2) / (s0 * s0) * -0.5 - Foundation.log(s0 * (2 * Double.pi).squareRoot())
            let entropy = s2.log() * 0.5 + 0.5 * Foundation.log(2 * Double.pi * M_E)
            return likelihood + prior + entropy
        }
        return elbo(q)
    }

    func exactGradient(_ q: MeanFieldGaussian) -> [Double] {
        let g = gradient(at: q) { q -> Tensor<Double> in
            let (x, m0, s0, sigma) = (Tensor(self.model.observations), self.model.priorMean, self.model.priorStandardDeviation, self.model.noiseStandardDeviation)
            let m = q.mean.reshaped(to: [])
            let s2 = q.scale.reshaped(to: []).squared()
            let n = Double(x.scalarCount)
            let likelihood = ((x - m).squared().sum() + s2 * n) / (sigma * sigma) * -0.5
            let prior = ((m - m0).squared() + s2) / (s0 * s0) * -0.5
            return -(likelihood + prior + s2.log() * 0.5)
        }
        return [g.mean.scalars[0], g.rawScale.scalars[0]]
    }

    /// Averages of `draws` single-step losses and loss gradients, with standard errors.
    func averages<E: ELBOEstimator>(_ estimator: E, draws: Int, seed: UInt64) -> (value: (Double, Double), mean: (Double, Double), scale: (Double, Double)) {
        var generator = SeededGenerator(seed: seed)
        var values: [Double] = []
        var meanGradients: [Double] = []
        var scaleGradients: [Double] = []
        for _ in 0..<draws {
            let noise = family.sampleNoise(count: estimator.particleCount, using: &generator)
            let (loss, g) = valueWithGradient(at: family, of: estimator.objective(model: model, family: family, noise: noise, observations: nil))
            values.append(loss.scalar)
            meanGradients.append(g.mean.scalars[0])
            scaleGradients.append(g.rawScale.scalars[0])
        }
        return (meanAndStandardError(values), meanAndStandardError(meanGradients), meanAndStandardError(scaleGradients))
    }

    func assertUnbiased<E: ELBOEstimator>(_ estimator: E, draws: Int = 4000, checkValue: Bool = true, file: StaticString = #filePath, line: UInt = #line) {
        let exact = -exactELBO(family).scalar
        let gradient = exactGradient(family)
        let a = averages(estimator, draws: draws, seed: 3)
        if checkValue {
            XCTAssertEqual(a.value.0, exact, accuracy: 5 * a.value.1 + 1e-12, "\(estimator.name) value", file: file, line: line)
        }
        XCTAssertEqual(a.mean.0, gradient[0], accuracy: 5 * a.mean.1 + 1e-12, "\(estimator.name) ∂/∂mean", file: file, line: line)
        XCTAssertEqual(a.scale.0, gradient[1], accuracy: 5 * a.scale.1 + 1e-12, "\(estimator.name) ∂/∂ρ", file: file, line: line)
    }

    func testReparameterizedIsUnbiased() {
        assertUnbiased(ReparameterizedELBO(particleCount: 1, useClosedFormEntropy: false))
        assertUnbiased(ReparameterizedELBO(particleCount: 3, useClosedFormEntropy: true))
    }

    func testAnalyticKLIsUnbiased() { assertUnbiased(AnalyticKLELBO(particleCount: 1)) }

    func testStickingTheLandingIsUnbiased() { assertUnbiased(StickingTheLandingELBO(particleCount: 2)) }

    func testScoreFunctionIsUnbiased() { assertUnbiased(ScoreFunctionELBO(particleCount: 10), draws: 8000) }

    /// At the exact posterior, sticking the landing has zero gradient variance; the plain estimator does not.
    func testStickingTheLandingVanishesAtTheOptimum() {
        let exact = model.posteriorMeanAndStandardDeviation
        var q = MeanFieldGaussian(dimension: 1, initialScale: exact.standardDeviation)
        q.mean = Tensor([exact.mean])
        var generator = SeededGenerator(seed: 4)
        for _ in 0..<20 {
            let noise = q.sampleNoise(count: 1, using: &generator)
            let g = gradient(at: q, of: StickingTheLandingELBO().objective(model: model, family: q, noise: noise, observations: nil))
            XCTAssertEqual(g.mean.scalars[0], 0, accuracy: 1e-9)
            XCTAssertEqual(g.rawScale.scalars[0], 0, accuracy: 1e-9)
        }
    }

    /// The IWAE bound's expectation rises with K toward log p(x); K = 1 is the ELBO; DReG and the plain
    /// gradient agree in expectation; Rényi with α = 0 is the IWAE bound.
    func testImportanceWeightedBounds() {
        var previous = -Double.infinity
        let evidence = model.exactLogEvidence
        for k in [1, 4, 32] {
            let a = averages(ImportanceWeightedELBO(particleCount: k), draws: 2000, seed: 5)
            let bound = -a.value.0
            XCTAssertLessThanOrEqual(bound, evidence + 5 * a.value.1)
            XCTAssertGreaterThan(bound, previous - 5 * a.value.1)
            if k == 1 { XCTAssertEqual(bound, exactELBO(family).scalar, accuracy: 5 * a.value.1) }
            previous = bound
        }
        let plain = averages(ImportanceWeightedELBO(particleCount: 8), draws: 4000, seed: 6)
        let dreg = averages(ImportanceWeightedELBO(particleCount: 8, doublyReparameterized: true), draws: 4000, seed: 7)
        XCTAssertEqual(plain.mean.0, dreg.mean.0, accuracy: 5 * (plain.mean.1 + dreg.mean.1))
        XCTAssertEqual(plain.scale.0, dreg.scale.0, accuracy: 5 * (plain.scale.1 + dreg.scale.1))
        XCTAssertLessThan(dreg.scale.1, plain.scale.1, "DReG should lower the variance of the scale gradient")
        var generator = SeededGenerator(seed: 8)
        let noise = family.sampleNoise(count: 8, using: &generator)
        let iwae = ImportanceWeightedELBO(particleCount: 8).loss(model: model, family: family, noise: noise, observations: nil)
        let renyi = RenyiELBO(particleCount: 8, alpha: 0).loss(model: model, family: family, noise: noise, observations: nil)
        XCTAssertEqual(iwae.scalar, renyi.scalar, accuracy: 1e-12)
        let halfway = averages(RenyiELBO(particleCount: 8, alpha: 0.5), draws: 2000, seed: 9)
        XCTAssertLessThanOrEqual(-halfway.value.0, evidence + 5 * halfway.value.1)
    }

    /// A minibatch's likelihood is scaled by N/B, so its expectation over random minibatches is the full likelihood.
    func testMinibatchScaling() {
        let theta = Tensor<Double>([[0.8], [1.4]])
        let full = model.logLikelihoodUnconstrained(theta)
        var sums = [0.0, 0.0]
        let subsets = [[0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [1, 3], [1, 4], [2, 3], [2, 4], [3, 4]]
        for subset in subsets {
            let part = model.logLikelihoodUnconstrained(theta, observations: subset)
            for i in 0..<2 { sums[i] += part.scalars[i] / Double(subsets.count) }
        }
        for i in 0..<2 { XCTAssertEqual(sums[i], full.scalars[i], accuracy: 1e-10) }
    }
}

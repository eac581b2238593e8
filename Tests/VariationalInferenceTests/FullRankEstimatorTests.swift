import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions
import VariationalInference
import VariationalTestSupport
import XCTest

/// Estimators on a full-rank family and a model with a constrained latent (eight schools): sticking the landing
/// and the plain reparameterised gradient must agree in expectation.
final class FullRankEstimatorTests: XCTestCase {
    func averagedGradient<E: ELBOEstimator>(_ estimator: E, _ family: FullRankGaussian, _ model: EightSchoolsModel, draws: Int, seed: UInt64)
        -> (mean: [Double], standardError: [Double])
    {
        var generator = SeededGenerator(seed: seed)
        var rows: [[Double]] = []
        for _ in 0..<draws {
            let noise = family.sampleNoise(count: estimator.particleCount, using: &generator)
            let g = gradient(at: family, of: estimator.objective(model: model, family: family, noise: noise, observations: nil))
            rows.append(g.mean.scalars.array + g.lowerFactor.scalars.array + g.rawDiagonal.scalars)
        }
        let columns = (0..<rows[0].count).map { j in meanAndStandardError(rows.map { $0[j] }) }
        return (columns.map(\.0), columns.map(\.1))
    }

    func testStickingTheLandingIsUnbiasedOnAFullRankFamily() throws {
        let model = try EightSchoolsModel()
        var family = FullRankGaussian(dimension: 10)
        var generator = SeededGenerator(seed: 11)
        family.mean = Tensor(randomNormal: [10], using: &generator) * 0.5 + Tensor([4, 1, 0, 0, 0, 0, 0, 0, 0, 0])
        family.lowerFactor = Tensor(randomNormal: [10, 10], using: &generator) * 0.2
        family.rawDiagonal = Tensor(randomNormal: [10], using: &generator) * 0.3
        let stl = averagedGradient(StickingTheLandingELBO(particleCount: 1), family, model, draws: 5_000, seed: 1)
        let plain = averagedGradient(ReparameterizedELBO(particleCount: 1, useClosedFormEntropy: true), family, model, draws: 5_000, seed: 2)
        for j in stl.mean.indices where stl.standardError[j] + plain.standardError[j] > 0 {
            XCTAssertEqual(stl.mean[j], plain.mean[j], accuracy: 5 * (stl.standardError[j] + plain.standardError[j]), "parameter \(j)")
        }
    }
}

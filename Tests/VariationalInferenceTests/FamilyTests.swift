import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions
import VariationalInference
import VariationalTestSupport
import XCTest

/// The full-rank Gaussian's sample and entropy, each one operation with its own derivative, against the same
/// quantities composed from the multivariate normal (values) and against finite differences (gradients).
final class FamilyTests: XCTestCase {
    func family() -> FullRankGaussian {
        var q = FullRankGaussian(dimension: 4)
        q.mean = Tensor([0.5, -1, 2, 0.1])
        q.lowerFactor = Tensor(shape: [4, 4], scalars: (0..<16).map { Double($0 % 5) / 4 - 0.4 })
        q.rawDiagonal = Tensor([-1, 0.3, 2, -30])
        return q
    }

    func testSampleAndEntropyAgreeWithTheMultivariateNormal() {
        let q = family()
        var generator = SeededGenerator(seed: 3)
        let noise = Tensor<Double>(randomNormal: [3, 4], using: &generator)
        let composed = q.gaussian()
        let expected = composed.sample(fromNoise: noise)
        for (a, b) in zip(q.sample(fromNoise: noise).scalars, expected.scalars) { assertClose(a, b, relativeTolerance: 1e-14) }
        assertClose(q.entropy().scalar, composed.entropy().scalar, relativeTolerance: 1e-14)
    }

    func testGradientsMatchFiniteDifferences() {
        let q = family()
        var generator = SeededGenerator(seed: 4)
        let noise = Tensor<Double>(randomNormal: [3, 4], using: &generator)
        let weights = Tensor<Double>(randomNormal: [3, 4], using: &generator)
        assertGradientMatchesFiniteDifferences("sample and entropy", { p in
            var f = q
            (f.mean, f.lowerFactor, f.rawDiagonal) = (p[0], p[1], p[2])
            return (f.sample(fromNoise: noise) * weights).sum() + f.entropy() * 0.7
        }, at: [q.mean, q.lowerFactor, Tensor([-1, 0.3, 2, -3])])
    }
}

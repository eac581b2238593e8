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

    /// log q at q's own draws, as the ELBO's checks and diagnostics take it, is −‖ε‖²/2 − Σ log Lᵢᵢ − D/2 log 2π
    /// computed from the noise: exact for a q with a scale of 1e-13 beside ones near 1 (−30 in ρ), where solving θ − μ
    /// back through L is not, and equal to the density of θ, value and gradient, for a q whose scales are all near 1.
    /// The same for the mean-field family, whose tiny scale sits beside a mean of 1e9.
    func testLogDensityOfOwnDrawsComesFromTheNoise() {
        var generator = SeededGenerator(seed: 5)
        let noise = Tensor<Double>(randomNormal: [6, 4], using: &generator)
        func exact(_ logScales: [Double]) -> [Double] {
            (0..<6).map { s in
                -0.5 * (0..<4).reduce(0) { $0 + noise[s, $1] * noise[s, $1] } - logScales.reduce(0, +) - 2 * Foundation.log(2 * Double.pi)
            }
        }
        let q = family()
        let logDiagonal = q.rawDiagonal.scalars.map { Foundation.log(Foundation.log1p(Foundation.exp($0))) }
        for (a, b) in zip(q.sampleWithLogDensity(fromNoise: noise).logDensity.scalars, exact(logDiagonal)) {
            assertClose(a, b, relativeTolerance: 1e-14)
        }
        var meanField = MeanFieldGaussian(dimension: 4, mean: Tensor([1e9, 0, -3, 2]))
        meanField.rawScale = Tensor([-30, 0.2, 1, -0.5])
        let logScales = meanField.rawScale.scalars.map { Foundation.log(Foundation.log1p(Foundation.exp($0))) }
        for (a, b) in zip(meanField.sampleWithLogDensity(fromNoise: noise).logDensity.scalars, exact(logScales)) {
            assertClose(a, b, relativeTolerance: 1e-14)
        }
        var moderate = q
        moderate.rawDiagonal = Tensor([-1, 0.3, 2, -3])
        let weights = Tensor<Double>(randomNormal: [6], using: &generator)
        let (own, ownGradient) = valueWithGradient(at: moderate) { f in (f.sampleWithLogDensity(fromNoise: noise).logDensity * weights).sum() }
        let (ofTheta, thetaGradient) = valueWithGradient(at: moderate) { f in (f.logDensity(f.sample(fromNoise: noise)) * weights).sum() }
        assertClose(own.scalar, ofTheta.scalar, relativeTolerance: 1e-12)
        for (a, b) in [(ownGradient.mean, thetaGradient.mean), (ownGradient.lowerFactor, thetaGradient.lowerFactor), (ownGradient.rawDiagonal, thetaGradient.rawDiagonal)] {
            let (a, b) = (a.materialized(shape: b.shape), b.materialized(shape: a.shape))
            for (x, y) in zip(a.scalars, b.scalars) { XCTAssertEqual(x, y, accuracy: 1e-10 * Swift.max(1, Swift.abs(y))) }
        }
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

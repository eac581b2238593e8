import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore
import VariationalDistributions
import VariationalTestSupport
import XCTest

final class ReparameterizationTests: XCTestCase {
    var generator = SeededGenerator(seed: 21)

    /// Location-scale and transformed samples: the gradient of the sample with fixed noise against finite differences.
    func testExplicitReparameterizations() {
        let noise = T(randomNormal: [5], using: &generator)
        assertGradientMatchesFiniteDifferences("Normal", { xs in Normal(uncheckedLocation: xs[0], scale: xs[1]).sample(fromNoise: noise) },
                                               at: [scalar(0.3), scalar(1.2)])
        assertGradientMatchesFiniteDifferences("LogNormal", { xs in LogNormal(uncheckedLocation: xs[0], scale: xs[1]).sample(fromNoise: noise) },
                                               at: [scalar(0.3), scalar(0.5)])
        let uniform = T(randomUniform: [5], low: -0.45, high: 0.45, using: &generator)
        assertGradientMatchesFiniteDifferences("Laplace", { xs in Laplace(uncheckedLocation: xs[0], scale: xs[1]).sample(fromNoise: uniform) },
                                               at: [scalar(0.3), scalar(1.2)])
        let mvnNoise = T(randomNormal: [4, 2], using: &generator)
        assertGradientMatchesFiniteDifferences("MultivariateNormal", { xs in
            MultivariateNormal(uncheckedLocation: xs[0], scaleTril: xs[1]).sample(fromNoise: mvnNoise)
        }, at: [T([0.3, -1]), T([[1, 0], [0.5, 2]])])
        let gumbel = T(randomGumbel: [3, 4], using: &generator)
        assertGradientMatchesFiniteDifferences("RelaxedOneHotCategorical", { xs in
            RelaxedOneHotCategorical(uncheckedTemperature: 0.7, logits: xs[0]).sample(fromNoise: gumbel)
        }, at: [T([0.3, -1, 2, 0])])
        let logistic = T(randomUniform: [6], low: -3, high: 3, using: &generator)
        assertGradientMatchesFiniteDifferences("RelaxedBernoulli", { xs in
            RelaxedBernoulli(uncheckedTemperature: 0.5, logits: xs[0]).sample(fromNoise: logistic)
        }, at: [T([0.3, -1, 2, 0, 1, 1])])
    }

    /// The full-rank Gaussian's log density in the value, the location and the factor (the path that sticking the
    /// landing differentiates through), including an off-diagonal factor and several rows of values.
    func testMultivariateNormalLogDensityGradient() {
        let values = T(randomNormal: [3, 3], using: &generator)
        assertGradientMatchesFiniteDifferences("MultivariateNormal log density", { xs in
            MultivariateNormal(uncheckedLocation: xs[1], scaleTril: xs[2]).logProbability(of: xs[0]).sum()
        }, at: [values, T([0.3, -1, 0.2]), T([[1.1, 0, 0], [0.5, 2, 0], [-0.7, 0.4, 0.6]])])
        // Each row separately weighted, so that a row mixed up with another would show.
        assertGradientMatchesFiniteDifferences("MultivariateNormal log density per row", { xs in
            (MultivariateNormal(uncheckedLocation: xs[1], scaleTril: xs[2]).logProbability(of: xs[0]) * T([1, -2, 3])).sum()
        }, at: [values, T([0.3, -1, 0.2]), T([[1.1, 0, 0], [0.5, 2, 0], [-0.7, 0.4, 0.6]])])
    }

    /// The CDF-based definition of the implicit gradient: for u = F(z; α), z(α) = F⁻¹(u; α). Differentiate that
    /// by central differences (solving F(z; α ± h) = u by bisection) and compare with the implicit gradient.
    func testImplicitGammaGradientAgainstTheInverseCDF() {
        for alpha in [0.3, 1.0, 2.5, 40.0] {
            for quantile in [0.05, 0.5, 0.95] {
                let z = inverseGammaCDF(alpha: alpha, probability: quantile)
                let h = 1e-5 * alpha
                let numerical = (inverseGammaCDF(alpha: alpha + h, probability: quantile)
                    - inverseGammaCDF(alpha: alpha - h, probability: quantile)) / (2 * h)
                let implicit = standardGammaSampleDerivative(alpha: alpha, z: z)
                XCTAssertEqual(implicit, numerical, accuracy: 1e-6 * Swift.max(1, Swift.abs(numerical)), "α = \(alpha), u = \(quantile)")
            }
        }
    }

    /// Implicit gradients reach Gamma, Beta, Dirichlet and InverseGamma samples; the expectation of the gradient
    /// of a sample mean equals the gradient of the mean (d/dα E[x] = 1/β for Gamma), within 5 standard errors.
    func testImplicitGradientsAreUnbiased() throws {
        let n = 20_000
        let gamma = try Gamma(concentration: scalar(2.5), rate: scalar(2))
        let gammaNoise = gamma.sampleNoise(sampleShape: [n], using: &generator)
        let perSample = (0..<n).map { i -> Double in
            let z = gammaNoise.slice(axis: 0, range: i..<(i + 1))
            return gradient(at: scalar(2.5)) { a in Gamma(uncheckedConcentration: a, rate: scalar(2)).sample(fromNoise: z).sum() }.scalar
        }
        let (estimate, error) = meanAndStandardError(perSample)
        XCTAssertEqual(estimate, 0.5, accuracy: 5 * error)

        // Beta: d/da E[x] = b / (a + b)².
        let beta = try Beta(alpha: scalar(2), beta: scalar(3))
        let betaNoise = beta.sampleNoise(sampleShape: [n], using: &generator)
        let g = gradient(at: scalar(2)) { a in Beta(uncheckedAlpha: a, beta: scalar(3)).sample(fromNoise: betaNoise).mean() }
        XCTAssertEqual(g.scalar, 3.0 / 25, accuracy: 0.01)

        // Dirichlet: d/dα₀ E[x₀] = (α₀ + α₁ + α₂ − α₀) / α_total² for α = (1, 2, 3): 5/36.
        let dirichlet = try Dirichlet(concentration: T([1, 2, 3]))
        let dirichletNoise = dirichlet.sampleNoise(sampleShape: [n], using: &generator)
        let gd = gradient(at: T([1, 2, 3])) { a in
            Dirichlet(uncheckedConcentration: a).sample(fromNoise: dirichletNoise).slice(axis: 1, range: 0..<1).mean()
        }
        XCTAssertEqual(gd.scalars[0], 5.0 / 36, accuracy: 0.01)

        // InverseGamma: d/dβ E[x] = 1/(α − 1).
        let inverse = try InverseGamma(concentration: scalar(4), scale: scalar(2))
        let inverseNoise = inverse.sampleNoise(sampleShape: [n], using: &generator)
        let gi = gradient(at: scalar(2)) { b in InverseGamma(uncheckedConcentration: scalar(4), scale: b).sample(fromNoise: inverseNoise).mean() }
        XCTAssertEqual(gi.scalar, 1.0 / 3, accuracy: 0.01)
    }

    func testRegularizedIncompleteGamma() {
        // P(1, x) = 1 − e^−x; P(a, x) for integer a is 1 − e^−x Σ_{k<a} x^k/k!.
        for x in [0.01, 0.5, 3.0, 20.0] {
            assertClose(SpecialFunctions.regularizedLowerIncompleteGamma(1, x), -Foundation.expm1(-x), relativeTolerance: 1e-13)
            let poissonTail = Foundation.exp(-x) * (1 + x + x * x / 2)
            assertClose(SpecialFunctions.regularizedLowerIncompleteGamma(3, x), 1 - poissonTail, relativeTolerance: 1e-12)
        }
        // ∂P/∂a against central differences of P.
        for (a, x) in [(0.4, 0.2), (2.5, 3.0), (30.0, 25.0), (5.0, 40.0)] {
            let h = 1e-6
            let numerical = (SpecialFunctions.regularizedLowerIncompleteGamma(a + h, x)
                - SpecialFunctions.regularizedLowerIncompleteGamma(a - h, x)) / (2 * h)
            let series = SpecialFunctions.regularizedLowerIncompleteGammaDerivativeWithRespectToShape(a, x)
            XCTAssertEqual(series, numerical, accuracy: 1e-7, "a = \(a), x = \(x)")
        }
    }
}

/// z with P(α, z) = probability, by bisection on a bracket that doubles until it holds the root.
func inverseGammaCDF(alpha: Double, probability: Double) -> Double {
    var low = 0.0
    var high = Swift.max(1, alpha)
    while SpecialFunctions.regularizedLowerIncompleteGamma(alpha, high) < probability { high *= 2 }
    for _ in 0..<200 {
        let middle = (low + high) / 2
        if SpecialFunctions.regularizedLowerIncompleteGamma(alpha, middle) < probability { low = middle } else { high = middle }
    }
    return (low + high) / 2
}

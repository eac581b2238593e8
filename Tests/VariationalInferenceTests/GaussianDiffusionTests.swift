import Foundation
import VariationalCore
import VariationalDistributions
import VariationalInference
import XCTest

final class GaussianDiffusionTests: XCTestCase {
    let points = [-1.3, 0.4, 2.0, 3.7]

    func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }

    /// The closed-form terms against Monte Carlo over sampled forward chains, and the ELBO below log p(x₀).
    func testClosedFormELBOMatchesSampledChains() throws {
        var generator = SeededGenerator(seed: 1)
        for variance in GaussianDiffusion.ReverseVariance.allCases {
            let diffusion = try GaussianDiffusion(dataMean: 1.5, dataStandardDeviation: 0.8, steps: 20, reverseVariance: variance)
            for x0 in points {
                let draws = (0..<20_000).map { _ in diffusion.sampledLogWeight(x0, using: &generator) }
                let (estimate, standardError) = meanAndStandardError(draws)
                let elbo = diffusion.terms(x0).elbo
                XCTAssertEqual(estimate, elbo, accuracy: 4 * standardError, "\(variance), x₀ = \(x0)")
                XCTAssertLessThan(standardError, 0.05)
                XCTAssertLessThanOrEqual(elbo, diffusion.logLikelihood(x0) + 1e-12)
            }
        }
    }

    /// Averaged over the data, E[ELBO] ≤ E[log p(x₀)] ≤ −H(data) (Gibbs). With DDPM's σ_t² = β_t the ELBO rises to
    /// −H(data) as T grows at a fixed final noise level. With the true reverse variances the reverse chain is the
    /// forward chain run backwards but for p(x_T) = N(0, 1): the ELBO is the same for every T, short of −H(data) only
    /// by that mismatch at x_T.
    func testTheELBOApproachesTheExactLogLikelihoodAsTheChainGrows() throws {
        var previous = -Double.infinity
        var optimalELBOs: [Double] = []
        for steps in [1, 2, 5, 20, 100, 1000, 10_000] {
            let diffusion = try GaussianDiffusion(dataMean: 1.5, dataStandardDeviation: 0.8, steps: steps)
            let elbo = diffusion.overData { diffusion.terms($0).elbo }
            let logLikelihood = diffusion.overData(diffusion.logLikelihood)
            XCTAssertLessThanOrEqual(elbo, logLikelihood + 1e-12, "T = \(steps)")
            XCTAssertLessThanOrEqual(logLikelihood, diffusion.dataNegativeEntropy + 1e-12, "T = \(steps)")
            XCTAssertGreaterThan(elbo, previous, "T = \(steps)")
            previous = elbo
            let optimal = try GaussianDiffusion(dataMean: 1.5, dataStandardDeviation: 0.8, steps: steps, reverseVariance: .optimal)
            optimalELBOs.append(optimal.overData { optimal.terms($0).elbo })
        }
        let entropy = try GaussianDiffusion(dataMean: 1.5, dataStandardDeviation: 0.8, steps: 1).dataNegativeEntropy
        XCTAssertGreaterThan(entropy - optimalELBOs[0], 1e-5)
        XCTAssertLessThan(entropy - optimalELBOs[0], 2e-4)
        for value in optimalELBOs { XCTAssertEqual(value, optimalELBOs[0], accuracy: 1e-11) }
        // DDPM's kernels: 0.043 nats short with one step, within 2e-4 of the best kernels with 10,000.
        let one = try GaussianDiffusion(dataMean: 1.5, dataStandardDeviation: 0.8, steps: 1)
        XCTAssertGreaterThan(entropy - one.overData { one.terms($0).elbo }, 0.04)
        XCTAssertLessThan(optimalELBOs[0] - previous, 2e-4)
        XCTAssertGreaterThan(optimalELBOs[0] - previous, 0)
    }

    /// With T = 1 the model is one linear-Gaussian layer: everything by hand. ᾱ₁ = 1e-4, so x₁ = 0.01 x₀ + √0.9999 ε.
    func testOneStepByHand() throws {
        let d = try GaussianDiffusion(dataMean: 1.5, dataStandardDeviation: 0.8, steps: 1, reverseVariance: .optimal)
        let (bar, s2) = (1e-4, 0.64)
        let v1 = bar * s2 + 1 - bar
        let a = bar.squareRoot() * s2 / v1
        let b = 1.5 - a * bar.squareRoot() * 1.5
        let r = s2 - bar * s2 * s2 / v1
        XCTAssertEqual(d.reverseSlope[0], a, accuracy: 1e-15)
        XCTAssertEqual(d.reverseIntercept[0], b, accuracy: 1e-15)
        XCTAssertEqual(d.reverseVariances[0], r, accuracy: 1e-15)
        // p(x₀) = N(b, a² + r): x₁ ~ N(0, 1) under p.
        let x0 = 0.4
        let pv = a * a + r
        XCTAssertEqual(d.logLikelihood(x0), -0.5 * (Foundation.log(2 * Double.pi * pv) + (x0 - b) * (x0 - b) / pv), accuracy: 1e-12)
        XCTAssertTrue(d.terms(x0).denoising.isEmpty)
    }

    /// Each L_{t−1} is C_t + w_t E(ε − ε̂)²: the KL and the noise-prediction error agree term by term.
    func testSimplifiedLossIsAReweighting() throws {
        for variance in GaussianDiffusion.ReverseVariance.allCases {
            let diffusion = try GaussianDiffusion(dataMean: -0.5, dataStandardDeviation: 1.7, steps: 50, reverseVariance: variance)
            for x0 in points {
                let terms = diffusion.terms(x0)
                for t in [2, 3, 25, 50] {
                    let view = diffusion.noisePrediction(t, x0)
                    XCTAssertEqual(view.constant + view.weight * view.squaredError, terms.denoising[t - 2],
                                   accuracy: 1e-10 * Swift.max(1, terms.denoising[t - 2]), "\(variance), t = \(t)")
                }
            }
        }
    }

    func testBadParametersAreRefused() {
        XCTAssertThrowsError(try GaussianDiffusion(dataMean: 0, dataStandardDeviation: 0, steps: 5))
        XCTAssertThrowsError(try GaussianDiffusion(dataMean: .nan, dataStandardDeviation: 1, steps: 5))
        XCTAssertThrowsError(try GaussianDiffusion(dataMean: 0, dataStandardDeviation: 1, steps: 0))
        XCTAssertThrowsError(try GaussianDiffusion(dataMean: 0, dataStandardDeviation: 1, steps: 5, finalSignal: 1))
    }
}

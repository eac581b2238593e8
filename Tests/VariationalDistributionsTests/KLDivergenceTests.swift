import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore
import VariationalDistributions
import VariationalTestSupport
import XCTest

/// An ELBO-shaped function written over any q and p: it must reach the closed form through generics.
func genericKL<Q: Distribution, P: Distribution>(_ q: Q, _ p: P) -> (value: Double, closedForm: Bool)
where Q.Scalar == Double, P.Scalar == Double {
    var generator = SeededGenerator(seed: 3)
    let estimate = klDivergence(from: q, to: p, sampleCount: 1000, using: &generator)
    return (estimate.value, estimate.method == .closedForm)
}

final class KLDivergenceTests: XCTestCase {
    let r = ReferenceValues.klDivergences

    func testClosedFormsAgainstReferenceValues() throws {
        let cases: [(String, Double)] = [
            ("normal", try Normal(location: 0.3, scale: 0.7).klDivergence(to: Normal(location: -1, scale: 2)).scalar),
            ("laplace", try Laplace(location: scalar(0.5), scale: scalar(0.8)).klDivergence(to: Laplace(location: scalar(-0.2), scale: scalar(1.5))).scalar),
            ("exponential", try Exponential(rate: scalar(2)).klDivergence(to: Exponential(rate: scalar(0.5))).scalar),
            ("gamma", try Gamma(concentration: scalar(2.5), rate: scalar(1.5)).klDivergence(to: Gamma(concentration: scalar(4), rate: scalar(3))).scalar),
            ("beta", try Beta(alpha: scalar(2), beta: scalar(3)).klDivergence(to: Beta(alpha: scalar(0.8), beta: scalar(1.5))).scalar),
            ("uniform", try Uniform(low: scalar(0.2), high: scalar(0.7)).klDivergence(to: Uniform(low: scalar(-1), high: scalar(2))).scalar),
            ("bernoulli", try Bernoulli(logits: scalar(0.4)).klDivergence(to: Bernoulli(logits: scalar(-1.1))).scalar),
            ("categorical", try Categorical(logits: T([0.1, 1, -0.5])).klDivergence(to: Categorical(logits: T([0, -1, 2]))).scalar),
            ("poisson", try Poisson(rate: scalar(3)).klDivergence(to: Poisson(rate: scalar(5.5))).scalar),
            ("multivariateNormal", try MultivariateNormal(location: T(ReferenceValues.mvnMean), covariance: T(ReferenceValues.mvnCovariance))
                .klDivergence(to: MultivariateNormal(location: T(ReferenceValues.mvnOtherMean), covariance: T(ReferenceValues.mvnOtherCovariance))).scalar),
        ]
        XCTAssertEqual(cases.count, r.count)
        for (name, value) in cases { assertClose(value, r[name]!, relativeTolerance: 1e-9, name) }
        XCTAssertEqual(try Uniform(low: scalar(0), high: scalar(2)).klDivergence(to: Uniform(low: scalar(1), high: scalar(3))).scalar, .infinity)
    }

    func testClosedFormsAgainstMonteCarlo() throws {
        checkKLAgainstMonteCarlo("Normal", try Normal(location: T([0.3, 1]), scale: T([0.7, 2])), try Normal(location: T([-1, 0]), scale: T([2, 1.5])))
        checkKLAgainstMonteCarlo("LogNormal", try LogNormal(location: scalar(0.3), scale: scalar(0.5)), try LogNormal(location: scalar(0), scale: scalar(1)))
        checkKLAgainstMonteCarlo("Laplace", try Laplace(location: scalar(0.5), scale: scalar(0.8)), try Laplace(location: scalar(-0.2), scale: scalar(1.5)))
        checkKLAgainstMonteCarlo("Exponential", try Exponential(rate: scalar(2)), try Exponential(rate: scalar(0.5)))
        checkKLAgainstMonteCarlo("Gamma", try Gamma(concentration: scalar(2.5), rate: scalar(1.5)), try Gamma(concentration: scalar(4), rate: scalar(3)))
        checkKLAgainstMonteCarlo("Beta", try Beta(alpha: scalar(2), beta: scalar(3)), try Beta(alpha: scalar(0.8), beta: scalar(1.5)))
        checkKLAgainstMonteCarlo("Dirichlet", try Dirichlet(concentration: T([0.7, 2, 5.5])), try Dirichlet(concentration: T([1, 1, 1])))
        checkKLAgainstMonteCarlo("Uniform", try Uniform(low: scalar(0.2), high: scalar(0.7)), try Uniform(low: scalar(-1), high: scalar(2)))
        checkKLAgainstMonteCarlo("Bernoulli", try Bernoulli(logits: scalar(0.4)), try Bernoulli(logits: scalar(-1.1)))
        checkKLAgainstMonteCarlo("Categorical", try Categorical(logits: T([0.1, 1, -0.5])), try Categorical(logits: T([0, -1, 2])))
        checkKLAgainstMonteCarlo("OneHotCategorical", try OneHotCategorical(logits: T([0.1, 1, -0.5])), try OneHotCategorical(logits: T([0, -1, 2])))
        checkKLAgainstMonteCarlo("Poisson", try Poisson(rate: scalar(3)), try Poisson(rate: scalar(5.5)))
        let mean = T(ReferenceValues.mvnMean)
        let full = try MultivariateNormal(location: mean, covariance: T(ReferenceValues.mvnCovariance))
        let diagonal = try MultivariateNormal(location: T([0, 0, 0]), scaleDiagonal: T([1, 2, 0.5]))
        let lowRank = try MultivariateNormal(
            location: T([1, 1, 1]), covarianceFactor: T([[1, 0], [0.5, 1], [0, -1]]), covarianceDiagonal: T([0.5, 0.5, 0.5]))
        checkKLAgainstMonteCarlo("MVN full ‖ diagonal", full, diagonal)
        checkKLAgainstMonteCarlo("MVN diagonal ‖ low rank", diagonal, lowRank)
        checkKLAgainstMonteCarlo("MVN low rank ‖ full", lowRank, full)
        checkKLAgainstMonteCarlo(
            "Independent Normal",
            Independent(try Normal(location: T([[0, 1], [2, 3]]), scale: T([1, 2])), reinterpretedBatchDimensions: 1),
            Independent(try Normal(location: T([[0, 0], [0, 0]]), scale: T([[1, 1], [1, 1]])), reinterpretedBatchDimensions: 1))
    }

    /// Independent of diagonal normals equals the multivariate normal with that diagonal.
    func testIndependentNormalMatchesDiagonalMultivariateNormal() throws {
        let q = Independent(try Normal(location: T([0.5, -1]), scale: T([0.3, 2])), reinterpretedBatchDimensions: 1)
        let p = Independent(try Normal(location: T([0, 0]), scale: T([1, 1])), reinterpretedBatchDimensions: 1)
        let qm = try MultivariateNormal(location: T([0.5, -1]), scaleDiagonal: T([0.3, 2]))
        let pm = try MultivariateNormal(location: T([0, 0]), scaleDiagonal: T([1, 1]))
        assertClose(q.klDivergence(to: p).scalar, qm.klDivergence(to: pm).scalar, relativeTolerance: 1e-12)
        assertClose(q.entropy().scalar, qm.entropy().scalar, relativeTolerance: 1e-12)
        let x = T([[0.1, 0.2], [3, -4]])
        XCTAssertEqual(q.logProbability(of: x).scalars[1], qm.logProbability(of: x).scalars[1], accuracy: 1e-12)
    }

    /// Generic code reaches the closed form when one exists, and falls back to Monte Carlo otherwise.
    func testGenericCodeUsesTheClosedForm() throws {
        let q = try Normal(location: 0.3, scale: 0.7)
        let p = try Normal(location: -1, scale: 2)
        let (value, closedForm) = genericKL(q, p)
        XCTAssertTrue(closedForm)
        XCTAssertEqual(value, r["normal"]!, accuracy: 1e-12)  // a 1000-sample Monte-Carlo estimate could not be this close
        let (_, fallback) = genericKL(q, try Laplace(location: scalar(0), scale: scalar(1)))
        XCTAssertFalse(fallback)
        XCTAssertFalse(hasClosedFormKL(from: Cauchy<Double>.self, to: Cauchy<Double>.self))
        XCTAssertTrue(hasClosedFormKL(from: Independent<Normal<Double>>.self, to: Independent<Normal<Double>>.self))
    }

    /// The generic closed form is differentiable in both distributions, with the gradients of the direct call.
    func testGenericClosedFormGradients() throws {
        let (gq, gp) = gradient(at: T([0.3, 0.7]), T([-1, 2])) { a, b -> T in
            let q = Normal(uncheckedLocation: a.slice(axis: 0, range: 0..<1), scale: a.slice(axis: 0, range: 1..<2))
            let p = Normal(uncheckedLocation: b.slice(axis: 0, range: 0..<1), scale: b.slice(axis: 0, range: 1..<2))
            return closedFormKL(from: q, to: p).sum()
        }
        assertGradientMatchesFiniteDifferences("KL normal", { xs in
            let q = Normal(uncheckedLocation: xs[0].slice(axis: 0, range: 0..<1), scale: xs[0].slice(axis: 0, range: 1..<2))
            let p = Normal(uncheckedLocation: xs[1].slice(axis: 0, range: 0..<1), scale: xs[1].slice(axis: 0, range: 1..<2))
            return q.klDivergence(to: p)
        }, at: [T([0.3, 0.7]), T([-1, 2])])
        // d/dμq = (μq − μp)/σp², d/dσq = −1/σq + σq/σp².
        XCTAssertEqual(gq.scalars[0], 1.3 / 4, accuracy: 1e-12)
        XCTAssertEqual(gq.scalars[1], -1 / 0.7 + 0.7 / 4, accuracy: 1e-12)
        XCTAssertEqual(gp.scalars[0], -1.3 / 4, accuracy: 1e-12)
    }

    func testKLGradientsMatchFiniteDifferences() {
        assertGradientMatchesFiniteDifferences("KL gamma", { xs in
            Gamma(uncheckedConcentration: xs[0], rate: xs[1]).klDivergence(to: Gamma(uncheckedConcentration: xs[2], rate: xs[3]))
        }, at: [scalar(2.5), scalar(1.5), scalar(4), scalar(3)])
        assertGradientMatchesFiniteDifferences("KL beta", { xs in
            Beta(uncheckedAlpha: xs[0], beta: xs[1]).klDivergence(to: Beta(uncheckedAlpha: xs[2], beta: xs[3]))
        }, at: [scalar(2), scalar(3), scalar(0.8), scalar(1.5)])
        assertGradientMatchesFiniteDifferences("KL dirichlet", { xs in
            Dirichlet(uncheckedConcentration: xs[0]).klDivergence(to: Dirichlet(uncheckedConcentration: xs[1]))
        }, at: [T([0.7, 2, 5.5]), T([1, 2, 3])])
        assertGradientMatchesFiniteDifferences("KL MVN", { xs in
            MultivariateNormal(uncheckedLocation: xs[0], scaleTril: xs[1].lowerTriangular() + T(identity: 2) * 2)
                .klDivergence(to: MultivariateNormal(uncheckedLocation: xs[2], scaleDiagonal: xs[3]))
        }, at: [T([0.5, -1]), T([[0.3, 0], [0.4, -0.2]]), T([0, 1]), T([1, 0.5])])
    }

    /// Found by Fuzz/run.sh: a binomial with probability 0 had a NaN log density at 0 successes (0 · log 0), so the
    /// Monte-Carlo KL from it was NaN; and draws of q outside p's support gave "∞ ± NaN".
    func testMonteCarloKLAtTheEdgesOfTheSupport() throws {
        var generator = SeededGenerator(seed: 1)
        let pointMass = try Binomial(totalCount: Tensor(26), probabilities: Tensor(0))
        XCTAssertEqual(pointMass.logProbability(of: Tensor(0)).scalar, 0)
        XCTAssertEqual(try Binomial(totalCount: Tensor(4), probabilities: Tensor(1)).logProbability(of: Tensor(4)).scalar, 0, accuracy: 1e-12)
        let p = try Binomial(totalCount: Tensor(10), probabilities: Tensor(0.2))
        let toP = klDivergence(from: pointMass, to: p, sampleCount: 100, using: &generator)
        XCTAssertEqual(toP.value, -10 * Foundation.log(0.8), accuracy: 1e-12)  // −log p(0)
        XCTAssertEqual(toP.standardError, 0, accuracy: 1e-12)
        let wider = try Binomial(totalCount: Tensor(26), probabilities: Tensor(0.5))
        let outside = klDivergence(from: wider, to: p, sampleCount: 100, using: &generator)
        XCTAssertEqual(outside.value, .infinity)
        XCTAssertEqual(outside.standardError, 0)
    }
}

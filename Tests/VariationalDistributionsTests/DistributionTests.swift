import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore
import VariationalDistributions
import VariationalTestSupport
import XCTest

typealias T = Tensor<Double>

func scalar(_ x: Double) -> T { T(x) }

final class LogDensityReferenceTests: XCTestCase {
    /// Log densities against SciPy, tails and tiny scales included, to 1e-10 relative.
    func check(_ name: String, _ cases: [ReferenceValues.Case], file: StaticString = #filePath, line: UInt = #line,
               _ logDensity: ([Double], Double) throws -> Double) rethrows {
        for c in cases {
            let value = try logDensity(c.parameters, c.x)
            assertClose(value, c.value, relativeTolerance: 1e-10, "\(name) \(c.parameters) at \(c.x)", file: file, line: line)
        }
    }

    func testScalarFamilies() throws {
        try check("Normal", ReferenceValues.normal) { p, x in try Normal(location: p[0], scale: p[1]).logProbability(of: scalar(x)).scalar }
        try check("LogNormal", ReferenceValues.logNormal) { p, x in try LogNormal(location: scalar(p[0]), scale: scalar(p[1])).logProbability(of: scalar(x)).scalar }
        try check("Laplace", ReferenceValues.laplace) { p, x in try Laplace(location: scalar(p[0]), scale: scalar(p[1])).logProbability(of: scalar(x)).scalar }
        try check("Cauchy", ReferenceValues.cauchy) { p, x in try Cauchy(location: scalar(p[0]), scale: scalar(p[1])).logProbability(of: scalar(x)).scalar }
        try check("StudentT", ReferenceValues.studentT) { p, x in
            try StudentT(degreesOfFreedom: scalar(p[0]), location: scalar(p[1]), scale: scalar(p[2])).logProbability(of: scalar(x)).scalar
        }
        try check("HalfNormal", ReferenceValues.halfNormal) { p, x in try HalfNormal(scale: scalar(p[0])).logProbability(of: scalar(x)).scalar }
        try check("HalfCauchy", ReferenceValues.halfCauchy) { p, x in try HalfCauchy(scale: scalar(p[0])).logProbability(of: scalar(x)).scalar }
        try check("Exponential", ReferenceValues.exponential) { p, x in try Exponential(rate: scalar(p[0])).logProbability(of: scalar(x)).scalar }
        try check("Gamma", ReferenceValues.gamma) { p, x in try Gamma(concentration: scalar(p[0]), rate: scalar(p[1])).logProbability(of: scalar(x)).scalar }
        try check("InverseGamma", ReferenceValues.inverseGamma) { p, x in
            try InverseGamma(concentration: scalar(p[0]), scale: scalar(p[1])).logProbability(of: scalar(x)).scalar
        }
        try check("Beta", ReferenceValues.beta) { p, x in try Beta(alpha: scalar(p[0]), beta: scalar(p[1])).logProbability(of: scalar(x)).scalar }
        try check("Uniform", ReferenceValues.uniform) { p, x in try Uniform(low: scalar(p[0]), high: scalar(p[1])).logProbability(of: scalar(x)).scalar }
        try check("Bernoulli", ReferenceValues.bernoulli) { p, x in try Bernoulli(logits: scalar(p[0])).logProbability(of: scalar(x)).scalar }
        try check("Binomial", ReferenceValues.binomial) { p, x in
            try Binomial(totalCount: scalar(p[0]), logits: scalar(p[1])).logProbability(of: scalar(x)).scalar
        }
        try check("Poisson", ReferenceValues.poisson) { p, x in try Poisson(rate: scalar(p[0])).logProbability(of: scalar(x)).scalar }
        try check("Categorical", ReferenceValues.categorical) { p, x in try Categorical(logits: T(p)).logProbability(of: scalar(x)).scalar }
    }

    func testVectorFamilies() throws {
        let dirichlet = try Dirichlet(concentration: T(ReferenceValues.dirichletAlpha))
        let values = dirichlet.logProbability(of: T(ReferenceValues.dirichletPoints))
        for (value, expected) in zip(values.scalars, ReferenceValues.dirichletLogDensities) {
            assertClose(value, expected, relativeTolerance: 1e-10, "Dirichlet")
        }
        let mean = T(ReferenceValues.mvnMean)
        let covariance = T(ReferenceValues.mvnCovariance)
        let points = T(ReferenceValues.mvnPoints)
        let full = try MultivariateNormal(location: mean, covariance: covariance)
        for (value, expected) in zip(full.logProbability(of: points).scalars, ReferenceValues.mvnLogDensities) {
            assertClose(value, expected, relativeTolerance: 1e-10, "MultivariateNormal")
        }
        assertClose(full.entropy().scalar, ReferenceValues.mvnEntropy, relativeTolerance: 1e-12, "MultivariateNormal entropy")
        // The same covariance as a low-rank factor plus a diagonal: W Wᵀ + diag(D) with W = L, D = 0⁺ is not allowed,
        // so split Σ = W Wᵀ + diag(D) with D = 0.1 and W the Cholesky factor of Σ − 0.1 I.
        let w = (covariance - T(identity: 3) * 0.1).choleskyFactor()!
        let lowRank = try MultivariateNormal(location: mean, covarianceFactor: w, covarianceDiagonal: T([0.1, 0.1, 0.1]))
        for (value, expected) in zip(lowRank.logProbability(of: points).scalars, ReferenceValues.mvnLogDensities) {
            assertClose(value, expected, relativeTolerance: 1e-10, "MultivariateNormal low rank")
        }
    }

    func testOutsideTheSupportIsNegativeInfinityNeverNaN() throws {
        let cases: [(String, Double)] = [
            ("Exponential", try Exponential(rate: scalar(2)).logProbability(of: scalar(-1)).scalar),
            ("Gamma", try Gamma(concentration: scalar(2), rate: scalar(1)).logProbability(of: scalar(-0.5)).scalar),
            ("Gamma at 0", try Gamma(concentration: scalar(2), rate: scalar(1)).logProbability(of: scalar(0)).scalar),
            ("Beta", try Beta(alpha: scalar(2), beta: scalar(2)).logProbability(of: scalar(1.5)).scalar),
            ("HalfNormal", try HalfNormal(scale: scalar(1)).logProbability(of: scalar(-2)).scalar),
            ("Uniform", try Uniform(low: scalar(0), high: scalar(1)).logProbability(of: scalar(2)).scalar),
            ("Bernoulli", try Bernoulli(logits: scalar(0)).logProbability(of: scalar(0.5)).scalar),
            ("Poisson", try Poisson(rate: scalar(2)).logProbability(of: scalar(1.5)).scalar),
            ("Poisson, negative", try Poisson(rate: scalar(2)).logProbability(of: scalar(-1)).scalar),
            ("Poisson, past the table", try Poisson(rate: scalar(2000)).logProbability(of: scalar(2000.5)).scalar),
            ("Binomial", try Binomial(totalCount: scalar(3), logits: scalar(0)).logProbability(of: scalar(4)).scalar),
            ("Categorical", try Categorical(logits: T([0, 1])).logProbability(of: scalar(2)).scalar),
            ("LogNormal", try LogNormal(location: scalar(0), scale: scalar(1)).logProbability(of: scalar(-1)).scalar),
            ("Dirichlet", try Dirichlet(concentration: T([1, 2])).logProbability(of: T([0.7, 0.7])).scalar),
            ("InverseGamma", try InverseGamma(concentration: scalar(2), scale: scalar(1)).logProbability(of: scalar(-1)).scalar),
        ]
        for (name, value) in cases { XCTAssertEqual(value, -.infinity, name) }
        // A count past the log-factorial table goes through log Γ(k + 1): log p(2000 | 2000) = 2000 log 2000 − 2000 − log 2000!.
        let large = try Poisson(rate: scalar(2000)).logProbability(of: scalar(2000)).scalar
        XCTAssertEqual(large, 2000 * Foundation.log(2000.0) - 2000 - Foundation.lgamma(2001.0), accuracy: 1e-9)
        // Gradients stay finite where the density is −∞: masked positions get zero gradient, not NaN.
        let g = gradient(at: scalar(2)) { rate in Exponential(uncheckedRate: rate).logProbability(of: T([-1, 1])).sum() }
        XCTAssertFalse(g.scalar.isNaN)
    }

    func testEntropiesAgainstSciPy() throws {
        let r = ReferenceValues.entropies
        let pairs: [(String, Double)] = [
            ("normal(0.3, 2)", try Normal(location: 0.3, scale: 2).entropy().scalar),
            ("laplace(0, 0.5)", try Laplace(location: scalar(0), scale: scalar(0.5)).entropy().scalar),
            ("cauchy(1, 3)", try Cauchy(location: scalar(1), scale: scalar(3)).entropy().scalar),
            ("studentT(3.5, 0, 2)", try StudentT(degreesOfFreedom: scalar(3.5), location: scalar(0), scale: scalar(2)).entropy().scalar),
            ("halfNormal(1.7)", try HalfNormal(scale: scalar(1.7)).entropy().scalar),
            ("halfCauchy(0.4)", try HalfCauchy(scale: scalar(0.4)).entropy().scalar),
            ("exponential(3)", try Exponential(rate: scalar(3)).entropy().scalar),
            ("gamma(2.5, 4)", try Gamma(concentration: scalar(2.5), rate: scalar(4)).entropy().scalar),
            ("inverseGamma(3, 2)", try InverseGamma(concentration: scalar(3), scale: scalar(2)).entropy().scalar),
            ("beta(0.6, 3)", try Beta(alpha: scalar(0.6), beta: scalar(3)).entropy().scalar),
            ("logNormal(0.5, 0.8)", try LogNormal(location: scalar(0.5), scale: scalar(0.8)).entropy().scalar),
            ("dirichlet(0.7, 2, 5.5)", try Dirichlet(concentration: T([0.7, 2, 5.5])).entropy().scalar),
        ]
        XCTAssertEqual(pairs.count, r.count)
        for (name, value) in pairs { assertClose(value, r[name]!, relativeTolerance: 1e-10, name) }
    }
}

final class SamplingTests: XCTestCase {
    /// Every family through the same checker: moments, support, entropy against Monte Carlo.
    func testFamilies() throws {
        checkDistribution("Normal", try Normal(location: T([0.5, -2]), scale: T([1.5, 0.1])))
        checkDistribution("LogNormal", try LogNormal(location: scalar(0.2), scale: scalar(0.5)))
        checkDistribution("Laplace", try Laplace(location: scalar(1), scale: scalar(2)))
        checkDistribution("Cauchy", try Cauchy(location: scalar(1), scale: scalar(2)), checkMoments: false)
        checkDistribution("StudentT", try StudentT(degreesOfFreedom: scalar(7), location: scalar(1), scale: scalar(2)))
        checkDistribution("HalfNormal", try HalfNormal(scale: scalar(1.3)))
        checkDistribution("HalfCauchy", try HalfCauchy(scale: scalar(1.3)), checkMoments: false)
        checkDistribution("Exponential", try Exponential(rate: T([0.5, 4])))
        checkDistribution("Uniform", try Uniform(low: scalar(-1), high: scalar(3)))
        checkDistribution("Gamma", try Gamma(concentration: T([0.4, 3, 50]), rate: T([1, 2, 0.5])))
        checkDistribution("InverseGamma", try InverseGamma(concentration: scalar(9), scale: scalar(2)))
        checkDistribution("Beta", try Beta(alpha: T([0.5, 2]), beta: T([0.5, 7])))
        checkDistribution("Dirichlet", try Dirichlet(concentration: T([0.7, 2, 5.5])))
        checkDistribution("Bernoulli", try Bernoulli(probabilities: T([0.1, 0.5, 0.93])))
        checkDistribution("Binomial", try Binomial(totalCount: scalar(12), probabilities: scalar(0.3)))
        checkDistribution("Poisson", try Poisson(rate: T([0.7, 4, 25, 300])))
        checkDistribution("Categorical", try Categorical(logits: T([0.3, -1, 2])))
        checkDistribution("OneHotCategorical", try OneHotCategorical(logits: T([0.3, -1, 2])))
        checkDistribution("MultivariateNormal", try MultivariateNormal(location: T(ReferenceValues.mvnMean), covariance: T(ReferenceValues.mvnCovariance)))
        checkDistribution("Independent Normal", Independent(try Normal(location: T([[0, 1], [2, 3]]), scale: T([1, 2])), reinterpretedBatchDimensions: 1))
        let mixture = try MixtureSameFamily(
            mixture: try Categorical(logits: T([0, 1])), components: try Normal(location: T([-2, 3]), scale: T([1, 0.5])))
        checkDistribution("MixtureSameFamily", mixture)
        checkDistribution("RelaxedBernoulli", try RelaxedBernoulli(temperature: 0.5, logits: scalar(0.3)), checkMoments: false)
        checkDistribution("RelaxedOneHotCategorical", try RelaxedOneHotCategorical(temperature: 0.7, logits: T([0.3, -1, 2])), checkMoments: false)
        checkDistribution("Transformed (log-normal)", TransformedDistribution(try Normal(location: 0.2, scale: 0.5), bijector: Exp()), checkMoments: false)
    }

    func testTransformedDistributionMatchesLogNormal() throws {
        let transformed = TransformedDistribution(try Normal(location: 0.2, scale: 0.5), bijector: Exp())
        let logNormal = try LogNormal(location: scalar(0.2), scale: scalar(0.5))
        let x = T([0.1, 1, 4])
        for (a, b) in zip(transformed.logProbability(of: x).scalars, logNormal.logProbability(of: x).scalars) {
            assertClose(a, b, relativeTolerance: 1e-12)
        }
    }

    func testRelaxedDensitiesIntegrateToOne() throws {
        // Trapezoid rule over (0, 1) on a fine grid: the binary Concrete density integrates to 1.
        let relaxed = try RelaxedBernoulli(temperature: 0.8, logits: scalar(0.4))
        let n = 200_000
        let grid = T((1..<n).map { Double($0) / Double(n) })
        let density = relaxed.logProbability(of: grid).exp()
        XCTAssertEqual(density.scalars.reduce(0, +) / Double(n), 1, accuracy: 1e-3)
    }

    func testBatchAndEventShapes() throws {
        let normal = try Normal(location: T(zeros: [128, 20]), scale: T(ones: [20]))
        XCTAssertEqual(normal.batchShape, [128, 20])
        let diagonal = Independent(normal, reinterpretedBatchDimensions: 1)
        XCTAssertEqual(diagonal.batchShape, [128])
        XCTAssertEqual(diagonal.eventShape, [20])
        var generator = SeededGenerator(seed: 1)
        let x = diagonal.sample(sampleShape: [5], using: &generator)
        XCTAssertEqual(x.shape, [5, 128, 20])
        XCTAssertEqual(diagonal.logProbability(of: x).shape, [5, 128])
        let expected = normal.logProbability(of: x).sum(squeezingAxes: -1)
        XCTAssertEqual(diagonal.logProbability(of: x), expected)
        XCTAssertEqual(try Dirichlet(concentration: T(ones: [4, 3])).eventShape, [3])
    }
}

final class InvalidParameterTests: XCTestCase {
    func assertError(_ expected: String, _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual("\(error)", expected, file: file, line: line)
        }
    }

    func testErrorsNameTheParameterAndTheValue() {
        assertError("Normal: scale must be positive, got -1.0") { _ = try Normal(location: 0, scale: -1) }
        assertError("Normal: location must be finite, got nan") { _ = try Normal(location: .nan, scale: 1) }
        assertError("Normal: scale must be positive, got 0.0 at element 1") { _ = try Normal(location: T([0, 0]), scale: T([1, 0])) }
        assertError("Bernoulli: probabilities must be in [0, 1], got 1.5") { _ = try Bernoulli(probabilities: scalar(1.5)) }
        assertError("Gamma: concentration must be positive, got -2.0") { _ = try Gamma(concentration: scalar(-2), rate: scalar(1)) }
        assertError("Uniform: low must be below high, got low 2.0 and high 1.0") { _ = try Uniform(low: scalar(2), high: scalar(1)) }
        assertError("MultivariateNormal: covariance is not positive definite") {
            _ = try MultivariateNormal(location: T([0, 0]), covariance: T([[1, 2], [2, 1]]))
        }
        assertError("Normal: location and scale of shapes [3] and [2] cannot be broadcast together") {
            _ = try Normal(location: T([0, 0, 0]), scale: T([1, 1]))
        }
        assertError("Dirichlet: concentration needs a last axis of at least 2 categories, got shape [1]") {
            _ = try Dirichlet(concentration: T([1]))
        }
        assertError("Binomial: totalCount must be an integer from 0 to 2^53, got 2.5") { _ = try Binomial(totalCount: scalar(2.5), logits: scalar(0)) }
        assertError("RelaxedBernoulli: temperature must be positive and finite, got 0.0") { _ = try RelaxedBernoulli(temperature: 0, logits: scalar(0)) }
    }
}

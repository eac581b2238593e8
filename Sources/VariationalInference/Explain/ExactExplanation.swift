import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions
import VariationalOptimizers

/// A conjugate model together with a variational family for which every term of the ELBO identity
/// log p(x) = ELBO(q) + KL(q ‖ p(z|x)) has a closed form: what `elbo explain` shows with exact numbers.
public protocol ExactExplanation {
    /// q's parameters, unconstrained so that gradient ascent can move them freely.
    associatedtype Q: Differentiable

    var title: String { get }
    var priorDescription: String { get }
    var likelihoodDescription: String { get }
    var dataSummary: String { get }
    var exactLogEvidence: Double { get }
    var posteriorDescription: String { get }

    /// A deliberately poor q, far from the posterior, to start from.
    func poorQ() -> Q
    /// q with the given mean and standard deviation (scalar latents; the same for every coordinate otherwise).
    func q(mean: Double, standardDeviation: Double) throws -> Q
    func describe(_ q: Q) -> String

    /// E_q[log p(x | z)], in closed form.
    @differentiable(reverse)
    func expectedLogLikelihood(_ q: Q) -> Tensor<Double>
    /// KL(q ‖ p(z)), in closed form.
    @differentiable(reverse)
    func klToPrior(_ q: Q) -> Tensor<Double>
    /// KL(q ‖ p(z | x)), in closed form.
    func klToPosterior(_ q: Q) -> Double

    /// Draws z ~ q with log p(x, z) − log q(z) for each (for the Monte-Carlo ELBO and importance sampling).
    func logWeights<G: RandomNumberGenerator>(_ q: Q, count: Int, using generator: inout G) -> [Double]

    /// The number of latent dimensions.
    var dimension: Int { get }
    /// The number of data rows (each draw's log weight costs that many likelihood terms).
    var observationCount: Int { get }
    /// log p(x, z(u)) + log |dz/du| in unconstrained coordinates u, for quadrature.
    func logJointUnconstrained(_ u: [Double]) -> Double
    /// The exact posterior's mean and standard deviations in unconstrained coordinates (where the quadrature
    /// grid is centred), and its correlation-free scale.
    var unconstrainedPosteriorCenter: (mean: [Double], standardDeviation: [Double]) { get }
    /// The lower Cholesky factor of the exact posterior covariance in unconstrained coordinates, where it is known
    /// (it shapes the importance-sampling proposal in many dimensions); nil by default.
    var unconstrainedPosteriorCholesky: [[Double]]? { get }
}

extension ExactExplanation {
    public var unconstrainedPosteriorCholesky: [[Double]]? { nil }

    /// `logWeights` for `count` draws, evaluated a chunk of draws at a time so that memory stays bounded however
    /// many rows the data has.
    public func logWeightsInChunks<G: RandomNumberGenerator>(_ q: Q, count: Int, using generator: inout G) -> [Double] {
        evaluatedInChunks(count: count, rows: observationCount) { range in logWeights(q, count: range.count, using: &generator) }
    }

    /// `wanted` draws, fewer when the data is large: at most 10⁹ likelihood terms in all, and at least 100 draws.
    public func affordableDraws(_ wanted: Int) -> Int {
        Swift.min(wanted, Swift.max(100, 1_000_000_000 / Swift.max(observationCount, 1)))
    }
}

/// How `Explanation.logEvidenceQuadrature` was computed.
public enum EvidenceCheck: Equatable {
    /// Tensor-product Gauss–Legendre quadrature; exact to rounding.
    case quadrature(points: Int)
    /// Importance sampling from a Student-t proposal around the posterior, with the standard error of the log.
    case importanceSampling(draws: Int, standardError: Double)

    /// "numerical quadrature (4800 points)" or "importance sampling (100000 draws, ± 2.1e-03)".
    public var description: String {
        switch self {
        case .quadrature(let points): return "numerical quadrature (\(points) points)"
        case .importanceSampling(let draws, let error):
            return "importance sampling (\(draws) draws, ± \(String(format: "%.1e", error)))"
        }
    }
}

/// Every number of one explanation.
public struct Explanation {
    public struct TraceRow: Equatable {
        public var iteration: Int
        public var elbo: Double
        public var klToPosterior: Double
    }

    public var logEvidence: Double
    /// log p(x) computed numerically, independently of the closed form: quadrature up to four latent dimensions,
    /// importance sampling beyond (see `EvidenceCheck`).
    public var logEvidenceQuadrature: Double
    /// The number of points (or draws) behind it.
    public var quadraturePoints: Int
    public var evidenceCheck: EvidenceCheck
    public var expectedLogLikelihood: Double
    public var klToPrior: Double
    public var elbo: Double
    public var elboMonteCarlo: (estimate: Double, standardError: Double)
    public var klToPosterior: Double
    public var identityResidual: Double
    public var initialQ: String
    public var finalQ: String
    public var trace: [TraceRow]
}

extension ExactExplanation {
    /// The ELBO in its second form, E_q[log p(x|z)] − KL(q ‖ p(z)).
    @differentiable(reverse)
    public func elbo(_ q: Q) -> Tensor<Double> { expectedLogLikelihood(q) - klToPrior(q) }

    /// Computes every number for `q`, then maximises the ELBO from there by gradient ascent (Adam on the exact
    /// gradient of the closed form), recording the trace at roughly logarithmic intervals.
    public func explain<G: RandomNumberGenerator>(
        startingFrom start: Q, iterations: Int = 3000, learningRate: Double = 0.05, monteCarloDraws: Int = 10_000,
        using generator: inout G
    ) -> Explanation {
        let expected = expectedLogLikelihood(start).scalar
        let kl = klToPrior(start).scalar
        let elboValue = expected - kl
        let klPosterior = klToPosterior(start)
        let weights = logWeightsInChunks(start, count: affordableDraws(monteCarloDraws), using: &generator)
        let mc = meanAndStandardErrorOf(weights)
        let (quadrature, check) = numericalLogEvidence(using: &generator)
        var q = start
        var trace: [Explanation.TraceRow] = [.init(iteration: 0, elbo: elboValue, klToPosterior: klPosterior)]
        let optimizer = Adam(learningRate: learningRate)
        var next = 1
        for i in 1...Swift.max(iterations, 1) {
            let g = gradient(at: q) { q in -self.elbo(q) }
            optimizer.update(&q, along: g)
            if i == next || i == iterations {
                trace.append(.init(iteration: i, elbo: elbo(q).scalar, klToPosterior: klToPosterior(q)))
                next = Swift.max(next + 1, Int((Double(next) * 2.5).rounded()))
            }
        }
        return Explanation(
            logEvidence: exactLogEvidence, logEvidenceQuadrature: quadrature, quadraturePoints: check.count,
            evidenceCheck: check,
            expectedLogLikelihood: expected, klToPrior: kl, elbo: elboValue, elboMonteCarlo: mc,
            klToPosterior: klPosterior, identityResidual: exactLogEvidence - elboValue - klPosterior,
            initialQ: describe(start), finalQ: describe(q), trace: trace)
    }

    /// log p(x) computed numerically with bounded work: tensor-product quadrature up to four latent dimensions
    /// (16⁴ = 65,536 points at most), importance sampling above, where a grid would grow as points^d (six
    /// dimensions took minutes, eight needed 34 GB).
    public func numericalLogEvidence<G: RandomNumberGenerator>(using generator: inout G) -> (value: Double, check: EvidenceCheck) {
        if dimension <= 4 {
            let (value, points) = quadratureLogEvidence()
            return (value, .quadrature(points: points))
        }
        let draws = 100_000
        let (value, error) = importanceSampledLogEvidence(draws: draws, using: &generator)
        return (value, .importanceSampling(draws: draws, standardError: error))
    }

    /// log p(x) by importance sampling in unconstrained coordinates from a multivariate Student-t (ν = 5) proposal
    /// centred on the posterior mean, shaped by the posterior's Cholesky factor where the model gives it (its
    /// standard deviations otherwise) and 1.2 times as wide, so that the weights have finite variance; with the
    /// delta-method standard error of the log.
    public func importanceSampledLogEvidence<G: RandomNumberGenerator>(draws: Int, using generator: inout G)
        -> (value: Double, standardError: Double)
    {
        let (center, sd) = unconstrainedPosteriorCenter
        let d = center.count
        let factor: [[Double]] = unconstrainedPosteriorCholesky
            ?? (0..<d).map { i in (0..<d).map { $0 == i ? sd[i] : 0 } }
        let widening = 1.2
        let nu = 5.0
        let logDeterminant = (0..<d).reduce(0.0) { $0 + Foundation.log(widening * factor[$1][$1]) }
        let half = Double(d) / 2
        let gammaRatio: Double = lgamma(nu / 2 + half) - lgamma(nu / 2)
        let logNormalizer: Double = gammaRatio - half * Foundation.log(nu * Double.pi) - logDeterminant
        var logWeights: [Double] = []
        logWeights.reserveCapacity(draws)
        for _ in 0..<draws {
            let z = Random.standardNormals(count: d, using: &generator)
            let shrink = 1 / (2 * Random.gamma(shape: nu / 2, using: &generator) / nu).squareRoot()
            let tv = z.map { $0 * shrink }
            var u = center
            for i in 0..<d {
                for j in 0...i { u[i] += widening * factor[i][j] * tv[j] }
            }
            let squared = tv.reduce(0) { $0 + $1 * $1 }
            let logProposal: Double = logNormalizer - (nu / 2 + half) * Foundation.log1p(squared / nu)
            logWeights.append(logJointUnconstrained(u) - logProposal)
        }
        let logMean = logSumExp(logWeights) - Foundation.log(Double(draws))
        let relative = logWeights.map { Foundation.exp($0 - logMean) }
        let (_, error) = meanAndStandardError(relative)
        return (logMean, error)
    }

    /// log p(x) by tensor-product Gauss–Legendre quadrature in unconstrained coordinates, on ±12 posterior
    /// standard deviations around the posterior mean (wide enough that the neglected mass is below e⁻⁷⁰).
    /// Four dimensions at most (the caller, `numericalLogEvidence`, takes care of that).
    public func quadratureLogEvidence() -> (value: Double, points: Int) {
        let (center, scale) = unconstrainedPosteriorCenter
        let d = dimension
        require(d <= 4, "quadratureLogEvidence: \(d) dimensions; use numericalLogEvidence")
        let perDimension = d == 1 ? 0 : (d == 2 ? 64 : (d == 3 ? 48 : 16))
        if d == 1 {
            let value = GaussLegendre.logIntegral({ self.logJointUnconstrained([$0]) },
                                                  from: center[0] - 12 * scale[0], to: center[0] + 12 * scale[0],
                                                  panels: 300, points: 16)
            return (value, 300 * 16)
        }
        let (nodes, weights) = GaussLegendre.rule(points: perDimension)
        var terms: [Double] = []
        var index = [Int](repeating: 0, count: d)
        let total = Int(pow(Double(perDimension), Double(d)))
        terms.reserveCapacity(total)
        for _ in 0..<total {
            var u = [Double](repeating: 0, count: d)
            var logWeight = 0.0
            for j in 0..<d {
                let half = 12 * scale[j]
                u[j] = center[j] + half * nodes[index[j]]
                logWeight += Foundation.log(half * weights[index[j]])
            }
            terms.append(logJointUnconstrained(u) + logWeight)
            var j = d - 1
            while j >= 0 {
                index[j] += 1
                if index[j] < perDimension { break }
                index[j] = 0
                j -= 1
            }
        }
        return (logSumExp(terms), total)
    }
}

extension EvidenceCheck {
    /// The number of points or draws.
    public var count: Int {
        switch self {
        case .quadrature(let points): return points
        case .importanceSampling(let draws, _): return draws
        }
    }
}

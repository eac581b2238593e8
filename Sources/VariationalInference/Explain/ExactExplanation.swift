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
    /// log p(x, z(u)) + log |dz/du| in unconstrained coordinates u, for quadrature.
    func logJointUnconstrained(_ u: [Double]) -> Double
    /// The exact posterior's mean and standard deviations in unconstrained coordinates (where the quadrature
    /// grid is centred), and its correlation-free scale.
    var unconstrainedPosteriorCenter: (mean: [Double], standardDeviation: [Double]) { get }
}

/// Every number of one explanation.
public struct Explanation {
    public struct TraceRow: Equatable {
        public var iteration: Int
        public var elbo: Double
        public var klToPosterior: Double
    }

    public var logEvidence: Double
    public var logEvidenceQuadrature: Double
    public var quadraturePoints: Int
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
        let weights = logWeights(start, count: monteCarloDraws, using: &generator)
        let mc = meanAndStandardErrorOf(weights)
        let (quadrature, points) = quadratureLogEvidence()
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
            logEvidence: exactLogEvidence, logEvidenceQuadrature: quadrature, quadraturePoints: points,
            expectedLogLikelihood: expected, klToPrior: kl, elbo: elboValue, elboMonteCarlo: mc,
            klToPosterior: klPosterior, identityResidual: exactLogEvidence - elboValue - klPosterior,
            initialQ: describe(start), finalQ: describe(q), trace: trace)
    }

    /// log p(x) by tensor-product Gauss–Legendre quadrature in unconstrained coordinates, on ±12 posterior
    /// standard deviations around the posterior mean (wide enough that the neglected mass is below e⁻⁷⁰).
    public func quadratureLogEvidence() -> (value: Double, points: Int) {
        let (center, scale) = unconstrainedPosteriorCenter
        let d = dimension
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

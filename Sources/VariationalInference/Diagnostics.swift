import _Differentiation
import Foundation
import VariationalCore

/// What a fit is checked with after it ends.
public struct FitDiagnostics {
    /// The ELBO estimated with many draws, and its Monte-Carlo standard error.
    public var elbo: Double
    public var elboStandardError: Double
    /// The Pareto-smoothed importance-sampling shape estimate k̂ of the ratios p(x, z) / q(z) (Yao et al. 2018).
    public var paretoK: Double
    /// log p(x) estimated by importance sampling with q as the proposal, and its standard error (delta method).
    public var logEvidence: Double
    public var logEvidenceStandardError: Double
    /// Posterior summaries in constrained space, by variable name, one entry per element.
    public var posterior: [String: [PosteriorSummary]]
    /// The draws from q in constrained space, by variable name, one array per element.
    public var draws: [String: [[Double]]]
    /// Draws from the posterior predictive distribution, when the model can simulate.
    public var predictive: Tensor<Double>?
    /// The number of draws used.
    public var drawCount: Int

    /// "good" below 0.5, "usable" up to 0.7, "unreliable" above (Yao et al. 2018).
    public var paretoVerdict: String { FitDiagnostics.verdict(paretoK) }

    public static func verdict(_ k: Double) -> String {
        if k.isNaN { return "unknown" }
        if k < 0.5 { return "good" }
        if k <= 0.7 { return "usable" }
        return "unreliable"
    }
}

/// Mean, standard deviation and quantiles of one constrained coordinate under q.
///
/// Where q is Gaussian and the coordinate is not transformed (a latent on the whole real line), these are q's exact
/// moments and normal quantiles (`isExact`); otherwise they are computed from the draws, and `meanStandardError`
/// is the Monte-Carlo standard error of the mean (sd / √draws).
public struct PosteriorSummary: Equatable {
    public var mean: Double
    public var standardDeviation: Double
    public var q05: Double
    public var q50: Double
    public var q95: Double
    /// True for q's exact moments and quantiles; false for Monte-Carlo summaries of draws.
    public var isExact: Bool
    /// The Monte-Carlo standard error of `mean`; 0 when the summary is exact.
    public var meanStandardError: Double

    /// Summaries of draws.
    init(_ values: [Double]) {
        let sorted = values.sorted()
        let m = values.reduce(0, +) / Double(values.count)
        mean = m
        standardDeviation = (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(Swift.max(values.count - 1, 1))).squareRoot()
        q05 = quantile(sorted, 0.05)
        q50 = quantile(sorted, 0.5)
        q95 = quantile(sorted, 0.95)
        isExact = false
        meanStandardError = standardDeviation / Double(Swift.max(values.count, 1)).squareRoot()
    }

    /// The exact summaries of a normal distribution.
    init(normalMean: Double, standardDeviation sd: Double) {
        let z95 = 1.6448536269514722  // Φ⁻¹(0.95)
        mean = normalMean
        standardDeviation = sd
        q05 = normalMean - z95 * sd
        q50 = normalMean
        q95 = normalMean + z95 * sd
        isExact = true
        meanStandardError = 0
    }
}

/// The linearly interpolated quantile of sorted values.
func quantile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let position = p * Double(sorted.count - 1)
    let low = Int(position.rounded(.down))
    let high = Swift.min(low + 1, sorted.count - 1)
    let fraction = position - Double(low)
    return sorted[low] + (sorted[high] - sorted[low]) * fraction
}

/// Runs the diagnostics of a fitted family with `drawCount` draws from q.
public func diagnose<M: ProbabilisticModel, F: VariationalFamily, G: RandomNumberGenerator>(
    model: M, family: F, drawCount: Int = 4000, predictiveDraws: Int = 100, using generator: inout G
) -> FitDiagnostics {
    let noise = family.sampleNoise(count: drawCount, using: &generator)
    let (theta, logQ) = family.sampleWithLogDensity(fromNoise: noise)
    let logJoint = logJointInChunks(model, theta, observations: nil)
    let logWeights = (logJoint - logQ).scalars.array
    let (elbo, elboError) = meanAndStandardErrorOf(logWeights)
    let (logZ, logZError) = importanceSampledLogEvidence(logWeights)
    let k = paretoShape(logWeights)

    let z = model.latents(atUnconstrained: theta)
    var posterior: [String: [PosteriorSummary]] = [:]
    var draws: [String: [[Double]]] = [:]
    let space = model.latentSpace
    let width = space.constrainedDimension
    // A Gaussian q gives its exact marginals for every coordinate that is not transformed.
    let gaussian = family.isGaussian ? family.gaussian() : nil
    let gaussianMean = gaussian?.mean.scalars
    let gaussianVariance = gaussian?.variance.scalars
    for (i, v) in space.variables.enumerated() {
        let start = space.constrainedOffsets[i]
        let columns = (0..<v.size).map { j in (0..<drawCount).map { z.values.scalars[$0 * width + start + j] } }
        draws[v.name] = columns
        if let mean = gaussianMean, let variance = gaussianVariance, v.support == .real || v.support == .realVector {
            let offset = space.unconstrainedOffsets[i]
            posterior[v.name] = (0..<v.size).map { j in
                PosteriorSummary(normalMean: mean[offset + j], standardDeviation: variance[offset + j].squareRoot())
            }
        } else {
            posterior[v.name] = columns.map(PosteriorSummary.init)
        }
    }
    // Predictive draws hold draws × rows numbers: as many as the evaluation budget allows, at least one.
    let predictiveCount = Swift.max(1, Swift.min(predictiveDraws, drawCount, evaluationEntryBudget / Swift.max(model.observationCount, 1)))
    let predictiveParticles = model.latents(atUnconstrained: theta.slice(axis: 0, range: 0..<predictiveCount))
    let predictive = model.posteriorPredictive(predictiveParticles, using: &generator)
    return FitDiagnostics(
        elbo: elbo, elboStandardError: elboError, paretoK: k, logEvidence: logZ, logEvidenceStandardError: logZError,
        posterior: posterior, draws: draws, predictive: predictive, drawCount: drawCount)
}

func meanAndStandardErrorOf(_ values: [Double]) -> (Double, Double) {
    let n = Double(values.count)
    let mean = values.reduce(0, +) / n
    let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Swift.max(n - 1, 1)
    return (mean, (variance / n).squareRoot())
}

/// log (1/S Σ wₛ) from log weights, with the delta-method standard error sd(w) / (√S · mean(w)).
public func importanceSampledLogEvidence(_ logWeights: [Double]) -> (estimate: Double, standardError: Double) {
    let finite = logWeights.filter(\.isFinite)
    guard !finite.isEmpty else { return (-.infinity, .nan) }
    let peak = finite.max()!
    let w = logWeights.map { $0.isFinite ? Foundation.exp($0 - peak) : 0 }
    let n = Double(w.count)
    let mean = w.reduce(0, +) / n
    let variance = w.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Swift.max(n - 1, 1)
    return (Foundation.log(mean) + peak, (variance / n).squareRoot() / mean)
}

/// The Pareto shape k̂ of the upper tail of importance weights (PSIS, Vehtari et al. 2017/2024): a generalised
/// Pareto distribution is fitted to the M = min(S/5, 3√S) largest weights above the next one, by the empirical
/// Bayes method of Zhang & Stephens (2009), with the weakly informative adjustment toward 0.5 of Vehtari et al.
/// Agrees with ArviZ's `psislw` (tested on committed log weights), except that it returns −∞ when the weights are
/// equal to machine precision (importance sampling is then exact), and NaN for fewer than 10 finite weights or
/// fewer than 5 weights above the cutoff (ArviZ: ∞).
public func paretoShape(_ logWeights: [Double]) -> Double {
    let finite = logWeights.filter(\.isFinite)
    let s = finite.count
    guard s >= 10 else { return .nan }
    let sorted = finite.sorted()
    let tailLength = Swift.min(s / 5, Int((3 * Double(s).squareRoot()).rounded(.up)))
    guard tailLength >= 5 else { return .nan }
    // Exceedances over the cutoff weight, up to a common scale (the shape does not depend on it):
    // w − w_cutoff ∝ expm1(log w − log w_cutoff), exact even when the weights nearly tie.
    // The tail is the weights strictly above the cutoff, as in ArviZ's psislw: weights tied with the cutoff are
    // not exceedances.
    let cutoff = sorted[s - tailLength - 1]
    let exceedances = sorted[(s - tailLength)...].filter { $0 > cutoff }.map { Foundation.expm1($0 - cutoff) }
    // Weights equal to machine precision (q is the posterior): there is no tail at all.
    if exceedances.isEmpty || exceedances.last! <= 1e-12 { return -.infinity }
    // Too few distinct values above the cutoff to fit a tail (ArviZ reports ∞ here; the shape is unknown).
    guard exceedances.count >= 5 else { return .nan }
    return generalizedParetoShape(exceedances)
}

/// Zhang & Stephens' estimate of the shape k of a generalised Pareto distribution from sorted exceedances x > 0,
/// returned in the convention where k > 0 is a heavy tail, with a prior pulling k toward 0.5 worth 10 observations.
func generalizedParetoShape(_ x: [Double]) -> Double {
    let n = x.count
    let priorStrength = 3.0
    let m = 30 + Int(Double(n).squareRoot())
    let quartile = x[Swift.max(Int(Double(n) / 4 + 0.5) - 1, 0)]
    guard quartile > 0, let largest = x.last, largest > 0 else { return .nan }
    var thetas = [Double](repeating: 0, count: m)
    for j in 0..<m {
        thetas[j] = 1 / largest + (1 - (Double(m) / (Double(j + 1) - 0.5)).squareRoot()) / priorStrength / quartile
    }
    var profile = [Double](repeating: 0, count: m)
    for j in 0..<m {
        let k = x.reduce(0) { $0 + Foundation.log1p(-thetas[j] * $1) } / Double(n)
        profile[j] = Double(n) * (Foundation.log(-thetas[j] / k) - k - 1)
    }
    var weights = [Double](repeating: 0, count: m)
    for j in 0..<m {
        var total = 0.0
        for l in 0..<m { total += Foundation.exp(profile[l] - profile[j]) }
        weights[j] = 1 / total
    }
    let thetaHat = zip(thetas, weights).reduce(0) { $0 + $1.0 * $1.1 }
    let k = x.reduce(0) { $0 + Foundation.log1p(-thetaHat * $1) } / Double(n)
    // Weakly informative prior: a pseudo-sample of 10 at k = 0.5.
    return (Double(n) * k + 10 * 0.5) / (Double(n) + 10)
}

extension FitDiagnostics {
    /// The fit as plain text: a row per element of each latent, in the model's order (name, mean, sd, 5%, 50% and
    /// 95% quantiles of the posterior q), then the ELBO, the importance-sampled log evidence and PSIS k̂.
    public func summary<M: ProbabilisticModel>(of model: M) -> String {
        var lines = ["latent            mean          sd          5%         50%         95%"]
        for v in model.latentSpace.variables {
            for (j, s) in (posterior[v.name] ?? []).enumerated() {
                let name = v.size == 1 && v.shape.isEmpty ? v.name : "\(v.name)[\(j)]"
                let columns = [s.mean, s.standardDeviation, s.q05, s.q50, s.q95].map { formatColumn($0) }
                lines.append(name.padding(toLength: Swift.max(14, name.count), withPad: " ", startingAt: 0) + columns.joined())
            }
        }
        lines.append("ELBO \(formatNumber(elbo)) ± \(formatNumber(elboStandardError)), "
            + "log p(x) ≈ \(formatNumber(logEvidence)) ± \(formatNumber(logEvidenceStandardError)), "
            + "PSIS k̂ \(formatNumber(paretoK)) (\(paretoVerdict))")
        return lines.joined(separator: "\n")
    }
}

/// A number in a 12-character column, with six significant digits.
private func formatColumn(_ x: Double) -> String {
    let text = formatNumber(x)
    return String(repeating: " ", count: Swift.max(1, 12 - text.count)) + text
}

private func formatNumber(_ x: Double) -> String { String(format: "%.6g", x) }

import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions

let logTwoPi = Foundation.log(2 * Double.pi)

/// q(μ) = N(m, s²) with parameters (m, log s).
public struct NormalQ: Differentiable {
    public var mean: Tensor<Double>
    public var logStandardDeviation: Tensor<Double>
    public init(mean: Double, standardDeviation: Double) {
        self.mean = Tensor(mean)
        self.logStandardDeviation = Tensor(Foundation.log(standardDeviation))
    }
}

extension NormalNormalModel: ExactExplanation {
    public var title: String { "normal-normal: a normal mean with known noise" }
    public var priorDescription: String { "μ ~ Normal(\(fmt(priorMean)), \(fmt(priorStandardDeviation))²)" }
    public var likelihoodDescription: String { "xᵢ | μ ~ Normal(μ, \(fmt(noiseStandardDeviation))²), i = 1…\(observations.count)" }
    public var dataSummary: String { summary(observations) }
    public var posteriorDescription: String {
        let p = posteriorMeanAndStandardDeviation
        return "μ | x ~ Normal(\(fmt(p.mean)), \(fmt(p.standardDeviation))²)"
    }
    public var dimension: Int { 1 }

    /// Two posterior standard deviations off, and twice as wide: poor, but overlapping the posterior.
    public func poorQ() -> NormalQ {
        let p = posteriorMeanAndStandardDeviation
        return NormalQ(mean: p.mean - 2 * p.standardDeviation, standardDeviation: 2 * p.standardDeviation)
    }

    public func q(mean: Double, standardDeviation: Double) throws -> NormalQ {
        guard mean.isFinite else { throw ModelError("--q-mean must be finite, got \(mean)") }
        guard standardDeviation > 0, standardDeviation.isFinite else { throw ModelError("--q-sd must be positive, got \(standardDeviation)") }
        return NormalQ(mean: mean, standardDeviation: standardDeviation)
    }

    public func describe(_ q: NormalQ) -> String {
        "q(μ) = Normal(\(fmt(q.mean.scalar)), \(fmt(Foundation.exp(q.logStandardDeviation.scalar)))²)"
    }

    /// −n/2 log(2πσ²) − Σ((xᵢ − m)² + s²)/(2σ²).
    @differentiable(reverse)
    public func expectedLogLikelihood(_ q: NormalQ) -> Tensor<Double> {
        let s2 = (q.logStandardDeviation * 2).exp()
        let sigma2 = noiseStandardDeviation * noiseStandardDeviation
        let n = Double(observations.count)
        let squares = (withoutDerivative(at: data) - q.mean).squared().sum()
        return (squares + s2 * n) / (-2 * sigma2) - n / 2 * (logTwoPi + Foundation.log(sigma2))
    }

    @differentiable(reverse)
    public func klToPrior(_ q: NormalQ) -> Tensor<Double> {
        Normal(uncheckedLocation: q.mean, scale: q.logStandardDeviation.exp())
            .klDivergence(to: Normal(uncheckedLocation: Tensor(priorMean), scale: Tensor(priorStandardDeviation)))
    }

    public func klToPosterior(_ q: NormalQ) -> Double {
        let p = posteriorMeanAndStandardDeviation
        return Normal(uncheckedLocation: q.mean, scale: q.logStandardDeviation.exp())
            .klDivergence(to: Normal(uncheckedLocation: Tensor(p.mean), scale: Tensor(p.standardDeviation))).scalar
    }

    public func logWeights<G: RandomNumberGenerator>(_ q: NormalQ, count: Int, using generator: inout G) -> [Double] {
        let qd = Normal(uncheckedLocation: q.mean, scale: q.logStandardDeviation.exp())
        let z = qd.sample(sampleShape: [count], using: &generator)
        let latents = Latents(values: z.reshaped(to: [count, 1]), space: latentSpace)
        return (logPrior(latents) + logLikelihoodPerParticle(latents, observations: nil) - qd.logProbability(of: z)).scalars.array
    }

    public func logJointUnconstrained(_ u: [Double]) -> Double {
        logJointUnconstrained(Tensor(shape: [1, 1], scalars: u)).scalar
    }

    public var unconstrainedPosteriorCenter: (mean: [Double], standardDeviation: [Double]) {
        let p = posteriorMeanAndStandardDeviation
        return ([p.mean], [p.standardDeviation])
    }
}

/// q(θ) = Beta(a, b) with parameters (log a, log b).
public struct BetaQ: Differentiable {
    public var logAlpha: Tensor<Double>
    public var logBeta: Tensor<Double>
    public init(alpha: Double, beta: Double) {
        logAlpha = Tensor(Foundation.log(alpha))
        logBeta = Tensor(Foundation.log(beta))
    }
    @differentiable(reverse)
    var distribution: Beta<Double> { Beta(uncheckedAlpha: logAlpha.exp(), beta: logBeta.exp()) }
}

extension BetaBernoulliModel: ExactExplanation {
    public var title: String { "beta-bernoulli: a probability from coin flips" }
    public var priorDescription: String { "θ ~ Beta(\(fmt(priorAlpha)), \(fmt(priorBeta)))" }
    public var likelihoodDescription: String { "xᵢ | θ ~ Bernoulli(θ), i = 1…\(observations.count)" }
    public var dataSummary: String { "\(observations.count) flips, \(Int(successes)) ones (\(fmt(successes / Double(observations.count) * 100))%)" }
    var posteriorParameters: (Double, Double) { (priorAlpha + successes, priorBeta + Double(observations.count) - successes) }
    public var posteriorDescription: String {
        let (a, b) = posteriorParameters
        return "θ | x ~ Beta(\(fmt(a)), \(fmt(b)))"
    }
    public var dimension: Int { 1 }

    /// Two posterior standard deviations off (toward 1/2) and twice as wide, by moment matching.
    public func poorQ() -> BetaQ {
        let (a, b) = posteriorParameters
        let mean = a / (a + b)
        let sd = (a * b / ((a + b) * (a + b) * (a + b + 1))).squareRoot()
        let shifted = Swift.min(Swift.max(mean + (mean < 0.5 ? 2 : -2) * sd, 0.05), 0.95)
        // Twice as wide, but no wider than a + b = max(1/m, 1/(1 − m)) allows: both shapes stay ≥ 1, so the
        // density stays finite at 0 and 1.
        let narrowestTotal = Swift.max(1 / shifted, 1 / (1 - shifted))
        let wide = Swift.min(2 * sd, (shifted * (1 - shifted) / (narrowestTotal + 1)).squareRoot())
        return (try? q(mean: shifted, standardDeviation: wide)) ?? BetaQ(alpha: 1, beta: 1)
    }

    /// Moment matching: a + b = m(1 − m)/s² − 1.
    public func q(mean: Double, standardDeviation s: Double) throws -> BetaQ {
        guard mean > 0, mean < 1 else { throw ModelError("--q-mean must be in (0, 1) for beta-bernoulli, got \(mean)") }
        guard s > 0, s * s < mean * (1 - mean) else {
            throw ModelError("--q-sd must be in (0, √(m(1 − m))) = (0, \(fmt((mean * (1 - mean)).squareRoot()))) for a beta q with mean \(mean), got \(s)")
        }
        let total = mean * (1 - mean) / (s * s) - 1
        return BetaQ(alpha: mean * total, beta: (1 - mean) * total)
    }

    public func describe(_ q: BetaQ) -> String {
        "q(θ) = Beta(\(fmt(Foundation.exp(q.logAlpha.scalar))), \(fmt(Foundation.exp(q.logBeta.scalar))))"
    }

    /// k (ψ(a) − ψ(a + b)) + (n − k)(ψ(b) − ψ(a + b)): E_q[log θ] and E_q[log(1 − θ)].
    @differentiable(reverse)
    public func expectedLogLikelihood(_ q: BetaQ) -> Tensor<Double> {
        let (a, b) = (q.logAlpha.exp(), q.logBeta.exp())
        let k = successes
        let n = Double(observations.count)
        let total = (a + b).digamma()
        return (a.digamma() - total) * k + (b.digamma() - total) * (n - k)
    }

    @differentiable(reverse)
    public func klToPrior(_ q: BetaQ) -> Tensor<Double> {
        q.distribution.klDivergence(to: Beta(uncheckedAlpha: Tensor(priorAlpha), beta: Tensor(priorBeta)))
    }

    public func klToPosterior(_ q: BetaQ) -> Double {
        let (a, b) = posteriorParameters
        return q.distribution.klDivergence(to: Beta(uncheckedAlpha: Tensor(a), beta: Tensor(b))).scalar
    }

    public func logWeights<G: RandomNumberGenerator>(_ q: BetaQ, count: Int, using generator: inout G) -> [Double] {
        let qd = q.distribution
        let theta = qd.sample(sampleShape: [count], using: &generator)
        let latents = Latents(values: theta.reshaped(to: [count, 1]), space: latentSpace)
        return (logPrior(latents) + logLikelihoodPerParticle(latents, observations: nil) - qd.logProbability(of: theta)).scalars.array
    }

    public func logJointUnconstrained(_ u: [Double]) -> Double {
        logJointUnconstrained(Tensor(shape: [1, 1], scalars: u)).scalar
    }

    /// The Beta posterior's logit has mean ψ(a) − ψ(b) and variance ψ′(a) + ψ′(b).
    public var unconstrainedPosteriorCenter: (mean: [Double], standardDeviation: [Double]) {
        let (a, b) = posteriorParameters
        return ([SpecialFunctions.digamma(a) - SpecialFunctions.digamma(b)],
                [(SpecialFunctions.trigamma(a) + SpecialFunctions.trigamma(b)).squareRoot()])
    }
}

/// q(λ) = Gamma(shape, rate) with parameters (log shape, log rate).
public struct GammaQ: Differentiable {
    public var logShape: Tensor<Double>
    public var logRate: Tensor<Double>
    public init(shape: Double, rate: Double) {
        logShape = Tensor(Foundation.log(shape))
        logRate = Tensor(Foundation.log(rate))
    }
    @differentiable(reverse)
    var distribution: Gamma<Double> { Gamma(uncheckedConcentration: logShape.exp(), rate: logRate.exp()) }
}

extension GammaPoissonModel: ExactExplanation {
    public var title: String { "gamma-poisson: a rate from counts" }
    public var priorDescription: String { "λ ~ Gamma(shape \(fmt(priorAlpha)), rate \(fmt(priorBeta)))" }
    public var likelihoodDescription: String { "xᵢ | λ ~ Poisson(λ), i = 1…\(observations.count)" }
    public var dataSummary: String { summary(observations) }
    var posteriorParameters: (Double, Double) { (priorAlpha + observations.reduce(0, +), priorBeta + Double(observations.count)) }
    public var posteriorDescription: String {
        let (a, b) = posteriorParameters
        return "λ | x ~ Gamma(shape \(fmt(a)), rate \(fmt(b)))"
    }
    public var dimension: Int { 1 }

    /// Two posterior standard deviations too high and twice as wide, by moment matching.
    public func poorQ() -> GammaQ {
        let (a, b) = posteriorParameters
        let sd = a.squareRoot() / b
        // Mean m = a/b + 2 sd and sd 2 sd: shape (m / 2sd)², rate (m / 2sd) / 2sd, written so that nothing
        // overflows at a = 1e300 (m / 2sd = √a / 2 + 1).
        let ratio = a.squareRoot() / 2 + 1
        return GammaQ(shape: ratio * ratio, rate: ratio / (2 * sd))
    }

    /// Moment matching: shape m²/s², rate m/s².
    public func q(mean: Double, standardDeviation s: Double) throws -> GammaQ {
        guard mean > 0, mean.isFinite else { throw ModelError("--q-mean must be positive for gamma-poisson, got \(mean)") }
        guard s > 0, s.isFinite else { throw ModelError("--q-sd must be positive, got \(s)") }
        let ratio = mean / s
        let (shape, rate) = (ratio * ratio, ratio / s)
        guard shape.isFinite, rate.isFinite, shape > 0, rate > 0 else {
            throw ModelError("--q-mean \(mean) with --q-sd \(s) gives a Gamma q of shape \(shape) and rate \(rate), outside double precision")
        }
        return GammaQ(shape: shape, rate: rate)
    }

    public func describe(_ q: GammaQ) -> String {
        "q(λ) = Gamma(shape \(fmt(Foundation.exp(q.logShape.scalar))), rate \(fmt(Foundation.exp(q.logRate.scalar))))"
    }

    /// Σx (ψ(a) − log b) − n a/b − Σ log xᵢ!.
    @differentiable(reverse)
    public func expectedLogLikelihood(_ q: GammaQ) -> Tensor<Double> {
        let (a, b) = (q.logShape.exp(), q.logRate.exp())
        let total = observations.reduce(0, +)
        let n = Double(observations.count)
        let logFactorials = observations.reduce(0) { $0 + lgamma($1 + 1) }
        return (a.digamma() - q.logRate) * total - a / b * n - logFactorials
    }

    @differentiable(reverse)
    public func klToPrior(_ q: GammaQ) -> Tensor<Double> {
        q.distribution.klDivergence(to: Gamma(uncheckedConcentration: Tensor(priorAlpha), rate: Tensor(priorBeta)))
    }

    public func klToPosterior(_ q: GammaQ) -> Double {
        let (a, b) = posteriorParameters
        return q.distribution.klDivergence(to: Gamma(uncheckedConcentration: Tensor(a), rate: Tensor(b))).scalar
    }

    public func logWeights<G: RandomNumberGenerator>(_ q: GammaQ, count: Int, using generator: inout G) -> [Double] {
        let qd = q.distribution
        let lambda = qd.sample(sampleShape: [count], using: &generator)
        let latents = Latents(values: lambda.reshaped(to: [count, 1]), space: latentSpace)
        return (logPrior(latents) + logLikelihoodPerParticle(latents, observations: nil) - qd.logProbability(of: lambda)).scalars.array
    }

    public func logJointUnconstrained(_ u: [Double]) -> Double {
        logJointUnconstrained(Tensor(shape: [1, 1], scalars: u)).scalar
    }

    /// log λ under Gamma(a, b) has mean ψ(a) − log b and variance ψ′(a).
    public var unconstrainedPosteriorCenter: (mean: [Double], standardDeviation: [Double]) {
        let (a, b) = posteriorParameters
        return ([SpecialFunctions.digamma(a) - Foundation.log(b)], [SpecialFunctions.trigamma(a).squareRoot()])
    }
}

/// q(w) = N(m, L Lᵀ), full rank: parameters m, the strictly lower part of L and log diag L.
public struct GaussianQ: Differentiable {
    public var mean: Tensor<Double>
    public var lowerFactor: Tensor<Double>
    public var logDiagonal: Tensor<Double>
    public init(mean: [Double], standardDeviation: Double) {
        self.mean = Tensor(mean)
        lowerFactor = Tensor(zeros: [mean.count, mean.count])
        logDiagonal = Tensor(repeating: Foundation.log(standardDeviation), shape: [mean.count])
    }
    @differentiable(reverse)
    var scaleTril: Tensor<Double> {
        lowerFactor.lowerTriangular() - lowerFactor.diagonalPart().diagonalMatrix() + logDiagonal.exp().diagonalMatrix()
    }
    @differentiable(reverse)
    var distribution: MultivariateNormal<Double> { MultivariateNormal(uncheckedLocation: mean, scaleTril: scaleTril) }
}

extension LinearRegressionModel: ExactExplanation {
    public var title: String { "linear-regression: weights with known noise" }
    public var priorDescription: String { "w ~ Normal(\(fmt(priorMean)), \(fmt(priorStandardDeviation))² I), \(featureCount) weights" }
    public var likelihoodDescription: String { "y | w ~ Normal(X w, \(fmt(noiseStandardDeviation))² I), \(observationCount) rows" }
    public var dataSummary: String { "\(observationCount) rows, \(featureCount) features; y: " + summary(responses.scalars.array) }
    public var posteriorDescription: String {
        let p = exactPosterior["w"]!
        return "w | x ~ Normal(mean [\(p.mean.map(fmt).joined(separator: ", "))], sd [\(p.standardDeviation.map(fmt).joined(separator: ", "))], correlated)"
    }
    public var dimension: Int { featureCount }

    /// Two posterior standard deviations off in every weight, uncorrelated, twice the largest posterior sd wide.
    public func poorQ() -> GaussianQ {
        let p = exactPosterior["w"]!
        return GaussianQ(mean: zip(p.mean, p.standardDeviation).map { $0 - 2 * $1 }, standardDeviation: 2 * p.standardDeviation.max()!)
    }

    public func q(mean: Double, standardDeviation: Double) throws -> GaussianQ {
        guard mean.isFinite else { throw ModelError("--q-mean must be finite, got \(mean)") }
        guard standardDeviation > 0, standardDeviation.isFinite else { throw ModelError("--q-sd must be positive, got \(standardDeviation)") }
        return GaussianQ(mean: [Double](repeating: mean, count: featureCount), standardDeviation: standardDeviation)
    }

    public func describe(_ q: GaussianQ) -> String {
        let sd = q.distribution.variance.scalars.map { fmt($0.squareRoot()) }
        return "q(w) = Normal(mean [\(q.mean.scalars.map(fmt).joined(separator: ", "))], sd [\(sd.joined(separator: ", "))])"
    }

    /// −n/2 log(2πσ²) − (‖y − X m‖² + tr(XᵀX Σ_q))/(2σ²), with tr(XᵀX L Lᵀ) = ‖X L‖²_F.
    @differentiable(reverse)
    public func expectedLogLikelihood(_ q: GaussianQ) -> Tensor<Double> {
        let x = withoutDerivative(at: features)
        let y = withoutDerivative(at: responses)
        let sigma2 = noiseStandardDeviation * noiseStandardDeviation
        let n = Double(withoutDerivative(at: observationCount))
        let residual = (y - matmul(x, q.mean.reshaped(to: [-1, 1])).reshaped(to: [-1])).squared().sum()
        let spread = matmul(x, q.scaleTril).squared().sum()
        return (residual + spread) / (-2 * sigma2) - n / 2 * (logTwoPi + Foundation.log(sigma2))
    }

    @differentiable(reverse)
    public func klToPrior(_ q: GaussianQ) -> Tensor<Double> {
        let d = withoutDerivative(at: featureCount)
        let prior = MultivariateNormal(
            uncheckedLocation: Tensor(repeating: priorMean, shape: [d]), scaleDiagonal: Tensor(repeating: priorStandardDeviation, shape: [d]))
        return q.distribution.klDivergence(to: prior)
    }

    public func klToPosterior(_ q: GaussianQ) -> Double {
        q.distribution.klDivergence(to: exactGaussianPosterior!).scalar
    }

    public func logWeights<G: RandomNumberGenerator>(_ q: GaussianQ, count: Int, using generator: inout G) -> [Double] {
        let qd = q.distribution
        let w = qd.sample(sampleShape: [count], using: &generator)
        let latents = Latents(values: w, space: latentSpace)
        return (logPrior(latents) + logLikelihoodPerParticle(latents, observations: nil) - qd.logProbability(of: w)).scalars.array
    }

    public func logJointUnconstrained(_ u: [Double]) -> Double {
        logJointUnconstrained(Tensor(shape: [1, u.count], scalars: u)).scalar
    }

    public var unconstrainedPosteriorCenter: (mean: [Double], standardDeviation: [Double]) {
        let p = exactPosterior["w"]!
        return (p.mean, p.standardDeviation)
    }

    public var unconstrainedPosteriorCholesky: [[Double]]? {
        guard let l = exactGaussianPosterior?.scaleTril else { return nil }
        let d = featureCount
        return (0..<d).map { i in (0..<d).map { l.scalars[i * d + $0] } }
    }
}

/// A number for people: 6 significant digits.
func fmt(_ x: Double) -> String { String(format: "%.6g", x) }

func summary(_ values: [Double]) -> String {
    let n = Double(values.count)
    let mean = values.reduce(0, +) / n
    let sd = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Swift.max(n - 1, 1)).squareRoot()
    return "n = \(values.count), mean \(fmt(mean)), sd \(fmt(sd)), min \(fmt(values.min()!)), max \(fmt(values.max()!))"
}

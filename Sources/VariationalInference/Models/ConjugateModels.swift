import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions

/// Normal observations with known noise and a normal prior on their mean:
/// μ ~ N(m₀, s₀²), xᵢ ~ N(μ, σ²).
public struct NormalNormalModel: ConjugateModel {
    public let observations: [Double]
    public let priorMean: Double
    public let priorStandardDeviation: Double
    public let noiseStandardDeviation: Double
    let data: Tensor<Double>

    public init(observations: [Double], priorMean: Double = 0, priorStandardDeviation: Double = 10, noiseStandardDeviation: Double = 1) throws {
        guard !observations.isEmpty else { throw ModelError("normal-normal: no observations") }
        try ModelError.checkFinite(observations, "normal-normal", "x")
        try ModelError.checkScale(priorStandardDeviation, "normal-normal", "prior-sd")
        try ModelError.checkScale(noiseStandardDeviation, "normal-normal", "noise-sd")
        try ModelError.checkFinite([priorMean], "normal-normal", "prior-mean")
        self.observations = observations
        self.priorMean = priorMean
        self.priorStandardDeviation = priorStandardDeviation
        self.noiseStandardDeviation = noiseStandardDeviation
        self.data = Tensor(observations)
    }

    public var latents: [Latent] { [Latent("mu", Normal(priorMean, priorStandardDeviation))] }
    public var observationCount: Int { observations.count }

    @differentiable(reverse)
    public func logLikelihood(_ z: Latents, observations indices: [Int]?) -> Tensor<Double> {
        Normal(z["mu"], Tensor(noiseStandardDeviation)).logProbability(of: data.rows(indices))
    }

    public func posteriorPredictive<G: RandomNumberGenerator>(_ z: Latents, using generator: inout G) -> Tensor<Double>? {
        Normal(z["mu"], Tensor(noiseStandardDeviation)).sample(using: &generator).reshaped(to: [z.particleCount])
    }

    /// The posterior N(μₙ, sₙ²): 1/sₙ² = 1/s₀² + n/σ², μₙ = sₙ² (m₀/s₀² + Σx/σ²).
    public var posteriorMeanAndStandardDeviation: (mean: Double, standardDeviation: Double) {
        let precision = 1 / (priorStandardDeviation * priorStandardDeviation) + Double(observations.count) / (noiseStandardDeviation * noiseStandardDeviation)
        let mean = (priorMean / (priorStandardDeviation * priorStandardDeviation)
            + observations.reduce(0, +) / (noiseStandardDeviation * noiseStandardDeviation)) / precision
        return (mean, (1 / precision).squareRoot())
    }

    public var exactPosterior: [String: (mean: [Double], standardDeviation: [Double])] {
        let p = posteriorMeanAndStandardDeviation
        return ["mu": ([p.mean], [p.standardDeviation])]
    }

    public var exactGaussianPosterior: MultivariateNormal<Double>? {
        let p = posteriorMeanAndStandardDeviation
        return try? MultivariateNormal(location: Tensor([p.mean]), scaleDiagonal: Tensor([p.standardDeviation]))
    }

    /// log N(x; m₀1, σ²I + s₀²11ᵀ), with the determinant and the quadratic form by Sherman–Morrison.
    public var exactLogEvidence: Double {
        let n = Double(observations.count)
        let (s2, t2) = (noiseStandardDeviation * noiseStandardDeviation, priorStandardDeviation * priorStandardDeviation)
        let r = observations.map { $0 - priorMean }
        let sumSquares = r.reduce(0) { $0 + $1 * $1 }
        let sum = r.reduce(0, +)
        let logDet = n * Foundation.log(s2) + Foundation.log1p(n * t2 / s2)
        let quadratic = sumSquares / s2 - t2 * sum * sum / (s2 * (s2 + n * t2))
        return -0.5 * (n * Foundation.log(2 * Double.pi) + logDet + quadratic)
    }
}

/// Bernoulli observations with a beta prior on their probability: θ ~ Beta(a, b), xᵢ ~ Bernoulli(θ).
public struct BetaBernoulliModel: ConjugateModel {
    public let observations: [Double]
    public let priorAlpha: Double
    public let priorBeta: Double
    let data: Tensor<Double>

    public init(observations: [Double], priorAlpha: Double = 1, priorBeta: Double = 1) throws {
        guard !observations.isEmpty else { throw ModelError("beta-bernoulli: no observations") }
        if let i = observations.firstIndex(where: { $0 != 0 && $0 != 1 }) {
            throw ModelError("beta-bernoulli: x must be 0 or 1, got \(observations[i]) in row \(i + 1)")
        }
        try ModelError.checkPositive(priorAlpha, "beta-bernoulli", "prior-alpha")
        try ModelError.checkPositive(priorBeta, "beta-bernoulli", "prior-beta")
        self.observations = observations
        self.priorAlpha = priorAlpha
        self.priorBeta = priorBeta
        self.data = Tensor(observations)
    }

    public var latents: [Latent] { [Latent("theta", Beta(priorAlpha, priorBeta))] }
    public var observationCount: Int { observations.count }
    var successes: Double { observations.reduce(0, +) }

    @differentiable(reverse)
    public func logLikelihood(_ z: Latents, observations indices: [Int]?) -> Tensor<Double> {
        let x = withoutDerivative(at: data.rows(indices))
        let k = withoutDerivative(at: x.sum())
        let n = Double(withoutDerivative(at: x.scalarCount))
        let theta = z["theta"]
        return theta.log() * k + (-theta).log1p() * (n - k)
    }

    public func posteriorPredictive<G: RandomNumberGenerator>(_ z: Latents, using generator: inout G) -> Tensor<Double>? {
        Tensor(randomBernoulliWithProbabilities: z["theta"], using: &generator).reshaped(to: [z.particleCount])
    }

    public var exactPosterior: [String: (mean: [Double], standardDeviation: [Double])] {
        let a = priorAlpha + successes
        let b = priorBeta + Double(observations.count) - successes
        return ["theta": ([a / (a + b)], [(a * b / ((a + b) * (a + b) * (a + b + 1))).squareRoot()])]
    }

    /// log B(a + k, b + n − k) − log B(a, b).
    public var exactLogEvidence: Double {
        let n = Double(observations.count)
        let k = successes
        return logBetaFunction(priorAlpha + k, priorBeta + n - k) - logBetaFunction(priorAlpha, priorBeta)
    }
}

func logBetaFunction(_ a: Double, _ b: Double) -> Double { lgamma(a) + lgamma(b) - lgamma(a + b) }

/// Poisson counts with a gamma prior on their rate: λ ~ Gamma(α, β) (shape, rate), xᵢ ~ Poisson(λ).
public struct GammaPoissonModel: ConjugateModel {
    public let observations: [Double]
    public let priorAlpha: Double
    public let priorBeta: Double
    let data: Tensor<Double>

    public init(observations: [Double], priorAlpha: Double = 2, priorBeta: Double = 0.5) throws {
        guard !observations.isEmpty else { throw ModelError("gamma-poisson: no observations") }
        if let i = observations.firstIndex(where: { !($0 >= 0 && $0 == $0.rounded() && $0.isFinite) }) {
            throw ModelError("gamma-poisson: x must be a non-negative integer count, got \(observations[i]) in row \(i + 1)")
        }
        // Above 2^53 not every integer is a Double: a count there is not known exactly.
        if let i = observations.firstIndex(where: { $0 > 0x1p53 }) {
            throw ModelError("gamma-poisson: count \(observations[i]) in row \(i + 1) is above 2^53 = 9007199254740992, where counts are not exact in double precision")
        }
        try ModelError.checkPositive(priorAlpha, "gamma-poisson", "prior-alpha")
        try ModelError.checkPositive(priorBeta, "gamma-poisson", "prior-beta")
        self.observations = observations
        self.priorAlpha = priorAlpha
        self.priorBeta = priorBeta
        self.data = Tensor(observations)
    }

    public var latents: [Latent] { [Latent("lambda", Gamma(priorAlpha, priorBeta))] }
    public var observationCount: Int { observations.count }

    @differentiable(reverse)
    public func logLikelihood(_ z: Latents, observations indices: [Int]?) -> Tensor<Double> {
        let x = withoutDerivative(at: data.rows(indices))
        let total = withoutDerivative(at: x.sum())
        let n = Double(withoutDerivative(at: x.scalarCount))
        let logFactorials = withoutDerivative(at: (x + 1).logGamma().sum())
        let lambda = z["lambda"]
        return lambda.log() * total - lambda * n - logFactorials
    }

    public func posteriorPredictive<G: RandomNumberGenerator>(_ z: Latents, using generator: inout G) -> Tensor<Double>? {
        Poisson(z["lambda"]).sample(using: &generator).reshaped(to: [z.particleCount])
    }

    public var exactPosterior: [String: (mean: [Double], standardDeviation: [Double])] {
        let a = priorAlpha + observations.reduce(0, +)
        let b = priorBeta + Double(observations.count)
        return ["lambda": ([a / b], [a.squareRoot() / b])]
    }

    /// α log β − log Γ(α) + log Γ(α + Σx) − (α + Σx) log(β + n) − Σ log xᵢ!.
    public var exactLogEvidence: Double {
        let total = observations.reduce(0, +)
        let n = Double(observations.count)
        let logFactorials = observations.reduce(0) { $0 + lgamma($1 + 1) }
        return priorAlpha * Foundation.log(priorBeta) - lgamma(priorAlpha) + lgamma(priorAlpha + total)
            - (priorAlpha + total) * Foundation.log(priorBeta + n) - logFactorials
    }
}

/// A model-building or data error that names what is wrong and where.
public struct ModelError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }

    static func checkFinite(_ values: [Double], _ model: String, _ name: String) throws {
        if let i = values.firstIndex(where: { !$0.isFinite }) {
            throw ModelError("\(model): \(name) must be finite, got \(values[i])\(values.count > 1 ? " in row \(i + 1)" : "")")
        }
    }

    /// A standard deviation between 1e-100 and 1e100, so that its square and its reciprocal's square are finite
    /// and non-zero in double precision.
    static func checkScale(_ value: Double, _ model: String, _ name: String) throws {
        guard value >= 1e-100, value <= 1e100 else {
            throw ModelError("\(model): --\(name) must be between 1e-100 and 1e100, got \(value)")
        }
    }

    static func checkPositive(_ value: Double, _ model: String, _ name: String) throws {
        guard value > 0, value.isFinite else { throw ModelError("\(model): --\(name) must be positive and finite, got \(value)") }
    }
}

/// log N(x; m, s²).
func normalLogDensity(_ x: Double, _ m: Double, _ s: Double) -> Double {
    -0.5 * ((x - m) / s) * ((x - m) / s) - Foundation.log(s) - 0.5 * Foundation.log(2 * Double.pi)
}

import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions

/// The eight-schools model (Rubin 1981), non-centred: μ ~ N(0, 5²), τ ~ HalfCauchy(5), θ̃ⱼ ~ N(0, 1),
/// yⱼ ~ N(μ + τ θ̃ⱼ, σⱼ²) with known standard errors σⱼ.
public struct EightSchoolsModel: ProbabilisticModel {
    public let effects: Tensor<Double>
    public let standardErrors: Tensor<Double>

    /// The classic data: estimated coaching effects and their standard errors in eight schools.
    public static let classicEffects: [Double] = [28, 8, -3, 7, -1, 1, 18, 12]
    public static let classicStandardErrors: [Double] = [15, 10, 16, 11, 9, 11, 10, 18]

    public init(effects: [Double] = classicEffects, standardErrors: [Double] = classicStandardErrors) throws {
        guard !effects.isEmpty, effects.count == standardErrors.count else {
            throw ModelError("eight-schools: needs one standard error (column sigma) per effect (column y), got \(effects.count) and \(standardErrors.count)")
        }
        try ModelError.checkFinite(effects, "eight-schools", "y")
        if let i = standardErrors.firstIndex(where: { !($0 > 0 && $0.isFinite) }) {
            throw ModelError("eight-schools: sigma must be positive, got \(standardErrors[i]) in row \(i + 1)")
        }
        self.effects = Tensor(effects)
        self.standardErrors = Tensor(standardErrors)
    }

    public var schoolCount: Int { effects.scalarCount }
    public var latents: [Latent] {
        [Latent("mu", Normal(0, 5)), Latent("tau", HalfCauchy(5)), Latent("theta_tilde", Normal(0, 1), shape: [schoolCount])]
    }
    public var observationCount: Int { schoolCount }

    @differentiable(reverse)
    public func logLikelihood(_ z: Latents, observations indices: [Int]?) -> Tensor<Double> {
        let theta = z["mu"] + z["tau"] * z["theta_tilde"]
        guard let indices else { return Normal(theta, standardErrors).logProbability(of: effects) }
        let selected = theta.gathering(atIndices: indices, alongAxis: 1)
        return Normal(selected, standardErrors.rows(indices)).logProbability(of: effects.rows(indices))
    }

    public func posteriorPredictive<G: RandomNumberGenerator>(_ z: Latents, using generator: inout G) -> Tensor<Double>? {
        let theta = z["mu"] + z["tau"] * z["theta_tilde"]
        return theta + Tensor(randomNormal: theta.shape, using: &generator) * standardErrors
    }
}

/// A two-component Gaussian mixture with unit variances: w ~ Beta(1, 1), μₖ ~ N(m₀, s₀²),
/// xᵢ ~ w N(μ₁, σ²) + (1 − w) N(μ₂, σ²), the assignments summed out.
public struct GaussianMixtureModel: ProbabilisticModel {
    public let observations: Tensor<Double>
    public let priorMean: Double
    public let priorStandardDeviation: Double
    public let noiseStandardDeviation: Double

    public init(observations: [Double], priorMean: Double = 0, priorStandardDeviation: Double = 10, noiseStandardDeviation: Double = 1) throws {
        guard observations.count >= 2 else { throw ModelError("gaussian-mixture: needs at least 2 observations, got \(observations.count)") }
        try ModelError.checkFinite(observations, "gaussian-mixture", "x")
        try ModelError.checkScale(priorStandardDeviation, "gaussian-mixture", "prior-sd")
        try ModelError.checkScale(noiseStandardDeviation, "gaussian-mixture", "noise-sd")
        self.observations = Tensor(observations)
        self.priorMean = priorMean
        self.priorStandardDeviation = priorStandardDeviation
        self.noiseStandardDeviation = noiseStandardDeviation
    }

    public var latents: [Latent] {
        [Latent("weight", Beta(1, 1)), Latent("mu", Normal(priorMean, priorStandardDeviation), shape: [2])]
    }
    public var observationCount: Int { observations.scalarCount }

    @differentiable(reverse)
    public func logLikelihood(_ z: Latents, observations indices: [Int]?) -> Tensor<Double> {
        let x = withoutDerivative(at: observations.rows(indices))
        let sigma = noiseStandardDeviation
        let w = z["weight"]  // [S, 1]
        let mu = z["mu"]  // [S, 2]
        let xs = x.expandingShape(at: 0)  // [1, n]
        let constant = Foundation.log(sigma) + 0.5 * Foundation.log(2 * Double.pi)
        let first = ((xs - mu.slice(axis: 1, range: 0..<1)) / sigma).squared() * -0.5 - constant + w.log()
        let second = ((xs - mu.slice(axis: 1, range: 1..<2)) / sigma).squared() * -0.5 - constant + (-w).log1p()
        return Tensor.stacking([first, second], alongAxis: 2).logSumExp(squeezingAxes: 2).sum(squeezingAxes: 1)
    }

    public func posteriorPredictive<G: RandomNumberGenerator>(_ z: Latents, using generator: inout G) -> Tensor<Double>? {
        let s = z.particleCount
        let weight = z["weight"]
        let mu = z["mu"]
        return Tensor(shape: [s], scalars: (0..<s).map { i in
            let component = Random.bernoulli(probability: weight.scalars[i], using: &generator) ? 0 : 1
            return mu[i, component] + noiseStandardDeviation * Random.standardNormal(using: &generator)
        })
    }
}

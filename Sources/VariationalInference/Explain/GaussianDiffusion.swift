import Foundation
import VariationalCore

/// A diffusion model as a deep VAE, in one dimension, where every term is known in closed form.
///
/// The data are x₀ ~ N(μ, s²). The forward chain q(x_t | x_{t−1}) = N(√α_t x_{t−1}, β_t), α_t = 1 − β_t, is the
/// "encoder": fixed, with T latent layers x₁ … x_T and q(x_t | x₀) = N(√ᾱ_t x₀, 1 − ᾱ_t), ᾱ_t = Π_{s≤t} α_s. The
/// "decoder" is the reverse chain p(x_T) = N(0, 1), p(x_{t−1} | x_t) = N(a_t x_t + b_t, σ_t²). For Gaussian data
/// the best reverse kernels are linear: the mean is E_q[x_{t−1} | x_t] (the marginal reverse of the forward chain),
/// with the variance either the true reverse variance r_t = β_t v_{t−1}/v_t (v_t = Var x_t) or DDPM's fixed
/// choice σ_t² = β_t. The ELBO of a datapoint is
///
///     ELBO(x₀) = −L_T − Σ_{t=2}^T L_{t−1} − L₀ ≤ log p(x₀),
///     L_T = KL(q(x_T | x₀) ‖ p(x_T)),  L_{t−1} = E_q KL(q(x_{t−1} | x_t, x₀) ‖ p(x_{t−1} | x_t)),
///     L₀ = −E_q log p(x₀ | x₁),
///
/// and log p(x₀) itself is a Gaussian density, the reverse chain being linear. The schedule is geometric,
/// ᾱ_t = ᾱ_T^(t/T), so that every T ends at the same noise level.
public struct GaussianDiffusion: Sendable {
    public enum ReverseVariance: String, Sendable, CaseIterable {
        /// r_t = Var(x_{t−1} | x_t) under the forward chain: the best kernel.
        case optimal
        /// σ_t² = β_t, DDPM's fixed choice.
        case beta
    }

    public let dataMean: Double
    public let dataStandardDeviation: Double
    public let steps: Int
    /// ᾱ_T: how much of x₀ is left at the end of the chain.
    public let finalSignal: Double
    public let reverseVariance: ReverseVariance
    /// β₁ … β_T (index t − 1).
    public let betas: [Double]
    /// ᾱ₀ = 1, ᾱ₁ … ᾱ_T (index t).
    public let alphaBars: [Double]
    /// a_t, b_t and σ_t² of the reverse kernels (index t − 1).
    public let reverseSlope: [Double], reverseIntercept: [Double], reverseVariances: [Double]

    public init(dataMean: Double, dataStandardDeviation: Double, steps: Int, finalSignal: Double = 1e-4, reverseVariance: ReverseVariance = .beta) throws {
        guard dataMean.isFinite else { throw ModelError("diffusion: the data mean must be finite, got \(dataMean)") }
        guard dataStandardDeviation > 0 && dataStandardDeviation.isFinite else {
            throw ModelError("diffusion: the data standard deviation must be positive and finite, got \(dataStandardDeviation)")
        }
        guard steps >= 1 else { throw ModelError("diffusion: needs at least one step, got \(steps)") }
        guard finalSignal > 0 && finalSignal < 1 else { throw ModelError("diffusion: ᾱ_T must be in (0, 1), got \(finalSignal)") }
        self.dataMean = dataMean
        self.dataStandardDeviation = dataStandardDeviation
        self.steps = steps
        self.finalSignal = finalSignal
        self.reverseVariance = reverseVariance
        let alpha = Foundation.pow(finalSignal, 1 / Double(steps))
        betas = [Double](repeating: 1 - alpha, count: steps)
        var bars = [1.0]
        for t in 1...steps { bars.append(t == steps ? finalSignal : bars[t - 1] * alpha) }
        alphaBars = bars
        // The forward chain's marginals: mean √ᾱ_t μ, variance v_t = ᾱ_t s² + 1 − ᾱ_t.
        let s2 = dataStandardDeviation * dataStandardDeviation
        let means = bars.map { $0.squareRoot() * dataMean }
        let variances = bars.map { $0 * s2 + 1 - $0 }
        var slope: [Double] = [], intercept: [Double] = [], kernelVariance: [Double] = []
        for t in 1...steps {
            let beta = betas[t - 1]
            let a = (1 - beta).squareRoot() * variances[t - 1] / variances[t]
            slope.append(a)
            intercept.append(means[t - 1] - a * means[t])
            kernelVariance.append(reverseVariance == .optimal ? beta * variances[t - 1] / variances[t] : beta)
        }
        (reverseSlope, reverseIntercept, reverseVariances) = (slope, intercept, kernelVariance)
    }

    /// The terms of the ELBO of x₀: L_T, L_{t−1} for t = 2 … T (index t − 2), L₀.
    public struct Terms: Sendable {
        public var priorMatching: Double
        public var denoising: [Double]
        public var reconstruction: Double
        public var elbo: Double { -(priorMatching + denoising.reduce(0, +) + reconstruction) }
    }

    /// KL(N(m₁, v₁) ‖ N(m₂, v₂)).
    static func gaussianKL(_ m1: Double, _ v1: Double, _ m2: Double, _ v2: Double) -> Double {
        0.5 * (Foundation.log(v2 / v1) + (v1 + (m1 - m2) * (m1 - m2)) / v2 - 1)
    }

    /// q(x_{t−1} | x_t, x₀) = N(c₀ x₀ + c₁ x_t, β̃_t) for t ≥ 2: (c₀, c₁, β̃_t).
    func forwardPosterior(_ t: Int) -> (c0: Double, c1: Double, variance: Double) {
        let (beta, bar, previous) = (betas[t - 1], alphaBars[t], alphaBars[t - 1])
        return (previous.squareRoot() * beta / (1 - bar), (1 - beta).squareRoot() * (1 - previous) / (1 - bar), (1 - previous) * beta / (1 - bar))
    }

    /// Every term in closed form: the expectations over x_t ~ N(√ᾱ_t x₀, 1 − ᾱ_t) are of quadratics.
    public func terms(_ x0: Double) -> Terms {
        let bar = alphaBars[steps]
        let prior = Self.gaussianKL(bar.squareRoot() * x0, 1 - bar, 0, 1)
        var denoising: [Double] = []
        if steps >= 2 {
            for t in 2...steps {
                let (c0, c1, posteriorVariance) = forwardPosterior(t)
                let (a, b, variance) = (reverseSlope[t - 1], reverseIntercept[t - 1], reverseVariances[t - 1])
                // μ̃ − (a x_t + b) = c₀ x₀ − b + (c₁ − a) x_t.
                let mean = c0 * x0 - b + (c1 - a) * alphaBars[t].squareRoot() * x0
                let spread = (c1 - a) * (c1 - a) * (1 - alphaBars[t])
                denoising.append(0.5 * (Foundation.log(variance / posteriorVariance) + (posteriorVariance + mean * mean + spread) / variance - 1))
            }
        }
        let (a1, b1, v1) = (reverseSlope[0], reverseIntercept[0], reverseVariances[0])
        let residualMean = x0 - a1 * alphaBars[1].squareRoot() * x0 - b1
        let residualVariance = a1 * a1 * (1 - alphaBars[1])
        let reconstruction = 0.5 * Foundation.log(2 * Double.pi * v1) + (residualMean * residualMean + residualVariance) / (2 * v1)
        return Terms(priorMatching: prior, denoising: denoising, reconstruction: reconstruction)
    }

    /// log p(x₀) of the reverse chain: x₀ ~ N(M₀, V₀), from M_T = 0, V_T = 1 by M_{t−1} = a_t M_t + b_t,
    /// V_{t−1} = a_t² V_t + σ_t².
    public func logLikelihood(_ x0: Double) -> Double {
        var (mean, variance) = (0.0, 1.0)
        for t in stride(from: steps, through: 1, by: -1) {
            mean = reverseSlope[t - 1] * mean + reverseIntercept[t - 1]
            variance = reverseSlope[t - 1] * reverseSlope[t - 1] * variance + reverseVariances[t - 1]
        }
        return -0.5 * (Foundation.log(2 * Double.pi * variance) + (x0 - mean) * (x0 - mean) / variance)
    }

    /// log N(x₀; μ, s²): the data's own density, which no model of it can beat on average.
    public func dataLogDensity(_ x0: Double) -> Double {
        let s2 = dataStandardDeviation * dataStandardDeviation
        return -0.5 * (Foundation.log(2 * Double.pi * s2) + (x0 - dataMean) * (x0 - dataMean) / s2)
    }

    /// E over the data x₀ ~ N(μ, s²) of a quadratic in x₀ (the ELBO, its terms, log p(x₀)): three-point
    /// Gauss–Hermite quadrature, exact for polynomials up to degree five.
    public func overData(_ f: (Double) -> Double) -> Double {
        let spread = 3.0.squareRoot() * dataStandardDeviation
        return (2 * f(dataMean) + 0.5 * (f(dataMean - spread) + f(dataMean + spread))) / 3
    }

    /// −H of the data distribution, E log N(x₀; μ, s²) = −½ log(2πe s²): the best average log-likelihood any model
    /// of the data can have.
    public var dataNegativeEntropy: Double {
        -0.5 * Foundation.log(2 * Double.pi * Foundation.exp(1) * dataStandardDeviation * dataStandardDeviation)
    }

    /// The simplified loss's view of L_{t−1} (t ≥ 2): with the mean written through a noise predictor,
    /// μ(x_t) = (x_t − β_t/√(1 − ᾱ_t) ε̂(x_t))/√α_t, the term is C_t + w_t E‖ε − ε̂(x_t)‖², with
    /// w_t = β_t²/(2σ_t² α_t (1 − ᾱ_t)) and C_t the variances' part (0 when σ_t² = β̃_t). DDPM's L_simple drops w_t:
    /// a reweighting of the ELBO's terms.
    public func noisePrediction(_ t: Int, _ x0: Double) -> (weight: Double, constant: Double, squaredError: Double) {
        let (beta, bar) = (betas[t - 1], alphaBars[t])
        let variance = reverseVariances[t - 1]
        let posteriorVariance = forwardPosterior(t).variance
        let weight = beta * beta / (2 * variance * (1 - beta) * (1 - bar))
        let constant = 0.5 * (Foundation.log(variance / posteriorVariance) + posteriorVariance / variance - 1)
        // ε̂(x_t) = k₁ x_t + k₀ from the linear mean a x_t + b.
        let (a, b) = (reverseSlope[t - 1], reverseIntercept[t - 1])
        let k1 = (1 - (1 - beta).squareRoot() * a) * (1 - bar).squareRoot() / beta
        let k0 = -(1 - beta).squareRoot() * b * (1 - bar).squareRoot() / beta
        // ε − ε̂ = (1 − k₁√(1 − ᾱ_t)) ε − (k₁ √ᾱ_t x₀ + k₀), ε ~ N(0, 1).
        let noiseFactor = 1 - k1 * (1 - bar).squareRoot()
        let offset = k1 * bar.squareRoot() * x0 + k0
        return (weight, constant, noiseFactor * noiseFactor + offset * offset)
    }

    /// One draw of log p(x_{0:T}) − log q(x_{1:T} | x₀) along a sampled forward chain: its mean is the ELBO.
    public func sampledLogWeight<G: RandomNumberGenerator>(_ x0: Double, using generator: inout G) -> Double {
        func logNormal(_ x: Double, _ mean: Double, _ variance: Double) -> Double {
            -0.5 * (Foundation.log(2 * Double.pi * variance) + (x - mean) * (x - mean) / variance)
        }
        var previous = x0
        var total = 0.0
        for t in 1...steps {
            let beta = betas[t - 1]
            let x = (1 - beta).squareRoot() * previous + beta.squareRoot() * Random.standardNormal(using: &generator)
            total -= logNormal(x, (1 - beta).squareRoot() * previous, beta)
            total += logNormal(previous, reverseSlope[t - 1] * x + reverseIntercept[t - 1], reverseVariances[t - 1])
            previous = x
        }
        return total + logNormal(previous, 0, 1)
    }
}

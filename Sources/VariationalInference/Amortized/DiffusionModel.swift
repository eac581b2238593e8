import _Differentiation
import Foundation
import VariationalCore
import VariationalData
import VariationalNeural

/// A denoising diffusion model (DDPM, Ho et al. 2020) trained on its ELBO: a VAE with T latent layers whose
/// encoder is the fixed forward chain q(x_t | x_{t−1}) = N(√(1 − β_t) x_{t−1}, β_t I) and whose decoder is the
/// learned reverse chain p(x_{t−1} | x_t) = N(μ(x_t, t), β_t I), p(x_T) = N(0, I). The mean comes from a noise
/// predictor, μ = (x_t − β_t/√(1 − ᾱ_t) ε̂(x_t, t))/√α_t, and p(x₀ | x₁) is DDPM's Gaussian discretised to the 256
/// levels of the data. Per image,
///
///     −ELBO = L_T + Σ_{t=2}^T L_{t−1} + L₀,  L_{t−1} = C_t + w_t E‖ε − ε̂(x_t, t)‖²,  w_t = β_t/(2 α_t (1 − ᾱ_t)),
///
/// and training draws one t per image: T L_{t−1} (or T L₀ for t = 1) plus L_T is an unbiased estimate of −ELBO
/// (``GaussianDiffusion`` shows the same terms in closed form on one-dimensional data). The data are images in
/// [0, 1], k/255 for 8-bit ones, mapped to [−1, 1].
///
/// With a ``PixelGaussian`` baseline the network corrects E[ε | x_t] for independent Gaussian pixels with the data's
/// moments (see ``baselineNoise(_:steps:)``): an untrained network then starts from that model's bound.
public struct DiffusionModel<Network: Layer>: VariationalProblem {
    public typealias Scalar = Network.Scalar
    /// A batch of images in [0, 1], [B, D].
    public typealias Batch = Tensor<Scalar>

    /// [x_t, embedding(t)] ↦ ε̂, [N, D + E] → [N, D].
    public var network: Network
    /// D, the pixels of an image.
    @noDerivative public let dimension: Int
    @noDerivative public let steps: Int
    /// What the gradient follows: the ELBO's terms, or DDPM's simplified loss ‖ε − ε̂‖² (the same terms with the
    /// weights w_t dropped and L₀, L_T left out). Either way the loss's value is the ELBO's estimate.
    public enum Weighting: String, Sendable {
        case elbo, simple
    }

    @noDerivative public var weighting: Weighting
    /// E, the size of the sinusoidal embedding of t.
    @noDerivative public let embeddingSize: Int
    /// β₁ … β_T (index t − 1), DDPM's linear schedule from 10⁻⁴ to 0.02 for T = 1000; scaled by 1000/T for other T,
    /// at most 0.999.
    @noDerivative public let betas: [Double]
    /// ᾱ₀ = 1, ᾱ₁ … ᾱ_T (index t).
    @noDerivative public let alphaBars: [Double]

    /// Independent Gaussian pixels whose best noise predictor the network corrects (nil: the network alone).
    @noDerivative public let baseline: PixelGaussian?

    /// `baseline`: the data's per-pixel moments; ε̂ is then the best linear predictor of ε for Gaussian pixels with
    /// those moments plus the network's output, so that an untrained network already gives the bound of
    /// independent Gaussian pixels and the network learns only what the pixels share.
    public init(
        network: Network, dimension: Int, steps: Int = 1000, embeddingSize: Int = 32, weighting: Weighting = .elbo,
        baseline: PixelGaussian? = nil
    ) {
        require(steps >= 2, "DiffusionModel: needs at least two steps, got \(steps)")
        require(baseline == nil || baseline!.mean.count == dimension,
                "DiffusionModel: the baseline has \(baseline?.mean.count ?? 0) pixels, the images \(dimension)")
        self.baseline = baseline
        require(dimension >= 1, "DiffusionModel: the images need at least one pixel, got \(dimension)")
        require(embeddingSize >= 2 && embeddingSize % 2 == 0, "DiffusionModel: the embedding size must be even and at least 2, got \(embeddingSize)")
        self.dimension = dimension
        self.weighting = weighting
        self.network = network
        self.steps = steps
        self.embeddingSize = embeddingSize
        let scale = 1000 / Double(steps)
        var schedule: [Double] = []
        for i in 0..<steps {
            let fraction = Double(i) / Double(steps - 1)
            schedule.append(Swift.min(0.999, scale * (1e-4 + 0.0199 * fraction)))
        }
        betas = schedule
        var bars = [1.0]
        for beta in betas { bars.append(bars.last! * (1 - beta)) }
        alphaBars = bars
    }

    public var familyName: String { "forward diffusion" }
    public var availableTerms: ELBOTermSet { [.logJoint, .logQ] }

    public func reasonUnavailable(_ missing: ELBOTermSet) -> String {
        "a diffusion model gives a one-sample estimate of its ELBO (train it with the reparameterised ELBO)"
    }

    /// The noise of a step for each particle and image: ε ([…, D]) and the step t ∈ 1…T in the last column.
    public func sampleNoise<G: RandomNumberGenerator>(particles: Int, batch x: Tensor<Scalar>, using generator: inout G) -> Tensor<Scalar> {
        let (b, d) = (x.shape[0], x.shape[1])
        let epsilon = Tensor<Scalar>(randomNormal: [particles, b, d], using: &generator)
        let t = Tensor<Scalar>(shape: [particles, b, 1], scalars: (0..<(particles * b)).map { _ in Scalar(Int.random(in: 1...steps, using: &generator)) })
        return epsilon.concatenated(with: t, alongAxis: 2)
    }

    /// The sinusoidal embedding of steps t: [N, E].
    public func embedding(_ t: [Int]) -> Tensor<Scalar> {
        let half = embeddingSize / 2
        return Tensor(shape: [t.count, embeddingSize], initializingWith: { out in
            for (row, step) in t.enumerated() {
                for j in 0..<half {
                    let angle = Double(step) / Foundation.pow(10_000, Double(j) / Double(half))
                    out[row * embeddingSize + j] = Scalar(Foundation.sin(angle))
                    out[row * embeddingSize + half + j] = Scalar(Foundation.cos(angle))
                }
            }
        })
    }

    /// ε̂(x_t, t) for a batch of noisy images and their steps: the network's output, plus the baseline's
    /// prediction where there is one.
    @differentiable(reverse, wrt: self)
    public func predictedNoise(_ xt: Tensor<Scalar>, steps t: [Int]) -> Tensor<Scalar> {
        let learned = network(xt.concatenated(with: withoutDerivative(at: embedding(t)), alongAxis: 1))
        if baseline == nil { return learned }
        return learned + withoutDerivative(at: baselineNoise(xt, steps: t))
    }

    /// E[ε | x_t] when each pixel of x₀ is N(m_j, s_j²), as the baseline says: x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε is then
    /// Gaussian too, and E[ε | x_t] = √(1 − ᾱ_t) (x_t − √ᾱ_t m_j)/(ᾱ_t s_j² + 1 − ᾱ_t). [N, D] (zeros without one).
    public func baselineNoise(_ xt: Tensor<Scalar>, steps t: [Int]) -> Tensor<Scalar> {
        guard let baseline else { return Tensor(zeros: xt.shape) }
        let d = dimension
        return Tensor(shape: xt.shape, initializingWith: { out in
            xt.scalars.withUnsafeBufferPointer { x in
                for (row, step) in t.enumerated() {
                    let bar = alphaBars[step]
                    let (signal, noise) = (bar.squareRoot(), (1 - bar).squareRoot())
                    for j in 0..<d {
                        let gain = noise / (bar * baseline.variance[j] + 1 - bar)
                        out[row * d + j] = Scalar(gain * (Double(x[row * d + j]) - signal * baseline.mean[j]))
                    }
                }
            }
        })
    }

    /// L_T = KL(q(x_T | x₀) ‖ N(0, I)) per image, for data x₀ in [−1, 1]: [N].
    func priorMatching(_ x0: Tensor<Scalar>) -> Tensor<Scalar> {
        let bar = alphaBars[steps]
        let perPixel = (x0.squared() * Scalar(bar) + Scalar(-bar - Foundation.log(1 - bar))) * Scalar(0.5)
        return perPixel.sum(squeezingAxes: 1)
    }

    /// The per-row constants of the step terms: √ᾱ_t and √(1 − ᾱ_t) as columns [N, 1]; w_t, C_t D and whether
    /// t = 1, each [N].
    func coefficients(_ t: [Int], dimension d: Int) -> (signal: Tensor<Scalar>, noise: Tensor<Scalar>, weight: Tensor<Scalar>, constant: Tensor<Scalar>, first: Tensor<Scalar>) {
        var signal: [Scalar] = [], noise: [Scalar] = [], weight: [Scalar] = [], constant: [Scalar] = [], first: [Scalar] = []
        for step in t {
            let (beta, bar, previous) = (betas[step - 1], alphaBars[step], alphaBars[step - 1])
            signal.append(Scalar(bar.squareRoot()))
            noise.append(Scalar((1 - bar).squareRoot()))
            if step == 1 {
                (weight, constant, first) = (weight + [0], constant + [0], first + [1])
                continue
            }
            // σ_t² = β_t against the forward posterior's variance β̃_t.
            let posteriorVariance = (1 - previous) * beta / (1 - bar)
            weight.append(Scalar(beta / (2 * (1 - beta) * (1 - bar))))
            constant.append(Scalar(Double(d) * 0.5 * (Foundation.log(beta / posteriorVariance) + posteriorVariance / beta - 1)))
            first.append(0)
        }
        let n = t.count
        return (Tensor(shape: [n, 1], scalars: signal), Tensor(shape: [n, 1], scalars: noise), Tensor(weight), Tensor(constant), Tensor(first))
    }

    /// ε − ε̂(x_t, t) for each row at its own step, x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε: [N, D].
    @differentiable(reverse, wrt: self)
    public func noiseResidual(x0: Tensor<Scalar>, epsilon: Tensor<Scalar>, steps t: [Int]) -> Tensor<Scalar> {
        let c = coefficients(t, dimension: withoutDerivative(at: x0.shape[1]))
        return epsilon - predictedNoise(x0 * c.signal + epsilon * c.noise, steps: t)
    }

    /// L_{t−1} for each row (its own step t ≥ 1; for t = 1, L₀ = −log p(x₀ | x₁) discretised), at noise ε: [N].
    @differentiable(reverse, wrt: self)
    public func stepTerms(x0: Tensor<Scalar>, epsilon: Tensor<Scalar>, steps t: [Int]) -> Tensor<Scalar> {
        stepTerms(x0: x0, residual: noiseResidual(x0: x0, epsilon: epsilon, steps: t), steps: t)
    }

    /// The step terms from the residuals ε − ε̂.
    @differentiable(reverse, wrt: residual)
    func stepTerms(x0: Tensor<Scalar>, residual: Tensor<Scalar>, steps t: [Int]) -> Tensor<Scalar> {
        let c = coefficients(t, dimension: withoutDerivative(at: x0.shape[1]))
        let denoising = residual.squared().sum(squeezingAxes: 1) * c.weight + c.constant
        // Rows with t = 1: μ = (x₁ − β₁/√(1 − ᾱ₁) ε̂)/√α₁ = x₀ + (√(1 − ᾱ₁)/√α₁)(ε − ε̂), as ᾱ₁ = α₁.
        let mean = x0 + residual * Scalar((1 - alphaBars[1]).squareRoot() / (1 - betas[0]).squareRoot())
        let reconstruction = -discretizedLogLikelihood(x0, mean: mean).sum(squeezingAxes: 1)
        return denoising * (1 - c.first) + reconstruction * c.first
    }

    /// 1 where a pixel is in the top (bottom) bin, whose interval reaches to +∞ (−∞).
    func endBins(_ x0: Tensor<Scalar>) -> (top: Tensor<Scalar>, bottom: Tensor<Scalar>) {
        (x0.map { $0 > Scalar(0.999) ? 1 : 0 }, x0.map { $0 < Scalar(-0.999) ? 1 : 0 })
    }

    /// log P(x₀) per pixel under N(mean, β₁) discretised to 256 levels of width 2/255 in [−1, 1], the end bins
    /// reaching to ±∞ (DDPM's decoder); clamped at log 10⁻¹² as DDPM does.
    @differentiable(reverse, wrt: mean)
    func discretizedLogLikelihood(_ x0: Tensor<Scalar>, mean: Tensor<Scalar>) -> Tensor<Scalar> {
        let scale = Scalar(1 / (betas[0] * 2).squareRoot())
        let halfBin = Scalar(1.0 / 255)
        let ends = endBins(x0)
        // Φ(u) − Φ(l) = ½ (erf(u/√2) − erf(l/√2)); the end bins take erf = ±1 on their open side.
        let upper = ((x0 + halfBin - mean) * scale).erf() * (1 - ends.top) + ends.top
        let lower = ((x0 - halfBin - mean) * scale).erf() * (1 - ends.bottom) - ends.bottom
        return ((upper - lower) * Scalar(0.5)).clamped(to: Scalar(1e-12)...Scalar.greatestFiniteMagnitude).log()
    }

    @differentiable(reverse, wrt: self)
    public func terms(noise: Tensor<Scalar>, batch x: Tensor<Scalar>, requesting requested: ELBOTermSet) -> ELBOTerms<Scalar> {
        let shape = withoutDerivative(at: noise.shape)
        let (s, b, d) = (shape[0], shape[1], shape[2] - 1)
        let flat = withoutDerivative(at: noise).reshaped(to: [s * b, d + 1])
        let epsilon = flat.slice(axis: 1, range: 0..<d)
        let t = flat.slice(axis: 1, range: d..<(d + 1)).scalars.map { Int($0.rounded()) }
        let x0 = withoutDerivative(at: (x * 2 - 1).broadcasted(to: [s, b, d]).reshaped(to: [s * b, d]))
        let residual = noiseResidual(x0: x0, epsilon: epsilon, steps: t)
        let estimate = priorMatching(x0) + stepTerms(x0: x0, residual: residual, steps: t) * Scalar(steps)
        if weighting == .simple {
            // The value stays the ELBO's estimate; the gradient is that of ‖ε − ε̂‖², every step weighted alike.
            let simple = residual.squared().sum(squeezingAxes: 1)
            return ELBOTerms(logJoint: withValue(-simple, withoutDerivative(at: -estimate)).reshaped(to: [s, b]))
        }
        return ELBOTerms(logJoint: (-estimate).reshaped(to: [s, b]))
    }

    public func combining(variational: TangentVector, generative: TangentVector) -> TangentVector { generative }
}

extension DiffusionModel {
    /// −ELBO per image over every step: L_T + Σ_t L_{t−1} with one draw of ε per step (DDPM's evaluation), in nats.
    public func negativeELBO<G: RandomNumberGenerator>(_ x: Tensor<Scalar>, using generator: inout G) -> Tensor<Scalar> {
        let x0 = x * 2 - 1
        var total = priorMatching(x0)
        let b = x.shape[0]
        for step in 1...steps {
            let epsilon = Tensor<Scalar>(randomNormal: x0.shape, using: &generator)
            total = total + stepTerms(x0: x0, epsilon: epsilon, steps: [Int](repeating: step, count: b))
        }
        return total
    }

    /// Ancestral samples x_T → x₀ (σ_t² = β_t, no noise at the last step), mapped back to [0, 1]: [count, D].
    public func samples<G: RandomNumberGenerator>(count: Int, using generator: inout G) -> Tensor<Scalar> {
        denoise(Tensor<Scalar>(randomNormal: [count, dimension], using: &generator), from: steps, using: &generator)
    }

    /// The reverse chain from x_t at step `start` down to x₀, mapped back to [0, 1].
    func denoise<G: RandomNumberGenerator>(_ start: Tensor<Scalar>, from first: Int, using generator: inout G) -> Tensor<Scalar> {
        var x = start
        let count = x.shape[0]
        for step in stride(from: first, through: 1, by: -1) {
            let (beta, bar) = (betas[step - 1], alphaBars[step])
            let epsilon = predictedNoise(x, steps: [Int](repeating: step, count: count))
            x = (x - epsilon * Scalar(beta / (1 - bar).squareRoot())) * Scalar(1 / (1 - beta).squareRoot())
            if step > 1 { x = x + Tensor<Scalar>(randomNormal: [count, dimension], using: &generator) * Scalar(beta.squareRoot()) }
        }
        return ((x + 1) * Scalar(0.5)).clamped(to: 0...1)
    }
}

/// Independent Gaussian pixels on the diffusion model's scale [−1, 1]: each pixel's mean and variance there.
public struct PixelGaussian: Sendable, Equatable {
    public let mean: [Double]
    public let variance: [Double]

    /// From moments of images in [0, 1] (`ImageDataset.pixelMoments`): x ↦ 2x − 1.
    public init(momentsInUnitInterval moments: (mean: [Double], variance: [Double])) {
        require(moments.mean.count == moments.variance.count,
                "PixelGaussian: \(moments.mean.count) means for \(moments.variance.count) variances")
        require(moments.variance.allSatisfy { $0 >= 0 && $0.isFinite } && moments.mean.allSatisfy(\.isFinite),
                "PixelGaussian: the moments must be finite, the variances non-negative")
        mean = moments.mean.map { 2 * $0 - 1 }
        variance = moments.variance.map { 4 * $0 }
    }
}

/// A model whose bound is evaluated whole rather than by importance sampling (a diffusion model).
public protocol FullBoundModel: AmortizedModel {
    /// −ELBO per image over `data` in nats, and in bits per dimension.
    func negativeELBO<G: RandomNumberGenerator>(on data: ImageDataset, using generator: inout G) -> (nats: Double, bitsPerDimension: Double)
}

extension DiffusionModel: AmortizedModel, FullBoundModel {
    /// A diffusion model's latents x_t have no units to count: no layers are reported.
    public func latentUsage<G: RandomNumberGenerator>(of x: Tensor<Scalar>, particles: Int, using generator: inout G) -> [LatentLayerUsage<Scalar>] { [] }

    /// Each image noised to x_{T/4} by the forward chain, then denoised by the reverse chain.
    public func reconstructions(of x: Tensor<Scalar>) -> Tensor<Scalar> {
        var generator = SeededGenerator(seed: 0)
        let t = Swift.max(1, steps / 4)
        let bar = alphaBars[t]
        let xt = (x * 2 - 1) * Scalar(bar.squareRoot()) + Tensor<Scalar>(randomNormal: x.shape, using: &generator) * Scalar((1 - bar).squareRoot())
        return denoise(xt, from: t, using: &generator)
    }

    /// The whole bound over `data`, 500 images at a time: nats per image, and −ELBO/(D log 2).
    public func negativeELBO<G: RandomNumberGenerator>(on data: ImageDataset, using generator: inout G) -> (nats: Double, bitsPerDimension: Double) {
        var total = 0.0
        for start in stride(from: 0, to: data.count, by: 500) {
            let x: Tensor<Scalar> = data.batch(Array(start..<Swift.min(start + 500, data.count))[...])
            total += negativeELBO(x, using: &generator).scalars.reduce(0) { $0 + Double($1) }
        }
        let nats = total / Double(data.count)
        return (nats, nats / (Double(data.dimension) * Foundation.log(2)))
    }
}

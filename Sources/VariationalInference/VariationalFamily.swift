import _Differentiation
import Foundation
import VariationalCore
import VariationalBijectors
import VariationalDistributions

/// A family of distributions q(θ) over the unconstrained parameter vector θ ∈ ℝᴰ, differentiable in its own
/// parameters. Samples come from noise drawn outside differentiated code.
public protocol VariationalFamily: Differentiable {
    /// D.
    var dimension: Int { get }
    /// A short name for reports ("meanfield", "fullrank", …).
    var name: String { get }

    /// Noise for `count` particles.
    func sampleNoise<G: RandomNumberGenerator>(count: Int, using generator: inout G) -> Tensor<Double>

    /// Particles θ [S, D] from noise.
    @differentiable(reverse, wrt: self)
    func sample(fromNoise noise: Tensor<Double>) -> Tensor<Double>

    /// Particles θ [S, D] from noise, with log q(θ) at each, [S].
    @differentiable(reverse, wrt: self)
    func sampleWithLogDensity(fromNoise noise: Tensor<Double>) -> (theta: Tensor<Double>, logDensity: Tensor<Double>)

    /// log q(θ) for any particles θ [S, D], where the family can evaluate it (Gaussians); flows stop.
    @differentiable(reverse)
    func logDensity(_ theta: Tensor<Double>) -> Tensor<Double>
    /// True when `logDensity` works at arbitrary points.
    var canEvaluateDensity: Bool { get }

    /// True when `entropy()` is exact.
    var hasClosedFormEntropy: Bool { get }
    /// The entropy of q, where a closed form exists.
    @differentiable(reverse, wrt: self)
    func entropy() -> Tensor<Double>

    /// q as a multivariate normal, when it is Gaussian (for closed-form KL divergences).
    @differentiable(reverse, wrt: self)
    func gaussian() -> MultivariateNormal<Double>
    var isGaussian: Bool { get }

    /// The reparameterised loss −(mean over particles of log p(x, θ) + H(q)) and its gradient, with the sampling
    /// map's pullback and the entropy's gradient written out by hand: particles θ [S, D] from `noise` go to
    /// `logJoint`, which gives the model's log joint [S] and its gradient [S, D] there. Nil (the default) leaves the
    /// loss to automatic differentiation, as does a nil from `logJoint`.
    func reparameterizedLossWithHandWrittenGradient(
        fromNoise noise: Tensor<Double>,
        logJoint: (Tensor<Double>) -> (value: Tensor<Double>, gradient: Tensor<Double>)?
    ) -> (loss: Double, gradient: TangentVector)?
}

extension VariationalFamily {
    public func reparameterizedLossWithHandWrittenGradient(
        fromNoise noise: Tensor<Double>,
        logJoint: (Tensor<Double>) -> (value: Tensor<Double>, gradient: Tensor<Double>)?
    ) -> (loss: Double, gradient: TangentVector)? {
        nil
    }

    public var canEvaluateDensity: Bool { true }
    public var hasClosedFormEntropy: Bool { false }
    public var isGaussian: Bool { false }

    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Double> {
        require(false, "\(name) has no closed-form entropy")
        return withoutDerivative(at: Tensor(0))
    }

    @differentiable(reverse, wrt: self)
    public func gaussian() -> MultivariateNormal<Double> {
        require(false, "\(name) is not Gaussian")
        return withoutDerivative(at: MultivariateNormal(uncheckedLocation: Tensor([0]), scaleTril: Tensor([[1]])))
    }

    /// Particles θ [S, D] (no gradient).
    public func sample<G: RandomNumberGenerator>(count: Int, using generator: inout G) -> Tensor<Double> {
        sample(fromNoise: sampleNoise(count: count, using: &generator))
    }
}

/// The mean-field Gaussian: independent normals N(μᵢ, σᵢ²) with σᵢ = softplus(ρᵢ).
public struct MeanFieldGaussian: VariationalFamily {
    public var mean: Tensor<Double>
    /// ρ, with σ = softplus(ρ).
    public var rawScale: Tensor<Double>

    /// Mean `mean` (zeros by default) and every σ equal to `initialScale`: 1 by default, the standard normal in the
    /// unconstrained space, about the width of a weakly informative prior (a small start slows sticking the landing,
    /// whose gradient noise grows as 1/σ).
    public init(dimension: Int, mean: Tensor<Double>? = nil, initialScale: Double = 1) {
        require(initialScale > 0, "MeanFieldGaussian: initialScale must be positive, got \(initialScale)")
        self.mean = mean ?? Tensor(zeros: [dimension])
        self.rawScale = Tensor(repeating: Softplus<Double>().inverse(Tensor(initialScale)).scalar, shape: [dimension])
    }

    public var dimension: Int { mean.shape[0] }
    public var name: String { "meanfield" }
    public var isGaussian: Bool { true }
    public var hasClosedFormEntropy: Bool { true }

    @differentiable(reverse, wrt: self)
    public var scale: Tensor<Double> { rawScale.softplus() }

    public func sampleNoise<G: RandomNumberGenerator>(count: Int, using generator: inout G) -> Tensor<Double> {
        Tensor(randomNormal: [count, dimension], using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Double>) -> Tensor<Double> { mean + scale * noise }

    /// log q at q's own draws from the noise itself (`gaussianLogDensityOfOwnDraws`), not from θ.
    @differentiable(reverse, wrt: self)
    public func sampleWithLogDensity(fromNoise noise: Tensor<Double>) -> (theta: Tensor<Double>, logDensity: Tensor<Double>) {
        (sample(fromNoise: noise), gaussianLogDensityOfOwnDraws(noise: noise, entropy: entropy()))
    }

    @differentiable(reverse)
    public func logDensity(_ theta: Tensor<Double>) -> Tensor<Double> {
        let z = (theta - mean) / scale
        let d = Double(withoutDerivative(at: dimension))
        return z.squared().sum(squeezingAxes: 1) * -0.5 - scale.log().sum() - d * 0.5 * Foundation.log(2 * Double.pi)
    }

    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Double> {
        scale.log().sum() + Double(withoutDerivative(at: dimension)) * 0.5 * (1 + Foundation.log(2 * Double.pi))
    }

    @differentiable(reverse, wrt: self)
    public func gaussian() -> MultivariateNormal<Double> {
        MultivariateNormal(uncheckedLocation: mean, scaleDiagonal: scale)
    }

    /// θ = μ + σ ⊙ ε with σ = softplus(ρ), and H = Σ log σⱼ + D/2 (1 + log 2π). With g the model's gradient at
    /// θ, the loss's gradient is −(1/S) Σₛ gₛ for μ and −(1/S) Σₛ gₛ ⊙ εₛ ⊙ σ′(ρ) − σ′(ρ)/σ for ρ, where
    /// σ′ = sigmoid; σ and σ′ come from one e^(−|ρ|) each (no tensors: there are D of each).
    public func reparameterizedLossWithHandWrittenGradient(
        fromNoise noise: Tensor<Double>,
        logJoint: (Tensor<Double>) -> (value: Tensor<Double>, gradient: Tensor<Double>)?
    ) -> (loss: Double, gradient: TangentVector)? {
        let (s, d) = (noise.shape[0], noise.shape[1])
        // σ in the first d places, σ′ in the last d. The loops below read and write through buffers: an element of
        // `TensorElements` read or written by subscript is a call with a uniqueness check.
        let scaleAndSlope = softplusScalesAndSlopes(rawScale)
        var entropy = Double(d) * 0.5 * (1 + Foundation.log(2 * Double.pi))
        scaleAndSlope.withUnsafeBufferPointer { sigma in
            for j in 0..<d { entropy += Foundation.log(sigma[j]) }
        }
        let theta = TensorElements<Double>.filled(count: s * d) { buffer in
            mean.scalars.withUnsafeBufferPointer { mu in
                scaleAndSlope.withUnsafeBufferPointer { sigma in
                    noise.scalars.withUnsafeBufferPointer { epsilon in
                        for p in 0..<s {
                            for j in 0..<d { buffer[p * d + j] = mu[j] + sigma[j] * epsilon[p * d + j] }
                        }
                    }
                }
            }
        }
        guard let (value, g) = logJoint(Tensor(shape: noise.shape, scalars: theta)) else { return nil }
        let perParticle = -1 / Double(s)
        var meanGradient = TensorElements<Double>.zeros(count: d)
        var scaleGradient = TensorElements<Double>.zeros(count: d)
        meanGradient.withUnsafeMutableBufferPointer { meanGradient in
            scaleGradient.withUnsafeMutableBufferPointer { scaleGradient in
                g.scalars.withUnsafeBufferPointer { g in
                    noise.scalars.withUnsafeBufferPointer { epsilon in
                        for p in 0..<s {
                            for j in 0..<d {
                                meanGradient[j] += g[p * d + j]
                                scaleGradient[j] += g[p * d + j] * epsilon[p * d + j]
                            }
                        }
                    }
                }
                scaleAndSlope.withUnsafeBufferPointer { scaleAndSlope in
                    for j in 0..<d {
                        let (sigma, slope) = (scaleAndSlope[j], scaleAndSlope[d + j])
                        meanGradient[j] *= perParticle
                        scaleGradient[j] = scaleGradient[j] * perParticle * slope - slope / sigma
                    }
                }
            }
        }
        let loss = value.scalars.reduce(0, +) * perParticle - entropy
        return (loss, TangentVector(mean: Tensor(shape: mean.shape, scalars: meanGradient), rawScale: Tensor(shape: mean.shape, scalars: scaleGradient)))
    }
}

/// The full-rank Gaussian N(μ, L Lᵀ), L lower-triangular with diagonal softplus(ρ).
public struct FullRankGaussian: VariationalFamily {
    public var mean: Tensor<Double>
    /// The strictly lower part of L (the upper part and diagonal of this tensor are ignored).
    public var lowerFactor: Tensor<Double>
    /// ρ, with Lᵢᵢ = softplus(ρᵢ).
    public var rawDiagonal: Tensor<Double>

    public init(dimension: Int, mean: Tensor<Double>? = nil, initialScale: Double = 1) {
        require(initialScale > 0, "FullRankGaussian: initialScale must be positive, got \(initialScale)")
        self.mean = mean ?? Tensor(zeros: [dimension])
        self.lowerFactor = Tensor(zeros: [dimension, dimension])
        self.rawDiagonal = Tensor(repeating: Softplus<Double>().inverse(Tensor(initialScale)).scalar, shape: [dimension])
    }

    public var dimension: Int { mean.shape[0] }
    public var name: String { "fullrank" }
    public var isGaussian: Bool { true }
    public var hasClosedFormEntropy: Bool { true }

    /// L.
    @differentiable(reverse, wrt: self)
    public var scaleTril: Tensor<Double> {
        let n = withoutDerivative(at: dimension)
        let strict = lowerFactor.lowerTriangular() - (lowerFactor.diagonalPart()).diagonalMatrix()
        return strict + rawDiagonal.softplus().diagonalMatrix() + Tensor<Double>(zeros: [n, n])
    }

    public func sampleNoise<G: RandomNumberGenerator>(count: Int, using generator: inout G) -> Tensor<Double> {
        Tensor(randomNormal: [count, dimension], using: &generator)
    }

    /// θ = μ + ε Lᵀ, one operation with its own derivative (L is never formed as a tensor).
    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Double>) -> Tensor<Double> {
        fullRankSample(mean, lowerFactor, rawDiagonal, noise)
    }

    /// log q at q's own draws from the noise itself (`gaussianLogDensityOfOwnDraws`), not from θ.
    @differentiable(reverse, wrt: self)
    public func sampleWithLogDensity(fromNoise noise: Tensor<Double>) -> (theta: Tensor<Double>, logDensity: Tensor<Double>) {
        (sample(fromNoise: noise), gaussianLogDensityOfOwnDraws(noise: noise, entropy: entropy()))
    }

    @differentiable(reverse)
    public func logDensity(_ theta: Tensor<Double>) -> Tensor<Double> { gaussian().logProbability(of: theta) }

    /// Σ log Lᵢᵢ + D/2 (1 + log 2π), one operation on ρ.
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Double> { gaussianEntropy(rawDiagonal) }

    @differentiable(reverse, wrt: self)
    public func gaussian() -> MultivariateNormal<Double> {
        MultivariateNormal(uncheckedLocation: mean, scaleTril: scaleTril)
    }

    /// θ = μ + ε Lᵀ and H = Σ log Lᵢᵢ + D/2 (1 + log 2π). With g the model's gradient at θ, the loss's gradient
    /// is the sampling map's pullback of −g/S, less softplus′(ρᵢ)/Lᵢᵢ for ρ (the entropy's part). The diagonal
    /// softplus(ρ), its slope and logarithm are computed once for the sample, the pullback and the entropy.
    public func reparameterizedLossWithHandWrittenGradient(
        fromNoise noise: Tensor<Double>,
        logJoint: (Tensor<Double>) -> (value: Tensor<Double>, gradient: Tensor<Double>)?
    ) -> (loss: Double, gradient: TangentVector)? {
        let (s, d) = (noise.shape[0], dimension)
        // softplus(ρᵢ) in [0, d), its slope σ(ρᵢ) in [d, 2d).
        let scaleAndSlope = softplusScalesAndSlopes(rawDiagonal)
        let entropy = gaussianEntropy(choleskyDiagonal: scaleAndSlope, count: d)
        let theta = fullRankSampleValue(mean, lowerFactor, scalesAndSlopes: scaleAndSlope, noise)
        guard let (value, g) = logJoint(theta) else { return nil }
        let perParticle = -1 / Double(s)
        var gradient = fullRankSamplePullback(mean, noise, g, weight: perParticle, scalesAndSlopes: scaleAndSlope, lowerShape: lowerFactor.shape)
        gradient.raw.withUnsafeMutableScalars { raw in
            scaleAndSlope.withUnsafeBufferPointer { buffer in
                for i in 0..<d { raw[i] -= buffer[d + i] / buffer[i] }
            }
        }
        let loss = value.scalars.reduce(0, +) * perParticle - entropy
        return (loss, TangentVector(mean: gradient.mean, lowerFactor: gradient.lower, rawDiagonal: gradient.raw))
    }
}

/// The low-rank-plus-diagonal Gaussian N(μ, F Fᵀ + diag(d²)) with F of shape [D, rank] and d = softplus(ρ).
public struct LowRankGaussian: VariationalFamily {
    public var mean: Tensor<Double>
    public var factor: Tensor<Double>
    public var rawDiagonal: Tensor<Double>

    /// F starts small and deterministic (a seeded draw of scale 0.01) so that its columns can separate.
    public init(dimension: Int, rank: Int = 2, mean: Tensor<Double>? = nil, initialScale: Double = 1, seed: UInt64 = 0) {
        require(rank >= 1, "LowRankGaussian: rank must be at least 1, got \(rank)")
        require(initialScale > 0, "LowRankGaussian: initialScale must be positive, got \(initialScale)")
        var generator = SeededGenerator(seed: seed)
        self.mean = mean ?? Tensor(zeros: [dimension])
        self.factor = Tensor(randomNormal: [dimension, rank], standardDeviation: 0.01, using: &generator)
        self.rawDiagonal = Tensor(repeating: Softplus<Double>().inverse(Tensor(initialScale)).scalar, shape: [dimension])
    }

    public var dimension: Int { mean.shape[0] }
    public var rank: Int { factor.shape[1] }
    public var name: String { "lowrank" }
    public var isGaussian: Bool { true }
    public var hasClosedFormEntropy: Bool { true }

    /// Noise [S, D + rank]: the first D coordinates scale the diagonal, the rest the factor.
    public func sampleNoise<G: RandomNumberGenerator>(count: Int, using generator: inout G) -> Tensor<Double> {
        Tensor(randomNormal: [count, dimension + rank], using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Double>) -> Tensor<Double> {
        let d = withoutDerivative(at: dimension)
        let r = withoutDerivative(at: rank)
        let diagonalNoise = noise.slice(axis: 1, range: 0..<d)
        let factorNoise = noise.slice(axis: 1, range: d..<(d + r))
        return mean + rawDiagonal.softplus() * diagonalNoise + matmul(factorNoise, factor.transposed())
    }

    @differentiable(reverse, wrt: self)
    public func sampleWithLogDensity(fromNoise noise: Tensor<Double>) -> (theta: Tensor<Double>, logDensity: Tensor<Double>) {
        let theta = sample(fromNoise: noise)
        return (theta, logDensity(theta))
    }

    @differentiable(reverse)
    public func logDensity(_ theta: Tensor<Double>) -> Tensor<Double> { gaussian().logProbability(of: theta) }

    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Double> { gaussian().entropy() }

    @differentiable(reverse, wrt: self)
    public func gaussian() -> MultivariateNormal<Double> {
        MultivariateNormal(uncheckedLocation: mean, covarianceFactor: factor, covarianceDiagonal: rawDiagonal.softplus().squared())
    }
}

/// softplus(ρ) = log(1 + e^ρ) and its derivative σ(ρ), without overflow.
@inline(__always)
func softplusAndSlope(_ rho: Double) -> (value: Double, slope: Double) {
    let t = Foundation.exp(-Swift.abs(rho))
    let value = Swift.max(rho, 0) + Foundation.log1p(t)
    return (value, rho >= 0 ? 1 / (1 + t) : t / (1 + t))
}

/// softplus(ρⱼ) in the first D places and its slope σ(ρⱼ) in the last D: the Gaussian families' scales and the
/// factor their gradients need, from one e^(−|ρ|) each (the vectorised logistic kernel).
func softplusScalesAndSlopes(_ rho: Tensor<Double>) -> TensorElements<Double> {
    let d = rho.scalarCount
    return TensorElements<Double>.filled(count: 2 * d) { buffer in
        rho.scalars.withUnsafeBufferPointer { rho in
            guard let x = rho.baseAddress, let out = buffer.baseAddress else { return }
            Double.softplusWithSlope(count: d, x, softplus: out, slope: out + d)
        }
    }
}

/// θ = μ + ε Lᵀ for particles ε [S, D], with L the strict lower part of `lower` plus diag(softplus(ρ)).
@differentiable(reverse, wrt: (mean, lower, raw))
func fullRankSample(_ mean: Tensor<Double>, _ lower: Tensor<Double>, _ raw: Tensor<Double>, _ noise: Tensor<Double>) -> Tensor<Double> {
    fullRankSampleValue(mean, lower, raw, noise)
}

func fullRankSampleValue(_ mean: Tensor<Double>, _ lower: Tensor<Double>, _ raw: Tensor<Double>, _ noise: Tensor<Double>) -> Tensor<Double> {
    fullRankSampleValue(mean, lower, scalesAndSlopes: softplusScalesAndSlopes(raw), noise)
}

/// θ = μ + ε Lᵀ with L's diagonal the first D elements of `scalesAndSlopes` (`softplusScalesAndSlopes(ρ)`).
func fullRankSampleValue(
    _ mean: Tensor<Double>, _ lower: Tensor<Double>, scalesAndSlopes diagonal: TensorElements<Double>, _ noise: Tensor<Double>
) -> Tensor<Double> {
    let (s, d) = (noise.shape[0], mean.scalarCount)
    return Tensor(shape: noise.shape) { theta in
        mean.scalars.withUnsafeBufferPointer { m in
            lower.scalars.withUnsafeBufferPointer { f in
                diagonal.withUnsafeBufferPointer { diagonal in
                    noise.scalars.withUnsafeBufferPointer { e in
                        guard let m = m.baseAddress, let f = f.baseAddress, let l = diagonal.baseAddress,
                            let e = e.baseAddress, let theta = theta.baseAddress
                        else { return }
                        for p in 0..<s {
                            let (ep, tp) = (e + p * d, theta + p * d)
                            for i in 0..<d {
                                let fi = f + i * d
                                var total = m[i] + l[i] * ep[i]
                                for j in 0..<i { total += fi[j] * ep[j] }
                                tp[i] = total
                            }
                        }
                    }
                }
            }
        }
    }
}

@derivative(of: fullRankSample, wrt: (mean, lower, raw))
func vjpFullRankSample(_ mean: Tensor<Double>, _ lower: Tensor<Double>, _ raw: Tensor<Double>, _ noise: Tensor<Double>)
    -> (value: Tensor<Double>, pullback: (Tensor<Double>) -> (Tensor<Double>, Tensor<Double>, Tensor<Double>))
{
    let scalesAndSlopes = softplusScalesAndSlopes(raw)
    return (fullRankSampleValue(mean, lower, scalesAndSlopes: scalesAndSlopes, noise), { v in
        if v.isSymbolicZero { return (.zero, .zero, .zero) }
        return fullRankSamplePullback(mean, noise, v, weight: 1, scalesAndSlopes: scalesAndSlopes, lowerShape: lower.shape)
    })
}

/// The pullback of θ = μ + ε Lᵀ: for upstream gradients g [S, D] (each times `weight`), Σₛ gₛ for μ, Σₛ gₛᵢ εₛⱼ
/// below the diagonal of L (zero on and above it), and Σₛ gₛᵢ εₛᵢ softplus′(ρᵢ) for ρ, with softplus′(ρ) the last D
/// elements of `scalesAndSlopes` (`softplusScalesAndSlopes(ρ)`). `lowerShape` is L's, [D, D] (handed in, not built:
/// a new shape array is an allocation).
func fullRankSamplePullback(
    _ mean: Tensor<Double>, _ noise: Tensor<Double>, _ upstream: Tensor<Double>, weight: Double,
    scalesAndSlopes: TensorElements<Double>, lowerShape: TensorShape
) -> (mean: Tensor<Double>, lower: Tensor<Double>, raw: Tensor<Double>) {
    let (s, d) = (noise.shape[0], mean.scalarCount)
    // Zeros first: the kernel does not run when there are no particles.
    var gMean = TensorElements<Double>.zeros(count: d)
    var gLower = TensorElements<Double>.zeros(count: d * d)
    var gRaw = TensorElements<Double>.zeros(count: d)
    gMean.withUnsafeMutableBufferPointer { gMean in
        gLower.withUnsafeMutableBufferPointer { gLower in
            gRaw.withUnsafeMutableBufferPointer { gRaw in
                upstream.scalars.withUnsafeBufferPointer { g in
                    noise.scalars.withUnsafeBufferPointer { e in
                        scalesAndSlopes.withUnsafeBufferPointer { slopes in
                            guard let gm = gMean.baseAddress, let gl = gLower.baseAddress, let gr = gRaw.baseAddress,
                                let g = g.baseAddress, let e = e.baseAddress, let slopes = slopes.baseAddress
                            else { return }
                            Double.fullRankSamplePullback(
                                particles: s, dimension: d, weight: weight, gradient: g, noise: e, slopes: slopes + d,
                                mean: gm, lower: gl, raw: gr)
                        }
                    }
                }
            }
        }
    }
    return (Tensor(shape: mean.shape, scalars: gMean), Tensor(shape: lowerShape, scalars: gLower), Tensor(shape: mean.shape, scalars: gRaw))
}

/// The entropy of a Gaussian whose Cholesky factor has diagonal softplus(ρ): Σ log softplus(ρᵢ) + D/2 (1 + log 2π).
@differentiable(reverse)
func gaussianEntropy(_ raw: Tensor<Double>) -> Tensor<Double> {
    gaussianEntropyValue(raw)
}

func gaussianEntropyValue(_ raw: Tensor<Double>) -> Tensor<Double> {
    gaussianEntropyValue(raw, scalesAndSlopes: softplusScalesAndSlopes(raw))
}

/// The entropy from `softplusScalesAndSlopes(ρ)`: the same scales the family's draws are made with.
func gaussianEntropyValue(_ raw: Tensor<Double>, scalesAndSlopes: TensorElements<Double>) -> Tensor<Double> {
    Tensor(gaussianEntropy(choleskyDiagonal: scalesAndSlopes, count: raw.scalarCount))
}

/// Σ log Lᵢᵢ + D/2 (1 + log 2π) for the diagonal of a Cholesky factor L, the first `count` elements, the logarithms
/// summed first. Read through their address: element by element through a slice, each read was a call with its
/// checks, about 25 instructions of the full-rank family's step per element.
func gaussianEntropy(choleskyDiagonal elements: TensorElements<Double>, count: Int) -> Double {
    let logarithms = elements.withUnsafeBufferPointer { UnsafeBufferPointer(rebasing: $0[0..<count]).reduce(0) { $0 + Foundation.log($1) } }
    return logarithms + Double(count) * 0.5 * (1 + Foundation.log(2 * Double.pi))
}

@derivative(of: gaussianEntropy)
func vjpGaussianEntropy(_ raw: Tensor<Double>) -> (value: Tensor<Double>, pullback: (Tensor<Double>) -> Tensor<Double>) {
    let scalesAndSlopes = softplusScalesAndSlopes(raw)
    return (gaussianEntropyValue(raw, scalesAndSlopes: scalesAndSlopes), { v in
        if v.isSymbolicZero { return .zero }
        let (g, d) = (v.scalar, raw.scalarCount)
        return Tensor(shape: raw.shape) { out in
            scalesAndSlopes.withUnsafeBufferPointer { scalesAndSlopes in
                for i in 0..<d { out[i] = g * scalesAndSlopes[d + i] / scalesAndSlopes[i] }
            }
        }
    })
}

/// log q(θ) at the draws θ = μ + Lε of a Gaussian q, from their noise ε [S, D]: −‖ε‖²/2 − Σ log Lᵢᵢ − D/2 log 2π,
/// that is −‖ε‖²/2 + D/2 − H(q). Exact, and the same function of q's parameters as log q(θ) computed from θ (so the
/// same gradients), where solving θ − μ back through L loses everything to cancellation once a scale is tiny beside
/// the others or beside μ: a fit that had wandered off (eight schools at learning rate 1) gave log q ≈ −4e8 at its
/// own draws that way, ELBO terms of +1e8, and a stopping check that saw a rise where the ELBO had fallen.
@differentiable(reverse, wrt: entropy)
func gaussianLogDensityOfOwnDraws(noise: Tensor<Double>, entropy: Tensor<Double>) -> Tensor<Double> {
    let d = Double(noise.shape[1])
    return withoutDerivative(at: noise.squared().sum(squeezingAxes: 1) * -0.5 + d * 0.5) - entropy
}

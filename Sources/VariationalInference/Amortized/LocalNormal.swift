import _Differentiation
import Foundation
import VariationalCore

/// Independent normals over each datapoint's latent vector, q(z_b | x_b) = Πⱼ N(z_bj | μ_bj, σ_bj²), for a batch
/// of B datapoints with L latent units each: the output of a Gaussian encoder.
public struct LocalNormal<Scalar: TensorScalar>: Differentiable {
    /// μ: [B, L].
    public var mean: Tensor<Scalar>
    /// log σ: [B, L].
    public var logScale: Tensor<Scalar>

    @differentiable(reverse)
    public init(mean: Tensor<Scalar>, logScale: Tensor<Scalar>) {
        require(mean.rank == 2 && mean.shape == logScale.shape,
                     "LocalNormal: mean \(mean.shape) and log scale \(logScale.shape) must both be [batch, latent]")
        self.mean = mean
        self.logScale = logScale
    }

    /// σ: [B, L].
    @differentiable(reverse)
    public var scale: Tensor<Scalar> { logScale.exp() }

    /// Standard-normal noise for `particles` particles of each datapoint: [S, B, L].
    public func sampleNoise<G: RandomNumberGenerator>(particles: Int, using generator: inout G) -> Tensor<Scalar> {
        Tensor(randomNormal: [particles] + mean.shape, using: &generator)
    }

    /// z = μ + σ ε for noise ε of shape [S, B, L].
    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> {
        reparameterizedSample(mean: mean, logScale: logScale, noise: noise)
    }

    /// log q(z_sb | x_b) for particles z of shape [S, B, L]: [S, B].
    ///
    /// The derivative in z alone is declared too: without it, two generic callers that hold q's parameters fixed
    /// would share one compiler-made thunk, which crashes on this toolchain.
    @differentiable(reverse)
    @differentiable(reverse, wrt: z)
    public func logDensity(_ z: Tensor<Scalar>) -> Tensor<Scalar> {
        let standardized = (z - mean) * (-logScale).exp()
        let units = Scalar(withoutDerivative(at: mean.shape[1]))
        let perParticle = (standardized.squared() * Scalar(-0.5)).sum(squeezingAxes: 2) - logScale.sum(squeezingAxes: 1)
        return perParticle - units * Scalar(0.5 * Foundation.log(2 * Double.pi))
    }

    /// log N(z_sbj | μ_bj, σ_bj²) of each unit for particles z of shape [S, B, L]: [S, B, L] (their sum over units is
    /// `logDensity`).
    public func logDensityPerUnit(_ z: Tensor<Scalar>) -> Tensor<Scalar> {
        let standardized = (z - mean) * (-logScale).exp()
        return standardized.squared() * Scalar(-0.5) - logScale - Scalar(0.5 * Foundation.log(2 * Double.pi))
    }

    /// log N(z_n | μ_k, diag σ_k²) of every point against every row k of this batch, for points z of shape [N, L]:
    /// [N, K]. A mixture over the rows (the VampPrior) needs all N·K pairs. The square
    ///
    ///     Σⱼ (z_nj − μ_kj)² / σ_kj² = Σⱼ z_nj² / σ_kj² − 2 Σⱼ z_nj μ_kj / σ_kj² + Σⱼ μ_kj² / σ_kj²
    ///
    /// is expanded into two matrix products, so that memory is N·K rather than the N·K·L of the differences, and
    /// the work runs in the matrix kernel.
    @differentiable(reverse)
    public func logDensityOfEach(_ z: Tensor<Scalar>) -> Tensor<Scalar> {
        let precision = (logScale * Scalar(-2)).exp()
        let weightedMean = mean * precision
        let units = Scalar(withoutDerivative(at: mean.shape[1]))
        let square = matmul(z.squared(), precision.transposed()) - matmul(z, weightedMean.transposed()) * Scalar(2)
        let perRow = (mean * weightedMean).sum(squeezingAxes: 1) * Scalar(0.5) + logScale.sum(squeezingAxes: 1)
        return square * Scalar(-0.5) - perRow - units * Scalar(0.5 * Foundation.log(2 * Double.pi))
    }

    /// H(q(z_b | x_b)) = Σⱼ log σ_bj + L/2 (1 + log 2π): [B].
    @differentiable(reverse)
    public func entropy() -> Tensor<Scalar> {
        let units = Scalar(withoutDerivative(at: mean.shape[1]))
        return logScale.sum(squeezingAxes: 1) + units * Scalar(0.5 * (1 + Foundation.log(2 * Double.pi)))
    }

    /// KL(N(μ_bj, σ_bj²) ‖ N(0, 1)) = ½ (μ² + σ² − 1) − log σ for each datapoint and unit: [B, L].
    @differentiable(reverse)
    public func klToStandardNormal() -> Tensor<Scalar> { standardNormalKL(mean: mean, logScale: logScale) }
}

// The sample and the KL of every VAE step as one pass forward and one back each, in place of compositions that made
// a tensor per operation each way (three for the sample, seven for the KL). Each element is the composition's, in
// the same order of operations: the same bits.

/// μ + e^ℓ ε, with μ and ℓ [B, L] met by each of the S rows of ε [S, B, L].
@differentiable(reverse, wrt: (mean, logScale))
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func reparameterizedSample<Scalar: TensorScalar>(mean: Tensor<Scalar>, logScale: Tensor<Scalar>, noise: Tensor<Scalar>) -> Tensor<Scalar> {
    reparameterizedSampleValue(mean: mean, scale: logScale.exp(), noise: noise)
}

@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func reparameterizedSampleValue<Scalar: TensorScalar>(mean: Tensor<Scalar>, scale: Tensor<Scalar>, noise: Tensor<Scalar>) -> Tensor<Scalar> {
    fusedElementwise(mean, scale, noise, noise, name: "LocalNormal.sample") { m, s, e, _ in m + s * e }
}

@derivative(of: reparameterizedSample, wrt: (mean, logScale))
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func vjpReparameterizedSample<Scalar: TensorScalar>(mean: Tensor<Scalar>, logScale: Tensor<Scalar>, noise: Tensor<Scalar>)
    -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> (Tensor<Scalar>, Tensor<Scalar>))
{
    let scale = logScale.exp()
    return (reparameterizedSampleValue(mean: mean, scale: scale, noise: noise), { v in
        if v.isSymbolicZero { return (.zero, .zero) }
        // dz/dμ = 1 and dz/dσ = ε, summed over the particles; then dσ/dℓ = σ.
        let g = fusedElementwiseGradient(mean, scale, noise, noise, upstream: v, name: "LocalNormal.sample", wanted: [.a, .b]) {
            _, _, e, _ in (1, e, 0, 0)
        }
        return (g.0, fusedElementwise(g.1, scale, scale, scale, name: "LocalNormal.sample") { g, s, _, _ in g * s })
    })
}

/// ½(μ² + e^{2ℓ} − 1) − ℓ for each element of μ and ℓ (one shape).
@differentiable(reverse)
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func standardNormalKL<Scalar: TensorScalar>(mean: Tensor<Scalar>, logScale: Tensor<Scalar>) -> Tensor<Scalar> {
    standardNormalKLValue(mean: mean, variance: (logScale * 2).exp(), logScale: logScale)
}

@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func standardNormalKLValue<Scalar: TensorScalar>(mean: Tensor<Scalar>, variance: Tensor<Scalar>, logScale: Tensor<Scalar>) -> Tensor<Scalar> {
    require(mean.shape == logScale.shape, "LocalNormal: mean \(mean.shape) and log scale \(logScale.shape) differ in shape")
    return fusedElementwise(mean, variance, logScale, logScale, name: "LocalNormal.klToStandardNormal") { m, e, l, _ in
        (m * m + e - 1) * 0.5 - l
    }
}

@derivative(of: standardNormalKL)
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func vjpStandardNormalKL<Scalar: TensorScalar>(mean: Tensor<Scalar>, logScale: Tensor<Scalar>)
    -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> (Tensor<Scalar>, Tensor<Scalar>))
{
    let variance = (logScale * 2).exp()
    return (standardNormalKLValue(mean: mean, variance: variance, logScale: logScale), { v in
        if v.isSymbolicZero { return (.zero, .zero) }
        // v μ, and v e^{2ℓ} − v: the sum of ℓ's two paths, through the variance and directly.
        return (fusedElementwise(v, mean, mean, mean, name: "LocalNormal.klToStandardNormal") { g, m, _, _ in g * m },
                fusedElementwise(v, variance, variance, variance, name: "LocalNormal.klToStandardNormal") { g, e, _, _ in g * e - g })
    })
}

/// log N(z | 0, I) for particles z of shape [S, B, L]: [S, B].
@differentiable(reverse)
public func standardNormalLogDensity<Scalar: TensorScalar>(_ z: Tensor<Scalar>) -> Tensor<Scalar> {
    let units = Scalar(withoutDerivative(at: z.shape[2]))
    return (z.squared() * Scalar(-0.5)).sum(squeezingAxes: 2) - units * Scalar(0.5 * Foundation.log(2 * Double.pi))
}

import _Differentiation
import Foundation
import VariationalCore

// Log densities as single fused passes over the broadcast of value and parameters, with their gradients in one
// more pass: the path every likelihood and prior of a user's model takes. Terms that depend on the parameters
// alone (log σ) are computed once per parameter element, not once per observation. Each is tested against the
// density composed from tensor operations and its gradient against finite differences.

/// log N(x; μ, σ²).
@differentiable(reverse)
func normalLogDensity<S: TensorScalar>(_ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>) -> Tensor<S> {
    normalLogDensityValue(x, location, scale)
}

@_specialize(where S == Double)
@_specialize(where S == Float)
func normalLogDensityValue<S: TensorScalar>(_ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>) -> Tensor<S> {
    let constant = S(0.5 * Foundation.log(2 * Double.pi))
    if let rows = RowsLayout(x, location, scale) {
        let logScale = scale.map { .log($0) }
        let result = TensorElements<S>.filled(count: rows.rows * rows.columns) { out in
            rows.withAddresses(x, location, scale, logScale) { x, m, s, logS in
                S.normalLogDensities(
                    rows: rows.rows, columns: rows.columns, x: x, xStride: rows.strides.0, location: m,
                    locationStride: rows.strides.1, scale: s, logScale: logS, scaleStride: rows.strides.2, constant: constant,
                    result: out.baseAddress!)
            }
        }
        return Tensor(shape: rows.shape, scalars: result)
    }
    return fusedElementwise(x, location, scale, scale.map { .log($0) }, name: "Normal.logProbability") { x, m, s, logS in
        let z = (x - m) / s
        return -0.5 * z * z - logS - constant
    }
}

@derivative(of: normalLogDensity)
@_specialize(where S == Double)
@_specialize(where S == Float)
func vjpNormalLogDensity<S: TensorScalar>(_ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>)
    -> (value: Tensor<S>, pullback: (Tensor<S>) -> (Tensor<S>, Tensor<S>, Tensor<S>))
{
    (normalLogDensityValue(x, location, scale), { v in normalLogDensityGradient(x, location, scale, v, wanted: [.a, .b, .c]) })
}

@_specialize(where S == Double)
@_specialize(where S == Float)
func normalLogDensityGradient<S: TensorScalar>(_ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>, _ v: Tensor<S>, wanted: FusedOperands)
    -> (Tensor<S>, Tensor<S>, Tensor<S>)
{
    if !v.isSymbolicZero, !wanted.contains(.a), let rows = RowsLayout(x, location, scale), v.shape == rows.shape {
        func sums(_ operand: FusedOperands, _ stride: Int) -> TensorElements<S>? {
            wanted.contains(operand) ? .zeros(count: stride == 0 ? rows.columns : rows.rows * rows.columns) : nil
        }
        var (gm, gs) = (sums(.b, rows.strides.1), sums(.c, rows.strides.2))
        rows.withAddresses(x, location, scale, v) { x, m, s, v in
            withOptionalMutableAddress(&gm) { gm in
                withOptionalMutableAddress(&gs) { gs in
                    S.normalLogDensityGradient(
                        rows: rows.rows, columns: rows.columns, x: x, xStride: rows.strides.0, location: m,
                        locationStride: rows.strides.1, scale: s, scaleStride: rows.strides.2, upstream: v,
                        locationGradient: gm, scaleGradient: gs)
                }
            }
        }
        return (.zero, gm.map { Tensor(shape: location.shape, scalars: $0) } ?? .zero,
                gs.map { Tensor(shape: scale.shape, scalars: $0) } ?? .zero)
    }
    let g = fusedElementwiseGradient(x, location, scale, scale, upstream: v, name: "Normal.logProbability", wanted: wanted) { x, m, s, _ in
        let z = (x - m) / s
        let dz = z / s
        return (-dz, dz, (z * z - 1) / s, 0)
    }
    return (g.0, g.1, g.2)
}

/// Three operands of a fused density over rows × columns: each either the whole [rows, columns] (row stride
/// `columns`) or one row [columns] met by every row (row stride 0), with at least one whole, as a likelihood's
/// observations [N], locations per particle [S, N] and scales [N] are. Nil for any other layout, which the general
/// fused passes take.
struct RowsLayout {
    let shape: TensorShape
    let rows: Int, columns: Int
    let strides: (Int, Int, Int)

    init?<S: TensorScalar>(_ a: Tensor<S>, _ b: Tensor<S>, _ c: Tensor<S>) {
        let whole = a.rank == 2 ? a.shape : b.rank == 2 ? b.shape : c.shape
        guard whole.rank == 2, whole[0] > 0, whole[1] > 0 else { return nil }
        let columns = whole[1]
        func stride(_ t: Tensor<S>) -> Int? {
            if t.shape == whole { return columns }
            return t.rank == 1 && t.shape[0] == columns ? 0 : nil
        }
        guard let sa = stride(a), let sb = stride(b), let sc = stride(c) else { return nil }
        (shape, rows, self.columns, strides) = (whole, whole[0], columns, (sa, sb, sc))
    }

    /// `body` with the four operands' first elements (each holds elements: none of the layouts is empty).
    func withAddresses<S: TensorScalar, R>(
        _ a: Tensor<S>, _ b: Tensor<S>, _ c: Tensor<S>, _ d: Tensor<S>,
        _ body: (UnsafePointer<S>, UnsafePointer<S>, UnsafePointer<S>, UnsafePointer<S>) -> R
    ) -> R {
        a.scalars.withUnsafeBufferPointer { a in
            b.scalars.withUnsafeBufferPointer { b in
                c.scalars.withUnsafeBufferPointer { c in
                    d.scalars.withUnsafeBufferPointer { d in body(a.baseAddress!, b.baseAddress!, c.baseAddress!, d.baseAddress!) }
                }
            }
        }
    }
}

/// log of a half-normal density, 2/(σ √(2π)) e^(−x²/2σ²) for x ≥ 0.
@differentiable(reverse)
func halfNormalLogDensity<S: TensorScalar>(_ x: Tensor<S>, _ scale: Tensor<S>) -> Tensor<S> {
    halfNormalLogDensityValue(x, scale)
}

@_specialize(where S == Double)
@_specialize(where S == Float)
func halfNormalLogDensityValue<S: TensorScalar>(_ x: Tensor<S>, _ scale: Tensor<S>) -> Tensor<S> {
    let constant = S(0.5 * Foundation.log(2 / Double.pi))
    return fusedElementwise(x, scale, scale.map { .log($0) - constant }, scale, name: "HalfNormal.logProbability") { x, s, h, _ in
        guard x >= 0 && x.isFinite else { return -.infinity }
        let u = x / s
        return -0.5 * u * u - h
    }
}

@derivative(of: halfNormalLogDensity)
@_specialize(where S == Double)
@_specialize(where S == Float)
func vjpHalfNormalLogDensity<S: TensorScalar>(_ x: Tensor<S>, _ scale: Tensor<S>)
    -> (value: Tensor<S>, pullback: (Tensor<S>) -> (Tensor<S>, Tensor<S>))
{
    (halfNormalLogDensityValue(x, scale), { v in halfNormalLogDensityGradient(x, scale, v, wanted: [.a, .b]) })
}

/// The derivative when the value is data: no gradient for it is computed or stored.
@derivative(of: halfNormalLogDensity, wrt: scale)
@_specialize(where S == Double)
@_specialize(where S == Float)
func vjpHalfNormalLogDensityInScale<S: TensorScalar>(_ x: Tensor<S>, _ scale: Tensor<S>)
    -> (value: Tensor<S>, pullback: (Tensor<S>) -> Tensor<S>)
{
    (halfNormalLogDensityValue(x, scale), { v in halfNormalLogDensityGradient(x, scale, v, wanted: .b).1 })
}

@_specialize(where S == Double)
@_specialize(where S == Float)
func halfNormalLogDensityGradient<S: TensorScalar>(_ x: Tensor<S>, _ scale: Tensor<S>, _ v: Tensor<S>, wanted: FusedOperands)
    -> (Tensor<S>, Tensor<S>)
{
    let g = fusedElementwiseGradient(x, scale, scale, scale, upstream: v, name: "HalfNormal.logProbability", wanted: wanted) { x, s, _, _ in
        guard x >= 0 && x.isFinite else { return (0, 0, 0, 0) }
        let u = x / s
        return (-u / s, (u * u - 1) / s, 0, 0)
    }
    return (g.0, g.1)
}

/// log of a Cauchy density 1 / (π σ (1 + z²)), z = (x − μ)/σ; with `half`, the half-Cauchy 2 / (π σ (1 + (x/σ)²))
/// for x ≥ 0 (μ = 0).
@differentiable(reverse, wrt: (x, location, scale))
@differentiable(reverse, wrt: (location, scale))
func cauchyLogDensity<S: TensorScalar>(_ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>, half: Bool) -> Tensor<S> {
    cauchyLogDensityValue(x, location, scale, half: half)
}

@_specialize(where S == Double)
@_specialize(where S == Float)
func cauchyLogDensityValue<S: TensorScalar>(_ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>, half: Bool) -> Tensor<S> {
    let constant = S(Foundation.log(half ? Double.pi / 2 : Double.pi))
    let name = half ? "HalfCauchy.logProbability" : "Cauchy.logProbability"
    return fusedElementwise(x, location, scale, scale.map { .log($0) + constant }, name: name) { x, m, s, h in
        if half && !(x >= 0) { return -.infinity }
        let z = (x - m) / s
        return -S.log(onePlus: z * z) - h
    }
}

@derivative(of: cauchyLogDensity, wrt: (x, location, scale))
@_specialize(where S == Double)
@_specialize(where S == Float)
func vjpCauchyLogDensity<S: TensorScalar>(_ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>, half: Bool)
    -> (value: Tensor<S>, pullback: (Tensor<S>) -> (Tensor<S>, Tensor<S>, Tensor<S>))
{
    (cauchyLogDensityValue(x, location, scale, half: half), { v in cauchyLogDensityGradient(x, location, scale, half, v, wanted: [.a, .b, .c]) })
}

/// The derivative when the value is data: no gradient for it is computed or stored.
@derivative(of: cauchyLogDensity, wrt: (location, scale))
@_specialize(where S == Double)
@_specialize(where S == Float)
func vjpCauchyLogDensityInParameters<S: TensorScalar>(_ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>, half: Bool)
    -> (value: Tensor<S>, pullback: (Tensor<S>) -> (Tensor<S>, Tensor<S>))
{
    (cauchyLogDensityValue(x, location, scale, half: half), { v in
        let g = cauchyLogDensityGradient(x, location, scale, half, v, wanted: [.b, .c])
        return (g.1, g.2)
    })
}

@_specialize(where S == Double)
@_specialize(where S == Float)
func cauchyLogDensityGradient<S: TensorScalar>(
    _ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>, _ half: Bool, _ v: Tensor<S>, wanted: FusedOperands
) -> (Tensor<S>, Tensor<S>, Tensor<S>) {
    let g = fusedElementwiseGradient(x, location, scale, scale, upstream: v, name: "Cauchy.logProbability", wanted: wanted) { x, m, s, _ in
        if half && !(x >= 0) { return (0, 0, 0, 0) }
        let z = (x - m) / s
        let w = 2 * z / (s * (1 + z * z))
        return (-w, w, w * z - 1 / s, 0)
    }
    return (g.0, g.1, g.2)
}

/// The part of a Student t log density that depends on the value: −(ν + 1)/2 · log(1 + z²/ν), z = (x − μ)/σ
/// (the normaliser, a function of ν and σ alone, is added by the caller).
@differentiable(reverse)
func studentTKernel<S: TensorScalar>(_ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>, _ nu: Tensor<S>) -> Tensor<S> {
    studentTKernelValue(x, location, scale, nu)
}

@_specialize(where S == Double)
@_specialize(where S == Float)
func studentTKernelValue<S: TensorScalar>(_ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>, _ nu: Tensor<S>) -> Tensor<S> {
    studentTKernelParts(x, location, scale, nu).value
}

/// The kernel and log(1 + z²/ν) per element, in three passes: z²/ν, its log1p through the vectorised kernel (a
/// scalar log1p per observation cost more than the rest of the likelihood), and −(ν + 1)/2 times that.
@_specialize(where S == Double)
@_specialize(where S == Float)
func studentTKernelParts<S: TensorScalar>(_ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>, _ nu: Tensor<S>)
    -> (value: Tensor<S>, logs: Tensor<S>)
{
    let ratios = fusedElementwise(x, location, scale, nu, name: "StudentT.logProbability") { x, m, s, nu in
        let z = (x - m) / s
        return z * z / nu
    }
    let logs = ratios.log1p()
    let value = fusedElementwise(logs, nu, nu, nu, name: "StudentT.logProbability") { l, nu, _, _ in -(nu + 1) / 2 * l }
    return (value, logs)
}

@derivative(of: studentTKernel)
@_specialize(where S == Double)
@_specialize(where S == Float)
func vjpStudentTKernel<S: TensorScalar>(_ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>, _ nu: Tensor<S>)
    -> (value: Tensor<S>, pullback: (Tensor<S>) -> (Tensor<S>, Tensor<S>, Tensor<S>, Tensor<S>))
{
    let (value, logs) = studentTKernelParts(x, location, scale, nu)
    return (value, { v in studentTKernelGradient(x, location, scale, nu, logs, v, wanted: .all) })
}

@_specialize(where S == Double)
@_specialize(where S == Float)
func studentTKernelGradient<S: TensorScalar>(
    _ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>, _ nu: Tensor<S>, _ logs: Tensor<S>, _ v: Tensor<S>, wanted: FusedOperands
) -> (Tensor<S>, Tensor<S>, Tensor<S>, Tensor<S>) {
    if v.isSymbolicZero { return (.zero, .zero, .zero, .zero) }
    let g = fusedElementwiseGradient(x, location, scale, nu, upstream: v, name: "StudentT.logProbability", wanted: wanted) { x, m, s, nu in
        // Three divisions an element, and no product of σ with ν that could overflow: with u = z/ν (r = zu) and
        // b = (ν + 1)/(σq), w = bu, ∂/∂σ = br and the rest of ∂/∂ν, (ν + 1) r/(2νq), is (bσ/2) u².
        let z = (x - m) / s
        let u = z / nu
        let r = z * u
        let q = 1 + r
        let b = (nu + 1) / (s * q)
        let w = b * u
        return (-w, w, b * r, b * s / 2 * (u * u))
    }
    // ∂/∂ν also has −½ log(1 + z²/ν) per element: the logarithms of the value's pass, summed into ν's shape.
    let logTerm = (v * logs).summed(toShape: nu.shape) * S(-0.5)
    return (g.0, g.1, g.2, g.3 + logTerm)
}

/// A Student t log density in its parameters' derivative: the value, with the standardised values z = (x − μ)/σ and
/// the logarithms log(1 + z²/ν) kept for the gradient. The normaliser (over ν and σ's broadcast) is added in the pass
/// that scales the logarithms, so the density takes no addition of its own.
@_specialize(where S == Double)
@_specialize(where S == Float)
func studentTLogDensityParts<S: TensorScalar>(
    _ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>, _ nu: Tensor<S>, normalizer: Tensor<S>
) -> (value: Tensor<S>, standardized: Tensor<S>, logs: Tensor<S>) {
    let name = "StudentT.logProbability"
    let z = fusedElementwise(x, location, scale, scale, name: name) { x, m, s, _ in (x - m) / s }
    let logs = fusedElementwise(z, nu, nu, nu, name: name) { z, nu, _, _ in z * z / nu }.log1p()
    let value = fusedElementwise(logs, nu, normalizer, nu, name: name) { l, nu, n, _ in n + -(nu + 1) / 2 * l }
    return (value, z, logs)
}

/// The gradients of a Student t log density in (ν, μ, σ) from `studentTLogDensityParts`' z and logarithms, for the
/// upstream gradient `v`: the value's terms in one pass over z, with ν's −½ log(1 + z²/ν) in the same sums; the
/// normaliser's over its own (usually smaller) shape.
@_specialize(where S == Double)
@_specialize(where S == Float)
func studentTParameterGradients<S: TensorScalar>(
    standardized z: Tensor<S>, logs: Tensor<S>, location: Tensor<S>, scale: Tensor<S>, nu: Tensor<S>,
    normalizerShape: TensorShape, _ v: Tensor<S>
) -> (nu: Tensor<S>, location: Tensor<S>, scale: Tensor<S>) {
    if v.isSymbolicZero { return (.zero, .zero, .zero) }
    let g = fusedElementwiseGradient(z, logs, scale, nu, upstream: v, name: "StudentT.logProbability", wanted: [.a, .c, .d]) { z, l, s, nu in
        // As in studentTKernelGradient, with u = z/ν, r = zu, b = (ν + 1)/(σq): ∂/∂μ = bu, ∂/∂σ = br, and ∂/∂ν is
        // (bσ/2) u² − ½ log(1 + z²/ν).
        let u = z / nu
        let r = z * u
        let b = (nu + 1) / (s * (1 + r))
        return (b * u, 0, b * r, b * s / 2 * (u * u) - l / 2)
    }
    let n = studentTNormalizerGradient(nu, scale, v.summed(toShape: normalizerShape))
    // z has the broadcast of x, μ and σ: μ's sums still run over the dimensions that μ was stretched along.
    let locationGradient = location.isSymbolicZero ? Tensor<S>.zero : g.0.summed(toShape: location.shape)
    return (n.0 + g.3, locationGradient, n.1 + g.2)
}

/// The Student t normaliser log Γ((ν+1)/2) − log Γ(ν/2) − ½ log(νπ) − log σ, one pass with its derivative. With
/// h = ν/2 and Stirling's remainder r (r′ = −s) it is h log(1 + 1/(2h)) − ½ − ½ log 2π + r(h + ½) − r(h) − log σ,
/// in which the parts of size ν cancel algebraically (at ν = 1e17 the plain difference loses everything).
@differentiable(reverse)
func studentTNormalizer<S: TensorScalar>(_ nu: Tensor<S>, _ scale: Tensor<S>) -> Tensor<S> {
    studentTNormalizerValue(nu, scale)
}

@_specialize(where S == Double)
@_specialize(where S == Float)
func studentTNormalizerValue<S: TensorScalar>(_ nu: Tensor<S>, _ scale: Tensor<S>) -> Tensor<S> {
    fusedElementwise(nu, scale, nu, scale, name: "StudentT.logProbability") { nu, scale, _, _ in
        let h = Double(nu) / 2
        let value = h * Foundation.log1p(0.5 / h) - (0.5 + SpecialFunctions.halfLogTwoPi)
            + SpecialFunctions.logGammaRemainder(h + 0.5) - SpecialFunctions.logGammaRemainder(h) - Foundation.log(Double(scale))
        return S(value)
    }
}

@derivative(of: studentTNormalizer)
@_specialize(where S == Double)
@_specialize(where S == Float)
func vjpStudentTNormalizer<S: TensorScalar>(_ nu: Tensor<S>, _ scale: Tensor<S>)
    -> (value: Tensor<S>, pullback: (Tensor<S>) -> (Tensor<S>, Tensor<S>))
{
    (studentTNormalizerValue(nu, scale), { v in studentTNormalizerGradient(nu, scale, v) })
}

@_specialize(where S == Double)
@_specialize(where S == Float)
func studentTNormalizerGradient<S: TensorScalar>(_ nu: Tensor<S>, _ scale: Tensor<S>, _ v: Tensor<S>) -> (Tensor<S>, Tensor<S>) {
    let g = fusedElementwiseGradient(nu, scale, nu, scale, upstream: v, name: "StudentT.logProbability", wanted: [.a, .b]) { nu, scale, _, _ in
        let h = Double(nu) / 2
        let dh = Foundation.log1p(0.5 / h) - 0.5 / (h + 0.5)
            - SpecialFunctions.digammaRemainder(h + 0.5) + SpecialFunctions.digammaRemainder(h)
        return (S(dh / 2), -1 / scale, 0, 0)
    }
    return (g.0, g.1)
}

/// log of a gamma density βᵅ xᵅ⁻¹ e^(−βx) / Γ(α) for x > 0 (shape α, rate β).
@differentiable(reverse)
func gammaLogDensity<S: TensorScalar>(_ x: Tensor<S>, _ concentration: Tensor<S>, _ rate: Tensor<S>) -> Tensor<S> {
    gammaLogDensityValue(x, concentration, rate, gammaNormalizer(concentration, rate))
}

/// α log β − log Γ(α), over the broadcast of the parameters.
func gammaNormalizer<S: TensorScalar>(_ alpha: Tensor<S>, _ beta: Tensor<S>) -> Tensor<S> {
    alpha * beta.map { .log($0) } - alpha.map { .logGamma($0) }
}

@_specialize(where S == Double)
@_specialize(where S == Float)
func gammaLogDensityValue<S: TensorScalar>(_ x: Tensor<S>, _ alpha: Tensor<S>, _ beta: Tensor<S>, _ normalizer: Tensor<S>) -> Tensor<S> {
    fusedElementwise(x, alpha, beta, normalizer, name: "Gamma.logProbability") { x, a, b, h in
        guard x > 0 && x.isFinite else { return -.infinity }
        return h + (a - 1) * S.log(x) - b * x
    }
}

@derivative(of: gammaLogDensity)
@_specialize(where S == Double)
@_specialize(where S == Float)
func vjpGammaLogDensity<S: TensorScalar>(_ x: Tensor<S>, _ alpha: Tensor<S>, _ beta: Tensor<S>)
    -> (value: Tensor<S>, pullback: (Tensor<S>) -> (Tensor<S>, Tensor<S>, Tensor<S>))
{
    let normalizer = gammaNormalizer(alpha, beta)
    return (gammaLogDensityValue(x, alpha, beta, normalizer), { v in gammaLogDensityGradient(x, alpha, beta, normalizer, v, wanted: .all) })
}

/// The derivative when the value is data: no gradient for it is computed or stored.
@derivative(of: gammaLogDensity, wrt: (alpha, beta))
@_specialize(where S == Double)
@_specialize(where S == Float)
func vjpGammaLogDensityInParameters<S: TensorScalar>(_ x: Tensor<S>, _ alpha: Tensor<S>, _ beta: Tensor<S>)
    -> (value: Tensor<S>, pullback: (Tensor<S>) -> (Tensor<S>, Tensor<S>))
{
    let normalizer = gammaNormalizer(alpha, beta)
    return (gammaLogDensityValue(x, alpha, beta, normalizer), { v in
        let g = gammaLogDensityGradient(x, alpha, beta, normalizer, v, wanted: [.b, .c, .d])
        return (g.1, g.2)
    })
}

@_specialize(where S == Double)
@_specialize(where S == Float)
func gammaLogDensityGradient<S: TensorScalar>(
    _ x: Tensor<S>, _ alpha: Tensor<S>, _ beta: Tensor<S>, _ normalizer: Tensor<S>, _ v: Tensor<S>, wanted: FusedOperands
) -> (Tensor<S>, Tensor<S>, Tensor<S>) {
    let g = fusedElementwiseGradient(x, alpha, beta, normalizer, upstream: v, name: "Gamma.logProbability", wanted: wanted) { x, a, b, _ in
        guard x > 0 && x.isFinite else { return (0, 0, 0, 0) }
        return ((a - 1) / x - b, S.log(x), -x, 1)
    }
    if g.3.isSymbolicZero { return (g.0, g.1, g.2) }
    // The normaliser's gradient, once per parameter element: ∂/∂α = log β − ψ(α), ∂/∂β = α/β.
    let digamma = alpha.map { S(SpecialFunctions.digamma(Double($0))) }
    let throughAlpha = (g.3 * (beta.map { .log($0) } - digamma)).summed(toShape: alpha.shape)
    let throughBeta = (g.3 * alpha / beta).summed(toShape: beta.shape)
    return (g.0, g.1 + throughAlpha, g.2 + throughBeta)
}

/// log of a Poisson probability λᵏ e^(−λ) / k! for k ∈ {0, 1, 2, …}.
@differentiable(reverse)
func poissonLogDensity<S: TensorScalar>(_ k: Tensor<S>, _ rate: Tensor<S>) -> Tensor<S> {
    poissonLogDensityValue(k, rate)
}

/// log k! for k < 1024, computed once.
let logFactorials: [Double] = {
    var table = [0.0]
    for k in 1..<1024 { table.append(table[k - 1] + Foundation.log(Double(k))) }
    return table
}()

/// log k! when k is a count (a non-negative integer), nil otherwise. Counts below 1024 are read from the table,
/// checked through the concrete Double-to-Int conversion (the generic one, and a call to round, cost more than the
/// rest of the density).
@inline(__always)
func logFactorialOfCount<S: TensorScalar>(_ k: S) -> S? {
    let x = Double(k)
    if x >= 0 && x < 1024 {
        let i = Int(x)
        return Double(i) == x ? S(logFactorials[i]) : nil
    }
    guard x >= 0 && x == x.rounded() && x.isFinite else { return nil }
    return S.logGamma(k + 1)
}

/// The log-factorials of the rows of counts seen last: counts are usually data, met at every step of a fit.
let logFactorialMemo = ElementsMemo(capacity: 4)

/// log k! for each count of a row of counts (NaN where an entry is not a count), looked up once per row of counts
/// rather than once per rate (every particle's row of rates meets the same row of counts), and remembered for the
/// counts' buffer (`ElementsMemo`): a likelihood's counts are the same data at every step.
func logFactorialsOfCounts<S: TensorScalar>(_ counts: Tensor<S>) -> TensorElements<S> {
    logFactorialMemo.elements(derivedFrom: counts.scalars) { (elements: TensorElements<S>) in computeLogFactorialsOfCounts(elements) }
}

@_specialize(where S == Double)
@_specialize(where S == Float)
func computeLogFactorialsOfCounts<S: TensorScalar>(_ counts: TensorElements<S>) -> TensorElements<S> {
    counts.withUnsafeBufferPointer { counts in
        logFactorials.withUnsafeBufferPointer { small in
            TensorElements<S>.filled(count: counts.count) { table in
                guard let k = counts.baseAddress, let out = table.baseAddress else { return }
                // The table's kernel leaves NaN where a count is beyond the table or not a count at all.
                if S.logFactorials(count: counts.count, counts: k, table: small.baseAddress!, tableSize: small.count, result: out) > 0 {
                    for j in 0..<counts.count where table[j].isNaN { table[j] = logFactorialOfCount(counts[j]) ?? .nan }
                }
            }
        }
    }
}

@_specialize(where S == Double)
@_specialize(where S == Float)
func poissonLogDensityValue<S: TensorScalar>(_ k: Tensor<S>, _ rate: Tensor<S>, logFactorials known: TensorElements<S>? = nil) -> Tensor<S> {
    // The rates' logarithms in one vectorised pass (one per rate, however many counts share it).
    poissonLogDensityValue(k, logRate: rate.log(), rate: rate, logFactorials: known)
}

/// kη − λ − log k! from both η = log λ and λ (of one shape).
@_specialize(where S == Double)
@_specialize(where S == Float)
func poissonLogDensityValue<S: TensorScalar>(
    _ k: Tensor<S>, logRate: Tensor<S>, rate: Tensor<S>, logFactorials known: TensorElements<S>? = nil
) -> Tensor<S> {
    if let (rows, columns) = countsRepeatAlongRows(k, rate) {
        // A rate for every count, the counts a row of data: one pass. The counts' log-factorials come from the
        // caller when its pullback needs them too.
        let logFactorials = known ?? logFactorialsOfCounts(k)
        return alongRowsOfCounts(k, logFactorials, logRate, rate) {
            S.poissonLogDensities(
                rows: rows, columns: columns, counts: $0, logFactorials: $1, logRates: $2, rates: $3, result: $4)
        }
    }
    return fusedElementwise(k, rate, logRate, rate, name: "Poisson.logProbability") { k, rate, logRate, _ in
        guard let logFactorial = logFactorialOfCount(k) else { return -.infinity }
        // 0 · log 0 = 0: a rate of 0 gives probability 1 to k = 0.
        return (k == 0 ? 0 : k * logRate) - rate - logFactorial
    }
}

@derivative(of: poissonLogDensity(_:_:))
@_specialize(where S == Double)
@_specialize(where S == Float)
func vjpPoissonLogDensity<S: TensorScalar>(_ k: Tensor<S>, _ rate: Tensor<S>)
    -> (value: Tensor<S>, pullback: (Tensor<S>) -> (Tensor<S>, Tensor<S>))
{
    (poissonLogDensityValue(k, rate), { v in
        let g = fusedElementwiseGradient(k, rate, rate, rate, upstream: v, name: "Poisson.logProbability") { k, rate, _, _ in
            guard logFactorialOfCount(k) != nil else { return (0, 0, 0, 0) }
            return (S.log(rate), k == 0 ? -1 : k / rate - 1, 0, 0)
        }
        return (g.0, g.1)
    })
}

/// The derivative when the counts are data, as in a likelihood: only the rate's gradient, without the log of the
/// rate per count that the counts' own gradient would take.
@derivative(of: poissonLogDensity(_:_:), wrt: rate)
@_specialize(where S == Double)
@_specialize(where S == Float)
func vjpPoissonLogDensityInRate<S: TensorScalar>(_ k: Tensor<S>, _ rate: Tensor<S>)
    -> (value: Tensor<S>, pullback: (Tensor<S>) -> Tensor<S>)
{
    // The counts' log-factorials once, for the value and the pullback.
    let logFactorialTable = countsRepeatAlongRows(k, rate) == nil ? nil : logFactorialsOfCounts(k)
    return (poissonLogDensityValue(k, rate, logFactorials: logFactorialTable), { v in
        poissonGradient(k, rate, upstream: v, logFactorials: logFactorialTable, inLogRate: false)
    })
}

/// log of a Poisson probability in the log rate η = log λ: kη − e^η − log k!.
@differentiable(reverse)
func poissonLogDensity<S: TensorScalar>(_ k: Tensor<S>, logRate: Tensor<S>) -> Tensor<S> {
    poissonLogDensityValue(k, logRate: logRate, rate: logRate.exp())
}

@derivative(of: poissonLogDensity(_:logRate:))
@_specialize(where S == Double)
@_specialize(where S == Float)
func vjpPoissonLogDensityInLogRateAndCounts<S: TensorScalar>(_ k: Tensor<S>, logRate: Tensor<S>)
    -> (value: Tensor<S>, pullback: (Tensor<S>) -> (Tensor<S>, Tensor<S>))
{
    let rate = logRate.exp()
    return (poissonLogDensityValue(k, logRate: logRate, rate: rate), { v in
        let g = fusedElementwiseGradient(k, logRate, rate, rate, upstream: v, name: "Poisson.logProbability") { k, logRate, rate, _ in
            guard logFactorialOfCount(k) != nil else { return (0, 0, 0, 0) }
            return (logRate, k - rate, 0, 0)
        }
        return (g.0, g.1)
    })
}

/// The derivative for counts that are data: ∂/∂η = k − e^η, the exponentials kept from the value. Where the counts
/// are a row of data met by every row of log rates (a likelihood), the value and that gradient come from one pass
/// over the log rates, without an array of rates, and the pullback only multiplies by its upstream (nothing at all
/// for a seed of ones: ``TensorElements/ones(count:)``).
@derivative(of: poissonLogDensity(_:logRate:), wrt: logRate)
@_specialize(where S == Double)
@_specialize(where S == Float)
func vjpPoissonLogDensityInLogRate<S: TensorScalar>(_ k: Tensor<S>, logRate: Tensor<S>)
    -> (value: Tensor<S>, pullback: (Tensor<S>) -> Tensor<S>)
{
    if let (value, g) = poissonLogDensityWithLogRateGradient(k, logRate: logRate) { return (value, { v in upstreamTimes(v, g) }) }
    // Counts that do not repeat along the rows of the rates: the general fused passes.
    let rate = logRate.exp()
    return (poissonLogDensityValue(k, logRate: logRate, rate: rate), { v in
        poissonGradient(k, rate, upstream: v, logFactorials: nil, inLogRate: true)
    })
}

/// The value and the gradient in η of kη − e^η − log k! from one pass over the log rates, where the counts are a row
/// of data met by every row of log rates (a likelihood); nil otherwise. The derivatives that take it (the density's
/// and `Poisson`'s) make their pullback of the gradient directly: one closure, one context to allocate a step.
@_specialize(where S == Double)
@_specialize(where S == Float)
func poissonLogDensityWithLogRateGradient<S: TensorScalar>(_ k: Tensor<S>, logRate: Tensor<S>) -> (value: Tensor<S>, gradient: Tensor<S>)? {
    guard let (rows, columns) = countsRepeatAlongRows(k, logRate) else { return nil }
    let logFactorials = logFactorialsOfCounts(k)
    var gradient = TensorElements<S>.uninitialized(count: logRate.scalarCount)
    let value = gradient.withUnsafeMutableBufferPointer { gradient in
        alongRowsOfCounts(k, logFactorials, logRate, logRate) { k, logFactorials, logRate, _, value in
            S.poissonLogRateDensitiesAndGradients(
                rows: rows, columns: columns, counts: k, logFactorials: logFactorials, logRates: logRate, values: value,
                gradients: gradient.baseAddress!)
        }
    }
    return (value, Tensor(shape: logRate.shape, scalars: gradient))
}

/// The pullback of a log density whose gradient came with its value: the upstream v, broadcast, times that gradient.
@inline(__always)
func upstreamTimes<S: TensorScalar>(_ v: Tensor<S>, _ gradient: Tensor<S>) -> Tensor<S> {
    v.isSymbolicZero ? .zero : v.broadcasted(to: gradient.shape) * gradient
}

/// The gradient of Σ v · log P(k | λ) in λ (k/λ − 1 per element), or in η = log λ (k − λ), where the counts are
/// data: 0 where k is not a count.
@_specialize(where S == Double)
@_specialize(where S == Float)
func poissonGradient<S: TensorScalar>(
    _ k: Tensor<S>, _ rate: Tensor<S>, upstream v: Tensor<S>, logFactorials: TensorElements<S>?, inLogRate: Bool
) -> Tensor<S> {
    // In the rate, counts repeated along the rows: the kernel. (In the log rate such counts take one pass for the value
    // and the gradient, `vjpPoissonLogDensityInLogRate`, and reach this only without log-factorials.)
    if !inLogRate, v.shape == rate.shape, let logFactorials, let (rows, columns) = countsRepeatAlongRows(k, rate) {
        return alongRowsOfCounts(k, logFactorials, rate, v) {
            S.poissonGradient(
                rows: rows, columns: columns, counts: $0, logFactorials: $1, rates: $2, upstream: $3, result: $4)
        }
    }
    return fusedElementwiseGradient(k, rate, rate, rate, upstream: v, name: "Poisson.logProbability") { k, rate, _, _ in
        guard logFactorialOfCount(k) != nil else { return (0, 0, 0, 0) }
        return (0, inLogRate ? k - rate : k == 0 ? -1 : k / rate - 1, 0, 0)
    }.1
}

/// `kernel(k, log k!, a, b, result)` on the elements' addresses, for a result of a's shape: a C kernel over rows of
/// `a` and `b` that each meet the one row of counts k (``countsRepeatAlongRows(_:_:)``).
@inline(__always)
func alongRowsOfCounts<S: TensorScalar>(
    _ k: Tensor<S>, _ logFactorials: TensorElements<S>, _ a: Tensor<S>, _ b: Tensor<S>,
    _ kernel: (UnsafePointer<S>, UnsafePointer<S>, UnsafePointer<S>, UnsafePointer<S>, UnsafeMutablePointer<S>) -> Void
) -> Tensor<S> {
    let result = TensorElements<S>.filled(count: a.scalarCount) { out in
        k.scalars.withUnsafeBufferPointer { k in
            logFactorials.withUnsafeBufferPointer { logFactorials in
                a.scalars.withUnsafeBufferPointer { a in
                    b.scalars.withUnsafeBufferPointer { b in
                        kernel(k.baseAddress!, logFactorials.baseAddress!, a.baseAddress!, b.baseAddress!, out.baseAddress!)
                    }
                }
            }
        }
    }
    return Tensor(shape: a.shape, scalars: result)
}

/// (rows, columns) when the rates have the broadcast shape and the counts are its trailing row(s) repeated along
/// the leading axes (counts [N] or [S, N] against rates [S, N]); nil otherwise.
func countsRepeatAlongRows<S: TensorScalar>(_ k: Tensor<S>, _ rate: Tensor<S>) -> (rows: Int, columns: Int)? {
    let columns = k.scalarCount
    guard columns > 0, rate.shape.endsWith(k.shape) else { return nil }
    return (rate.scalarCount / columns, columns)
}

/// log of a Bernoulli probability, x l − softplus(l) for x ∈ {0, 1} (−∞ elsewhere), for value and logits of one
/// shape: one vectorised pass gives the value and the gradient x − σ(l) together, and counts the x outside {0, 1}.
@differentiable(reverse)
func bernoulliLogDensity<S: TensorScalar>(_ x: Tensor<S>, _ logits: Tensor<S>) -> Tensor<S> {
    bernoulliLogProbabilityWithGradient(labels: x, logits: logits).value
}

/// The derivative when the values are data: only the logits' gradient.
@derivative(of: bernoulliLogDensity, wrt: logits)
@_specialize(where S == Double)
@_specialize(where S == Float)
func vjpBernoulliLogDensityInLogits<S: TensorScalar>(_ x: Tensor<S>, _ logits: Tensor<S>)
    -> (value: Tensor<S>, pullback: (Tensor<S>) -> Tensor<S>)
{
    let (value, logitGradient) = bernoulliLogDensityWithLogitGradient(x, logits)
    return (value, { v in upstreamTimes(v, logitGradient) })
}

/// The value and the gradient in the logits, x − σ(l), for values that are data. A likelihood is read as its sums
/// per particle: its elements are computed only if something else reads them.
@_specialize(where S == Double)
@_specialize(where S == Float)
func bernoulliLogDensityWithLogitGradient<S: TensorScalar>(_ x: Tensor<S>, _ logits: Tensor<S>) -> (value: Tensor<S>, gradient: Tensor<S>) {
    if let (value, gradient) = bernoulliLogProbabilityDeferred(labels: x, logits: logits) { return (value, gradient) }
    let (value, gradient, _) = bernoulliLogProbabilityWithGradient(labels: x, logits: logits)
    return (value, gradient)
}

@derivative(of: bernoulliLogDensity)
@_specialize(where S == Double)
@_specialize(where S == Float)
func vjpBernoulliLogDensity<S: TensorScalar>(_ x: Tensor<S>, _ logits: Tensor<S>)
    -> (value: Tensor<S>, pullback: (Tensor<S>) -> (Tensor<S>, Tensor<S>))
{
    let (value, logitGradient, invalid) = bernoulliLogProbabilityWithGradient(labels: x, logits: logits)
    return (value, { v in
        if v.isSymbolicZero { return (.zero, .zero) }
        let upstream = v.broadcasted(to: value.shape)
        // ∂/∂x of x l − softplus(l) is l, and 0 where x is outside {0, 1}.
        let valueGradient = upstream * logits
        return (invalid == 0 ? valueGradient : valueGradient.replacing(with: 0, where: outside(.boolean, x)), upstream * logitGradient)
    })
}

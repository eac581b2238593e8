import _Differentiation
import CVariationalKernels
import RealModule

/// A kernel of `TensorScalar.bernoulliLogDensitySums`.
public typealias BernoulliLogDensitySums<Scalar> = (
    _ rows: Int, _ columns: Int, _ labels: UnsafePointer<Scalar>, _ logits: UnsafePointer<Scalar>,
    _ sums: UnsafeMutablePointer<Scalar>, _ gradient: UnsafeMutablePointer<Scalar>
) -> Int

/// A floating-point type a `Tensor` can hold: `Float` or `Double`.
///
/// The requirements route the hot loops of the Tensor core to the kernels (BLAS products and vector maths).
public protocol TensorScalar: BinaryFloatingPoint, Real, Differentiable, Sendable, Codable
where TangentVector == Self, RawSignificand: FixedWidthInteger {
    /// C = alpha · op(A) · op(B) + beta · C for row-major matrices.
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
        a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// y = alpha · op(A) · x + beta · y for a row-major m×n matrix A.
    static func gemv(
        transposeA: Bool, m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
        x: UnsafePointer<Self>, beta: Self, y: UnsafeMutablePointer<Self>)
    /// Applies a vectorised elementwise function.
    static func apply(_ function: VectorFunction, count: Int, _ x: UnsafePointer<Self>, _ y: UnsafeMutablePointer<Self>)
    /// y = a ∘ b elementwise over `count` elements, each of a and b a whole array (stride 1) or one number met by
    /// every element (stride 0); y apart from both.
    static func combine(
        _ operation: ArithmeticOperation, count: Int, _ a: UnsafePointer<Self>, stride aStride: Int,
        _ b: UnsafePointer<Self>, stride bStride: Int, result: UnsafeMutablePointer<Self>)
    /// Bernoulli negative log-likelihood from logits, softplus(l) − x·l, elementwise.
    static func sigmoidCrossEntropy(count: Int, logits: UnsafePointer<Self>, labels: UnsafePointer<Self>, result: UnsafeMutablePointer<Self>)
    /// `sigmoidCrossEntropy` with its gradient with respect to the logits, σ(l) − x.
    static func sigmoidCrossEntropyWithGradient(
        count: Int, logits: UnsafePointer<Self>, labels: UnsafePointer<Self>, result: UnsafeMutablePointer<Self>,
        gradient: UnsafeMutablePointer<Self>)
    /// log Bernoulli(x; σ(l)) = x·l − softplus(l) with its gradient in the logits, x − σ(l); −∞ and 0 where x is
    /// neither 0 nor 1. Returns how many x are.
    static func bernoulliLogDensity(
        count: Int, labels: UnsafePointer<Self>, logits: UnsafePointer<Self>, result: UnsafeMutablePointer<Self>,
        gradient: UnsafeMutablePointer<Self>) -> Int
    /// The sums of `bernoulliLogDensity` over each row, with its gradient, in a pass that takes one logarithm a row
    /// rather than a series an element: (rows, columns, labels, logits, sums, gradient) → how many labels
    /// are neither 0 nor 1 (the results are then not the densities'). Nil where there is no such kernel.
    static var bernoulliLogDensitySums: BernoulliLogDensitySums<Self>? { get }
    /// log k! read from `table` (log 0!, log 1!, …) for counts below its size, NaN elsewhere. Returns how many are NaN.
    static func logFactorials(
        count: Int, counts: UnsafePointer<Self>, table: UnsafePointer<Double>, tableSize: Int, result: UnsafeMutablePointer<Self>) -> Int
    /// A Poisson likelihood with one row of `counts` for every row of rates (rows × columns), `logFactorials` log k!
    /// per count (NaN where k is not a count): kη − λ − log k! into `result`, −∞ where k is not a count.
    static func poissonLogDensities(
        rows: Int, columns: Int, counts: UnsafePointer<Self>, logFactorials: UnsafePointer<Self>,
        logRates: UnsafePointer<Self>, rates: UnsafePointer<Self>, result: UnsafeMutablePointer<Self>)
    /// Their gradient in the rate times `upstream`, v·(k/λ − 1); 0 where k is not a count.
    static func poissonGradient(
        rows: Int, columns: Int, counts: UnsafePointer<Self>, logFactorials: UnsafePointer<Self>,
        rates: UnsafePointer<Self>, upstream: UnsafePointer<Self>, result: UnsafeMutablePointer<Self>)
    /// The log densities kη − e^η − log k! into `values` and their gradient in the log rate, k − e^η, into
    /// `gradients`, at once from the log rates alone: the bits of `poissonLogDensities` and of `poissonGradient`
    /// with an upstream of ones.
    static func poissonLogRateDensitiesAndGradients(
        rows: Int, columns: Int, counts: UnsafePointer<Self>, logFactorials: UnsafePointer<Self>,
        logRates: UnsafePointer<Self>, values: UnsafeMutablePointer<Self>, gradients: UnsafeMutablePointer<Self>)
    /// Normal log densities −½z² − log σ − c, z = (x − m)/σ, over rows × columns, for x, m and σ (with log σ) each
    /// whole (row stride `columns`) or one row met by every row (row stride 0).
    static func normalLogDensities(
        rows: Int, columns: Int, x: UnsafePointer<Self>, xStride: Int, location: UnsafePointer<Self>, locationStride: Int,
        scale: UnsafePointer<Self>, logScale: UnsafePointer<Self>, scaleStride: Int, constant: Self,
        result: UnsafeMutablePointer<Self>)
    /// Their gradient in the location and the scale times `upstream` (whole), added to each operand's sums (nil for
    /// one not wanted), in row order.
    static func normalLogDensityGradient(
        rows: Int, columns: Int, x: UnsafePointer<Self>, xStride: Int, location: UnsafePointer<Self>, locationStride: Int,
        scale: UnsafePointer<Self>, scaleStride: Int, upstream: UnsafePointer<Self>,
        locationGradient: UnsafeMutablePointer<Self>?, scaleGradient: UnsafeMutablePointer<Self>?)
    /// Fills `rows` rows of `columns` elements with the same row vector.
    static func fillRows(rows: Int, columns: Int, row: UnsafePointer<Self>, result: UnsafeMutablePointer<Self>)
    /// Each row of `result` becomes max(row + bias, 0) in place (the rectifier's x > 0 ? x : 0).
    static func addBiasAndRectify(rows: Int, columns: Int, bias: UnsafePointer<Self>, result: UnsafeMutablePointer<Self>)
    /// δ = upstream where output > 0, 0 elsewhere, and the bias's gradient Σ over rows of δ (in blocks of 16 rows, each
    /// summed in row order, the blocks' sums added in order: the same bits on any number of threads).
    static func rectifierBackward(
        rows: Int, columns: Int, upstream: UnsafePointer<Self>, output: UnsafePointer<Self>, delta: UnsafeMutablePointer<Self>,
        biasGradient: UnsafeMutablePointer<Self>)
    /// The sum of each column of `rows` rows of `columns` elements into `result`, each summed in row order from 0 (the
    /// same bits on any number of threads).
    static func columnSums(rows: Int, columns: Int, _ x: UnsafePointer<Self>, result: UnsafeMutablePointer<Self>)
    /// Row r of `rows` rows of `columns` elements times `factors[r]`, in place.
    static func scaleRows(rows: Int, columns: Int, factors: UnsafePointer<Self>, _ x: UnsafeMutablePointer<Self>)
    /// Σ x² in Double, the same value on any number of threads (large buffers are summed on several).
    static func sumOfSquares(count: Int, _ x: UnsafePointer<Self>) -> Double
    /// The sum of each of `rows` contiguous rows of `columns` elements into `result`, with 16 running sums per row
    /// (element i to sum i mod 16, the tail past the last whole 16 to sum 0) added pairwise.
    static func rowSums(rows: Int, columns: Int, _ x: UnsafePointer<Self>, result: UnsafeMutablePointer<Self>)
    /// Σ x² in Double of each of `count` buffers (buffer a: `elementCounts[a]` elements at `buffers[a]`) into
    /// `result[a]`, in one pass split across the threads: each the bits `sumOfSquares(count:_:)` gives it.
    static func sumsOfSquares(
        count: Int, elementCounts: UnsafePointer<Int>, _ buffers: UnsafePointer<UnsafePointer<Self>?>,
        result: UnsafeMutablePointer<Double>)
    /// One fused Adam step over each of `count` flat buffers (buffer a: `elementCounts[a]` elements of the
    /// parameter, its gradient and its two moments), in one pass split across the threads; each element's bits do
    /// not depend on the other buffers or on the number of threads.
    static func adamSteps(
        count: Int, elementCounts: UnsafePointer<Int>, parameters: UnsafePointer<UnsafeMutablePointer<Self>?>,
        gradients: UnsafePointer<UnsafePointer<Self>?>, firstMoments: UnsafePointer<UnsafeMutablePointer<Self>?>,
        secondMoments: UnsafePointer<UnsafeMutablePointer<Self>?>,
        learningRate: Self, beta1: Self, beta2: Self, epsilon: Self,
        firstCorrection: Self, secondCorrection: Self, weightDecay: Self)
}

extension TensorScalar {
    /// One fused Adam step over a flat buffer.
    public static func adamStep(
        count: Int, parameter: UnsafeMutablePointer<Self>, gradient: UnsafePointer<Self>,
        firstMoment: UnsafeMutablePointer<Self>, secondMoment: UnsafeMutablePointer<Self>,
        learningRate: Self, beta1: Self, beta2: Self, epsilon: Self,
        firstCorrection: Self, secondCorrection: Self, weightDecay: Self
    ) {
        var (n, p, g, m, v) = (count, Optional(parameter), Optional(gradient), Optional(firstMoment), Optional(secondMoment))
        adamSteps(
            count: 1, elementCounts: &n, parameters: &p, gradients: &g, firstMoments: &m, secondMoments: &v,
            learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, firstCorrection: firstCorrection,
            secondCorrection: secondCorrection, weightDecay: weightDecay)
    }
}

/// The four arithmetic operations, in the order of the kernels' codes.
public enum ArithmeticOperation: Int32, Sendable {
    case add, subtract, multiply, divide
}

/// Elementwise functions with vectorised kernels.
public enum VectorFunction: Sendable {
    case exp, log, log1p, expm1, tanh, erf, sigmoid, softplus
}

extension Float: TensorScalar {
    public static func combine(
        _ operation: ArithmeticOperation, count: Int, _ a: UnsafePointer<Float>, stride aStride: Int,
        _ b: UnsafePointer<Float>, stride bStride: Int, result: UnsafeMutablePointer<Float>
    ) {
        vk_sbinary(operation.rawValue, count, a, aStride, b, bStride, result)
    }

    public static func logFactorials(
        count: Int, counts: UnsafePointer<Float>, table: UnsafePointer<Double>, tableSize: Int, result: UnsafeMutablePointer<Float>
    ) -> Int {
        vk_slog_factorials(count, counts, table, tableSize, result)
    }

    public static func sigmoidCrossEntropy(
        count: Int, logits: UnsafePointer<Float>, labels: UnsafePointer<Float>, result: UnsafeMutablePointer<Float>
    ) {
        vk_ssigmoid_cross_entropy(count, logits, labels, result)
    }

    public static func sigmoidCrossEntropyWithGradient(
        count: Int, logits: UnsafePointer<Float>, labels: UnsafePointer<Float>, result: UnsafeMutablePointer<Float>,
        gradient: UnsafeMutablePointer<Float>
    ) {
        vk_ssigmoid_cross_entropy_with_gradient(count, logits, labels, result, gradient)
    }

    public static func bernoulliLogDensity(
        count: Int, labels: UnsafePointer<Float>, logits: UnsafePointer<Float>, result: UnsafeMutablePointer<Float>,
        gradient: UnsafeMutablePointer<Float>
    ) -> Int {
        vk_sbernoulli_log_density(count, labels, logits, result, gradient)
    }

    public static var bernoulliLogDensitySums: BernoulliLogDensitySums<Float>? { nil }

    public static func poissonLogDensities(
        rows: Int, columns: Int, counts: UnsafePointer<Float>, logFactorials: UnsafePointer<Float>,
        logRates: UnsafePointer<Float>, rates: UnsafePointer<Float>, result: UnsafeMutablePointer<Float>
    ) {
        vk_spoisson_rows(rows, columns, counts, logFactorials, logRates, rates, result)
    }

    public static func poissonGradient(
        rows: Int, columns: Int, counts: UnsafePointer<Float>, logFactorials: UnsafePointer<Float>,
        rates: UnsafePointer<Float>, upstream: UnsafePointer<Float>, result: UnsafeMutablePointer<Float>
    ) {
        vk_spoisson_gradient_rows(rows, columns, counts, logFactorials, rates, upstream, result)
    }

    public static func poissonLogRateDensitiesAndGradients(
        rows: Int, columns: Int, counts: UnsafePointer<Float>, logFactorials: UnsafePointer<Float>,
        logRates: UnsafePointer<Float>, values: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>
    ) {
        vk_spoisson_log_rate_rows(rows, columns, counts, logFactorials, logRates, values, gradients)
    }

    public static func normalLogDensities(
        rows: Int, columns: Int, x: UnsafePointer<Float>, xStride: Int, location: UnsafePointer<Float>, locationStride: Int,
        scale: UnsafePointer<Float>, logScale: UnsafePointer<Float>, scaleStride: Int, constant: Float,
        result: UnsafeMutablePointer<Float>
    ) {
        vk_snormal_rows(rows, columns, x, xStride, location, locationStride, scale, logScale, scaleStride, constant, result)
    }

    public static func normalLogDensityGradient(
        rows: Int, columns: Int, x: UnsafePointer<Float>, xStride: Int, location: UnsafePointer<Float>, locationStride: Int,
        scale: UnsafePointer<Float>, scaleStride: Int, upstream: UnsafePointer<Float>,
        locationGradient: UnsafeMutablePointer<Float>?, scaleGradient: UnsafeMutablePointer<Float>?
    ) {
        vk_snormal_gradient_rows(
            rows, columns, x, xStride, location, locationStride, scale, scaleStride, upstream, locationGradient, scaleGradient)
    }

    public static func fillRows(rows: Int, columns: Int, row: UnsafePointer<Float>, result: UnsafeMutablePointer<Float>) {
        vk_sfill_rows(rows, columns, row, result)
    }

    public static func addBiasAndRectify(rows: Int, columns: Int, bias: UnsafePointer<Float>, result: UnsafeMutablePointer<Float>) {
        vk_sbias_relu(rows, columns, bias, result)
    }

    public static func columnSums(rows: Int, columns: Int, _ x: UnsafePointer<Float>, result: UnsafeMutablePointer<Float>) {
        vk_scolumn_sums(rows, columns, x, result)
    }

    public static func scaleRows(rows: Int, columns: Int, factors: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>) {
        vk_sscale_rows(rows, columns, factors, x)
    }

    public static func rectifierBackward(
        rows: Int, columns: Int, upstream: UnsafePointer<Float>, output: UnsafePointer<Float>, delta: UnsafeMutablePointer<Float>,
        biasGradient: UnsafeMutablePointer<Float>
    ) {
        vk_srelu_backward(rows, columns, upstream, output, delta, biasGradient)
    }

    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        vk_sgemm(transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    public static func gemv(
        transposeA: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>
    ) {
        vk_sgemv(transposeA ? 1 : 0, m, n, alpha, a, lda, x, beta, y)
    }

    public static func apply(
        _ function: VectorFunction, count: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>
    ) {
        switch function {
        case .exp: vk_sexp(count, x, y)
        case .log: vk_slog(count, x, y)
        case .log1p: vk_slog1p(count, x, y)
        case .expm1: vk_sexpm1(count, x, y)
        case .tanh: vk_stanh(count, x, y)
        case .erf: vk_serf(count, x, y)
        case .sigmoid: vk_ssigmoid(count, x, y)
        case .softplus: vk_ssoftplus(count, x, y)
        }
    }

    public static func sumOfSquares(count: Int, _ x: UnsafePointer<Float>) -> Double { vk_ssum_squares(count, x) }
    public static func rowSums(rows: Int, columns: Int, _ x: UnsafePointer<Float>, result: UnsafeMutablePointer<Float>) {
        vk_srow_sums(rows, columns, x, result)
    }

    public static func sumsOfSquares(
        count: Int, elementCounts: UnsafePointer<Int>, _ buffers: UnsafePointer<UnsafePointer<Float>?>,
        result: UnsafeMutablePointer<Double>
    ) {
        vk_ssums_of_squares(count, elementCounts, buffers, result)
    }

    public static func adamSteps(
        count: Int, elementCounts: UnsafePointer<Int>, parameters: UnsafePointer<UnsafeMutablePointer<Float>?>,
        gradients: UnsafePointer<UnsafePointer<Float>?>, firstMoments: UnsafePointer<UnsafeMutablePointer<Float>?>,
        secondMoments: UnsafePointer<UnsafeMutablePointer<Float>?>,
        learningRate: Float, beta1: Float, beta2: Float, epsilon: Float,
        firstCorrection: Float, secondCorrection: Float, weightDecay: Float
    ) {
        vk_sadam_batch(
            count, elementCounts, parameters, gradients, firstMoments, secondMoments, learningRate, beta1, beta2,
            epsilon, firstCorrection, secondCorrection, weightDecay)
    }
}

extension Double: TensorScalar {
    public static func combine(
        _ operation: ArithmeticOperation, count: Int, _ a: UnsafePointer<Double>, stride aStride: Int,
        _ b: UnsafePointer<Double>, stride bStride: Int, result: UnsafeMutablePointer<Double>
    ) {
        vk_dbinary(operation.rawValue, count, a, aStride, b, bStride, result)
    }

    public static func logFactorials(
        count: Int, counts: UnsafePointer<Double>, table: UnsafePointer<Double>, tableSize: Int, result: UnsafeMutablePointer<Double>
    ) -> Int {
        vk_dlog_factorials(count, counts, table, tableSize, result)
    }

    public static func sigmoidCrossEntropy(
        count: Int, logits: UnsafePointer<Double>, labels: UnsafePointer<Double>, result: UnsafeMutablePointer<Double>
    ) {
        vk_dsigmoid_cross_entropy(count, logits, labels, result)
    }

    public static func sigmoidCrossEntropyWithGradient(
        count: Int, logits: UnsafePointer<Double>, labels: UnsafePointer<Double>, result: UnsafeMutablePointer<Double>,
        gradient: UnsafeMutablePointer<Double>
    ) {
        vk_dsigmoid_cross_entropy_with_gradient(count, logits, labels, result, gradient)
    }

    /// softplus(x) and its derivative σ(x), elementwise: the logistic kernel with no labels (its cross-entropy from
    /// a label 0 is softplus(x), and the gradient σ(x)).
    public static func softplusWithSlope(
        count: Int, _ x: UnsafePointer<Double>, softplus: UnsafeMutablePointer<Double>, slope: UnsafeMutablePointer<Double>
    ) {
        vk_dsigmoid_cross_entropy_with_gradient(count, x, nil, softplus, slope)
    }

    /// The full-rank Gaussian family's sampling pullback (`vk_dfull_rank_pullback`): for θₚ = μ + L εₚ and gradients
    /// g [s, d], each times `weight`, Σₚ gₚᵢ into `mean`, Σₚ gₚᵢ εₚⱼ below the diagonal into `lower` [d, d] (zeros on
    /// and above it) and Σₚ gₚᵢ εₚᵢ · slope[i] into `raw`.
    public static func fullRankSamplePullback(
        particles: Int, dimension: Int, weight: Double, gradient: UnsafePointer<Double>, noise: UnsafePointer<Double>,
        slopes: UnsafePointer<Double>, mean: UnsafeMutablePointer<Double>, lower: UnsafeMutablePointer<Double>,
        raw: UnsafeMutablePointer<Double>
    ) {
        vk_dfull_rank_pullback(particles, dimension, weight, gradient, noise, slopes, mean, lower, raw)
    }

    public static func bernoulliLogDensity(
        count: Int, labels: UnsafePointer<Double>, logits: UnsafePointer<Double>, result: UnsafeMutablePointer<Double>,
        gradient: UnsafeMutablePointer<Double>
    ) -> Int {
        vk_dbernoulli_log_density(count, labels, logits, result, gradient)
    }

    public static var bernoulliLogDensitySums: BernoulliLogDensitySums<Double>? {
        { vk_dbernoulli_log_density_sums($0, $1, $2, $3, $4, $5) }
    }

    public static func poissonLogDensities(
        rows: Int, columns: Int, counts: UnsafePointer<Double>, logFactorials: UnsafePointer<Double>,
        logRates: UnsafePointer<Double>, rates: UnsafePointer<Double>, result: UnsafeMutablePointer<Double>
    ) {
        vk_dpoisson_rows(rows, columns, counts, logFactorials, logRates, rates, result)
    }

    public static func poissonGradient(
        rows: Int, columns: Int, counts: UnsafePointer<Double>, logFactorials: UnsafePointer<Double>,
        rates: UnsafePointer<Double>, upstream: UnsafePointer<Double>, result: UnsafeMutablePointer<Double>
    ) {
        vk_dpoisson_gradient_rows(rows, columns, counts, logFactorials, rates, upstream, result)
    }

    public static func poissonLogRateDensitiesAndGradients(
        rows: Int, columns: Int, counts: UnsafePointer<Double>, logFactorials: UnsafePointer<Double>,
        logRates: UnsafePointer<Double>, values: UnsafeMutablePointer<Double>, gradients: UnsafeMutablePointer<Double>
    ) {
        vk_dpoisson_log_rate_rows(rows, columns, counts, logFactorials, logRates, values, gradients)
    }

    public static func normalLogDensities(
        rows: Int, columns: Int, x: UnsafePointer<Double>, xStride: Int, location: UnsafePointer<Double>, locationStride: Int,
        scale: UnsafePointer<Double>, logScale: UnsafePointer<Double>, scaleStride: Int, constant: Double,
        result: UnsafeMutablePointer<Double>
    ) {
        vk_dnormal_rows(rows, columns, x, xStride, location, locationStride, scale, logScale, scaleStride, constant, result)
    }

    public static func normalLogDensityGradient(
        rows: Int, columns: Int, x: UnsafePointer<Double>, xStride: Int, location: UnsafePointer<Double>, locationStride: Int,
        scale: UnsafePointer<Double>, scaleStride: Int, upstream: UnsafePointer<Double>,
        locationGradient: UnsafeMutablePointer<Double>?, scaleGradient: UnsafeMutablePointer<Double>?
    ) {
        vk_dnormal_gradient_rows(
            rows, columns, x, xStride, location, locationStride, scale, scaleStride, upstream, locationGradient, scaleGradient)
    }

    public static func fillRows(rows: Int, columns: Int, row: UnsafePointer<Double>, result: UnsafeMutablePointer<Double>) {
        vk_dfill_rows(rows, columns, row, result)
    }

    public static func addBiasAndRectify(rows: Int, columns: Int, bias: UnsafePointer<Double>, result: UnsafeMutablePointer<Double>) {
        vk_dbias_relu(rows, columns, bias, result)
    }

    public static func columnSums(rows: Int, columns: Int, _ x: UnsafePointer<Double>, result: UnsafeMutablePointer<Double>) {
        vk_dcolumn_sums(rows, columns, x, result)
    }

    public static func scaleRows(rows: Int, columns: Int, factors: UnsafePointer<Double>, _ x: UnsafeMutablePointer<Double>) {
        vk_dscale_rows(rows, columns, factors, x)
    }

    public static func rectifierBackward(
        rows: Int, columns: Int, upstream: UnsafePointer<Double>, output: UnsafePointer<Double>, delta: UnsafeMutablePointer<Double>,
        biasGradient: UnsafeMutablePointer<Double>
    ) {
        vk_drelu_backward(rows, columns, upstream, output, delta, biasGradient)
    }

    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        vk_dgemm(transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    public static func gemv(
        transposeA: Bool, m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
        x: UnsafePointer<Double>, beta: Double, y: UnsafeMutablePointer<Double>
    ) {
        vk_dgemv(transposeA ? 1 : 0, m, n, alpha, a, lda, x, beta, y)
    }

    public static func apply(
        _ function: VectorFunction, count: Int, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>
    ) {
        switch function {
        case .exp: vk_dexp(count, x, y)
        case .log: vk_dlog(count, x, y)
        case .log1p: vk_dlog1p(count, x, y)
        case .expm1: vk_dexpm1(count, x, y)
        case .tanh: vk_dtanh(count, x, y)
        case .erf: vk_derf(count, x, y)
        case .sigmoid: vk_dsigmoid(count, x, y)
        case .softplus: vk_dsoftplus(count, x, y)
        }
    }

    public static func sumOfSquares(count: Int, _ x: UnsafePointer<Double>) -> Double { vk_dsum_squares(count, x) }
    public static func rowSums(rows: Int, columns: Int, _ x: UnsafePointer<Double>, result: UnsafeMutablePointer<Double>) {
        vk_drow_sums(rows, columns, x, result)
    }

    public static func sumsOfSquares(
        count: Int, elementCounts: UnsafePointer<Int>, _ buffers: UnsafePointer<UnsafePointer<Double>?>,
        result: UnsafeMutablePointer<Double>
    ) {
        vk_dsums_of_squares(count, elementCounts, buffers, result)
    }

    public static func adamSteps(
        count: Int, elementCounts: UnsafePointer<Int>, parameters: UnsafePointer<UnsafeMutablePointer<Double>?>,
        gradients: UnsafePointer<UnsafePointer<Double>?>, firstMoments: UnsafePointer<UnsafeMutablePointer<Double>?>,
        secondMoments: UnsafePointer<UnsafeMutablePointer<Double>?>,
        learningRate: Double, beta1: Double, beta2: Double, epsilon: Double,
        firstCorrection: Double, secondCorrection: Double, weightDecay: Double
    ) {
        vk_dadam_batch(
            count, elementCounts, parameters, gradients, firstMoments, secondMoments, learningRate, beta1, beta2,
            epsilon, firstCorrection, secondCorrection, weightDecay)
    }
}

/// Runs `body(part)` for every part in 0 ..< `parts`, on the calling thread and the kernels' worker threads, and
/// returns when all have run. The parts must be independent (they may run in any order, at the same time); a part
/// that asks for parts of its own runs them on its thread.
@usableFromInline
func runInParts(_ parts: Int, _ body: (Int) -> Void) {
    guard parts > 1 else {
        if parts == 1 { body(0) }
        return
    }
    withoutActuallyEscaping(body) { body in
        var work = body
        withUnsafeMutablePointer(to: &work) { pointer in
            vk_run_parts({ context, part in
                context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(part))
            }, pointer, Int32(clamping: parts))
        }
    }
}

/// The number of parts worth splitting an elementwise pass over `elements` into (1 for small passes, without a
/// call into the kernels).
@usableFromInline
func partsFor(elements: Int) -> Int { elements < VK_PARALLEL_ELEMENTS ? 1 : Int(vk_parts_for(elements)) }

/// Which kernels this process runs.
public enum Kernels {
    /// True when OpenBLAS was found at run time and is used for products.
    public static var usesOpenBLAS: Bool { vk_using_openblas() != 0 }
    /// OpenBLAS's own description (version, core), or nil for the portable kernel.
    public static var blasDescription: String? {
        let text = String(cString: vk_blas_description())
        return text.isEmpty ? nil : text
    }
    /// The number of threads large products may use.
    public static var maximumThreads: Int {
        get { Int(vk_max_threads()) }
        set { vk_set_max_threads(Int32(newValue)) }
    }
    /// True when single-precision products run in the project's own kernel, for AVX-512 or for AVX2 with FMA
    /// (double precision then still goes to OpenBLAS or the portable kernel).
    public static var usesOwnFloatProducts: Bool { vk_own_float_products() != 0 }
    /// Single-precision products in the project's own kernel (`usesOwnFloatProducts`) whose left operand has at
    /// most this fraction of nonzeros (sampled, then counted) sum over its nonzeros only, as images' first layers
    /// do. 0.3 at first; 0 turns that path off; values are clamped to 0 ... 1. That path, like the reference BLAS,
    /// never multiplies a zero of the left operand, so an infinity or NaN in the right operand reaches only the
    /// outputs whose sums meet it through a nonzero; the blocked kernel spreads it to its whole column of the product.
    public static var sparseDensityLimit: Double {
        get { vk_sparse_density() }
        set { vk_set_sparse_density(newValue) }
    }
    /// Single-precision products in the project's own kernel read a non-transposed right operand where it lies,
    /// without packing it, when each thread's rows of the left operand fit in this many of the kernel's row panels
    /// (8 rows with AVX-512, 6 with AVX2) and the operand's rows are not a multiple of 256 elements apart: 4 at first,
    /// so batches of up to 32 rows with AVX-512; 0 always packs. The results are the same bits either way; only the
    /// time differs (the benchmark `unpacked`).
    public static var unpackedRightOperandPanels: Int {
        get { Int(vk_direct_b_panels()) }
        set { vk_set_direct_b_panels(Int32(clamping: newValue)) }
    }
    /// True when vector code computes elementwise maths: the kernels' own exp in Double, glibc's libmvec for the rest.
    public static var usesVectorMath: Bool { vk_using_vector_math() != 0 }
    /// A one-line description: which product kernel runs, and on how many threads.
    public static var summary: String {
        var products = blasDescription.map { "OpenBLAS (\($0))" } ?? "portable blocked kernel"
        switch vk_own_float_products() {
        case 512: products = "own AVX-512 kernel (Float), \(products) (Double)"
        case 256: products = "own AVX2 kernel (Float), \(products) (Double)"
        default: break
        }
        let math = !usesVectorMath ? "scalar libm"
            : vk_using_avx512_vector_math() != 0 ? "own AVX-512 exp (Double), libmvec AVX2 and AVX-512 for the rest"
            : "own AVX2 exp (Double), libmvec AVX2 for the rest"
        return "products: \(products), threads: \(maximumThreads); elementwise: \(math)"
    }
    /// Runs `body` with the portable product kernel forced on (for comparing the two kernels).
    public static func withPortableKernel<R>(_ body: () throws -> R) rethrows -> R {
        vk_force_portable(1)
        defer { vk_force_portable(0) }
        return try body()
    }
}

// MARK: - Making small arrays quickly

extension Array where Element: TensorScalar {
    /// `count` zeros.
    ///
    /// Array's allocating initialisers (`init(repeating:count:)`, `init(unsafeUninitializedCapacity:…)`) all pass
    /// through a standard-library function that is never inlined and looks up the storage class's metadata on
    /// every call: about 50 ns, more than the arithmetic of a small tensor. Copying from a buffer is specialised
    /// where it is called and skips that lookup, so small arrays are copied from a block of zeros.
    @inlinable
    public static func zeros(count: Int) -> [Element] {
        guard count <= Int(VK_ZERO_BLOCK) else { return [Element](repeating: 0, count: count) }
        if Element.self == Double.self {
            return unsafeBitCast(Array<Double>(UnsafeBufferPointer(start: vk_zero_doubles(), count: count)), to: [Element].self)
        }
        return unsafeBitCast(Array<Float>(UnsafeBufferPointer(start: vk_zero_floats(), count: count)), to: [Element].self)
    }

    /// `count` elements written by `initialize`, which must set every one of them: small arrays start from
    /// `zeros(count:)`, large ones are left uninitialised for `initialize` (no pass to clear them first).
    @inlinable
    public static func filled(count: Int, _ initialize: (UnsafeMutableBufferPointer<Element>) -> Void) -> [Element] {
        if count <= Int(VK_ZERO_BLOCK) {
            var result = zeros(count: count)
            result.withUnsafeMutableBufferPointer { initialize($0) }
            return result
        }
        return [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialize(buffer)
            initialized = count
        }
    }
}

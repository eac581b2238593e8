import _Differentiation
import CVariationalKernels

// Fused operations for the hot paths of training: each replaces several elementwise passes with one.

extension Tensor {
    /// Calls `body` with the elements of both tensors, which must have the same shape, and a result buffer.
    @usableFromInline
    static func withElements(
        _ a: Tensor, _ b: Tensor, _ name: String,
        _ body: (Int, UnsafePointer<Scalar>, UnsafePointer<Scalar>, UnsafeMutablePointer<Scalar>) -> Void
    ) -> Tensor {
        require(a.shape == b.shape, "\(name): shapes \(a.shape) and \(b.shape) differ")
        let count = a.scalarCount
        let result = a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                TensorElements<Scalar>.filled(count: count) { out in
                    if count > 0 { body(count, pa.baseAddress!, pb.baseAddress!, out.baseAddress!) }
                }
            }
        }
        return Tensor(shape: a.shape, scalars: result)
    }
}

/// The Bernoulli negative log-likelihood −log p(x | logits) = softplus(l) − x·l, elementwise and overflow-free.
///
/// `labels` are usually 0 or 1, but any value in [0, 1] is accepted (the cross-entropy with a soft target).
@differentiable(reverse)
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func sigmoidCrossEntropy<Scalar: TensorScalar>(logits: Tensor<Scalar>, labels: Tensor<Scalar>) -> Tensor<Scalar> {
    Tensor.withElements(logits, labels, "sigmoidCrossEntropy") { Scalar.sigmoidCrossEntropy(count: $0, logits: $1, labels: $2, result: $3) }
}

/// The Bernoulli negative log-likelihood and its gradient with respect to the logits, σ(l) − x, computed together
/// (one exponential per element): for hand-written gradients and for the derivative below.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func sigmoidCrossEntropyWithGradient<Scalar: TensorScalar>(logits: Tensor<Scalar>, labels: Tensor<Scalar>)
    -> (value: Tensor<Scalar>, gradient: Tensor<Scalar>)
{
    var gradient = TensorElements<Scalar>()
    let value = Tensor.withElements(logits, labels, "sigmoidCrossEntropy") { count, l, x, out in
        gradient = TensorElements<Scalar>.filled(count: count) { g in
            Scalar.sigmoidCrossEntropyWithGradient(count: count, logits: l, labels: x, result: out, gradient: g.baseAddress!)
        }
    }
    return (value, Tensor(shape: logits.shape, scalars: gradient))
}

/// log Bernoulli(x; σ(l)) = x·l − softplus(l) and its gradient in the logits, x − σ(l), in the cross-entropy's one
/// pass, for labels and logits of one shape; −∞ and 0 where a label is neither 0 nor 1, and how many such labels
/// there are (a caller needs a mask only when there is one).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func bernoulliLogProbabilityWithGradient<Scalar: TensorScalar>(labels: Tensor<Scalar>, logits: Tensor<Scalar>)
    -> (value: Tensor<Scalar>, logitGradient: Tensor<Scalar>, invalid: Int)
{
    var gradient = TensorElements<Scalar>()
    var invalid = 0
    let value = Tensor.withElements(labels, logits, "Bernoulli.logProbability") { count, x, l, out in
        gradient = TensorElements<Scalar>.filled(count: count) { g in
            invalid = Scalar.bernoulliLogDensity(count: count, labels: x, logits: l, result: out, gradient: g.baseAddress!)
        }
    }
    return (value, Tensor(shape: labels.shape, scalars: gradient), invalid)
}

/// `bernoulliLogProbabilityWithGradient` for a log likelihood that is likely to be read only as one sum per row of
/// its first axis, as the inference layer reads a model's (one per particle): the row sums and the gradient are
/// computed now, in a pass that takes one logarithm a row instead of a series an element; the elements
/// only if something reads them (`TensorElements.deferred`), by the elementwise kernel, so that they have its bits.
/// Nil where the element type has no such kernel (Float), for shapes that differ or of rank below 2, and where a label
/// is neither 0 nor 1 (whose −∞ the elementwise kernel gives).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func bernoulliLogProbabilityDeferred<Scalar: TensorScalar>(labels: Tensor<Scalar>, logits: Tensor<Scalar>)
    -> (value: Tensor<Scalar>, logitGradient: Tensor<Scalar>)?
{
    let shape = logits.shape
    guard let kernel = Scalar.bernoulliLogDensitySums, labels.shape == shape, shape.rank >= 2 else { return nil }
    let (rows, count) = (shape[0], logits.scalarCount)
    guard count > 0 else { return nil }
    var sums = TensorElements<Scalar>.uninitialized(count: rows)
    var gradient = TensorElements<Scalar>.uninitialized(count: count)
    let (x, l) = (labels.scalars, logits.scalars)
    let invalid = x.withUnsafeBufferPointer { x in
        l.withUnsafeBufferPointer { l in
            sums.withUnsafeMutableBufferPointer { sums in
                gradient.withUnsafeMutableBufferPointer { g in
                    kernel(rows, count / rows, x.baseAddress!, l.baseAddress!, sums.baseAddress!, g.baseAddress!)
                }
            }
        }
    }
    guard invalid == 0 else { return nil }
    let value = TensorElements<Scalar>.deferred(count: count, rows: rows, rowSums: sums) { out in
        x.withUnsafeBufferPointer { x in
            l.withUnsafeBufferPointer { l in
                let scratch = UnsafeMutablePointer<Scalar>.allocate(capacity: count)
                defer { scratch.deallocate() }
                _ = Scalar.bernoulliLogDensity(count: count, labels: x.baseAddress!, logits: l.baseAddress!, result: out, gradient: scratch)
            }
        }
    }
    return (Tensor(checkedShape: shape, elements: value), Tensor(checkedShape: shape, elements: gradient))
}

@derivative(of: sigmoidCrossEntropy, wrt: logits)
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func vjpSigmoidCrossEntropy<Scalar: TensorScalar>(logits: Tensor<Scalar>, labels: Tensor<Scalar>)
    -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> Tensor<Scalar>)
{
    let (value, gradient) = sigmoidCrossEntropyWithGradient(logits: logits, labels: labels)
    return (value, { v in v.isSymbolicZero ? .zero : v.multiplying(gradient) })
}

@derivative(of: sigmoidCrossEntropy)
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func vjpSigmoidCrossEntropyBoth<Scalar: TensorScalar>(logits: Tensor<Scalar>, labels: Tensor<Scalar>)
    -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> (Tensor<Scalar>, Tensor<Scalar>))
{
    let (value, pullback) = vjpSigmoidCrossEntropy(logits: logits, labels: labels)
    return (value, { v in
        if v.isSymbolicZero { return (.zero, .zero) }
        return (pullback(v), v.multiplying(logits).map { -$0 })
    })
}

/// The Bernoulli log-likelihood of each row, Σ_d x_d l_d − softplus(l_d), for logits [R, D] against labels [B, D]
/// taken in turn: row r of the logits is scored against row r mod B of the labels, so that R = particles · B rows
/// (particle-major, as a decoder sees a batch's particles) share one copy of the batch. Shape [R]. Differentiable in
/// the logits; value and gradient come from one pass, and the labels are never copied per particle.
@differentiable(reverse, wrt: logits)
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func bernoulliRowLogLikelihoods<Scalar: TensorScalar>(logits: Tensor<Scalar>, labels: Tensor<Scalar>) -> Tensor<Scalar> {
    bernoulliRows(logits: logits, labels: labels, gradient: nil)
}

/// Row sums of the negative cross-entropy, and its gradient σ(l) − x into `gradient` when given: the value is
/// −Σ_d ce_d, summed in the order of an axis sum (`Tensor.rowSum`).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func bernoulliRows<Scalar: TensorScalar>(
    logits: Tensor<Scalar>, labels: Tensor<Scalar>, gradient: UnsafeMutableBufferPointer<Scalar>?
) -> Tensor<Scalar> {
    require(
        logits.rank == 2 && labels.rank == 2 && logits.shape[1] == labels.shape[1]
            && (labels.shape[0] == 0 ? logits.shape[0] == 0 : logits.shape[0] % labels.shape[0] == 0),
        "bernoulliRowLogLikelihoods: logits \(logits.shape) are not whole copies of the rows of labels \(labels.shape)")
    let (rows, d, period) = (logits.shape[0], logits.shape[1], labels.shape[0])
    return Tensor(shape: [rows]) { (out: UnsafeMutableBufferPointer<Scalar>) in
        guard d > 0 else {
            out.initialize(repeating: 0)
            return
        }
        // Rows are independent: large batches split into parts by rows, each with a scratch row of its own.
        let parts = min(partsFor(elements: rows * d), rows)
        logits.scalars.withUnsafeBufferPointer { l in
            labels.scalars.withUnsafeBufferPointer { x in
                runInParts(parts) { part in
                    let scratch = UnsafeMutablePointer<Scalar>.allocate(capacity: d)
                    defer { scratch.deallocate() }
                    for r in (rows * part / parts)..<(rows * (part + 1) / parts) {
                        let (row, target) = (l.baseAddress! + r * d, x.baseAddress! + (r % period) * d)
                        if let gradient {
                            Scalar.sigmoidCrossEntropyWithGradient(
                                count: d, logits: row, labels: target, result: scratch, gradient: gradient.baseAddress! + r * d)
                        } else {
                            Scalar.sigmoidCrossEntropy(count: d, logits: row, labels: target, result: scratch)
                        }
                        out[r] = -Tensor.rowSum(scratch, count: d)
                    }
                }
            }
        }
    }
}

/// A value a pullback takes the first time it runs, so that it holds the only reference and can update it in place.
@usableFromInline
final class TakenOnce<Value> {
    private var value: Value?
    @usableFromInline init(_ value: Value) { self.value = value }
    @usableFromInline func take() -> Value? {
        let taken = value
        value = nil
        return taken
    }
}

@derivative(of: bernoulliRowLogLikelihoods, wrt: logits)
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func vjpBernoulliRowLogLikelihoods<Scalar: TensorScalar>(logits: Tensor<Scalar>, labels: Tensor<Scalar>)
    -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> Tensor<Scalar>)
{
    var gradient = TensorElements<Scalar>.uninitialized(count: logits.scalarCount)
    let value = gradient.withUnsafeMutableBufferPointer { g in
        bernoulliRows(logits: logits, labels: labels, gradient: g)
    }
    let shape = logits.shape
    // The pullback runs once in training: it takes the elements from the forward pass and scales them in place (a
    // tensor as large as the decoder's output, which it would otherwise copy). A second call computes them again.
    let kept = TakenOnce(gradient)
    return (value, { v in
        if v.isSymbolicZero { return .zero }
        require(v.shape == value.shape, "bernoulliRowLogLikelihoods: cotangent \(v.shape) for rows \(value.shape)")
        var elements: TensorElements<Scalar>
        if let forward = kept.take() {
            elements = forward
        } else {
            elements = .uninitialized(count: logits.scalarCount)
            elements.withUnsafeMutableBufferPointer { g in _ = bernoulliRows(logits: logits, labels: labels, gradient: g) }
        }
        // d/dl of −ce is x − σ(l) = −(σ(l) − x): each row of the cross-entropy's gradient times −v[r].
        if shape[0] > 0 && shape[1] > 0 {
            let factors = v.scalars.map { -$0 }
            elements.withUnsafeMutableBufferPointer { g in
                factors.withUnsafeBufferPointer { f in
                    Scalar.scaleRows(rows: shape[0], columns: shape[1], factors: f.baseAddress!, g.baseAddress!)
                }
            }
        }
        return Tensor(checkedShape: shape, elements: elements)
    })
}

/// x · weight + bias for x of shape [batch, in], weight [in, out], bias [out]: the bias is written first and the
/// product accumulated onto it, one pass fewer than a product followed by an addition.
@differentiable(reverse)
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func linear<Scalar: TensorScalar>(_ x: Tensor<Scalar>, _ weight: Tensor<Scalar>, _ bias: Tensor<Scalar>) -> Tensor<Scalar> {
    linearRaw(x, weight, bias)
}

@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func linearRaw<Scalar: TensorScalar>(_ x: Tensor<Scalar>, _ weight: Tensor<Scalar>, _ bias: Tensor<Scalar>) -> Tensor<Scalar> {
    require(
        x.rank == 2 && weight.rank == 2 && x.shape[1] == weight.shape[0] && bias.shape == [weight.shape[1]],
        "linear: input \(x.shape), weight \(weight.shape) and bias \(bias.shape) do not fit [b, n]·[n, m] + [m]")
    let (rows, inner, columns) = (x.shape[0], x.shape[1], weight.shape[1])
    // Written straight into the tensor's storage: the bias in every row, then the product added onto it.
    return Tensor(shape: [rows, columns]) { (out: UnsafeMutableBufferPointer<Scalar>) in
        let base = out.baseAddress!
        bias.scalars.withUnsafeBufferPointer { b in Scalar.fillRows(rows: rows, columns: columns, row: b.baseAddress!, result: base) }
        guard inner > 0 else { return }
        x.scalars.withUnsafeBufferPointer { px in
            weight.scalars.withUnsafeBufferPointer { pw in
                Scalar.gemm(
                    transposeA: false, transposeB: false, m: rows, n: columns, k: inner, alpha: 1,
                    a: px.baseAddress!, lda: inner, b: pw.baseAddress!, ldb: columns, beta: 1, c: base, ldc: columns)
            }
        }
    }
}

@derivative(of: linear)
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func vjpLinear<Scalar: TensorScalar>(_ x: Tensor<Scalar>, _ weight: Tensor<Scalar>, _ bias: Tensor<Scalar>)
    -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> (Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>))
{
    (linearRaw(x, weight, bias), { v in
        if v.isSymbolicZero { return (.zero, .zero, .zero) }
        return (
            Tensor.matmulRaw(v, weight, transposeB: true), Tensor.matmulRaw(x, v, transposeA: true),
            v.sumRaw(alongAxes: [0]).reshapedRaw(to: bias.shape)
        )
    })
}

// The input is data: backward skips the product that would give its gradient.
@derivative(of: linear, wrt: (weight, bias))
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func vjpLinearParameters<Scalar: TensorScalar>(_ x: Tensor<Scalar>, _ weight: Tensor<Scalar>, _ bias: Tensor<Scalar>)
    -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> (Tensor<Scalar>, Tensor<Scalar>))
{
    (linearRaw(x, weight, bias), { v in
        if v.isSymbolicZero { return (.zero, .zero) }
        return (Tensor.matmulRaw(x, v, transposeA: true), v.sumRaw(alongAxes: [0]).reshapedRaw(to: bias.shape))
    })
}

/// relu(x · weight + bias), the hidden layer of most networks, in one operation: the product is written first and
/// the bias and the rectifier are applied to it in one pass over its rows, where `linear(x, weight, bias).relu()`
/// fills the bias in, accumulates the product onto it, and makes a second tensor for the rectified values. Only the
/// output is kept for the derivative (x > 0 exactly where relu(x) > 0), and the pullback masks the upstream gradient
/// and sums the bias's gradient in one pass. The bias is added to the finished product, where the unfused form
/// accumulates the product onto it: the same bits when the product's depth fits one block of the kernel (256), the
/// last bits otherwise. The gradients are the unfused ones given the same output (the bias's up to the order of its
/// sums).
@differentiable(reverse)
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func linearReLU<Scalar: TensorScalar>(_ x: Tensor<Scalar>, _ weight: Tensor<Scalar>, _ bias: Tensor<Scalar>) -> Tensor<Scalar> {
    linearReLURaw(x, weight, bias)
}

@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func linearReLURaw<Scalar: TensorScalar>(_ x: Tensor<Scalar>, _ weight: Tensor<Scalar>, _ bias: Tensor<Scalar>) -> Tensor<Scalar> {
    require(
        x.rank == 2 && weight.rank == 2 && x.shape[1] == weight.shape[0] && bias.shape == [weight.shape[1]],
        "linearReLU: input \(x.shape), weight \(weight.shape) and bias \(bias.shape) do not fit [b, n]·[n, m] + [m]")
    let (rows, inner, columns) = (x.shape[0], x.shape[1], weight.shape[1])
    return Tensor(shape: [rows, columns]) { (out: UnsafeMutableBufferPointer<Scalar>) in
        guard rows > 0 && columns > 0 else { return }
        let base = out.baseAddress!
        if inner > 0 {
            x.scalars.withUnsafeBufferPointer { px in
                weight.scalars.withUnsafeBufferPointer { pw in
                    Scalar.gemm(
                        transposeA: false, transposeB: false, m: rows, n: columns, k: inner, alpha: 1,
                        a: px.baseAddress!, lda: inner, b: pw.baseAddress!, ldb: columns, beta: 0, c: base, ldc: columns)
                }
            }
        } else {
            base.initialize(repeating: 0, count: rows * columns)
        }
        bias.scalars.withUnsafeBufferPointer { pb in Scalar.addBiasAndRectify(rows: rows, columns: columns, bias: pb.baseAddress!, result: base) }
    }
}

/// The pullback of `linearReLU` at output y for upstream v: δ = v where y > 0 and 0 elsewhere, with the bias's
/// gradient Σ over rows of δ summed in the same pass (in blocks of 16 rows, the blocks' sums added in order: the last
/// bits of `sum(alongAxes: 0)`'s sum row by row, the same on any number of threads).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func maskedByReLU<Scalar: TensorScalar>(_ upstream: Tensor<Scalar>, output y: Tensor<Scalar>) -> (delta: Tensor<Scalar>, bias: Tensor<Scalar>) {
    let v = upstream.shape == y.shape ? upstream : upstream.broadcastRaw(to: y.shape)
    let (rows, columns) = (y.shape[0], y.shape[1])
    var biasGradient = TensorElements<Scalar>.zeros(count: columns)
    let delta = Tensor(shape: y.shape) { (out: UnsafeMutableBufferPointer<Scalar>) in
        guard rows > 0 && columns > 0 else { return }
        v.scalars.withUnsafeBufferPointer { pv in
            y.scalars.withUnsafeBufferPointer { py in
                biasGradient.withUnsafeMutableBufferPointer { pg in
                    Scalar.rectifierBackward(
                        rows: rows, columns: columns, upstream: pv.baseAddress!, output: py.baseAddress!, delta: out.baseAddress!,
                        biasGradient: pg.baseAddress!)
                }
            }
        }
    }
    return (delta, Tensor(shape: [columns], scalars: biasGradient))
}

@derivative(of: linearReLU)
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func vjpLinearReLU<Scalar: TensorScalar>(_ x: Tensor<Scalar>, _ weight: Tensor<Scalar>, _ bias: Tensor<Scalar>)
    -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> (Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>))
{
    let y = linearReLURaw(x, weight, bias)
    return (y, { v in
        if v.isSymbolicZero { return (.zero, .zero, .zero) }
        let (delta, biasGradient) = maskedByReLU(v, output: y)
        return (Tensor.matmulRaw(delta, weight, transposeB: true), Tensor.matmulRaw(x, delta, transposeA: true), biasGradient)
    })
}

// The input is data: backward skips the product that would give its gradient.
@derivative(of: linearReLU, wrt: (weight, bias))
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func vjpLinearReLUParameters<Scalar: TensorScalar>(_ x: Tensor<Scalar>, _ weight: Tensor<Scalar>, _ bias: Tensor<Scalar>)
    -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> (Tensor<Scalar>, Tensor<Scalar>))
{
    let y = linearReLURaw(x, weight, bias)
    return (y, { v in
        if v.isSymbolicZero { return (.zero, .zero) }
        let (delta, biasGradient) = maskedByReLU(v, output: y)
        return (Tensor.matmulRaw(x, delta, transposeA: true), biasGradient)
    })
}

/// The logistic-regression log-likelihood Σᵢ [yᵢ lᵢ − softplus(lᵢ)], lᵢ = xᵢ · w, for each row w of `weights`
/// [S, D], with the features stored transposed, [D, n], and labels [n] in [0, 1]: shape [S]. Differentiable in the
/// weights; value and gradient come from one fused pass over the features.
@differentiable(reverse, wrt: weights)
public func logisticLogLikelihood(weights: Tensor<Double>, featuresTransposed: Tensor<Double>, labels: Tensor<Double>) -> Tensor<Double> {
    logisticLogLikelihoodWithGradient(weights: weights, featuresTransposed: featuresTransposed, labels: labels).value
}

/// `logisticLogLikelihood` with its gradient in the weights, Σᵢ (yᵢ − σ(lᵢ)) xᵢ for each row: shape [S, D].
public func logisticLogLikelihoodWithGradient(weights: Tensor<Double>, featuresTransposed: Tensor<Double>, labels: Tensor<Double>)
    -> (value: Tensor<Double>, gradient: Tensor<Double>)
{
    require(
        weights.rank == 2 && featuresTransposed.rank == 2 && labels.rank == 1
            && weights.shape[1] == featuresTransposed.shape[0] && featuresTransposed.shape[1] == labels.shape[0],
        "logisticLogLikelihood: weights \(weights.shape), transposed features \(featuresTransposed.shape) and labels \(labels.shape) do not fit [S, D], [D, n], [n]")
    let (s, d, n) = (weights.shape[0], weights.shape[1], labels.shape[0])
    var values = TensorElements<Double>.zeros(count: s)
    var gradient = TensorElements<Double>.zeros(count: s * d)
    featuresTransposed.scalars.withUnsafeBufferPointer { x in
        labels.scalars.withUnsafeBufferPointer { y in
            weights.scalars.withUnsafeBufferPointer { w in
                gradient.withUnsafeMutableBufferPointer { g in
                    // With no features every logit is 0 (and the weights and gradient are empty, with no address).
                    for p in 0..<s {
                        values[p] = vk_dlogistic_glm(
                            n, d, x.baseAddress, n, y.baseAddress, w.baseAddress.map { $0 + p * d }, g.baseAddress.map { $0 + p * d })
                    }
                }
            }
        }
    }
    return (Tensor(shape: [s], scalars: values), Tensor(shape: [s, d], scalars: gradient))
}

@derivative(of: logisticLogLikelihood, wrt: weights)
@usableFromInline
func vjpLogisticLogLikelihood(weights: Tensor<Double>, featuresTransposed: Tensor<Double>, labels: Tensor<Double>)
    -> (value: Tensor<Double>, pullback: (Tensor<Double>) -> Tensor<Double>)
{
    let (value, gradient) = logisticLogLikelihoodWithGradient(weights: weights, featuresTransposed: featuresTransposed, labels: labels)
    return (value, { v in v.isSymbolicZero ? .zero : gradient * v.expandingShape(at: 1) })
}

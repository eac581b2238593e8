import _Differentiation

// Matrix products through GEMM (GEMV for a single row or column). Rank-2 operands, or rank-3 batches where a rank-2
// operand is shared by every batch element.

extension Tensor {
    /// op(a) · op(b) for matrices, or batched over a leading dimension; no derivative.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    static func matmulRaw(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        require(
            (a.rank == 2 || a.rank == 3) && (b.rank == 2 || b.rank == 3),
            "matmul: needs rank-2 or rank-3 operands, got shapes \(a.shape) and \(b.shape)")
        let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        let (m, k) = transposeA ? (ac, ar) : (ar, ac)
        let (k2, n) = transposeB ? (bc, br) : (br, bc)
        require(k == k2, "matmul: inner dimensions differ for shapes \(a.shape) and \(b.shape)")
        let batchA = a.rank == 3 ? a.shape[0] : 1
        let batchB = b.rank == 3 ? b.shape[0] : 1
        require(
            batchA == batchB || a.rank == 2 || b.rank == 2,
            "matmul: batch sizes differ for shapes \(a.shape) and \(b.shape)")
        let batch = Swift.max(batchA, batchB)
        // Shapes made without array literals, which allocate.
        let matrixShape = TensorShape(repeating: n, count: 1).prepending(m)
        let outShape = (a.rank == 3 || b.rank == 3) ? matrixShape.prepending(batch) : matrixShape
        // GEMM and GEMV write every element of the result, unless the inner dimension is empty.
        var result = k == 0 ? TensorElements<Scalar>.zeros(count: batch * m * n) : TensorElements<Scalar>.uninitialized(count: batch * m * n)
        a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                result.withUnsafeMutableBufferPointer { pc in
                    guard let baseA = pa.baseAddress, let baseB = pb.baseAddress, let baseC = pc.baseAddress else {
                        return
                    }
                    // A batch against one shared matrix is a single taller product.
                    if a.rank == 3 && b.rank == 2 && !transposeA {
                        product(m: batch * m, n: n, k: k, baseA, ac, transposeA: false, baseB, bc, transposeB, baseC)
                        return
                    }
                    for i in 0..<batch {
                        let offA = a.rank == 3 ? i * ar * ac : 0
                        let offB = b.rank == 3 ? i * br * bc : 0
                        product(
                            m: m, n: n, k: k, baseA + offA, ac, transposeA: transposeA, baseB + offB, bc, transposeB,
                            baseC + i * m * n)
                    }
                }
            }
        }
        return Tensor(shape: outShape, scalars: result)
    }

    /// C (m×n) = op(A) · op(B); a single output column or row goes through GEMV.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    static func product(
        m: Int, n: Int, k: Int, _ a: UnsafePointer<Scalar>, _ lda: Int, transposeA: Bool,
        _ b: UnsafePointer<Scalar>, _ ldb: Int, _ transposeB: Bool, _ c: UnsafeMutablePointer<Scalar>
    ) {
        if n == 1 {  // op(B) is one column: contiguous whether stored transposed or not
            // y (m) = op(A) · b: A stored (m×k) or (k×m) when transposed.
            let (rows, cols) = transposeA ? (k, m) : (m, k)
            Scalar.gemv(transposeA: transposeA, m: rows, n: cols, alpha: 1, a: a, lda: lda, x: b, beta: 0, y: c)
        } else if m == 1 {
            // y (n) = op(B)ᵀ · a.
            let (rows, cols) = transposeB ? (n, k) : (k, n)
            Scalar.gemv(transposeA: !transposeB, m: rows, n: cols, alpha: 1, a: b, lda: ldb, x: a, beta: 0, y: c)
        } else {
            Scalar.gemm(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b,
                ldb: ldb, beta: 0, c: c, ldc: n)
        }
    }

    /// The gradient for the left operand of `a · b` given the output gradient `v`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    static func matmulGradientLeft(_ v: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        if a.rank == 2 && b.rank == 3 {
            // a was shared across the batch: sum the per-batch gradients.
            return matmulRaw(v, b, transposeB: true).sumRaw(alongAxes: [0]).reshapedRaw(to: a.shape)
        }
        return matmulRaw(v, b, transposeB: true)
    }

    /// The gradient for the right operand of `a · b` given the output gradient `v`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    static func matmulGradientRight(_ v: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        if a.rank == 3 && b.rank == 2 {
            let rows = a.shape[0] * a.shape[1]
            return matmulRaw(
                a.reshapedRaw(to: [rows, a.shape[2]]), v.reshapedRaw(to: [rows, v.shape[2]]), transposeA: true)
        }
        return matmulRaw(a, v, transposeA: true)
    }
}

/// The matrix product a · b (rank 2, or batched rank 3 with a shared rank-2 operand).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@differentiable(reverse)
public func matmul<Scalar: TensorScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) -> Tensor<Scalar> {
    Tensor.matmulRaw(a, b)
}

@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@derivative(of: matmul)
@usableFromInline
func vjpMatmul<Scalar: TensorScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>)
    -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> (Tensor<Scalar>, Tensor<Scalar>))
{
    (Tensor.matmulRaw(a, b), { v in
        if v.isSymbolicZero { return (.zero, .zero) }
        return (Tensor.matmulGradientLeft(v, a, b), Tensor.matmulGradientRight(v, a, b))
    })
}

// Only the weight varies (data on the left): backward skips the product that would give the data's gradient.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@derivative(of: matmul, wrt: b)
@usableFromInline
func vjpMatmulRight<Scalar: TensorScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>)
    -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> Tensor<Scalar>)
{
    (Tensor.matmulRaw(a, b), { v in v.isSymbolicZero ? .zero : Tensor.matmulGradientRight(v, a, b) })
}

@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@derivative(of: matmul, wrt: a)
@usableFromInline
func vjpMatmulLeft<Scalar: TensorScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>)
    -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> Tensor<Scalar>)
{
    (Tensor.matmulRaw(a, b), { v in v.isSymbolicZero ? .zero : Tensor.matmulGradientLeft(v, a, b) })
}

infix operator •: MultiplicationPrecedence

extension Tensor {
    /// The matrix product, `matmul(lhs, rhs)`.
    @differentiable(reverse)
    public static func • (lhs: Tensor, rhs: Tensor) -> Tensor { matmul(lhs, rhs) }
}

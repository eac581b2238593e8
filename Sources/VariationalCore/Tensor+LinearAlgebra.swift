import _Differentiation

// Linear algebra for full-rank Gaussians: Cholesky factorisation, triangular solves, diagonals and log-determinants.
// Matrices are rank 2; right-hand sides of solves are vectors or matrices.

extension Tensor {
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func requireSquare(_ name: String) -> Int {
        require(rank == 2 && shape[0] == shape[1], "\(name): needs a square matrix, got shape \(shape)")
        return shape[0]
    }

    /// The lower Cholesky factor L with L Lᵀ = self, or nil when the matrix is not positive definite.
    /// Reads the lower triangle only.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func choleskyFactor() -> Tensor? {
        let n = requireSquare("cholesky")
        var l = [Scalar](repeating: 0, count: n * n)
        for j in 0..<n {
            var diagonal = scalars[j * n + j]
            for k in 0..<j { diagonal -= l[j * n + k] * l[j * n + k] }
            guard diagonal > 0, diagonal.isFinite else { return nil }
            let pivot = diagonal.squareRoot()
            l[j * n + j] = pivot
            for i in (j + 1)..<Swift.max(j + 1, n) {
                var value = scalars[i * n + j]
                for k in 0..<j { value -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = value / pivot
            }
        }
        return Tensor(shape: [n, n], scalars: l)
    }

    /// The lower Cholesky factor L with L Lᵀ = self (which must be symmetric positive definite).
    ///
    /// A matrix that is not positive definite gives a factor full of NaN, so that optimisers reject the step;
    /// check inputs with `choleskyFactor()` first where an error is wanted.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func cholesky() -> Tensor {
        let n = requireSquare("cholesky")
        return choleskyFactor() ?? Tensor(repeating: .nan, shape: [n, n])
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: cholesky)
    @usableFromInline
    func vjpCholesky() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let l = cholesky()
        return (l, { v in
            if v.isSymbolicZero { return .zero }
            // Ā = ½ (S + Sᵀ) with S = L⁻ᵀ Φ(Lᵀ L̄) L⁻¹ and Φ the lower triangle with a halved diagonal.
            let n = l.shape[0]
            var p = Tensor.matmulRaw(l, v.lowerTriangularRaw(), transposeA: true).lowerTriangularRaw()
            for i in 0..<n { p.scalars[i * n + i] *= 0.5 }
            let x = Tensor.solveTriangularRaw(l, p, transposed: true)
            let sT = Tensor.solveTriangularRaw(l, x.permutedRaw([1, 0]), transposed: true)
            return sT.adding(sT.permutedRaw([1, 0])).map { $0 * 0.5 }
        })
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func lowerTriangularRaw() -> Tensor {
        let n = shape[0]
        var result = self
        for i in 0..<n { for j in (i + 1)..<Swift.max(i + 1, shape[1]) { result.scalars[i * shape[1] + j] = 0 } }
        return result
    }

    /// The lower triangle (with the diagonal), zeros above.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func lowerTriangular() -> Tensor {
        require(rank == 2, "lowerTriangular: needs a matrix, got shape \(shape)")
        return lowerTriangularRaw()
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: lowerTriangular)
    @usableFromInline
    func vjpLowerTriangular() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (lowerTriangular(), { v in v.isSymbolicZero ? .zero : v.lowerTriangularRaw() })
    }

    /// Solves L X = B (or Lᵀ X = B) by substitution, for lower-triangular L; B is a vector or a matrix.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    static func solveTriangularRaw(_ l: Tensor, _ b: Tensor, transposed: Bool) -> Tensor {
        let n = l.requireSquare("triangularSolve")
        require(
            (b.rank == 1 || b.rank == 2) && b.shape[0] == n,
            "triangularSolve: right-hand side of shape \(b.shape) does not match matrix of shape \(l.shape)")
        let columns = b.rank == 2 ? b.shape[1] : 1
        var x = b.scalars
        let a = l.scalars
        if !transposed {
            for i in 0..<n {
                let pivot = a[i * n + i]
                for c in 0..<columns {
                    var value = x[i * columns + c]
                    for k in 0..<i { value -= a[i * n + k] * x[k * columns + c] }
                    x[i * columns + c] = value / pivot
                }
            }
        } else {
            for i in stride(from: n - 1, through: 0, by: -1) {
                let pivot = a[i * n + i]
                for c in 0..<columns {
                    var value = x[i * columns + c]
                    for k in (i + 1)..<Swift.max(i + 1, n) { value -= a[k * n + i] * x[k * columns + c] }
                    x[i * columns + c] = value / pivot
                }
            }
        }
        return Tensor(shape: b.shape, scalars: x)
    }

    /// X with L X = B (or Lᵀ X = B when `transposed`), for lower-triangular L; only L's lower triangle is read.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public static func triangularSolve(lower l: Tensor, _ b: Tensor, transposed: Bool = false) -> Tensor {
        solveTriangularRaw(l, b, transposed: transposed)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: triangularSolve)
    @usableFromInline
    static func vjpTriangularSolve(lower l: Tensor, _ b: Tensor, transposed: Bool)
        -> (value: Tensor, pullback: (Tensor) -> (Tensor, Tensor))
    {
        let x = solveTriangularRaw(l, b, transposed: transposed)
        return (x, { v in
            if v.isSymbolicZero { return (.zero, .zero) }
            let gb = solveTriangularRaw(l, v, transposed: !transposed)
            let column = { (t: Tensor) in t.rank == 1 ? t.reshapedRaw(to: [t.shape[0], 1]) : t }
            // L X = B: L̄ = −tril(B̄ Xᵀ).  Lᵀ X = B: L̄ = −tril(X B̄ᵀ).
            let outer = transposed
                ? matmulRaw(column(x), column(gb), transposeB: true)
                : matmulRaw(column(gb), column(x), transposeB: true)
            return (outer.lowerTriangularRaw().map { -$0 }, gb)
        })
    }

    /// The main diagonal of a square matrix.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func diagonalPart() -> Tensor {
        let n = requireSquare("diagonalPart")
        return Tensor(shape: [n], scalars: (0..<n).map { scalars[$0 * n + $0] })
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: diagonalPart)
    @usableFromInline
    func vjpDiagonalPart() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (diagonalPart(), { v in v.isSymbolicZero ? .zero : v.diagonalMatrix() })
    }

    /// The square matrix with this vector on its diagonal.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func diagonalMatrix() -> Tensor {
        require(rank == 1, "diagonalMatrix: needs a vector, got shape \(shape)")
        let n = shape[0]
        var values = [Scalar](repeating: 0, count: n * n)
        for i in 0..<n { values[i * n + i] = scalars[i] }
        return Tensor(shape: [n, n], scalars: values)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: diagonalMatrix)
    @usableFromInline
    func vjpDiagonalMatrix() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (diagonalMatrix(), { v in v.isSymbolicZero ? .zero : v.diagonalPart() })
    }

    /// log det(L Lᵀ) = 2 Σ log Lᵢᵢ, from a Cholesky factor L.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func logDeterminantFromCholesky() -> Tensor {
        diagonalPart().log().sum() * 2
    }
}

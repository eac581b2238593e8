import Foundation
import VariationalCore
import XCTest

/// The single-precision product kernels (the AVX-512 one or the AVX2 one, whichever the processor has; CI also runs
/// the AVX2 one on an AVX-512 machine) against sums in Double, on shapes that cross every edge of their blocking:
/// panels of 8 rows and 48 columns (AVX-512) or 6 and 16 (AVX2), blocks of 256 in the inner dimension, 128 or 120
/// rows and 1,008 columns; all four transpositions, padded leading dimensions, alpha and beta.
final class MatrixProductKernelTests: XCTestCase {
    struct Case {
        var transposeA: Bool, transposeB: Bool
        var m: Int, n: Int, k: Int
        var alpha: Float, beta: Float
        /// The chance that an element of A is nonzero (the rest are zeros).
        var density = 1.0
    }

    /// Runs one product into a C whose padding columns hold a sentinel and (when beta is 0) whose entries are NaN,
    /// and returns the worst error relative to the sum of the terms' magnitudes; fails if the padding changed.
    func worstError(_ c: Case, using generator: inout SeededGenerator) -> Double {
        let (aRows, aColumns) = c.transposeA ? (c.k, c.m) : (c.m, c.k)
        let (bRows, bColumns) = c.transposeB ? (c.n, c.k) : (c.k, c.n)
        let (lda, ldb, ldc) = (aColumns + 3, bColumns + 5, c.n + 2)
        let a = (0..<(aRows * lda)).map { _ in
            Double.random(in: 0..<1, using: &generator) < c.density ? Float.random(in: -1...1, using: &generator) : 0
        }
        let b = (0..<(bRows * ldb)).map { _ in Float.random(in: -1...1, using: &generator) }
        let before = (0..<(c.m * ldc)).map { _ in Float.random(in: -1...1, using: &generator) }
        var out = before
        for i in 0..<c.m {
            for j in 0..<ldc { out[i * ldc + j] = j >= c.n ? 777 : c.beta == 0 ? .nan : before[i * ldc + j] }
        }
        Float.gemm(
            transposeA: c.transposeA, transposeB: c.transposeB, m: c.m, n: c.n, k: c.k, alpha: c.alpha, a: a, lda: lda,
            b: b, ldb: ldb, beta: c.beta, c: &out, ldc: ldc)
        var worst = 0.0
        for i in 0..<c.m {
            for j in c.n..<ldc where out[i * ldc + j] != 777 {
                XCTFail("wrote past column \(c.n) in \(c)")
                return .infinity
            }
            for j in 0..<c.n {
                var sum = 0.0, magnitude = 0.0
                for p in 0..<c.k {
                    let x = Double(c.transposeA ? a[p * lda + i] : a[i * lda + p])
                    let y = Double(c.transposeB ? b[j * ldb + p] : b[p * ldb + j])
                    sum += x * y
                    magnitude += abs(x * y)
                }
                let old = c.beta == 0 ? 0 : Double(c.beta) * Double(before[i * ldc + j])
                let exact = Double(c.alpha) * sum + old
                let scale = abs(Double(c.alpha)) * magnitude + abs(old) + 1e-30
                let error = abs(Double(out[i * ldc + j]) - exact) / scale
                if !(error <= worst) { worst = error }
            }
        }
        return worst
    }

    func testFloatProductsAgainstDoubleSums() {
        var generator = SeededGenerator(seed: 11)
        let sizes = [1, 7, 8, 9, 16, 17, 47, 48, 49, 96, 129, 300]
        var cases: [Case] = []
        for index in 0..<160 {
            cases.append(Case(
                transposeA: index % 2 == 1, transposeB: index / 2 % 2 == 1,
                m: sizes[Int.random(in: 0..<sizes.count, using: &generator)],
                n: sizes[Int.random(in: 0..<sizes.count, using: &generator)],
                k: index % 5 == 0 ? 600 : sizes[Int.random(in: 0..<sizes.count, using: &generator)],
                alpha: index % 3 == 0 ? -0.7 : 1, beta: [0, 1, 0.5][index % 3]))
        }
        // Wider than a block of columns, and taller than a block of rows, in all four transpositions.
        for t in 0..<4 {
            cases.append(Case(transposeA: t % 2 == 1, transposeB: t / 2 == 1, m: 7, n: 1100, k: 270, alpha: 1, beta: 0))
            cases.append(Case(transposeA: t % 2 == 1, transposeB: t / 2 == 1, m: 260, n: 50, k: 33, alpha: 1, beta: 0.5))
        }
        // Narrow products written into C (beta 0), which run as their transpose: a decoder's input gradient
        // (128 × 20 × 400), one column, a depth past one block; and beta 0.5, which runs directly.
        for t in 0..<4 {
            for (m, n, k, beta) in [(128, 20, 400, 0), (300, 1, 17, 0), (97, 5, 600, 0), (128, 20, 400, 0.5)] as [(Int, Int, Int, Float)] {
                cases.append(Case(transposeA: t % 2 == 1, transposeB: t / 2 == 1, m: m, n: n, k: k, alpha: t == 3 ? -0.7 : 1, beta: beta))
            }
        }
        // An empty inner dimension scales C by beta.
        cases.append(Case(transposeA: false, transposeB: false, m: 5, n: 9, k: 0, alpha: 1, beta: 0.5))
        let threads = Kernels.maximumThreads
        defer { Kernels.maximumThreads = threads }
        for limit in [1, 2] {
            Kernels.maximumThreads = limit
            for c in cases {
                let worst = worstError(c, using: &generator)
                // Float's rounding in each of k products and sums is below k · 2⁻²⁴ ≈ k · 6e-8 of the magnitudes.
                XCTAssertLessThan(worst, 1e-6, "\(c) on \(limit) thread(s)")
            }
        }
    }

    /// A narrow product written into C (beta 0) runs as its transpose and gives the bits of the direct product, which
    /// the same product accumulated onto zeros (beta 1) still runs: each output is the same sum in the same order.
    func testNarrowProductsRunAsTheirTransposeWithTheSameBits() {
        var generator = SeededGenerator(seed: 17)
        for t in 0..<4 {
            for (m, n, k) in [(128, 20, 400), (300, 3, 700), (64, 1, 9)] {
                let (ta, tb) = (t % 2 == 1, t / 2 == 1)
                let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &generator) }
                let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &generator) }
                var written = [Float](repeating: .nan, count: m * n), accumulated = [Float](repeating: 0, count: m * n)
                for (beta, out) in [(Float(0), 0), (1, 1)] {
                    var c = out == 0 ? written : accumulated
                    Float.gemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: -0.7, a: a, lda: ta ? m : k,
                               b: b, ldb: tb ? k : n, beta: beta, c: &c, ldc: n)
                    if out == 0 { written = c } else { accumulated = c }
                }
                XCTAssertEqual(written, accumulated, "\(m) × \(n) × \(k), transposed \(ta), \(tb)")
            }
        }
    }

    /// Products whose left operand is mostly zeros, as a network's first layer meets images (the sparse path takes
    /// those at most 30% nonzero, with B not transposed): both transpositions of A, every density up to past the
    /// threshold, columns around its blocks of 64 and 8, rows on either side of the columns (the threads then divide
    /// rows rather than columns), padded leading dimensions, alpha and beta, on one thread and two.
    func testSparseLeftOperandsAgainstDoubleSums() {
        var generator = SeededGenerator(seed: 15)
        var cases: [Case] = []
        for density in [0, 0.05, 0.2, 0.29, 0.5] {
            for (m, n, k) in [(64, 136, 300), (300, 72, 60), (7, 135, 300), (33, 65, 129), (5, 64, 600)] {
                for transposeA in [false, true] {
                    cases.append(Case(
                        transposeA: transposeA, transposeB: false, m: m, n: n, k: k,
                        alpha: cases.count % 3 == 0 ? -0.7 : 1, beta: [0, 1, 0.5][cases.count % 3], density: density))
                }
            }
        }
        let threads = Kernels.maximumThreads
        defer { Kernels.maximumThreads = threads }
        for limit in [1, 2] {
            Kernels.maximumThreads = limit
            for c in cases {
                XCTAssertLessThan(worstError(c, using: &generator), 1e-6, "\(c) on \(limit) thread(s)")
            }
        }
    }

    /// A NaN among the nonzeros of a sparse left operand reaches its row of the product.
    func testSparseLeftOperandCarriesNaN() {
        let (m, n, k) = (64, 72, 200)
        var a = [Float](repeating: 0, count: m * k)
        for i in 0..<m { a[i * k + (7 * i) % k] = 1 }
        a[5 * k + 3] = .nan
        let b = (0..<(k * n)).map { Float($0 % 13) - 6 }
        var c = [Float](repeating: 0, count: m * n)
        Float.gemm(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0, c: &c, ldc: n)
        XCTAssertTrue((0..<n).allSatisfy { c[5 * n + $0].isNaN })
        XCTAssertTrue((0..<n).allSatisfy { c[4 * n + $0] == b[(7 * 4 % k) * n + $0] })
    }

    /// `Kernels.sparseDensityLimit` decides which path a product takes, seen by where a NaN of B goes: the sparse path
    /// never multiplies A's zeros, so a NaN in a row of B that only zeros of A meet stays out of C; the blocked kernel
    /// spreads it down its column. Half-zero operands take the sparse path only once the limit allows it, and give
    /// the double sums there too.
    func testSparseDensityLimitChoosesThePath() throws {
        try XCTSkipUnless(Kernels.usesOwnFloatProducts, "the sparse path belongs to the project's own kernel")
        let saved = Kernels.sparseDensityLimit
        defer { Kernels.sparseDensityLimit = saved }
        XCTAssertEqual(saved, 0.3)
        let (m, n, k, poisoned) = (64, 72, 200, 11)
        func product(density: Double) -> [Float] {
            // Column `poisoned` of A is zero; about `density` of the others are ones.
            var a = [Float](repeating: 0, count: m * k)
            for i in 0..<m {
                for p in 0..<k where p != poisoned && (i * 31 + p * 17) % 100 < Int(density * 100) { a[i * k + p] = 1 }
            }
            var b = (0..<(k * n)).map { Float($0 % 13) - 6 }
            b[poisoned * n + 5] = .nan
            var c = [Float](repeating: 0, count: m * n)
            Float.gemm(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0, c: &c, ldc: n)
            return c
        }
        func spread(_ c: [Float]) -> Bool { (0..<m).allSatisfy { c[$0 * n + 5].isNaN } }
        func untouched(_ c: [Float]) -> Bool { !c.contains { $0.isNaN } }
        XCTAssertTrue(untouched(product(density: 0.2)))
        XCTAssertTrue(spread(product(density: 0.5)))
        Kernels.sparseDensityLimit = 0
        XCTAssertTrue(spread(product(density: 0.2)))
        Kernels.sparseDensityLimit = 1
        XCTAssertTrue(untouched(product(density: 0.5)))
        var generator = SeededGenerator(seed: 16)
        for transposeA in [false, true] {
            let c = Case(transposeA: transposeA, transposeB: false, m: 64, n: 136, k: 300, alpha: 1, beta: 0.5, density: 0.5)
            XCTAssertLessThan(worstError(c, using: &generator), 1e-6, "\(c)")
        }
        for (value, clamped) in [(-1, 0), (.nan, 0), (2, 1), (0.45, 0.45)] as [(Double, Double)] {
            Kernels.sparseDensityLimit = value
            XCTAssertEqual(Kernels.sparseDensityLimit, clamped, "\(value)")
        }
    }

    /// A right operand read where it lies (few rows of A) gives the same bits as the packed one, on shapes whose
    /// columns end in a partial panel, whose depth spans two blocks, with padded rows, alpha and beta; and both are
    /// checked against double sums.
    func testUnpackedRightOperandGivesThePackedBits() throws {
        try XCTSkipUnless(Kernels.usesOwnFloatProducts, "the unpacked operand belongs to the project's own kernel")
        let saved = Kernels.unpackedRightOperandPanels
        defer { Kernels.unpackedRightOperandPanels = saved }
        XCTAssertEqual(saved, 4)
        var generator = SeededGenerator(seed: 17)
        for (transposeA, m, n, k) in [(false, 20, 200, 784), (true, 20, 100, 300), (false, 7, 1100, 50), (false, 32, 48, 513), (true, 120, 250, 260)] {
            let (aRows, aColumns) = transposeA ? (k, m) : (m, k)
            let (lda, ldb, ldc) = (aColumns + 3, n + 5, n + 2)
            let a = (0..<(aRows * lda)).map { _ in Float.random(in: -1...1, using: &generator) }
            let b = (0..<(k * ldb)).map { _ in Float.random(in: -1...1, using: &generator) }
            let start = (0..<(m * ldc)).map { _ in Float.random(in: -1...1, using: &generator) }
            func product(panels: Int) -> [Float] {
                Kernels.unpackedRightOperandPanels = panels
                var c = start
                Float.gemm(transposeA: transposeA, transposeB: false, m: m, n: n, k: k, alpha: 0.75, a: a, lda: lda,
                           b: b, ldb: ldb, beta: 0.5, c: &c, ldc: ldc)
                return c
            }
            // 100 panels reads B in place for every shape here, 0 never does.
            XCTAssertTrue(product(panels: 100) == product(panels: 0), "different bits: \(m) × \(k) · \(k) × \(n), transposeA \(transposeA)")
            Kernels.unpackedRightOperandPanels = 100
            let c = Case(transposeA: transposeA, transposeB: false, m: m, n: n, k: k, alpha: 0.75, beta: 0.5)
            XCTAssertLessThan(worstError(c, using: &generator), 1e-6, "\(c)")
        }
        Kernels.unpackedRightOperandPanels = -3
        XCTAssertEqual(Kernels.unpackedRightOperandPanels, 0)
    }

    /// Each output is summed in the same order whatever the number of threads, so a product gives the same bits on
    /// one thread and on two, whichever dimension the threads divide.
    func testFloatProductsDoNotDependOnTheNumberOfThreads() {
        var generator = SeededGenerator(seed: 12)
        let threads = Kernels.maximumThreads
        defer { Kernels.maximumThreads = threads }
        for (m, n, k, transposeA, transposeB, density) in [
            (300, 70, 600, false, false, 1.0), (50, 1100, 270, true, true, 1), (129, 400, 784, false, true, 1),
            (128, 400, 784, false, false, 0.2), (784, 400, 128, true, false, 0.2),
            // Too few rows for 8 a part: the sparse path splits the columns.
            (12, 400, 784, false, false, 0.2),
        ] {
            let a = (0..<(m * k)).map { _ in
                Double.random(in: 0..<1, using: &generator) < density ? Float.random(in: -1...1, using: &generator) : 0
            }
            let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &generator) }
            let before = (0..<(m * n)).map { _ in Float.random(in: -1...1, using: &generator) }
            var results: [[Float]] = []
            for limit in [1, 2] {
                Kernels.maximumThreads = limit
                var c = before
                Float.gemm(
                    transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.5, a: a,
                    lda: transposeA ? m : k, b: b, ldb: transposeB ? k : n, beta: 0.25, c: &c, ldc: n)
                results.append(c)
            }
            XCTAssertEqual(results[0], results[1], "\(m) × \(n) × \(k)")
        }
    }

    /// Matrix-vector products in both precisions against sums in Double: every width up to 40 (the narrow kernel
    /// takes up to 16 doubles or 32 floats a row, in one to four vectors, the last through a mask), row counts around
    /// its groups of four, both transpositions, a padded leading dimension, alpha and beta (β = 0 with NaN in y).
    /// Wider rows, up to 1,000, reach the thin kernel's blocks of eight vectors, its groups of 8, 4, 2 and 1 rows, and
    /// (7 or more rows of 1,000) the loops that ask for the lines of a matrix larger than the first-level cache.
    func testMatrixVectorProductsAgainstDoubleSums() {
        func worstError<S: TensorScalar & BinaryFloatingPoint>(_: S.Type, seed: UInt64) -> Double {
            var generator = SeededGenerator(seed: seed)
            var worst = 0.0
            for transposed in [false, true] {
                for n in Array(1...40) + [63, 64, 65, 127, 128, 129, 257, 1000] {
                    for m in n <= 40 ? [1, 3, 4, 5, 13, 130] : [1, 2, 3, 7, 10, 13] {
                        let lda = n + 3, (alpha, beta): (S, S) = n % 2 == 0 ? (1, 0) : (1.5, -0.5)
                        let a = (0..<(m * lda)).map { _ in S(Double.random(in: -1...1, using: &generator)) }
                        let x = (0..<(transposed ? m : n)).map { _ in S(Double.random(in: -1...1, using: &generator)) }
                        let before = (0..<(transposed ? n : m)).map { _ in S(Double.random(in: -1...1, using: &generator)) }
                        var y = beta == 0 ? before.map { _ in S.nan } : before
                        S.gemv(transposeA: transposed, m: m, n: n, alpha: alpha, a: a, lda: lda, x: x, beta: beta, y: &y)
                        for i in y.indices {
                            var sum = 0.0, magnitude = 0.0
                            for j in 0..<(transposed ? m : n) {
                                let term = Double(transposed ? a[j * lda + i] : a[i * lda + j]) * Double(x[j])
                                sum += term
                                magnitude += abs(term)
                            }
                            let old = beta == 0 ? 0 : Double(beta) * Double(before[i])
                            let error = abs(Double(y[i]) - (Double(alpha) * sum + old)) / (1.5 * magnitude + abs(old) + 1e-30)
                            if !(error <= worst) { worst = error }
                        }
                    }
                }
            }
            return worst
        }
        XCTAssertLessThan(worstError(Double.self, seed: 13), 1e-14)
        XCTAssertLessThan(worstError(Float.self, seed: 14), 1e-6)
    }

    /// Products from several threads at once: a caller that finds the workers busy runs its product alone.
    func testConcurrentCallersGetTheirOwnProducts() {
        let m = 96, n = 200, k = 150
        var generator = SeededGenerator(seed: 12)
        let inputs = (0..<4).map { _ in
            (Tensor<Float>(randomNormal: [m, k], using: &generator), Tensor<Float>(randomNormal: [k, n], using: &generator))
        }
        let expected = inputs.map { matmul($0.0, $0.1) }
        let lock = NSLock()
        var mismatches = 0
        DispatchQueue.concurrentPerform(iterations: 64) { index in
            let (a, b) = inputs[index % 4]
            let product = matmul(a, b)
            if product.scalars != expected[index % 4].scalars {
                lock.lock()
                mismatches += 1
                lock.unlock()
            }
        }
        XCTAssertEqual(mismatches, 0)
    }
}

import CVariationalKernels
import _Differentiation
import Foundation
import VariationalCore
import VariationalTestSupport
import XCTest

final class TensorTests: XCTestCase {
    typealias T = Tensor<Double>

    func testSmallAndLargeArraysFromZerosAndFilled() {
        // Both sides of the size below which arrays are copied from a block of zeros.
        for count in [0, 1, 7, Int(VK_ZERO_BLOCK), Int(VK_ZERO_BLOCK) + 1, 5000] {
            XCTAssertEqual([Double].zeros(count: count), [Double](repeating: 0, count: count))
            XCTAssertEqual([Float].zeros(count: count), [Float](repeating: 0, count: count))
            let doubles = [Double].filled(count: count) { for i in $0.indices { $0[i] = Double(i) + 0.5 } }
            XCTAssertEqual(doubles, (0..<count).map { Double($0) + 0.5 })
            let floats = [Float].filled(count: count) { for i in $0.indices { $0[i] = -Float(i) } }
            XCTAssertEqual(floats, (0..<count).map { -Float($0) })
        }
        // The zeros a small array is copied from stay zeros after the copy is written to.
        var written = [Double].zeros(count: 3)
        written[1] = 9
        XCTAssertEqual([Double].zeros(count: 3), [0, 0, 0])
    }

    func testBroadcastShapesAndErrorsNameBothShapes() throws {
        XCTAssertEqual(try checkedBroadcastShape([3, 1, 5], [4, 1]), [3, 4, 5])
        XCTAssertEqual(try checkedBroadcastShape([], [2, 3]), [2, 3])
        XCTAssertThrowsError(try checkedBroadcastShape([3, 4], [5])) { error in
            XCTAssertEqual("\(error)", "shapes [3, 4] and [5] cannot be broadcast together")
        }
    }

    func testBroadcastingArithmeticAgreesWithLoops() {
        var generator = SeededGenerator(seed: 1)
        let a = T(randomNormal: [2, 3, 4], using: &generator)
        let b = T(randomNormal: [3, 1], using: &generator)
        let c = a * b + b
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 {
            XCTAssertEqual(c[i, j, k], a[i, j, k] * b[j, 0] + b[j, 0], accuracy: 1e-15)
        } } }
        let row = T([1, 2, 3, 4])
        XCTAssertEqual((a - row)[1, 2, 3], a[1, 2, 3] - 4)
        XCTAssertEqual((row - a)[1, 2, 3], 4 - a[1, 2, 3])
    }

    /// Every pairing of layouts (whole, row, column, anything else) against the same arithmetic on operands
    /// broadcast by index arithmetic: columns of particles [S, 1] meet rows of observations [N] and whole [S, N].
    func testRowAndColumnBroadcastsAgreeWithIndexing() {
        var generator = SeededGenerator(seed: 2)
        let pairs: [(TensorShape, TensorShape)] = [
            ([3, 1], [3, 4]), ([3, 4], [3, 1]), ([3, 1], [4]), ([4], [3, 1]), ([2, 3, 1], [2, 3, 4]), ([1, 4], [3, 1]),
            ([3, 1], [1, 4]), ([2, 1, 4], [2, 3, 4]), ([1, 1], [3, 4]), ([1, 1], [1, 4]), ([3, 1], [3, 1, 1]), ([4], [2, 3, 4]),
            // A column of the right rank whose leading dimensions are themselves broadcast is no column per row.
            ([1, 3, 1], [2, 3, 4]), ([2, 3, 4], [1, 3, 1]), ([2, 1, 1], [2, 3, 4]),
        ]
        for (sa, sb) in pairs {
            let a = T(randomNormal: sa, using: &generator), b = T(randomNormal: sb, using: &generator)
            let shape = try! checkedBroadcastShape(sa, sb)
            let (wa, wb) = (a.broadcasted(to: shape).scalars.array, b.broadcasted(to: shape).scalars.array)
            let sum: T = a + b, difference: T = a - b, product: T = a * b, quotient: T = a / b
            let cases: [(String, T, (Double, Double) -> Double)] = [
                ("+", sum, { $0 + $1 }), ("-", difference, { $0 - $1 }), ("*", product, { $0 * $1 }), ("/", quotient, { $0 / $1 }),
            ]
            for (name, result, combine) in cases {
                XCTAssertEqual(result.shape, shape, "\(sa) \(name) \(sb)")
                XCTAssertEqual(result.scalars.array, zip(wa, wb).map(combine), "\(sa) \(name) \(sb)")
            }
        }
    }

    func testSymbolicZeroIsANoOp() {
        let x = T([1, 2, 3])
        XCTAssertEqual(T.zero + x, x)
        XCTAssertEqual(x + T.zero, x)
        XCTAssertEqual(x - T.zero, x)
        XCTAssertTrue((T.zero * x).isSymbolicZero)
        XCTAssertTrue(T.zero.isSymbolicZero)
        XCTAssertFalse(T(0).isSymbolicZero)
        // An unused input gets a symbolic zero gradient, which costs nothing.
        let (g1, g2) = gradient(at: x, x) { a, b in a.sum() }
        XCTAssertEqual(g1, T(ones: [3]))
        XCTAssertTrue(g2.isSymbolicZero)
    }

    func testReductionsAndStableLogSumExp() {
        // A sum along an empty axis is one zero per remaining row (it stopped with a shape error before).
        XCTAssertEqual(T(zeros: [3, 0]).sum(alongAxes: [1]), T(zeros: [3, 1]))
        let x = T([[1, 2, 3], [4, 5, 6]])
        XCTAssertEqual(x.sum(squeezingAxes: 0).scalars, [5, 7, 9])
        XCTAssertEqual(x.sum(alongAxes: 1).shape, [2, 1])
        // A middle axis of a rank-3 tensor, and empty axes there and first.
        let cube = T(shape: [2, 3, 4], scalars: (0..<24).map { Double($0 * $0 % 7) })
        var expected = [Double](repeating: 0, count: 8)
        for o in 0..<2 { for k in 0..<3 { for i in 0..<4 { expected[o * 4 + i] += cube.scalars[(o * 3 + k) * 4 + i] } } }
        XCTAssertEqual(cube.sum(alongAxes: 1), T(shape: [2, 1, 4], scalars: expected))
        XCTAssertEqual(T(zeros: [2, 0, 3]).sum(alongAxes: 1), T(zeros: [2, 1, 3]))
        XCTAssertEqual(T(zeros: [0, 3]).sum(alongAxes: 0), T(zeros: [1, 3]))
        XCTAssertEqual(x.mean().scalar, 3.5)
        XCTAssertEqual(x.sum().shape, [])
        XCTAssertEqual(x.sum().scalar, 21)
        XCTAssertEqual(T(7).sum().scalar, 7)
        XCTAssertEqual(T(shape: [0, 3], scalars: []).sum().scalar, 0)
        XCTAssertEqual(gradient(at: x) { $0.sum() * 2 }, T(repeating: 2, shape: [2, 3]))
        XCTAssertEqual(x.max(squeezingAxes: 1).scalars, [3, 6])
        let huge = T([1000, 1000])
        XCTAssertEqual(huge.logSumExp().scalar, 1000 + Foundation.log(2), accuracy: 1e-12)
        let withNegativeInfinity = T([-.infinity, 0])
        XCTAssertEqual(withNegativeInfinity.logSumExp().scalar, 0)
        XCTAssertEqual(T([-Double.infinity, -.infinity]).logSumExp().scalar, -.infinity)
        let softmax = x.softmax()
        for row in 0..<2 { XCTAssertEqual(softmax[row, 0] + softmax[row, 1] + softmax[row, 2], 1, accuracy: 1e-15) }
    }

    func testTailsStayFinite() {
        let x = T([-1000, -40, 0, 40, 1000])
        XCTAssertEqual(x.softplus().scalars[4], 1000)
        XCTAssertEqual(x.softplus().scalars[0], 0)
        XCTAssertEqual(x.sigmoid().scalars[0], 0)
        XCTAssertEqual(x.sigmoid().scalars[4], 1)
        XCTAssertEqual(x.logSigmoid().scalars[0], -1000)
        XCTAssertEqual(x.logSigmoid().scalars[1], -40 - Foundation.log1p(Foundation.exp(-40)), accuracy: 1e-12)
        XCTAssertTrue(x.logSigmoid().scalars.allSatisfy(\.isFinite))
    }

    func testVectorMathAgreesWithLibm() {
        var generator = SeededGenerator(seed: 3)
        let x = T(randomUniform: [1001], low: -20, high: 20, using: &generator)
        let p = T(randomUniform: [1001], low: 1e-6, high: 50, using: &generator)
        let pairs: [(T, (Double) -> Double, String)] = [
            (x.exp(), Foundation.exp, "exp"), (p.log(), Foundation.log, "log"), (p.log1p(), Foundation.log1p, "log1p"),
            (x.expm1(), Foundation.expm1, "expm1"), (x.tanh(), Foundation.tanh, "tanh"), (x.erf(), Foundation.erf, "erf"),
        ]
        for (result, reference, name) in pairs {
            let input = name == "log" || name == "log1p" ? p : x
            for i in 0..<input.scalarCount {
                assertClose(result.scalars[i], reference(input.scalars[i]), relativeTolerance: 1e-14, name)
            }
        }
        let xf = Tensor<Float>(shape: [1001], scalars: x.scalars.map(Float.init))
        for i in 0..<1001 {
            assertClose(xf.exp().scalars[i], Foundation.expf(xf.scalars[i]), relativeTolerance: 1e-6, "expf")
        }
    }

    /// Softplus, the cross-entropy and the Bernoulli log density share log(1 + e^(−|x|)), computed by a series of
    /// their own rather than the general log1p: within a few units in the last place of libm's log1p, down to the
    /// smallest tails, in both precisions, through the vector lanes and the scalar tail (1,001 points).
    func testSoftplusTailAgreesWithLibm() {
        let xs = (0...1000).map { -745 + 785 * Double($0) / 1000 }
        let exact = xs.map { Swift.max($0, 0) + Foundation.log1p(Foundation.exp(-Swift.abs($0))) }
        let double = T(xs).softplus()
        let float = Tensor<Float>(xs.map(Float.init)).softplus()
        let crossEntropy = sigmoidCrossEntropy(logits: T(xs), labels: T(zeros: [xs.count]))
        var worstDouble = 0.0, worstFloat = 0.0
        for i in xs.indices where exact[i] > 0 {
            worstDouble = Swift.max(worstDouble, Swift.abs(double.scalars[i] - exact[i]) / exact[i])
            worstDouble = Swift.max(worstDouble, Swift.abs(crossEntropy.scalars[i] - exact[i]) / exact[i])
            // Float's own rounding of x moves the exact value by up to |x| ulp(x)-worth; compare at the rounded x.
            let x = Double(Float(xs[i]))
            let exactAtFloat = Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x)))
            guard exactAtFloat > Double(Float.leastNormalMagnitude) else { continue }
            worstFloat = Swift.max(worstFloat, Swift.abs(Double(float.scalars[i]) - exactAtFloat) / exactAtFloat)
        }
        XCTAssertLessThan(worstDouble, 1e-15, "Double softplus, worst relative error")
        XCTAssertLessThan(worstFloat, 5e-7, "Float softplus, worst relative error")
    }

    func testSumOverTrailingAxes() {
        let x = T(shape: [2, 3, 2], scalars: (1...12).map(Double.init))
        XCTAssertEqual(x.sumOverTrailingAxes(), T([21, 57]))
        // Rows of 5: four running sums and a tail.
        XCTAssertEqual(T(shape: [2, 5], scalars: [1, 2, 3, 4, 5, 10, 20, 30, 40, 50]).sumOverTrailingAxes(), T([15, 150]))
        XCTAssertEqual(T([1, 2]).sumOverTrailingAxes(), T([1, 2]))
        XCTAssertEqual(T(shape: [0, 3], scalars: []).sumOverTrailingAxes().shape, [0])
        XCTAssertEqual(T(shape: [2, 0], scalars: []).sumOverTrailingAxes(), T([0, 0]))
    }

    func testProductsAgreeBetweenKernelsAndWithDirectSums() {
        var generator = SeededGenerator(seed: 4)
        // Matrix-vector shapes with lengths that are not multiples of the vector width, and row counts that are not
        // multiples of four, reach every tail of the matrix-vector kernels.
        for (m, k, n) in [(1, 7, 5), (6, 7, 1), (1, 37, 13), (13, 37, 1), (5, 1003, 1), (1, 19, 1003), (17, 33, 9), (64, 130, 70)] {
            let a = T(randomNormal: [m, k], using: &generator)
            let b = T(randomNormal: [k, n], using: &generator)
            let fast = matmul(a, b)
            let portable = Kernels.withPortableKernel { matmul(a, b) }
            let transposed = Kernels.withPortableKernel { matmul(b.transposed(), a.transposed()) }
            for i in 0..<m {
                for j in 0..<n {
                    var sum = 0.0
                    for p in 0..<k { sum += a[i, p] * b[p, j] }
                    XCTAssertEqual(fast[i, j], sum, accuracy: 1e-12)
                    XCTAssertEqual(portable[i, j], sum, accuracy: 1e-12)
                    XCTAssertEqual(transposed[j, i], sum, accuracy: 1e-12)
                }
            }
            // Float goes through the same kernels.
            let af = Tensor<Float>(shape: a.shape, scalars: a.scalars.map(Float.init))
            let bf = Tensor<Float>(shape: b.shape, scalars: b.scalars.map(Float.init))
            let pf = Kernels.withPortableKernel { matmul(af, bf) }
            let ff = matmul(af, bf)
            for i in 0..<(m * n) { XCTAssertEqual(Double(ff.scalars[i]), fast.scalars[i], accuracy: 1e-4 * Double(k)) }
            for i in 0..<(m * n) { XCTAssertEqual(Double(pf.scalars[i]), fast.scalars[i], accuracy: 1e-4 * Double(k)) }
        }
    }

    func testBatchedProduct() {
        var generator = SeededGenerator(seed: 5)
        let a = T(randomNormal: [3, 4, 5], using: &generator)
        let b = T(randomNormal: [3, 5, 2], using: &generator)
        let c = matmul(a, b)
        for i in 0..<3 {
            let single = matmul(a.slice(axis: 0, range: i..<(i + 1)).reshaped(to: [4, 5]), b.slice(axis: 0, range: i..<(i + 1)).reshaped(to: [5, 2]))
            XCTAssertEqual(c.slice(axis: 0, range: i..<(i + 1)).scalars, single.scalars)
        }
    }

    func testCholeskyAndSolves() {
        let a = T([[4, 2, 0.4], [2, 5, 1], [0.4, 1, 3]])
        let l = a.cholesky()
        let back = matmul(l, l.transposed())
        for i in 0..<9 { XCTAssertEqual(back.scalars[i], a.scalars[i], accuracy: 1e-14) }
        XCTAssertEqual(l[0, 1], 0)
        let b = T([1, 2, 3])
        let x = T.triangularSolve(lower: l, T.triangularSolve(lower: l, b), transposed: true)
        let ax = matmul(a, x.reshaped(to: [3, 1]))
        for i in 0..<3 { XCTAssertEqual(ax.scalars[i], b.scalars[i], accuracy: 1e-13) }
        // log det A: 4·(5·3 − 1) − 2·(2·3 − 0.4) + 0.4·(2 − 5·0.4) = 56 − 11.2 + 0 = 44.8
        XCTAssertEqual(l.logDeterminantFromCholesky().scalar, Foundation.log(44.8), accuracy: 1e-13)
        XCTAssertNil(T([[1, 2], [2, 1]]).choleskyFactor())
        XCTAssertTrue(T([[1, 2], [2, 1]]).cholesky().scalars.allSatisfy(\.isNaN))
    }

    func testShapeOperations() {
        let x = T(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(x.transposed().scalars, [0, 3, 1, 4, 2, 5])
        XCTAssertEqual(x.slice(axis: 1, range: 1..<3).scalars, [1, 2, 4, 5])
        XCTAssertEqual(x.gathering(atIndices: [1, 1, 0]).scalars, [3, 4, 5, 3, 4, 5, 0, 1, 2])
        XCTAssertEqual(T.stacking([x, x], alongAxis: 0).shape, [2, 2, 3])
        XCTAssertEqual(x.concatenated(with: x, alongAxis: 1).scalars, [0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5])
        let y = T(shape: [2, 3, 4], scalars: (0..<24).map(Double.init))
        let p = y.permuted([2, 0, 1])
        XCTAssertEqual(p.shape, [4, 2, 3])
        XCTAssertEqual(p[3, 1, 2], y[1, 2, 3])
        XCTAssertEqual(x.reshaped(to: [-1]).shape, [6])
    }
}

final class SpecialFunctionTests: XCTestCase {
    /// Reference values: ψ(1) = −γ, ψ(½) = −γ − 2 ln 2, ψ′(1) = π²/6, ψ′(½) = π²/2, ψ″(1) = −2ζ(3).
    func testReferenceValues() {
        let gamma = 0.57721566490153286
        assertClose(SpecialFunctions.digamma(1), -gamma, relativeTolerance: 1e-14)
        assertClose(SpecialFunctions.digamma(0.5), -gamma - 2 * Foundation.log(2), relativeTolerance: 1e-14)
        assertClose(SpecialFunctions.digamma(100), 4.600161852738087, relativeTolerance: 1e-14)
        assertClose(SpecialFunctions.digamma(-0.5), 0.03648997397857652, relativeTolerance: 1e-12)
        assertClose(SpecialFunctions.trigamma(1), Double.pi * Double.pi / 6, relativeTolerance: 1e-14)
        assertClose(SpecialFunctions.trigamma(0.5), Double.pi * Double.pi / 2, relativeTolerance: 1e-14)
        assertClose(SpecialFunctions.trigamma(1e-3), 1000001.642533, relativeTolerance: 1e-9)
        assertClose(SpecialFunctions.tetragamma(1), -2.4041138063191885, relativeTolerance: 1e-13)
        // ψ″(−½) = ψ″(3/2) = 16 − 14ζ(3)
        assertClose(SpecialFunctions.tetragamma(-0.5), 16 - 14 * 1.2020569031595943, relativeTolerance: 1e-12)
        XCTAssertTrue(SpecialFunctions.digamma(0).isNaN)
        XCTAssertTrue(SpecialFunctions.digamma(-2).isNaN)
    }
}

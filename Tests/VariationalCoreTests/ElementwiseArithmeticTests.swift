import XCTest
@testable import VariationalCore

/// Arithmetic of 64 elements or more goes through a vector kernel (`Tensor.combinedByKernel`), and Adam's last
/// elements past the whole vectors through a masked vector: both must give every element the bits that one rounded
/// operation (or the scalar loop) gives it. CI runs these on the AVX-512, AVX2 and portable paths.
final class ElementwiseArithmeticTests: XCTestCase {
    /// Ordinary numbers with the edge cases among them: signed zeros, subnormals, infinities, NaN, huge and tiny.
    func values<T: TensorScalar>(_ count: Int, seed: UInt64, as: T.Type) -> [T] {
        var generator = SeededGenerator(seed: seed)
        let edges: [T] = [0, -0.0, .leastNonzeroMagnitude, -.leastNormalMagnitude, .infinity, -.infinity, .nan,
                          .greatestFiniteMagnitude, 1, -1, T(1e-30), 3]
        return (0..<count).map { i in
            if i % 11 == 4 { return edges[(i / 11 + Int(seed)) % edges.count] }
            return T(Double(generator.next() % 2_000_001) / 1000 - 1000)
        }
    }

    func sameBits<T: BinaryFloatingPoint>(_ a: T, _ b: T) -> Bool {
        a.sign == b.sign && a.exponentBitPattern == b.exponentBitPattern && a.significandBitPattern == b.significandBitPattern
    }

    func assertSameBits<T: TensorScalar>(_ got: [T], _ expected: [T], _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, expected.count, message, file: file, line: line)
        for (i, (g, e)) in zip(got, expected).enumerated() where !(g.isNaN && e.isNaN) && !sameBits(g, e) {
            XCTFail("\(message): element \(i) is \(g), expected \(e)", file: file, line: line)
            return
        }
    }

    func checkArithmetic<T: TensorScalar>(_: T.Type) {
        let operations: [(String, (Tensor<T>, Tensor<T>) -> Tensor<T>, (T, T) -> T)] = [
            ("+", { $0 + $1 }, { $0 + $1 }), ("-", { $0 - $1 }, { $0 - $1 }),
            ("*", { $0 * $1 }, { $0 * $1 }), ("/", { $0 / $1 }, { $0 / $1 }),
        ]
        for n in [63, 64, 65, 100, 1000, 1027] {
            let a = values(n, seed: UInt64(n), as: T.self), b = values(n, seed: UInt64(n + 1), as: T.self)
            let c = values(1, seed: 9, as: T.self)[0] + 0.5
            for (name, operation, scalar) in operations {
                // Equal shapes, of rank 1 and 2.
                assertSameBits(operation(Tensor(a), Tensor(b)).scalars.array, zip(a, b).map(scalar), "\(n) \(name) equal shapes")
                if n % 2 == 0 {
                    let product = operation(Tensor(shape: [2, n / 2], scalars: a), Tensor(shape: [2, n / 2], scalars: b))
                    XCTAssertEqual(product.shape, [2, n / 2])
                    assertSameBits(product.scalars.array, zip(a, b).map(scalar), "\(n) \(name) matrices")
                }
                // One number on either side, as a scalar, a [1] or a [1, 1] against a row or a matrix.
                for number in [Tensor<T>(c), Tensor([c]), Tensor(shape: [1, 1], scalars: [c])] {
                    let row = Tensor(shape: [1, n], scalars: a)
                    let right = operation(row, number), left = operation(number, row)
                    XCTAssertEqual(right.shape, [1, n])
                    XCTAssertEqual(left.shape, [1, n])
                    assertSameBits(right.scalars.array, a.map { scalar($0, c) }, "\(n) row \(name) \(number.shape)")
                    assertSameBits(left.scalars.array, a.map { scalar(c, $0) }, "\(n) \(number.shape) \(name) row")
                }
                // A number of higher rank than the other operand broadcasts it up: the general path, same numbers.
                let up = operation(Tensor(shape: [1, 1, 1], scalars: [c]), Tensor(a))
                XCTAssertEqual(up.shape, [1, 1, n])
                assertSameBits(up.scalars.array, a.map { scalar(c, $0) }, "\(n) [1, 1, 1] \(name) vector")
            }
        }
    }

    func testArithmeticThroughTheKernelKeepsEveryBit() {
        checkArithmetic(Double.self)
        checkArithmetic(Float.self)
    }

    /// Parameters whose elements all hold the same parameter, gradient and moments: after two updates every element
    /// must hold the same bits, whether it sat in a whole vector or among the last ones (updated through a mask), and
    /// the bits of a single-element parameter; and they must be Adam's update.
    func checkAdamTail<T: TensorScalar>(_: T.Type, weightDecay: T) {
        let cases: [(p: T, g: T, m: T, v: T)] = [(0.5, 0.25, 0.01, 0.002), (-1.5, -3e-3, 0, 0), (2, 7, -0.3, 4e-5)]
        for (p0, g, m0, v0) in cases {
            var reference: (T, T, T)? = nil
            for n in 1...40 {
                var (p, m, v) = ([T](repeating: p0, count: n), [T](repeating: m0, count: n), [T](repeating: v0, count: n))
                let gradient = [T](repeating: g, count: n)
                for (c1, c2) in [(T(10), T(1000)), (T(5.2631578947368425), T(500.25012506253123))] {
                    T.adamStep(
                        count: n, parameter: &p, gradient: gradient, firstMoment: &m, secondMoment: &v, learningRate: 0.01,
                        beta1: 0.9, beta2: 0.999, epsilon: 1e-8, firstCorrection: c1, secondCorrection: c2, weightDecay: weightDecay)
                }
                if reference == nil {
                    reference = (p[0], m[0], v[0])
                    // Adam by hand, to a few units in the last place (the kernel fuses some multiply-adds).
                    var (hp, hm, hv) = (Double(p0), Double(m0), Double(v0))
                    for (c1, c2) in [(10.0, 1000.0), (5.2631578947368425, 500.25012506253123)] {
                        hm = 0.9 * hm + 0.1 * Double(g)
                        hv = 0.999 * hv + 0.001 * Double(g) * Double(g)
                        hp -= 0.01 * (hm * c1 / ((hv * c2).squareRoot() + 1e-8) + Double(weightDecay) * hp)
                    }
                    XCTAssertEqual(Double(p[0]), hp, accuracy: abs(hp) * 64 * Double(T.ulpOfOne), "Adam by hand")
                }
                let (rp, rm, rv) = reference!
                for i in 0..<n where !sameBits(p[i], rp) || !sameBits(m[i], rm) || !sameBits(v[i], rv) {
                    XCTFail("\(T.self) n = \(n): element \(i) is (\(p[i]), \(m[i]), \(v[i])), the others (\(rp), \(rm), \(rv))")
                    break
                }
            }
        }
    }

    /// A large parameter updated on two threads has its new values written with streaming stores, aligned whole
    /// vectors at a time, its first and last elements through the masked path (on one thread, ordinary stores): every
    /// element must get the bits it gets updated alone, wherever the buffer starts (three offsets from a 64-byte
    /// boundary).
    func checkStreamedAdam<T: TensorScalar>(_: T.Type) {
        let n = 70_001  // past the 65,536 elements from which the parameters are streamed
        var generator = SeededGenerator(seed: 41)
        func draws(_ scale: Double) -> [T] { (0..<(n + 16)).map { _ in T(Double(generator.next() % 2_000_001) / 1e6 * scale - scale) } }
        let (p0, g, m0) = (draws(2), draws(3), draws(0.5))
        let v0 = draws(1).map { $0 * $0 }
        let threads = Kernels.maximumThreads
        defer { Kernels.maximumThreads = threads }
        for limit in [1, 2] {
            Kernels.maximumThreads = limit
            for offset in [0, 3, 5] {
                var (p, m, v) = (p0, m0, v0)
                var (q, k, w) = (p0, m0, v0)
                p.withUnsafeMutableBufferPointer { p in m.withUnsafeMutableBufferPointer { m in v.withUnsafeMutableBufferPointer { v in
                    T.adamStep(count: n, parameter: p.baseAddress! + offset, gradient: g.withUnsafeBufferPointer { $0.baseAddress! } + offset,
                               firstMoment: m.baseAddress! + offset, secondMoment: v.baseAddress! + offset, learningRate: 0.01, beta1: 0.9,
                               beta2: 0.999, epsilon: 1e-8, firstCorrection: 10, secondCorrection: 1000, weightDecay: 0.01)
                } } }
                q.withUnsafeMutableBufferPointer { q in k.withUnsafeMutableBufferPointer { k in w.withUnsafeMutableBufferPointer { w in
                    for i in offset..<(offset + n) {
                        T.adamStep(count: 1, parameter: q.baseAddress! + i, gradient: g.withUnsafeBufferPointer { $0.baseAddress! } + i,
                                   firstMoment: k.baseAddress! + i, secondMoment: w.baseAddress! + i, learningRate: 0.01, beta1: 0.9,
                                   beta2: 0.999, epsilon: 1e-8, firstCorrection: 10, secondCorrection: 1000, weightDecay: 0.01)
                    }
                } } }
                for i in 0..<(n + 16) where !sameBits(p[i], q[i]) || !sameBits(m[i], k[i]) || !sameBits(v[i], w[i]) {
                    XCTFail("\(T.self), \(limit) thread(s), offset \(offset): element \(i) is (\(p[i]), \(m[i]), \(v[i])), alone (\(q[i]), \(k[i]), \(w[i]))")
                    break
                }
                XCTAssertNotEqual(p[offset + n / 2], p0[offset + n / 2])
            }
        }
    }

    func testAdamStreamsLargeParametersWithTheBitsOfEachElementAlone() {
        checkStreamedAdam(Double.self)
        checkStreamedAdam(Float.self)
    }

    func testAdamGivesTheLastElementsTheBitsOfTheVectors() {
        checkAdamTail(Double.self, weightDecay: 0)
        checkAdamTail(Double.self, weightDecay: 0.01)
        checkAdamTail(Float.self, weightDecay: 0)
        checkAdamTail(Float.self, weightDecay: 0.01)
    }
}

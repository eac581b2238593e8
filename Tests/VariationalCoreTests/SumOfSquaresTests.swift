import Foundation
import VariationalCore
import XCTest

/// The sum of squares behind optimisers' gradient norms: both paths (AVX2, portable) add in one fixed
/// order, so a norm, and so a clipped update, has the same bits on any machine.
final class SumOfSquaresTests: XCTestCase {
    /// The order the kernels promise, written out: chunks of 8,192 elements; in each, 32 running sums (element i to
    /// sum i mod 32, the tail past the last whole 32 to sum 0) added pairwise; the chunks' sums added in order.
    func reference<Scalar: TensorScalar & BinaryFloatingPoint>(_ x: [Scalar]) -> Double {
        var total = 0.0
        var start = 0
        repeat {
            let count = min(8192, x.count - start)
            var s = [Double](repeating: 0, count: 32)
            var i = 0
            while i + 32 <= count {
                for l in 0..<32 {
                    let value = Double(x[start + i + l])
                    s[l] = s[l] + value * value
                }
                i += 32
            }
            while i < count {
                let value = Double(x[start + i])
                s[0] = s[0] + value * value
                i += 1
            }
            var width = 16
            while width >= 1 {
                for l in 0..<width { s[l] = s[l] + s[l + width] }
                width /= 2
            }
            total += s[0]  // 0 + s[0] is s[0] exactly: a single chunk's sum comes back unchanged
            start += 8192
        } while start < x.count
        return total
    }

    func testEveryPathAddsInTheSameOrder() {
        var generator = SeededGenerator(seed: 3)
        for count in [1, 31, 32, 33, 1000, 8192, 8193, 50_001] {
            // Magnitudes spread over six decades, so that another order of addition would round differently.
            let floats = (0..<count).map { _ in
                Float.random(in: -1...1, using: &generator) * Float(pow(10, Double.random(in: -3...3, using: &generator)))
            }
            let doubles = floats.map { Double($0) * (1 + 1e-9 * Double.random(in: -1...1, using: &generator)) }
            let expectedFloat = reference(floats), expectedDouble = reference(doubles)
            let float = floats.withUnsafeBufferPointer { Float.sumOfSquares(count: count, $0.baseAddress!) }
            let double = doubles.withUnsafeBufferPointer { Double.sumOfSquares(count: count, $0.baseAddress!) }
            let portable = Kernels.withPortableKernel {
                (floats.withUnsafeBufferPointer { Float.sumOfSquares(count: count, $0.baseAddress!) },
                 doubles.withUnsafeBufferPointer { Double.sumOfSquares(count: count, $0.baseAddress!) })
            }
            XCTAssertEqual(float, expectedFloat, "Float, \(count) elements")
            XCTAssertEqual(double, expectedDouble, "Double, \(count) elements")
            XCTAssertEqual(portable.0, expectedFloat, "Float, portable, \(count) elements")
            XCTAssertEqual(portable.1, expectedDouble, "Double, portable, \(count) elements")
        }
    }
}

/// Row sums (every sum over an axis, a likelihood summed per particle): one fixed order on every path, so a sum has
/// the same bits on any machine, and the vector path's sixteen running sums are the ones written here.
final class RowSumTests: XCTestCase {
    /// The order the kernels promise, written out: 16 running sums (element i to sum i mod 16, the tail past the
    /// last whole 16 to sum 0, in order), added pairwise, in the row's own type.
    func reference<Scalar: TensorScalar & BinaryFloatingPoint>(_ x: ArraySlice<Scalar>) -> Scalar {
        var s = [Scalar](repeating: 0, count: 16)
        var i = x.startIndex
        while i + 16 <= x.endIndex {
            for l in 0..<16 { s[l] = s[l] + x[i + l] }
            i += 16
        }
        while i < x.endIndex {
            s[0] = s[0] + x[i]
            i += 1
        }
        var width = 8
        while width >= 1 {
            for l in 0..<width { s[l] = s[l] + s[l + width] }
            width /= 2
        }
        return s[0]
    }

    func check<Scalar: TensorScalar & BinaryFloatingPoint>(_ values: [Scalar], rows: Int, _ what: String) {
        let columns = values.count / rows
        let expected = (0..<rows).map { reference(values[($0 * columns)..<(($0 + 1) * columns)]) }
        let x = Tensor<Scalar>(shape: [rows, columns], scalars: values)
        XCTAssertEqual(x.sumOverTrailingAxes().scalars.array, expected, "\(what), \(rows) × \(columns)")
        XCTAssertEqual(x.sum(squeezingAxes: 1).scalars.array, expected, "\(what), sum over axis 1, \(rows) × \(columns)")
        let portable = Kernels.withPortableKernel { x.sumOverTrailingAxes().scalars.array }
        XCTAssertEqual(portable, expected, "\(what), portable, \(rows) × \(columns)")
    }

    func testEveryPathAddsInTheSameOrder() {
        var generator = SeededGenerator(seed: 5)
        for (rows, columns) in [(1, 1), (3, 5), (2, 15), (2, 16), (4, 17), (1, 31), (3, 33), (2, 500), (1, 1000), (1, 1003)] {
            // Magnitudes spread over six decades, so that another order of addition would round differently.
            let floats = (0..<(rows * columns)).map { _ in
                Float.random(in: -1...1, using: &generator) * Float(pow(10, Double.random(in: -3...3, using: &generator)))
            }
            let doubles = floats.map { Double($0) * (1 + 1e-9 * Double.random(in: -1...1, using: &generator)) }
            check(floats, rows: rows, "Float")
            check(doubles, rows: rows, "Double")
        }
    }
}

/// exp and log in Float run libmvec's AVX-512 variants over whole vectors of 16 on machines with AVX-512, and its
/// AVX2 loop for the rest of the array; exp in Double is the kernels' own, at 8 or 4 lanes with the same operations.
/// An array shorter than one such vector goes through the narrower loop alone. Each element must get the same bits
/// either way (and so on an AVX2 machine as on this one), results that overflow or are subnormal included.
final class ElementwiseWidthTests: XCTestCase {
    func values<Scalar: TensorScalar & BinaryFloatingPoint>(
        _ function: VectorFunction, wholly x: [Scalar], inPiecesOf piece: Int
    ) -> ([Scalar], [Scalar]) {
        var whole = [Scalar](repeating: 0, count: x.count), pieces = whole
        x.withUnsafeBufferPointer { x in
            whole.withUnsafeMutableBufferPointer { Scalar.apply(function, count: x.count, x.baseAddress!, $0.baseAddress!) }
            pieces.withUnsafeMutableBufferPointer { y in
                for start in stride(from: 0, to: x.count, by: piece) {
                    let n = Swift.min(piece, x.count - start)
                    Scalar.apply(function, count: n, x.baseAddress! + start, y.baseAddress! + start)
                }
            }
        }
        return (whole, pieces)
    }

    func testWideVectorsGiveTheBitsOfTheNarrowLoop() {
        var generator = SeededGenerator(seed: 12)
        let count = 200_003  // not a whole number of vectors: the tail goes through the narrow loop too
        let exponents = (0..<count).map { _ in Double.random(in: -760...720, using: &generator) }
        let (wholeExp, piecesExp) = values(.exp, wholly: exponents, inPiecesOf: 4)
        XCTAssertEqual(zip(wholeExp, piecesExp).filter { $0.bitPattern != $1.bitPattern }.count, 0, "exp, Double")
        let floatExponents = (0..<count).map { _ in Float.random(in: -110...95, using: &generator) }
        let (wholeExpF, piecesExpF) = values(.exp, wholly: floatExponents, inPiecesOf: 8)
        XCTAssertEqual(zip(wholeExpF, piecesExpF).filter { $0.bitPattern != $1.bitPattern }.count, 0, "exp, Float")
        let positives = (0..<count).map { _ in Float(pow(10, Double.random(in: -30...30, using: &generator))) }
        let (wholeLog, piecesLog) = values(.log, wholly: positives, inPiecesOf: 8)
        XCTAssertEqual(zip(wholeLog, piecesLog).filter { $0.bitPattern != $1.bitPattern }.count, 0, "log, Float")
        // And the values are exp's and log's, to within a few units in the last place.
        for i in stride(from: 0, to: count, by: 997) {
            XCTAssertEqual(wholeExp[i], Foundation.exp(exponents[i]), accuracy: 4 * wholeExp[i].ulp)
            XCTAssertEqual(wholeLog[i], Foundation.log(positives[i]), accuracy: 4 * Swift.abs(wholeLog[i]).ulp)
        }
    }

    /// The kernels' exp in Double is within 0.56 units in the last place of the exact value (measured against expl on
    /// 4.2 million inputs, Scripts/exp_accuracy.c); the C library's is within about 0.5, so the two may differ by one
    /// unit and no more. The special values and the edges of overflow and of the subnormal range are the C library's
    /// exactly.
    func testExpInDoubleIsWithinOneUnitOfTheLibrary() {
        var generator = SeededGenerator(seed: 13)
        var x = (0..<100_000).map { _ in Double.random(in: -3...3, using: &generator) }
        x += (0..<100_000).map { _ in Double.random(in: -708...709, using: &generator) }
        x += (0..<2_000).map { _ in Double.random(in: -745.2 ... -703, using: &generator) }  // the slower, general lanes
        let special: [Double] = [0, -0.0, 1e-300, -1e-300, .infinity, -.infinity, 709.78, 709.79, -708.39, -708.40,
                                 -745.13, -745.14, -746, 710, 800, -800, .greatestFiniteMagnitude,
                                 -.greatestFiniteMagnitude, 1, -1, Foundation.log(2)]
        x += special
        var y = [Double](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { Double.apply(.exp, count: x.count, x.baseAddress!, $0.baseAddress!) }
        }
        var differing = 0, worst = (units: 0.0, at: 0.0)
        for (input, value) in zip(x, y) {
            let expected = Foundation.exp(input)
            guard value.bitPattern != expected.bitPattern else { continue }
            differing += 1
            let units = Swift.abs(value - expected) / expected.ulp
            if !(units <= worst.units) { worst = (units, input) }
        }
        XCTAssertLessThanOrEqual(worst.units, 1, "exp(\(worst.at)): \(worst.units) units in the last place from the C library's")
        // Most elements round alike: under 1% differ (0.7% here), where the exact value is near halfway between two
        // doubles; libmvec's AVX-512 exp, used before, differed in 43% and by up to 3 units.
        XCTAssertLessThan(differing, x.count / 50, "\(differing) of \(x.count) differ from the C library's exp")
        let nan = [Double.nan].withUnsafeBufferPointer { x in
            var y = [0.0]
            y.withUnsafeMutableBufferPointer { Double.apply(.exp, count: 1, x.baseAddress!, $0.baseAddress!) }
            return y[0]
        }
        XCTAssertTrue(nan.isNaN)
        for (input, value) in zip(special, y.suffix(special.count)) {
            XCTAssertEqual(value.bitPattern, Foundation.exp(input).bitPattern, "exp(\(input)) = \(value)")
        }
    }
}

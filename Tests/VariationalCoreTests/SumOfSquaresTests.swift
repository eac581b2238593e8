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

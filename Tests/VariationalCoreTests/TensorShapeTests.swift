import Foundation
@testable import VariationalCore
import XCTest

/// The inline shape reads, compares, edits and prints as the `[Int]` it replaced.
final class TensorShapeTests: XCTestCase {
    func testReadsAsAnArrayOfDimensions() {
        let shapes: [[Int]] = [[], [0], [7], [3, 4], [2, 0, 5], [1, 2, 3, 4], [Int(Int32.max), 1], [-1, 6]]
        for array in shapes {
            let shape = TensorShape(array)
            XCTAssertEqual(shape.count, array.count, "\(array)")
            XCTAssertEqual(shape.rank, array.count, "\(array)")
            XCTAssertEqual(shape.isEmpty, array.isEmpty, "\(array)")
            XCTAssertEqual(Array(shape), array)
            XCTAssertEqual(shape.array, array)
            XCTAssertTrue(shape == array && array == shape, "\(array)")
            XCTAssertEqual(shape.description, array.description)
            XCTAssertEqual(shape.elementCount, array.reduce(1, *))
            XCTAssertEqual(shape.last, array.last, "\(array)")
            for i in array.indices { XCTAssertEqual(shape[i], array[i]) }
        }
        // The count a tensor checks its elements against: nil for a negative dimension or a product past Int.max.
        XCTAssertEqual(TensorShape([2, 3, 4]).checkedElementCount, 24)
        XCTAssertEqual(TensorShape([]).checkedElementCount, 1)
        XCTAssertEqual(TensorShape([5, 0]).checkedElementCount, 0)
        XCTAssertNil(TensorShape([-1, 6]).checkedElementCount)
        XCTAssertNil(TensorShape(repeating: Int(Int32.max), count: 4).checkedElementCount)
        let literal: TensorShape = [2, 3]
        XCTAssertEqual(literal, TensorShape([2, 3]))
        XCTAssertEqual(Tensor<Double>(zeros: [2, 3]).shape, literal)
    }

    func testEqualityAndHashingFollowTheDimensions() {
        let all: [TensorShape] = [[], [1], [1, 1], [2, 3], [3, 2], [2, 3, 1], [1, 2, 3], [0], [0, 0]]
        for (i, a) in all.enumerated() {
            for (j, b) in all.enumerated() {
                XCTAssertEqual(a == b, i == j, "\(a) against \(b)")
                XCTAssertEqual(a == b, a.array == b.array)
            }
        }
        XCTAssertEqual(Set(all + all).count, all.count)
        XCTAssertFalse(TensorShape([2, 3]) != [2, 3])
        XCTAssertTrue(TensorShape([2, 3]) != [2, 3, 1])
    }

    func testEditsAsAnArray() {
        var shape: TensorShape = [2, 3]
        shape.append(4)
        XCTAssertEqual(shape, [2, 3, 4])
        shape[1] = 5
        XCTAssertEqual(shape, [2, 5, 4])
        shape.insert(1, at: 0)
        XCTAssertEqual(shape, [1, 2, 5, 4])
        XCTAssertEqual(shape.removeLast(), 4)
        shape.remove(at: 0)
        XCTAssertEqual(shape, [2, 5])
        XCTAssertEqual(TensorShape(shape.dropLast()), [2])
        let four: TensorShape = [1, 2, 3, 4]
        for k in 0...5 {
            let dropped: TensorShape = four.dropLast(k)
            XCTAssertEqual(dropped.array, Array(four.array.dropLast(k)), "dropLast(\(k))")
            XCTAssertEqual(dropped.rank, Swift.max(4 - k, 0))
        }
        XCTAssertEqual(shape + [7], [2, 5, 7])
        shape.removeAll()
        XCTAssertEqual(shape, [])
        XCTAssertEqual(TensorShape(repeating: 3, count: 4), [3, 3, 3, 3])
        // Every count, and dimensions at the edges of a slot (0, −1 for reshape, the largest), as an array would make them.
        for dimension in [0, 1, 7, -1, Int(Int32.max)] {
            for count in 0...4 {
                let shape = TensorShape(repeating: dimension, count: count)
                XCTAssertEqual(shape, TensorShape(Array(repeating: dimension, count: count)), "\(dimension) × \(count)")
                XCTAssertEqual(shape.array, Array(repeating: dimension, count: count), "\(dimension) × \(count)")
                XCTAssertEqual(shape.rank, count)
            }
        }
        // A leading dimension put before any shape of up to three, negative dimensions (reshape's −1) kept.
        let shapes: [TensorShape] = [[], [7], [0, 2], [-1, 3], [2, 3, 4], [Int(Int32.max), 1, 5]]
        for other in shapes {
            XCTAssertEqual(other.prepending(6).array, [6] + other.array, "\(other)")
            XCTAssertEqual(other.prepending(6).rank, other.rank + 1)
        }
    }

    func testCodesAsAnArray() throws {
        let shape: TensorShape = [4, 0, 9]
        let data = try JSONEncoder().encode(shape)
        XCTAssertEqual(String(decoding: data, as: UTF8.self), "[4,0,9]")
        XCTAssertEqual(try JSONDecoder().decode(TensorShape.self, from: data), shape)
        XCTAssertThrowsError(try JSONDecoder().decode(TensorShape.self, from: Data("[1,2,3,4,5]".utf8)))
        XCTAssertThrowsError(try JSONDecoder().decode(TensorShape.self, from: Data("[3000000000]".utf8)))
    }

    /// `endsWith` against the sequence's own suffix comparison on every pair of shapes of up to four dimensions drawn
    /// from {1, 2, 3, −1} (a negative dimension is what `reshaped(to:)` takes), and `suffixLength` against its
    /// definition: the product of the dimensions left after leading 1s, when they end the larger shape.
    func testEndsWithAndSuffixLengthAgreeWithTheirDefinitions() {
        var shapes: [[Int]] = [[]], layer: [[Int]] = [[]]
        for _ in 0..<4 {
            layer = layer.flatMap { s in [1, 2, 3, -1].map { s + [$0] } }
            shapes += layer
        }
        XCTAssertEqual(shapes.count, 341)
        var wrong: [String] = []
        for a in shapes {
            for b in shapes {
                let ends = b.count <= a.count && Array(a.suffix(b.count)) == b
                if TensorShape(a).endsWith(TensorShape(b)) != ends { wrong.append("\(a) ends with \(b)") }
                let trimmed = Array(b.drop(while: { $0 == 1 }))
                let length = trimmed.count <= a.count && Array(a.suffix(trimmed.count)) == trimmed ? trimmed.reduce(1, *) : nil
                if Tensor<Double>.suffixLength(of: TensorShape(b), in: TensorShape(a)) != length { wrong.append("\(b) in \(a)") }
            }
        }
        XCTAssertEqual(wrong.count, 0, "\(wrong.prefix(5))")
    }
}

import XCTest
@testable import VariationalCore

/// The tensor's own element storage: copies share a buffer until one of them is written, empty tensors hold none,
/// and the elements compare with arrays and array literals as an array's would.
final class TensorElementsTests: XCTestCase {
    func testCopiesShareUntilWrittenAndThenDiverge() {
        let original = Tensor<Double>(shape: [2, 2], scalars: [1, 2, 3, 4])
        var copy = original
        copy.scalars[1] = 20
        XCTAssertEqual(original.scalars, [1, 2, 3, 4])
        XCTAssertEqual(copy.scalars, [1, 20, 3, 4])
        var other = original
        other.withUnsafeMutableScalars { $0[3] = 40 }
        XCTAssertEqual(original.scalars, [1, 2, 3, 4])
        XCTAssertEqual(other.scalars.array, [1, 2, 3, 40])
        // A uniquely held buffer is written in place, without a copy.
        let before = other.scalars.buffer.map(ObjectIdentifier.init)
        other.withUnsafeMutableScalars { $0[0] = 10 }
        XCTAssertEqual(other.scalars.buffer.map(ObjectIdentifier.init), before)
    }

    func testEmptyAndSymbolicZeroHoldNoBuffer() {
        XCTAssertNil(Tensor<Float>.zero.scalars.buffer)
        XCTAssertTrue(Tensor<Float>.zero.isSymbolicZero)
        let empty = Tensor<Float>(shape: [0, 3], scalars: [Float]())
        XCTAssertNil(empty.scalars.buffer)
        XCTAssertFalse(empty.isSymbolicZero)
        XCTAssertEqual(empty.scalars.count, 0)
        XCTAssertEqual(empty.scalars.withUnsafeBufferPointer { $0.count }, 0)
    }

    func testElementsBehaveAsACollection() {
        let t = Tensor<Float>(shape: [5], scalars: [3, 1, 4, 1, 5])
        XCTAssertEqual(t.scalars.count, 5)
        XCTAssertEqual(t.scalars.max(), 5)
        XCTAssertEqual(t.scalars.reduce(0, +), 14)
        XCTAssertEqual(Array(t.scalars.reversed()), [5, 1, 4, 1, 3])
        XCTAssertEqual(t.scalars.map { $0 * 2 }, [6, 2, 8, 2, 10])
        XCTAssertTrue(t.scalars == [3, 1, 4, 1, 5] as [Float])
        XCTAssertFalse(t.scalars == [3, 1, 4, 1] as [Float])
        XCTAssertEqual(t, Tensor(shape: [5], scalars: TensorElements([3, 1, 4, 1, 5])))
        // Elements start 16-byte aligned, as an array's do (the matrix kernels are slower on misaligned rows).
        t.scalars.withUnsafeBufferPointer { XCTAssertEqual(Int(bitPattern: $0.baseAddress!) % 16, 0) }
    }

    /// The memo computes once per buffer, and a tensor written after its buffer was remembered gets a buffer of its
    /// own (the memo holds the old one), so it is computed afresh: never a result for elements that have changed.
    func testMemoComputesOncePerBufferAndSeesWrites() {
        let memo = ElementsMemo(capacity: 2)
        var calls = 0
        let doubled = { (x: TensorElements<Double>) -> TensorElements<Double> in
            calls += 1
            return TensorElements(x.map { 2 * $0 })
        }
        var counts = Tensor<Double>([1, 2, 3])
        XCTAssertEqual(memo.elements(derivedFrom: counts.scalars, doubled), [2, 4, 6])
        XCTAssertEqual(memo.elements(derivedFrom: counts.scalars, doubled), [2, 4, 6])
        let shared = counts
        XCTAssertEqual(memo.elements(derivedFrom: shared.scalars, doubled), [2, 4, 6])
        XCTAssertEqual(calls, 1)
        // Written in place: the tensor alone refers to its buffer apart from the memo and `shared`.
        counts.withUnsafeMutableScalars { $0[0] = 10 }
        XCTAssertEqual(memo.elements(derivedFrom: counts.scalars, doubled), [20, 4, 6])
        XCTAssertEqual(calls, 2)
        XCTAssertEqual(memo.elements(derivedFrom: shared.scalars, doubled), [2, 4, 6])
        XCTAssertEqual(calls, 2)
        // A third buffer pushes out the least recently used (counts' new one, after `shared` was read).
        let other = Tensor<Double>([5])
        XCTAssertEqual(memo.elements(derivedFrom: other.scalars, doubled), [10])
        XCTAssertEqual(memo.count, 2)
        XCTAssertEqual(memo.elements(derivedFrom: shared.scalars, doubled), [2, 4, 6])
        XCTAssertEqual(calls, 3)
        XCTAssertEqual(memo.elements(derivedFrom: counts.scalars, doubled), [20, 4, 6])
        XCTAssertEqual(calls, 4)
        // Empty elements are not remembered; another element type has buffers of its own.
        XCTAssertEqual(memo.elements(derivedFrom: TensorElements<Double>(), doubled), [])
        XCTAssertEqual(calls, 5)
        let single = Tensor<Float>([1.5])
        XCTAssertEqual(memo.elements(derivedFrom: single.scalars) { TensorElements($0.map { -$0 }) }, [-1.5])
        XCTAssertEqual(memo.elements(derivedFrom: single.scalars) { _ in TensorElements([0]) }, [-1.5])
    }

    /// Ones from `Tensor(ones:)` are marked: a product with them is the other operand (its storage, so its bits, NaN
    /// and −0 included), and they are never written in place. Small ones are shared by everyone who asks; larger
    /// ones are held by their tensor alone, and writing to such a tensor must still copy (and so unmark) them, or a
    /// product would take the written elements for ones.
    func testOnesAreMarkedSkippedInProductsAndNeverWrittenInPlace() {
        let x = Tensor<Double>(shape: [3], scalars: [.nan, -0.0, 2.5])
        let product = Tensor<Double>(ones: [3]) * x
        XCTAssertTrue(product.scalars.sharesStorage(with: x.scalars))
        XCTAssertTrue((x * Tensor(ones: [3])).scalars.sharesStorage(with: x.scalars))
        XCTAssertEqual(product.scalars[1].sign, .minus)
        XCTAssertTrue(Tensor<Double>(ones: [2, 1]).broadcasted(to: [2, 3]).scalars.areOnes)
        XCTAssertFalse(Tensor<Double>(repeating: 1, shape: [3]).scalars.areOnes, "only ones made as ones are marked")
        XCTAssertEqual(Tensor<Float>(ones: [2]).scalars, [1, 1])
        for count in [3, OnesCache.largestCount + 1] {
            var ones = Tensor<Double>(ones: [count])
            XCTAssertTrue(ones.scalars.areOnes)
            XCTAssertTrue(ones.scalars.allSatisfy { $0 == 1 })
            ones.scalars[1] = 3
            XCTAssertFalse(ones.scalars.areOnes, "\(count)")
            XCTAssertEqual(Tensor<Double>(ones: [count]).scalars[1], 1, "\(count): the shared ones were written")
            let twos = Tensor<Double>(repeating: 2, shape: [count])
            XCTAssertEqual((ones * twos).scalars[1], 6, "\(count)")
            XCTAssertEqual((ones * twos).scalars[0], 2, "\(count)")
        }
    }
}

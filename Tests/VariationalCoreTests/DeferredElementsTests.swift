import Dispatch
import Synchronization
import XCTest
@testable import VariationalCore

/// Elements computed when first read (`TensorElements.deferred`), and the Bernoulli log likelihood that uses them:
/// its row sums and gradient come from a pass with one logarithm a chunk, its elements from the elementwise kernel
/// only if something reads them.
final class DeferredElementsTests: XCTestCase {
    /// Labels and logits of `shape`, with the logits' edge cases among ordinary ones.
    func bernoulliCase(_ shape: TensorShape, seed: UInt64) -> (labels: Tensor<Double>, logits: Tensor<Double>) {
        var generator = SeededGenerator(seed: seed)
        let count = shape.reduce(1, *)
        let edges: [Double] = [0, -0.0, 1e-310, -1e-310, 36, -36, 37.5, -745, 710, 1e-9, -1e-9]
        let logits = (0..<count).map { i -> Double in
            if i % 13 == 5 { return edges[(i / 13) % edges.count] }
            let wide = i % 7 == 0 ? 60.0 : 6.0
            return (Double(generator.next() % 1_000_000) / 1_000_000 - 0.5) * wide
        }
        let labels = (0..<count).map { _ in Double(generator.next() % 2) }
        return (Tensor(shape: shape, scalars: labels), Tensor(shape: shape, scalars: logits))
    }

    /// Rows summed with compensation, as the reference for the deferred row sums, and the sums of magnitudes that
    /// bound their rounding.
    func compensatedRowSums(_ x: [Double], rows: Int) -> (sums: [Double], magnitudes: [Double]) {
        let columns = x.count / rows
        var sums: [Double] = [], magnitudes: [Double] = []
        for r in 0..<rows {
            var (sum, carry, magnitude) = (0.0, 0.0, 0.0)
            for v in x[(r * columns)..<((r + 1) * columns)] {
                let y = v - carry
                let t = sum + y
                carry = (t - sum) - y
                sum = t
                magnitude += abs(v)
            }
            sums.append(sum)
            magnitudes.append(magnitude)
        }
        return (sums, magnitudes)
    }

    func testRowSumsGradientAndElementsAgreeWithTheElementwiseKernel() throws {
        // Rows of one to 100,000 elements: the longer ones' products of 1 + e (each in [1, 2]) pass 2^1024 unless
        // they are brought back to [1, 2) as they go.
        let shapes: [TensorShape] = [[1, 1000], [3, 37], [2, 5, 7], [4, 1], [1, 300], [2, 513], [1, 8], [1, 9], [1, 100_000], [2, 3000]]
        for (index, shape) in shapes.enumerated() {
            let (labels, logits) = bernoulliCase(shape, seed: UInt64(40 + index))
            let eager = bernoulliLogProbabilityWithGradient(labels: labels, logits: logits)
            XCTAssertEqual(eager.invalid, 0)
            let deferred = try XCTUnwrap(bernoulliLogProbabilityDeferred(labels: labels, logits: logits), "\(shape)")
            XCTAssertEqual(deferred.value.shape, shape)
            XCTAssertEqual(deferred.logitGradient.shape, shape)
            // The row sums, before anything reads the elements: within a few units in the last place of the
            // magnitudes summed (the product of the 1 + e and its compensation lose no more than the terms' own
            // rounding).
            let rows = shape[0]
            let sums = deferred.value.sumOverTrailingAxes()
            XCTAssertEqual(sums.shape, [rows])
            let reference = compensatedRowSums(eager.value.scalars.array, rows: rows)
            for r in 0..<rows {
                XCTAssertEqual(sums.scalars[r], reference.sums[r], accuracy: 4 * Double.ulpOfOne * reference.magnitudes[r],
                               "\(shape), row \(r)")
            }
            // The gradient x − σ(l): σ rounded once in each, so within two units in the last place of 1.
            for i in 0..<shape.reduce(1, *) {
                XCTAssertEqual(deferred.logitGradient.scalars[i], eager.logitGradient.scalars[i], accuracy: 2 * Double.ulpOfOne,
                               "\(shape), element \(i)")
            }
            // The elements, read now, have the elementwise kernel's bits.
            XCTAssertEqual(deferred.value.scalars.map(\.bitPattern), eager.value.scalars.map(\.bitPattern), "\(shape)")
            // Once read, the row sums are those of the elements.
            XCTAssertNil(deferred.value.scalars.deferredRowSums(rows: rows))
            XCTAssertEqual(deferred.value.sumOverTrailingAxes(), eager.value.sumOverTrailingAxes())
        }
    }

    /// Logits far on the side of their labels: each density is −log(1 + e) ≈ −e with e < 2^−53, where 1 + e rounds
    /// to 1 and the whole of the sum is in the rounding errors it carries.
    func testConfidentRowsKeepTheirDigits() throws {
        let magnitudes: [Double] = (0..<80).map { 38 + Double($0) / 4 }
        let signs: [Double] = (0..<80).map { $0 % 2 == 0 ? 1 : -1 }
        let logits = Tensor<Double>(shape: [2, 40], scalars: zip(signs, magnitudes).map { $0 * $1 })
        let labels = Tensor<Double>(shape: [2, 40], scalars: signs.map { $0 > 0 ? 1 : 0 })
        let eager = bernoulliLogProbabilityWithGradient(labels: labels, logits: logits)
        let sums = try XCTUnwrap(bernoulliLogProbabilityDeferred(labels: labels, logits: logits)).value.sumOverTrailingAxes()
        let reference = compensatedRowSums(eager.value.scalars.array, rows: 2)
        for r in 0..<2 {
            XCTAssertLessThan(reference.sums[r], 0)
            XCTAssertEqual(sums.scalars[r], reference.sums[r], accuracy: 4 * Double.ulpOfOne * reference.magnitudes[r])
        }
    }

    func testEveryWayOfReadingOrWritingComputesTheElementsFirst() throws {
        let (labels, logits) = bernoulliCase([2, 50], seed: 7)
        let expected = bernoulliLogProbabilityWithGradient(labels: labels, logits: logits).value.scalars.array
        let fresh = { try XCTUnwrap(bernoulliLogProbabilityDeferred(labels: labels, logits: logits)).value }
        XCTAssertEqual(try fresh().scalars.withUnsafeBufferPointer { Array($0) }, expected)
        XCTAssertEqual(try fresh().scalars[17], expected[17])
        XCTAssertEqual(try fresh().scalars.array, expected)
        XCTAssertTrue(try fresh().scalars == expected)
        let held = try fresh()
        withExtendedLifetime(held) {
            XCTAssertEqual(held.scalars.addressWhileAlive.map { Array(UnsafeBufferPointer(start: $0, count: 100)) }, expected)
        }
        XCTAssertEqual(try fresh().scalars.map { $0 }, expected)
        XCTAssertEqual(try fresh().slice(axis: 1, range: 3..<5).scalars.array, [expected[3], expected[4], expected[53], expected[54]])
        // Written through a copy: the copy has the elements with its change, the original the elements alone.
        let original = try fresh()
        var copy = original
        copy.scalars[0] = 5
        XCTAssertEqual(copy.scalars.array, [5] + expected.dropFirst())
        XCTAssertEqual(original.scalars.array, expected)
        // Written in place when held alone.
        var alone = try fresh()
        alone.withUnsafeMutableScalars { $0[1] += 1 }
        XCTAssertEqual(alone.scalars[1], expected[1] + 1)
        XCTAssertEqual(alone.scalars[2], expected[2])
    }

    /// A stand-in for what a fill holds, to see when it is let go.
    final class Held {}

    func testTheFillRunsOnceOnlyWhenReadAndGoesWithTheElements() {
        let calls = Mutex(0)
        weak var watched: Held?
        func make() -> TensorElements<Double> {
            let held = Held()
            watched = held
            return .deferred(count: 6, rows: 2, rowSums: [6, 15]) { out in
                withExtendedLifetime(held) {}
                calls.withLock { $0 += 1 }
                for i in 0..<6 { out[i] = Double(i + 1) }
            }
        }
        // Only the row sums read: the fill never runs, and goes with the elements.
        do {
            let elements = make()
            XCTAssertEqual(elements.deferredRowSums(rows: 2), [6, 15])
            XCTAssertNil(elements.deferredRowSums(rows: 3))
            let sums = Tensor(shape: [2, 3], scalars: elements).sumOverTrailingAxes()
            XCTAssertEqual(sums, Tensor([6, 15]))
            XCTAssertNotNil(watched)
        }
        XCTAssertNil(watched)
        XCTAssertEqual(calls.withLock { $0 }, 0)
        // Read three ways: one run; the fill is let go with the elements.
        do {
            let elements = make()
            XCTAssertEqual(elements[4], 5)
            XCTAssertEqual(elements.array, [1, 2, 3, 4, 5, 6])
            XCTAssertEqual(elements.reduce(0, +), 21)
            XCTAssertEqual(calls.withLock { $0 }, 1)
            XCTAssertNil(elements.deferredRowSums(rows: 2))
        }
        XCTAssertNil(watched)
    }

    func testThreadsReadingAtOnceSeeOneComputation() {
        for _ in 0..<20 {
            let calls = Mutex(0)
            let count = 4096
            let elements = TensorElements<Double>.deferred(count: count, rows: 1, rowSums: [0]) { out in
                calls.withLock { $0 += 1 }
                for i in 0..<count { out[i] = Double(i) }
            }
            let wrong = Mutex(0)
            DispatchQueue.concurrentPerform(iterations: 8) { k in
                let total = k % 2 == 0 ? elements.reduce(0, +) : elements.withUnsafeBufferPointer { $0.reduce(0, +) }
                if total != Double(count * (count - 1) / 2) { wrong.withLock { $0 += 1 } }
            }
            XCTAssertEqual(calls.withLock { $0 }, 1)
            XCTAssertEqual(wrong.withLock { $0 }, 0)
        }
    }

    func testCasesLeftToTheElementwiseKernel() {
        let (labels, logits) = bernoulliCase([2, 10], seed: 3)
        // A label neither 0 nor 1: the elementwise kernel's −∞ and zero gradient are wanted.
        var soft = labels
        soft.scalars[4] = 0.5
        XCTAssertNil(bernoulliLogProbabilityDeferred(labels: soft, logits: logits))
        // Rank 1 (read element by element), shapes that differ, no elements, and Float (no kernel).
        XCTAssertNil(bernoulliLogProbabilityDeferred(labels: labels.reshaped(to: [20]), logits: logits.reshaped(to: [20])))
        XCTAssertNil(bernoulliLogProbabilityDeferred(labels: labels.reshaped(to: [4, 5]), logits: logits))
        XCTAssertNil(bernoulliLogProbabilityDeferred(labels: Tensor<Double>(shape: [0, 3], scalars: []), logits: Tensor(shape: [0, 3], scalars: [])))
        XCTAssertNil(bernoulliLogProbabilityDeferred(labels: Tensor<Float>(shape: [1, 2], scalars: [0, 1]), logits: Tensor(shape: [1, 2], scalars: [0.5, 2])))
    }

    /// Infinite and NaN logits: each row's sum is what the elementwise densities add up to (−∞ from a certain
    /// miss, NaN from NaN), and the other rows are untouched.
    func testInfiniteAndNaNLogits() throws {
        let rows: [[Double]] = [[.infinity, 0.5], [-.infinity, 0.5], [-.infinity, 0.5], [.nan, 0.5], [.infinity, 0.5]]
        let labels = Tensor<Double>(shape: [5, 2], scalars: [0, 1, 1, 1, 0, 0, 1, 0, 1, 1])
        let logits = Tensor<Double>(shape: [5, 2], scalars: rows.flatMap { $0 })
        let eager = bernoulliLogProbabilityWithGradient(labels: labels, logits: logits)
        let deferred = try XCTUnwrap(bernoulliLogProbabilityDeferred(labels: labels, logits: logits))
        let sums = deferred.value.sumOverTrailingAxes().scalars
        let elementwise = eager.value.sumOverTrailingAxes().scalars
        for r in 0..<5 {
            if elementwise[r].isNaN { XCTAssertTrue(sums[r].isNaN, "row \(r)") } else {
                XCTAssertEqual(sums[r], elementwise[r], accuracy: 4 * Double.ulpOfOne, "row \(r)")
            }
        }
        XCTAssertEqual(sums[0], -.infinity)
        XCTAssertEqual(sums[1], -.infinity)
        for i in 0..<10 where !eager.logitGradient.scalars[i].isNaN {
            XCTAssertEqual(deferred.logitGradient.scalars[i], eager.logitGradient.scalars[i], accuracy: 2 * Double.ulpOfOne, "element \(i)")
        }
        XCTAssertEqual(deferred.value.scalars.map(\.bitPattern), eager.value.scalars.map(\.bitPattern))
    }
}

import _Differentiation
import VariationalCore
@testable import VariationalDistributions
import XCTest

/// A Poisson likelihood in the log rate takes its value and its gradient from one pass over the log rates. Both must
/// have the bits of the two passes they replace (rates e^η over the whole array, the value from them, the gradient
/// k − λ times the upstream), whatever the shape: rows longer than the pass's chunks, rows that end inside a chunk,
/// lengths that leave a scalar tail, counts that are not counts, k = 0, and log rates that overflow or underflow.
final class PoissonLogRateTests: XCTestCase {
    func check<S: TensorScalar>(_: S.Type, rows: Int, columns: Int, file: StaticString = #filePath, line: UInt = #line) {
        var generator = SeededGenerator(seed: UInt64(rows * 1000 + columns))
        let counts = Tensor<S>(shape: [columns], scalars: (0..<columns).map { j in
            j % 17 == 3 ? 0.5 : j % 23 == 5 ? -1 : S(Int.random(in: 0...12, using: &generator))
        })
        var etas = (0..<(rows * columns)).map { _ in S(Double.random(in: -4...3, using: &generator)) }
        if etas.count > 7 { (etas[1], etas[4], etas[6], etas[7]) = (-.infinity, -1000, 800, .infinity) }
        let logRate = Tensor<S>(shape: [rows, columns], scalars: etas)
        let upstream = Tensor<S>(shape: [rows, columns], scalars: (0..<(rows * columns)).map { _ in S(Double.random(in: 0.5...2, using: &generator)) })
        let (value, pullback) = valueWithPullback(at: logRate) { Poisson(logRate: $0).logProbability(of: counts) }
        // The two passes: the value as its kernel makes it, the gradient v·(k − λ) written out (0 where k is not a
        // count), from the rates e^η over the whole array.
        let rate = logRate.exp()
        let logFactorials = logFactorialsOfCounts(counts).array
        if columns > 3 { XCTAssertTrue(logFactorials[3].isNaN, "a count of 0.5", file: file, line: line) }
        var expected = [S](repeating: 0, count: rows * columns)
        counts.scalars.withUnsafeBufferPointer { k in
            S.poissonLogDensities(rows: rows, columns: columns, counts: k.baseAddress!, logFactorials: logFactorials,
                                  logRates: logRate.scalars.array, rates: rate.scalars.array, result: &expected)
        }
        func gradient(_ v: (Int) -> S) -> [S] {
            (0..<(rows * columns)).map { i in
                logFactorials[i % columns].isNaN ? 0 : v(i) * (counts.scalars[i % columns] - rate.scalars[i])
            }
        }
        let (slope, scaled) = (gradient { _ in 1 }, gradient { upstream.scalars[$0] })
        func bits(_ x: [S]) -> [String] { x.map { "\($0)" } }
        let place = "\(S.self) [\(rows), \(columns)]"
        XCTAssertEqual(bits(value.scalars.array), bits(expected), place, file: file, line: line)
        XCTAssertEqual(bits(pullback(Tensor(ones: [rows, columns])).scalars.array), bits(slope), place, file: file, line: line)
        XCTAssertEqual(bits(pullback(Tensor(repeating: 1, shape: [rows, columns])).scalars.array), bits(slope), place, file: file, line: line)
        XCTAssertEqual(bits(pullback(upstream).scalars.array), bits(scaled), place, file: file, line: line)
    }

    func testOnePassHasTheBitsOfTwo() {
        for (rows, columns) in [(1, 1), (1, 3), (1, 8), (1, 500), (4, 500), (3, 301), (2, 255), (5, 7), (1, 1001)] {
            check(Double.self, rows: rows, columns: columns)
            check(Float.self, rows: rows, columns: columns)
        }
    }
}

import _Differentiation
import VariationalCore
@testable import VariationalDistributions
import XCTest

/// A normal density over rows (a likelihood: observations [N], locations per particle [S, N], scales [N]) runs in
/// a kernel of its own. Its value and its gradients in the location and the scale must have the bits of the general
/// fused passes, which take the same operands when the rows are given as [1, N] instead of [N]: every mix of whole
/// and row operands, rows longer than the fused passes' runs of 32, an upstream that is not ones, and a zero scale.
final class NormalRowsTests: XCTestCase {
    func check<S: TensorScalar>(_: S.Type, rows: Int, columns: Int, wholeX: Bool, wholeM: Bool, wholeS: Bool) {
        var generator = SeededGenerator(seed: UInt64(rows * 100 + columns))
        func operand(_ whole: Bool, _ range: ClosedRange<Double>) -> Tensor<S> {
            let count = whole ? rows * columns : columns
            return Tensor(shape: whole ? [rows, columns] : [columns],
                          scalars: (0..<count).map { _ in S(Double.random(in: range, using: &generator)) })
        }
        let x = operand(wholeX, -3...3), m = operand(wholeM, -2...2)
        var s = operand(wholeS, 0.2...3)
        s.withUnsafeMutableScalars { $0[$0.count - 1] = 0 }
        let v = Tensor<S>(shape: [rows, columns], scalars: (0..<(rows * columns)).map { _ in S(Double.random(in: -2...2, using: &generator)) })
        /// The same operands as the general passes see them: a row as [1, N], and x of rank 3 (leading 1s).
        func general(_ t: Tensor<S>) -> Tensor<S> { t.rank == 1 ? t.reshaped(to: [1, columns]) : t }
        let (gx, gm, gs) = (x.reshaped(to: [1, x.rank == 1 ? 1 : rows, columns]), general(m), general(s))
        let place = "\(S.self) [\(rows), \(columns)] whole x \(wholeX), m \(wholeM), σ \(wholeS)"
        XCTAssertNotNil(RowsLayout(x, m, s), place)
        XCTAssertNil(RowsLayout(gx, gm, gs), place)
        func strings(_ t: Tensor<S>) -> [String] { t.scalars.array.map { "\($0)" } }
        XCTAssertEqual(strings(normalLogDensityValue(x, m, s)), strings(normalLogDensityValue(gx, gm, gs)), place)
        for upstream in [v, Tensor(ones: [rows, columns])] {
            let fast = normalLogDensityGradient(x, m, s, upstream, wanted: [.b, .c])
            let slow = normalLogDensityGradient(gx, gm, gs, upstream.reshaped(to: [1, rows, columns]), wanted: [.b, .c])
            XCTAssertEqual(fast.1.shape, m.shape, place)
            XCTAssertEqual(fast.2.shape, s.shape, place)
            XCTAssertEqual(strings(fast.1), strings(slow.1), place)
            XCTAssertEqual(strings(fast.2), strings(slow.2), place)
            XCTAssertTrue(fast.0.isSymbolicZero, place)
            let locationOnly = normalLogDensityGradient(x, m, s, upstream, wanted: .b)
            XCTAssertEqual(strings(locationOnly.1), strings(slow.1), place)
            XCTAssertTrue(locationOnly.2.isSymbolicZero, place)
        }
    }

    func testKernelOverRowsHasTheBitsOfTheGeneralPasses() {
        for (rows, columns) in [(4, 8), (3, 37), (1, 5), (2, 70)] {
            for layout in 1..<8 {
                let (wx, wm, ws) = (layout & 1 != 0, layout & 2 != 0, layout & 4 != 0)
                check(Double.self, rows: rows, columns: columns, wholeX: wx, wholeM: wm, wholeS: ws)
                check(Float.self, rows: rows, columns: columns, wholeX: wx, wholeM: wm, wholeS: ws)
            }
        }
    }

    /// Through `Normal`'s derivative, as a model's likelihood reaches it: eight schools' locations [4, 8] against
    /// observations [8] and scales [8], and its gradient in the locations is z/σ (checked against the formula).
    func testEightSchoolsLikelihoodThroughNormal() {
        let y = Tensor<Double>([28, 8, -3, 7, -1, 1, 18, 12]), sigma = Tensor<Double>([15, 10, 16, 11, 9, 11, 10, 18])
        var generator = SeededGenerator(seed: 9)
        let location = Tensor<Double>(randomNormal: [4, 8], standardDeviation: 5, using: &generator)
        // The derivative that differentiation calls for a model's likelihood, called directly (a closure
        // differentiated here crashed the release compiler, Swift 6.3.1, while emitting its IR).
        let (value, pullback) = Normal(location, sigma).vjpLogProbabilityInParameters(of: y)
        let g = pullback(Tensor(ones: [4, 8])).location
        for p in 0..<4 {
            for j in 0..<8 {
                let z = (y.scalars[j] - location.scalars[p * 8 + j]) / sigma.scalars[j]
                XCTAssertEqual(value.scalars[p * 8 + j], -0.5 * z * z - log(sigma.scalars[j]) - 0.5 * log(2 * .pi), accuracy: 1e-12)
                XCTAssertEqual(g.scalars[p * 8 + j], z / sigma.scalars[j], accuracy: 1e-15)
            }
        }
    }
}

import _Differentiation
import VariationalCore
import VariationalDistributions
import VariationalTestSupport
import Foundation
import XCTest

/// Log densities broadcast their value against the batch shape as tensor arithmetic does: the result is the log
/// density of the explicitly broadcast value, element for element, and the gradient with respect to the smaller
/// value sums over the broadcast axes.
final class BroadcastingTests: XCTestCase {
    /// Parameters of shape [3, 4] in (0.5, 2.5), different in every entry.
    func parameter(_ offset: Double) -> T {
        T(shape: [3, 4], scalars: (0..<12).map { 0.5 + Double(($0 * 7 + Int(offset * 10)) % 12) / 6 + offset / 10 })
    }

    typealias LogDensity = (T) -> T

    /// (name, log density with [3, 4] parameters, a value of shape [4] inside the support)
    var cases: [(String, LogDensity, T)] {
        let a = parameter(0.1), b = parameter(0.3), c = parameter(0.7)
        let real = T([-1.5, 0.2, 0.9, 3])
        let positive = T([0.3, 1.2, 2.5, 7])
        let unit = T([0.1, 0.45, 0.8, 0.99])
        let counts = T([0, 1, 3, 8])
        return [
            ("Normal", { Normal(a, b).logProbability(of: $0) }, real),
            ("Cauchy", { Cauchy(a, b).logProbability(of: $0) }, real),
            ("Laplace", { Laplace(a, b).logProbability(of: $0) }, real),
            ("StudentT", { StudentT(c, a, b).logProbability(of: $0) }, real),
            ("LogNormal", { LogNormal(a, b).logProbability(of: $0) }, positive),
            ("HalfNormal", { HalfNormal(b).logProbability(of: $0) }, positive),
            ("HalfCauchy", { HalfCauchy(b).logProbability(of: $0) }, positive),
            ("Exponential", { Exponential(b).logProbability(of: $0) }, positive),
            ("Gamma", { Gamma(a, b).logProbability(of: $0) }, positive),
            ("InverseGamma", { InverseGamma(a, b).logProbability(of: $0) }, positive),
            ("Beta", { Beta(a, b).logProbability(of: $0) }, unit),
            ("Poisson", { Poisson(a).logProbability(of: $0) }, counts),
            ("Bernoulli", { Bernoulli(uncheckedLogits: a - 1).logProbability(of: $0) }, T([0, 1, 1, 0])),
            ("Binomial", { Binomial(uncheckedTotalCount: T(repeating: 8, shape: [3, 4]), logits: a - 1).logProbability(of: $0) }, counts),
            ("Uniform", { Uniform(uncheckedLow: a - 3, high: b + 3).logProbability(of: $0) }, T([-0.5, 0, 0.5, 1])),
        ]
    }

    func testSmallerValuesBroadcastLikeArithmetic() {
        for (name, logDensity, value) in cases {
            let broadcast = logDensity(value)
            let explicit = logDensity(value.broadcasted(to: [3, 4]))
            XCTAssertEqual(broadcast.shape, [3, 4], name)
            XCTAssertEqual(broadcast.scalars, explicit.scalars, name)
            XCTAssertTrue(broadcast.scalars.allSatisfy(\.isFinite), "\(name): \(broadcast.scalars)")
            // A value of shape [2, 1, 4] against the batch [3, 4] gives [2, 3, 4].
            let stacked = T.stacking([value, value], alongAxis: 0).reshaped(to: [2, 1, 4])
            XCTAssertEqual(logDensity(stacked).shape, [2, 3, 4], name)
        }
    }

    func testGradientWithRespectToABroadcastValue() {
        let a = parameter(0.1), b = parameter(0.3)
        assertGradientMatchesFiniteDifferences("Normal", { Normal(a, b).logProbability(of: $0[0]).sum() }, at: [T([-1.5, 0.2, 0.9, 3])])
        assertGradientMatchesFiniteDifferences("Gamma", { Gamma(a, b).logProbability(of: $0[0]).sum() }, at: [T([0.3, 1.2, 2.5, 7])])
        // Parameters of shape [2, 1, 4] against values [3, 4]: a broadcast that is not rows × columns, read from a copy.
        let y34 = T(shape: [3, 4], scalars: (0..<12).map { Double($0) / 5 - 1 })
        assertGradientMatchesFiniteDifferences(
            "Normal([2, 1, 4], [4]) at [3, 4]", { Normal($0[0], $0[1].exp()).logProbability(of: $0[2]).sum() },
            at: [T(shape: [2, 1, 4], scalars: (0..<8).map { Double($0) / 7 }), T([0.1, -0.2, 0.3, 0]), y34])
        // A scalar parameter per particle ([S, 1]) against observations [n]: the likelihood of a model.
        let y = T([0.5, -1, 2])
        assertGradientMatchesFiniteDifferences(
            "Normal([S, 1], [S, 1]) at [n]", { Normal($0[0], $0[1].exp()).logProbability(of: y).sum() },
            at: [T(shape: [2, 1], scalars: [0.3, -0.2]), T(shape: [2, 1], scalars: [0.1, 0.4])])
    }

    /// Every fused log density: gradients in the parameters (one per particle, [2, 1], against values [3]) and in
    /// the value, against finite differences.
    func testFusedDensityGradients() {
        let column = { (a: Double, b: Double) in T(shape: [2, 1], scalars: [a, b]) }
        let real = T([-0.7, 0.4, 1.9]), positive = T([0.3, 1.4, 2.2]), counts = T([0, 2, 5])
        // One call each, not an array of cases: with Swift 6.3.1 in -O, an array literal of eight or more tuples
        // (String, @differentiable closure, [Tensor]) crashes when it is freed, even with closures that only sum their
        // input (seven do not crash).
        let check = { (name: String, f: @escaping @differentiable(reverse) ([T]) -> T, inputs: [T]) in
            assertGradientMatchesFiniteDifferences(name, f, at: inputs, tolerance: 1e-6)
        }
        check("Normal", { Normal($0[0], $0[1].exp()).logProbability(of: $0[2]).sum() }, [column(0.2, -0.5), column(0.1, -0.3), real])
        check("HalfNormal", { HalfNormal($0[0].exp()).logProbability(of: $0[1]).sum() }, [column(0.2, -0.5), positive])
        check("HalfCauchy", { HalfCauchy($0[0].exp()).logProbability(of: $0[1]).sum() }, [column(0.2, -0.5), positive])
        check("Cauchy", { Cauchy($0[0], $0[1].exp()).logProbability(of: $0[2]).sum() }, [column(0.2, -0.5), column(0.1, -0.3), real])
        check("StudentT", { StudentT($0[0].exp(), $0[1], $0[2].exp()).logProbability(of: $0[3]).sum() }, [column(0.5, 2), column(0.2, -0.5), column(0.1, -0.3), real])
        check("Gamma", { Gamma($0[0].exp(), $0[1].exp()).logProbability(of: $0[2]).sum() }, [column(0.5, -0.2), column(0.1, 0.7), positive])
        check("Poisson", { Poisson(logRate: $0[0]).logProbability(of: counts).sum() }, [column(0.5, 1.7)])
        // Rates for every count ([S, N] against counts [N]): the row-by-row pass, values checked by hand too.
        check("Poisson [2, 3]", { Poisson(logRate: $0[0]).logProbability(of: counts).sum() }, [T(shape: [2, 3], scalars: [0.5, -1.7, 3, -0.2, 0.1, 2])])
        let rates = T(shape: [2, 3], scalars: [0.5, 1.7, 3, 0.2, 1, 2])
        let byHand = (0..<6).map { i -> Double in
            let k = counts.scalars[i % 3]
            return k * Foundation.log(rates.scalars[i]) - rates.scalars[i] - Foundation.lgamma(k + 1)
        }
        for (a, b) in zip(Poisson(rates).logProbability(of: counts).scalars.array, byHand) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        XCTAssertEqual(Poisson(rates).logProbability(of: T([0, 2.5, 1])).scalars[1], -.infinity)
        XCTAssertEqual(gradient(at: rates) { Poisson($0).logProbability(of: T([0, 2.5, 1])).sum() }.scalars.array, [-1, 0, 1 / 3.0 - 1, -1, 0, -0.5])
        // Counts past the log-factorial table (1,024 entries) beside counts in it, in the same row.
        let large = T(shape: [2, 2], scalars: [1500, 3, 1400, 2])
        let largeByHand = (0..<4).map { i -> Double in
            let k = [1500.0, 2][i % 2]
            return k * Foundation.log(large.scalars[i]) - large.scalars[i] - Foundation.lgamma(k + 1)
        }
        for (a, b) in zip(Poisson(large).logProbability(of: T([1500, 2])).scalars.array, largeByHand) { XCTAssertEqual(a, b, accuracy: 1e-9) }
        check("Bernoulli", { Bernoulli(uncheckedLogits: $0[0]).logProbability(of: T([0, 1, 1])).sum() }, [column(0.5, -1.7)])
        check("Bernoulli [2, 3]", { Bernoulli(uncheckedLogits: $0[0]).logProbability(of: T([0, 1, 1])).sum() }, [T(shape: [2, 3], scalars: [0.5, -1.7, 3, -0.2, 0.1, 2])])
    }

    /// Every initialiser that takes tensors without labels (`Normal(mu, sigma)`, the way models are written) has a
    /// derivative of its own: the gradient through it, in every parameter, against finite differences.
    func testUnlabelledInitialisersDerivatives() {
        let column = { (a: Double, b: Double) in T(shape: [2, 1], scalars: [a, b]) }
        let real = T([-0.7, 0.4, 1.9]), positive = T([0.3, 1.4, 2.2]), unit = T([0.1, 0.45, 0.8]), counts = T([0, 2, 5])
        let check = { (name: String, f: @escaping @differentiable(reverse) ([T]) -> T, inputs: [T]) in
            assertGradientMatchesFiniteDifferences(name, f, at: inputs, tolerance: 1e-6)
        }
        let (a, b, c) = (column(0.2, -0.5), column(0.1, -0.3), column(0.5, 1.1))
        check("Normal", { Normal($0[0], $0[1].exp()).logProbability(of: real).sum() }, [a, b])
        check("Cauchy", { Cauchy($0[0], $0[1].exp()).logProbability(of: real).sum() }, [a, b])
        check("Laplace", { Laplace($0[0], $0[1].exp()).logProbability(of: real).sum() }, [a, b])
        check("LogNormal", { LogNormal($0[0], $0[1].exp()).logProbability(of: positive).sum() }, [a, b])
        check("StudentT", { StudentT($0[0].exp(), $0[1], $0[2].exp()).logProbability(of: real).sum() }, [c, a, b])
        check("HalfNormal", { HalfNormal($0[0].exp()).logProbability(of: positive).sum() }, [a])
        check("HalfCauchy", { HalfCauchy($0[0].exp()).logProbability(of: positive).sum() }, [a])
        check("Exponential", { Exponential($0[0].exp()).logProbability(of: positive).sum() }, [a])
        check("Gamma", { Gamma($0[0].exp(), $0[1].exp()).logProbability(of: positive).sum() }, [c, b])
        check("InverseGamma", { InverseGamma($0[0].exp(), $0[1].exp()).logProbability(of: positive).sum() }, [c, b])
        check("Beta", { Beta($0[0].exp(), $0[1].exp()).logProbability(of: unit).sum() }, [c, a])
        check("Poisson", { Poisson($0[0].exp()).logProbability(of: counts).sum() }, [c])
        check("Poisson(logRate:)", { Poisson(logRate: $0[0]).logProbability(of: counts).sum() }, [c])
    }

    /// The same densities with the value as data (a likelihood): their derivatives in the parameters alone, which
    /// neither compute nor store the value's gradient, against finite differences and against the parameters' part
    /// of the derivative that includes the value.
    func testFusedDensityGradientsInTheParametersAlone() {
        let column = { (a: Double, b: Double) in T(shape: [2, 1], scalars: [a, b]) }
        let real = T([-0.7, 0.4, 1.9]), positive = T([0.3, 1.4, 2.2])
        // `data` holds the value fixed (what a likelihood does); `full` takes it as its last input.
        let check = { (name: String, data: @escaping @differentiable(reverse) ([T]) -> T, full: @escaping @differentiable(reverse) ([T]) -> T, inputs: [T], value: T) in
            assertGradientMatchesFiniteDifferences(name, data, at: inputs, tolerance: 1e-6)
            let parametersAlone = gradient(at: inputs, of: data).base
            let withValue = gradient(at: inputs + [value], of: full).base
            XCTAssertEqual(parametersAlone.count, inputs.count, name)
            for i in inputs.indices {
                for (a, b) in zip(parametersAlone[i].scalars.array, withValue[i].scalars.array) { XCTAssertEqual(a, b, accuracy: 1e-12, name) }
            }
        }
        check("Normal", { Normal($0[0], $0[1].exp()).logProbability(of: real).sum() },
              { Normal($0[0], $0[1].exp()).logProbability(of: $0[2]).sum() }, [column(0.2, -0.5), column(0.1, -0.3)], real)
        check("HalfNormal", { HalfNormal($0[0].exp()).logProbability(of: positive).sum() },
              { HalfNormal($0[0].exp()).logProbability(of: $0[1]).sum() }, [column(0.2, -0.5)], positive)
        check("HalfCauchy", { HalfCauchy($0[0].exp()).logProbability(of: positive).sum() },
              { HalfCauchy($0[0].exp()).logProbability(of: $0[1]).sum() }, [column(0.2, -0.5)], positive)
        check("Cauchy", { Cauchy($0[0], $0[1].exp()).logProbability(of: real).sum() },
              { Cauchy($0[0], $0[1].exp()).logProbability(of: $0[2]).sum() }, [column(0.2, -0.5), column(0.1, -0.3)], real)
        check("StudentT", { StudentT($0[0].exp(), $0[1], $0[2].exp()).logProbability(of: real).sum() },
              { StudentT($0[0].exp(), $0[1], $0[2].exp()).logProbability(of: $0[3]).sum() }, [column(0.5, 2), column(0.2, -0.5), column(0.1, -0.3)], real)
        check("Gamma", { Gamma($0[0].exp(), $0[1].exp()).logProbability(of: positive).sum() },
              { Gamma($0[0].exp(), $0[1].exp()).logProbability(of: $0[2]).sum() }, [column(0.5, -0.2), column(0.1, 0.7)], positive)
    }

    /// `fusedElementwiseGradient` with some operands not wanted: symbolic zeros for them, the same sums as with all
    /// wanted for the rest, also when an unwanted operand is broadcast or larger than every wanted one.
    func testFusedGradientOfWantedOperandsOnly() {
        let a = T(shape: [2, 3], scalars: [0.5, -1, 2, 0.3, 0.7, -0.4]), b = T([0.2, -0.1, 0.6]), c = T(shape: [2, 1], scalars: [1.5, 0.8])
        let v = T(shape: [2, 3], scalars: [1, -2, 0.5, 3, 1, -1])
        func partials(_ a: Double, _ b: Double, _ c: Double, _ d: Double) -> (Double, Double, Double, Double) {
            let (ab, ac, bc, da) = (a * b, a + c, b * c, d * a)
            return (ab, ac, bc - a, da)
        }
        let all = fusedElementwiseGradient(a, b, c, c, upstream: v, name: "test", partials)
        // The sums by hand: a is [2, 3], b a row [3], c (and d) a column [2, 1].
        var (ga, gb, gc, gd) = ([Double](repeating: 0, count: 6), [Double](repeating: 0, count: 3), [0.0, 0], [0.0, 0])
        for i in 0..<2 {
            for j in 0..<3 {
                let p = partials(a.scalars[3 * i + j], b.scalars[j], c.scalars[i], c.scalars[i])
                let g = v.scalars[3 * i + j]
                ga[3 * i + j] += g * p.0
                gb[j] += g * p.1
                gc[i] += g * p.2
                gd[i] += g * p.3
            }
        }
        for (got, expected) in [(all.0, ga), (all.1, gb), (all.2, gc), (all.3, gd)] {
            XCTAssertEqual(got.scalars.count, expected.count)
            for (x, y) in zip(got.scalars.array, expected) { XCTAssertEqual(x, y, accuracy: 1e-12) }
        }
        for wanted: FusedOperands in [[.b, .c], [.b], [.a, .d], []] {
            let some = fusedElementwiseGradient(a, b, c, c, upstream: v, name: "test", wanted: wanted, partials)
            let pairs = [(some.0, all.0, FusedOperands.a), (some.1, all.1, .b), (some.2, all.2, .c), (some.3, all.3, .d)]
            for (i, (got, full, operand)) in pairs.enumerated() {
                if wanted.contains(operand) {
                    XCTAssertEqual(got, full, "operand \(i) of \(wanted.rawValue)")
                } else {
                    XCTAssertTrue(got.isSymbolicZero, "operand \(i) of \(wanted.rawValue)")
                }
            }
        }
    }

    /// Rows longer than the runs the fused operations walk in (32 elements): the value and the four operands' sums
    /// against loops by hand, with a full operand, a row broadcast down the rows, a column broadcast along each row
    /// (its run refilled at each row) and a scalar, at row lengths on both sides of one and two runs.
    func testFusedOperationsOverRowsLongerThanARun() {
        for columns in [31, 32, 33, 70] {
            let rows = 3
            let a = T(shape: [rows, columns], scalars: (0..<(rows * columns)).map { Foundation.sin(Double($0)) })
            let b = T((0..<columns).map { Foundation.cos(Double($0) / 3) })
            let c = T(shape: [rows, 1], scalars: [0.5, -1.25, 2])
            let d = T(0.75)
            let v = T(shape: [rows, columns], scalars: (0..<(rows * columns)).map { 1 + Double($0 % 7) / 4 })
            let value = fusedElementwise(a, b, c, d, name: "test") { a, b, c, d in a * b + c / (1 + d * d) - a * c }
            func partials(_ a: Double, _ b: Double, _ c: Double, _ d: Double) -> (Double, Double, Double, Double) {
                (b - c, a, 1 / (1 + d * d) - a, -2 * c * d / ((1 + d * d) * (1 + d * d)))
            }
            let g = fusedElementwiseGradient(a, b, c, d, upstream: v, name: "test", partials)
            var (ga, gb, gc, gd) = ([Double](repeating: 0, count: rows * columns), [Double](repeating: 0, count: columns), [0.0, 0, 0], 0.0)
            for i in 0..<rows {
                for j in 0..<columns {
                    let (x, y, z, w) = (a.scalars[i * columns + j], b.scalars[j], c.scalars[i], d.scalars[0])
                    XCTAssertEqual(value.scalars[i * columns + j], x * y + z / (1 + w * w) - x * z, accuracy: 1e-12, "\(columns) columns")
                    let p = partials(x, y, z, w)
                    let u = v.scalars[i * columns + j]
                    ga[i * columns + j] += u * p.0
                    gb[j] += u * p.1
                    gc[i] += u * p.2
                    gd += u * p.3
                }
            }
            XCTAssertEqual(value.shape, [rows, columns])
            XCTAssertEqual([g.0.shape, g.1.shape, g.2.shape, g.3.shape], [a.shape, b.shape, c.shape, d.shape])
            for (got, expected) in [(g.0, ga), (g.1, gb), (g.2, gc), (g.3, [gd])] {
                for (x, y) in zip(got.scalars.array, expected) { XCTAssertEqual(x, y, accuracy: 1e-10, "\(columns) columns") }
            }
        }
    }

    /// The counts' log-factorials are remembered for their buffer (data meet a density at every step); counts
    /// written in place afterwards are seen as they are, in the value and in the gradient.
    func testPoissonSeesCountsWrittenInPlace() {
        var counts = T([1, 2, 3])
        let rates = T(shape: [2, 3], scalars: [0.5, 1.7, 3, 0.2, 1, 2])
        func byHand(_ k: [Double]) -> [Double] {
            (0..<6).map { i in k[i % 3] * Foundation.log(rates.scalars[i]) - rates.scalars[i] - Foundation.lgamma(k[i % 3] + 1) }
        }
        for (a, b) in zip(Poisson(rates).logProbability(of: counts).scalars.array, byHand([1, 2, 3])) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        counts.withUnsafeMutableScalars { $0[1] = 7 }
        for (a, b) in zip(Poisson(rates).logProbability(of: counts).scalars.array, byHand([1, 7, 3])) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        counts.withUnsafeMutableScalars { $0[2] = 2.5 }
        let logRates = rates.log()
        let (value, slope) = valueWithGradient(at: logRates) { Poisson(logRate: $0).logProbability(of: counts).sum() }
        XCTAssertEqual(value.scalar, -.infinity)
        // k − λ, and 0 where k is not a count.
        for (a, b) in zip(slope.scalars.array, [1 - 0.5, 7 - 1.7, 0, 1 - 0.2, 7 - 1, 0] as [Double]) { XCTAssertEqual(a, b, accuracy: 1e-12) }
    }

    /// Poisson(logRate: η) keeps η: its density is Poisson(rate: e^η)'s where e^η is a number, in both of the
    /// density's passes (rates [S, N] against counts [N], and the general broadcast), and kη − log k! where e^η
    /// underflows to 0 (the route through log λ gives −∞ there).
    func testPoissonFromItsLogRate() throws {
        let counts = T([0, 2, 5]), other = T([3, 0, 1, 7])
        let logRates = T(shape: [2, 3], scalars: [0.5, -1.7, 3, -0.2, 0.1, 2])
        for (logRate, value) in [(logRates, counts), (T(shape: [4, 1], scalars: [-3, 0.2, 1, 6]), other)] {
            let fromLog = Poisson(logRate: logRate).logProbability(of: value)
            let fromRate = try Poisson(rate: logRate.exp()).logProbability(of: value)
            XCTAssertEqual(fromLog.shape, fromRate.shape)
            for (a, b) in zip(fromLog.scalars.array, fromRate.scalars.array) { XCTAssertEqual(a, b, accuracy: 1e-12 * max(1, abs(b))) }
        }
        let far = Poisson(logRate: T([-800, -800])).logProbability(of: T([3, 0])).scalars.array
        XCTAssertEqual(far[0], 3 * -800 - Foundation.log(6), accuracy: 1e-12)
        XCTAssertEqual(far[1], 0)
        XCTAssertEqual(Poisson(logRate: T([1.5])).logProbability(of: T([2.5])).scalars[0], -.infinity)
        // Differentiated in the counts too (a density of counts has no finite differences in them): ∂/∂k = η summed
        // over the rows, ∂/∂η = k − e^η.
        let column = T(shape: [2, 1], scalars: [0.5, 1.7])
        let (inLogRate, inCounts) = gradient(at: column, counts) { Poisson(logRate: $0).logProbability(of: $1).sum() }
        XCTAssertEqual(inCounts.scalars.array, [2.2, 2.2, 2.2])
        for (r, eta) in [0.5, 1.7].enumerated() {
            XCTAssertEqual(inLogRate.scalars[r], 7 - 3 * Foundation.exp(eta), accuracy: 1e-12)
        }
        // The rate, its mean and variance, and the KL read λ = e^η.
        let p = Poisson(logRate: T([0.3]))
        XCTAssertEqual(p.rate.scalars[0], Foundation.exp(0.3), accuracy: 1e-15)
        XCTAssertEqual(p.klDivergence(to: Poisson(T([2.0]))).scalar,
                       Poisson(T([Foundation.exp(0.3)])).klDivergence(to: Poisson(T([2.0]))).scalar, accuracy: 1e-15)
    }
}

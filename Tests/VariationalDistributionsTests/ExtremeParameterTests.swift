import Foundation
import VariationalCore
import VariationalDistributions
import XCTest

/// Closed forms across the whole parameter range (concentrations to 1e100, scales from 1e-300 to 1e200,
/// probabilities of exactly 0 and 1), against mpmath at 400 digits (Reference/generate_extreme_values.py).
final class ExtremeParameterTests: XCTestCase {
    struct Case {
        let kind: String
        let parameters: [Double]
        let value: Double
    }

    /// Reference/extreme_values.txt: one case per line, its kind, its parameters and the reference value.
    static func referenceCases() throws -> [Case] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Reference/extreme_values.txt")
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            let fields = line.split(separator: " ").map(String.init)
            let numbers = fields.dropFirst().compactMap(Double.init)
            guard fields.count >= 3, numbers.count == fields.count - 1 else {
                throw DistributionError("extreme_values.txt: bad line \(line)")
            }
            return Case(kind: fields[0], parameters: Array(numbers.dropLast()), value: numbers.last!)
        }
    }

    /// The value the library gives for one reference case.
    func libraryValue(_ c: Case) throws -> Double {
        let v = c.parameters
        func t(_ x: Double) -> Tensor<Double> { Tensor(x) }
        func t(_ xs: ArraySlice<Double>) -> Tensor<Double> { Tensor(Array(xs)) }
        switch c.kind {
        case "normal":
            return try Normal(location: t(v[0]), scale: t(v[1])).klDivergence(to: Normal(location: t(v[2]), scale: t(v[3]))).scalar
        case "exponential":
            return try Exponential(rate: t(v[0])).klDivergence(to: Exponential(rate: t(v[1]))).scalar
        case "poisson":
            return try Poisson(rate: t(v[0])).klDivergence(to: Poisson(rate: t(v[1]))).scalar
        case "laplace":
            return try Laplace(location: t(v[0]), scale: t(v[1])).klDivergence(to: Laplace(location: t(v[2]), scale: t(v[3]))).scalar
        case "beta":
            return try Beta(alpha: t(v[0]), beta: t(v[1])).klDivergence(to: Beta(alpha: t(v[2]), beta: t(v[3]))).scalar
        case "gamma":
            return try Gamma(concentration: t(v[0]), rate: t(v[1])).klDivergence(to: Gamma(concentration: t(v[2]), rate: t(v[3]))).scalar
        case "gammaEntropy":
            return try Gamma(concentration: t(v[0]), rate: t(v[1])).entropy().scalar
        case "betaEntropy":
            return try Beta(alpha: t(v[0]), beta: t(v[1])).entropy().scalar
        case "dirichlet":
            return try Dirichlet(concentration: t(v[0..<3])).klDivergence(to: Dirichlet(concentration: t(v[3..<6]))).scalar
        case "dirichletEntropy":
            return try Dirichlet(concentration: t(v[0..<3])).entropy().scalar
        case "bernoulli":
            return try Bernoulli(probabilities: t(v[0])).klDivergence(to: Bernoulli(probabilities: t(v[1]))).scalar
        case "categorical":
            return try Categorical(probabilities: t(v[0..<3])).klDivergence(to: Categorical(probabilities: t(v[3..<6]))).scalar
        case "uniform":
            return try Uniform(low: t(v[0]), high: t(v[1])).klDivergence(to: Uniform(low: t(v[2]), high: t(v[3]))).scalar
        case "studentTEntropy":
            return try StudentT(degreesOfFreedom: t(v[0]), location: t(0), scale: t(v[1])).entropy().scalar
        case "studentT":
            return try StudentT(degreesOfFreedom: t(v[0]), location: t(v[1]), scale: t(v[2])).logProbability(of: t(v[3])).scalar
        default:
            throw XCTSkip("unknown reference kind \(c.kind)")
        }
    }

    /// Every case to 1e-13 of max(1, |reference|), with one measured exception: a Beta whose two concentrations (in q
    /// or in p) differ by a factor of 10⁴ or more, against a p of 10⁴ times larger concentration or a p within 0.1%
    /// of q, reaches 2e-8 (one component holds all but 10⁻⁴ of the mass, and the parts that differ between q and p
    /// are that small share; see `DirichletDivergence`).
    func testClosedFormsAcrossTheParameterRange() throws {
        var worst: [String: (error: Double, parameters: [Double], got: Double, want: Double)] = [:]
        var failures: [String] = []
        let cases = try Self.referenceCases()
        XCTAssertGreaterThan(cases.count, 2000)
        for c in cases {
            let got = try libraryValue(c)
            let error: Double
            if c.value.isInfinite || got.isInfinite || got.isNaN {
                error = got == c.value ? 0 : .infinity
            } else {
                error = abs(got - c.value) / max(1, abs(c.value))
            }
            if error > (worst[c.kind]?.error ?? -1) { worst[c.kind] = (error, c.parameters, got, c.value) }
            if error > tolerance(c) { failures.append("\(c.kind) \(c.parameters): \(got), reference \(c.value)") }
        }
        for (kind, w) in worst.sorted(by: { $0.key < $1.key }) {
            print("\(kind): largest error \(w.error) at \(w.parameters)")
        }
        XCTAssert(failures.isEmpty, "\(failures.count) cases outside tolerance, e.g. \(failures.prefix(5))")
    }

    func tolerance(_ c: Case) -> Double {
        guard c.kind == "beta" || c.kind == "dirichlet" else { return 1e-13 }
        let q = c.parameters.prefix(c.parameters.count / 2)
        let p = c.parameters.suffix(c.parameters.count / 2)
        let spread = max(q.max()! / q.min()!, p.max()! / p.min()!)
        return spread >= 1e4 ? 2e-8 : 1e-13
    }

    /// KL(q ‖ p) ≥ 0 and KL(p ‖ p) = 0 for every closed-form pair, at 3,000 seeded random parameter draws each, spread
    /// log-uniformly over the whole range (scales and rates 1e-300 to 1e300, concentrations 1e-8 to 1e100,
    /// probabilities including exactly 0 and 1). Never NaN.
    func testDivergenceIsNonNegativeAndZeroOnItselfAcrossTheRange() throws {
        var generator = SeededGenerator(seed: 2026)
        func logUniform(_ low: Double, _ high: Double) -> Double {
            let u = Double.random(in: 0..<1, using: &generator)
            return Foundation.exp(Foundation.log(low) + u * (Foundation.log(high) - Foundation.log(low)))
        }
        func location() -> Double {
            let magnitude = logUniform(1e-10, 1e100)
            return Bool.random(using: &generator) ? magnitude : -magnitude
        }
        func probability() -> Double {
            switch Int.random(in: 0..<6, using: &generator) {
            case 0: return 0
            case 1: return 1
            case 2: return logUniform(1e-300, 0.5)
            case 3: return 1 - logUniform(1e-16, 0.5)
            default: return Double.random(in: 0...1, using: &generator)
            }
        }
        func t(_ x: Double) -> Tensor<Double> { Tensor(x) }
        func t(_ xs: [Double]) -> Tensor<Double> { Tensor(xs) }
        typealias Pair = (qp: Double, pp: Double, name: String)
        var checked = 0
        func check(_ name: String, _ kl: () throws -> (Double, Double)) rethrows {
            let (between, itself) = try kl()
            checked += 1
            XCTAssertFalse(between.isNaN, "\(name): NaN")
            XCTAssertGreaterThanOrEqual(between, -1e-13, "\(name): negative")
            XCTAssertEqual(itself, 0, accuracy: 1e-14, "\(name): KL(p ‖ p)")
        }
        for _ in 0..<3000 {
            let (s1, s2) = (logUniform(1e-300, 1e300), logUniform(1e-300, 1e300))
            let (m1, m2) = (location(), location())
            try check("Normal(\(m1), \(s1)) ‖ Normal(\(m2), \(s2))") {
                let (q, p) = (try Normal(location: t(m1), scale: t(s1)), try Normal(location: t(m2), scale: t(s2)))
                return (q.klDivergence(to: p).scalar, p.klDivergence(to: p).scalar)
            }
            try check("Laplace(\(m1), \(s1)) ‖ Laplace(\(m2), \(s2))") {
                let (q, p) = (try Laplace(location: t(m1), scale: t(s1)), try Laplace(location: t(m2), scale: t(s2)))
                return (q.klDivergence(to: p).scalar, p.klDivergence(to: p).scalar)
            }
            try check("Exponential(\(s1)) ‖ Exponential(\(s2))") {
                let (q, p) = (try Exponential(rate: t(s1)), try Exponential(rate: t(s2)))
                return (q.klDivergence(to: p).scalar, p.klDivergence(to: p).scalar)
            }
            try check("Poisson(\(s1)) ‖ Poisson(\(s2))") {
                let (q, p) = (try Poisson(rate: t(s1)), try Poisson(rate: t(s2)))
                return (q.klDivergence(to: p).scalar, p.klDivergence(to: p).scalar)
            }
            let c = (0..<6).map { _ in logUniform(1e-8, 1e100) }
            try check("Gamma(\(c[0]), \(c[1])) ‖ Gamma(\(c[2]), \(c[3]))") {
                let (q, p) = (try Gamma(concentration: t(c[0]), rate: t(c[1])), try Gamma(concentration: t(c[2]), rate: t(c[3])))
                return (q.klDivergence(to: p).scalar, p.klDivergence(to: p).scalar)
            }
            try check("Beta(\(c[0]), \(c[1])) ‖ Beta(\(c[2]), \(c[3]))") {
                let (q, p) = (try Beta(alpha: t(c[0]), beta: t(c[1])), try Beta(alpha: t(c[2]), beta: t(c[3])))
                return (q.klDivergence(to: p).scalar, p.klDivergence(to: p).scalar)
            }
            try check("Dirichlet(\(c[0..<3])) ‖ Dirichlet(\(c[3..<6]))") {
                let (q, p) = (try Dirichlet(concentration: t(Array(c[0..<3]))), try Dirichlet(concentration: t(Array(c[3..<6]))))
                return (q.klDivergence(to: p).scalar, p.klDivergence(to: p).scalar)
            }
            let (p1, p2) = (probability(), probability())
            try check("Bernoulli(\(p1)) ‖ Bernoulli(\(p2))") {
                let (q, p) = (try Bernoulli(probabilities: t(p1)), try Bernoulli(probabilities: t(p2)))
                return (q.klDivergence(to: p).scalar, p.klDivergence(to: p).scalar)
            }
            let (w1, w2) = ([probability(), probability(), 1], [probability(), probability(), 1])
            try check("Categorical(\(w1)) ‖ Categorical(\(w2))") {
                let (q, p) = (try Categorical(probabilities: t(w1.map { $0 / w1.reduce(0, +) })),
                              try Categorical(probabilities: t(w2.map { $0 / w2.reduce(0, +) })))
                return (q.klDivergence(to: p).scalar, p.klDivergence(to: p).scalar)
            }
            let (l, h) = (min(m1, m2), max(m1, m2) + s1)
            try check("Uniform(\(l), \(h))") {
                let (q, p) = (try Uniform(low: t(l), high: t(h)), try Uniform(low: t(l - s2), high: t(h + s2)))
                return (q.klDivergence(to: p).scalar, p.klDivergence(to: p).scalar)
            }
        }
        XCTAssertEqual(checked, 30_000)
    }
}

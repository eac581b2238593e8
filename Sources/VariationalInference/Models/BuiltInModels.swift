import Foundation
import VariationalCore
import VariationalDistributions

/// The built-in models by their command-line names.
public enum BuiltInModel: String, CaseIterable, Sendable {
    case normalNormal = "normal-normal"
    case betaBernoulli = "beta-bernoulli"
    case gammaPoisson = "gamma-poisson"
    case linearRegression = "linear-regression"
    case linearRegressionUnknownNoise = "linear-regression-unknown-noise"
    case logisticRegression = "logistic-regression"
    case eightSchools = "eight-schools"
    case gaussianMixture = "gaussian-mixture"

    /// Whether the exact posterior and evidence are known.
    public var isConjugate: Bool {
        switch self {
        case .normalNormal, .betaBernoulli, .gammaPoisson, .linearRegression, .linearRegressionUnknownNoise: return true
        default: return false
        }
    }

    /// The columns the model reads.
    public var columnDescription: String {
        switch self {
        case .normalNormal, .betaBernoulli, .gammaPoisson, .gaussianMixture: return "a column x"
        case .linearRegression, .linearRegressionUnknownNoise, .logisticRegression: return "a column y and feature columns"
        case .eightSchools: return "columns y and sigma"
        }
    }

    /// Column names for a 2-D `.npy` array of `count` columns.
    public func numPyColumnNames(_ count: Int) -> [String] {
        switch self {
        case .eightSchools: return ["y", "sigma"]
        case .normalNormal, .betaBernoulli, .gammaPoisson, .gaussianMixture: return count == 1 ? ["x"] : DataTable.defaultNumPyColumnNames(count)
        default: return DataTable.defaultNumPyColumnNames(count)
        }
    }

    /// Simulated data from the model, fixed by the seed: what the tool fits when no file is given.
    public func builtInData(seed: UInt64 = 2024) -> DataTable {
        var g = SeededGenerator(seed: seed)
        func normal() -> Double { Random.standardNormal(using: &g) }
        let source = "built-in"
        switch self {
        case .normalNormal:
            return DataTable(columnNames: ["x"], rows: (0..<50).map { _ in [2 + 1.5 * normal()] }, source: source)
        case .betaBernoulli:
            return DataTable(columnNames: ["x"], rows: (0..<200).map { _ in [Random.bernoulli(probability: 0.3, using: &g) ? 1 : 0] }, source: source)
        case .gammaPoisson:
            let poisson = Poisson<Double>(uncheckedRate: Tensor(4.0))
            return DataTable(columnNames: ["x"], rows: (0..<100).map { _ in [poisson.sample(using: &g).scalar] }, source: source)
        case .linearRegression, .linearRegressionUnknownNoise, .logisticRegression:
            let rows: [[Double]] = (0..<200).map { _ in
                let a = normal()
                let b = 0.6 * a + 0.8 * normal()
                let signal = 0.5 + 1.5 * a - 2 * b
                let y = self == .logisticRegression
                    ? (Random.bernoulli(probability: 1 / (1 + Foundation.exp(-signal)), using: &g) ? 1.0 : 0.0)
                    : signal + normal()
                return [y, a, b]
            }
            return DataTable(columnNames: ["y", "x1", "x2"], rows: rows, source: source)
        case .eightSchools:
            return DataTable(columnNames: ["y", "sigma"], rows: zip(EightSchoolsModel.classicEffects, EightSchoolsModel.classicStandardErrors).map { [$0, $1] }, source: "built-in (Rubin 1981)")
        case .gaussianMixture:
            return DataTable(columnNames: ["x"], rows: (0..<200).map { i in [(i % 10 < 3 ? -2.0 : 3.0) + normal()] }, source: source)
        }
    }
}

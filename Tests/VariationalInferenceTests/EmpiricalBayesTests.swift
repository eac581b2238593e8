import _Differentiation
import Foundation
import VariationalCore
import VariationalInference
import XCTest

final class EmpiricalBayesTests: XCTestCase {
    /// n draws around 3 with unit noise: the evidence's maximiser in s₀ is interior.
    func normalModel() throws -> NormalNormalModel {
        var generator = SeededGenerator(seed: 1)
        let x = (0..<20).map { _ in 3 + Random.standardNormal(using: &generator) }
        return try NormalNormalModel(observations: x, priorMean: 0, priorStandardDeviation: 1, noiseStandardDeviation: 1)
    }

    func regressionModel() throws -> LinearRegressionModel {
        var generator = SeededGenerator(seed: 2)
        let n = 60
        let x = Tensor<Double>(randomNormal: [n, 3], using: &generator)
        let w = Tensor<Double>([0.8, -1.2, 0.5])
        let y = matmul(x, w.reshaped(to: [3, 1])).reshaped(to: [n]) + Tensor<Double>(randomNormal: [n], using: &generator) * 0.7
        return try LinearRegressionModel(features: x, responses: y.scalars.array, priorStandardDeviation: 5, noiseStandardDeviation: 2)
    }

    /// At the model's own values the learnable log joint is the model's log joint; its gradient in the coordinates
    /// agrees with finite differences.
    func testLearnableLogJointIsTheModels() throws {
        let model = try regressionModel()
        var generator = SeededGenerator(seed: 3)
        let theta = Tensor<Double>(randomNormal: [4, 3], using: &generator)
        let names = ["prior-mean", "prior-sd", "noise-sd"]
        let coordinates = Tensor(try model.hyperparameters(named: names).map(\.unconstrained))
        let value = model.logJointUnconstrained(theta, coordinates: coordinates, learned: names)
        for (a, b) in zip(value.scalars, model.logJointUnconstrained(theta).scalars) { XCTAssertEqual(a, b, accuracy: 1e-10 * Swift.abs(b)) }
        let g = gradient(at: coordinates) { c in model.logJointUnconstrained(theta, coordinates: c, learned: names).sum() }
        for i in 0..<3 {
            let h = 1e-6
            let plus = model.logJointUnconstrained(theta, coordinates: coordinates.replacing(index: i, with: coordinates.scalars[i] + h), learned: names).sum().scalar
            let minus = model.logJointUnconstrained(theta, coordinates: coordinates.replacing(index: i, with: coordinates.scalars[i] - h), learned: names).sum().scalar
            XCTAssertEqual(g.scalars[i], (plus - minus) / (2 * h), accuracy: 1e-5 * Swift.max(1, Swift.abs(g.scalars[i])), names[i])
        }
        // A changed value reaches the log joint as `with` would set it.
        let changed = try model.with(["noise-sd": 0.9])
        let c2 = coordinates.replacing(index: 2, with: Foundation.log(0.9))
        XCTAssertEqual(model.logJointUnconstrained(theta, coordinates: c2, learned: names).scalars[0], changed.logJointUnconstrained(theta).scalars[0], accuracy: 1e-9)
        XCTAssertThrowsError(try model.hyperparameters(named: ["prior-alpha"])) { error in
            XCTAssertTrue("\(error)".contains("--learn prior-alpha: not a hyper-parameter of this model"), "\(error)")
        }
    }

    /// Normal-normal: log p(x | s₀) is maximised at s₀² = (x̄ − m₀)² − σ²/n. The numerical maximiser of the closed-form
    /// evidence finds it, and empirical Bayes by the ELBO learns it to 1e-3 relative.
    func testPriorScaleOfTheNormalMean() throws {
        let model = try normalModel()
        let n = Double(model.observations.count)
        let mean = model.observations.reduce(0, +) / n
        let exact = ((mean - 0) * (mean - 0) - 1 / n).squareRoot()
        let numerical = try XCTUnwrap(model.exactEvidenceMaximizer(["prior-sd"], from: [:])["prior-sd"])
        XCTAssertEqual(numerical, exact, accuracy: 1e-7 * exact)
        var generator = SeededGenerator(seed: 4)
        let result = try learnHyperparameters(model: model, family: MeanFieldGaussian(dimension: 1), learning: ["prior-sd"], using: &generator)
        let learned = try XCTUnwrap(result.values["prior-sd"])
        XCTAssertEqual(learned, exact, accuracy: 1e-3 * exact, "learned \(learned) ± \(result.standardErrors["prior-sd"]!), exact \(exact)")
        XCTAssertLessThan(try XCTUnwrap(result.standardErrors["prior-sd"]), 1e-3 * exact)
    }

    /// Linear regression: the prior and noise scales learned together match the maximiser of the closed-form log
    /// evidence to 1e-3 relative.
    func testPriorAndNoiseScalesOfARegression() throws {
        let model = try regressionModel()
        let names = ["prior-sd", "noise-sd"]
        let evidence: ([Double]) -> Double = { c in
            (try? model.with(["prior-sd": Foundation.exp(c[0]), "noise-sd": Foundation.exp(c[1])]).exactLogEvidence) ?? -.infinity
        }
        let maximizer = try model.exactEvidenceMaximizer(names, from: ["prior-sd": 1, "noise-sd": 1])
        let exact = try names.map { try XCTUnwrap(maximizer[$0]) }
        var generator = SeededGenerator(seed: 5)
        let result = try learnHyperparameters(model: model, family: FullRankGaussian(dimension: 3), learning: names, using: &generator)
        for (name, value) in zip(names, exact) {
            let learned = try XCTUnwrap(result.values[name])
            XCTAssertEqual(learned, value, accuracy: 1e-3 * value, "\(name): learned \(learned) ± \(result.standardErrors[name]!), exact \(value)")
        }
        // The answer is a maximum: the evidence is lower a little way off in each direction.
        let best = evidence(exact.map(Foundation.log))
        for i in 0..<2 {
            for d in [-0.05, 0.05] {
                var c = exact.map(Foundation.log)
                c[i] += d
                XCTAssertLessThan(evidence(c), best)
            }
        }
    }
}

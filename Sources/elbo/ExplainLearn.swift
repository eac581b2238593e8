import Foundation
import Variational

/// `elbo explain --learn NAME`: empirical Bayes on a conjugate model, and how log p(x | η) and the ELBO of the
/// learned q move with the hyper-parameter η.
struct LearnExplanation {
    let name: String
    let learned: Double
    let standardError: Double
    let steps: Int
    let exactMaximizer: Double
    /// KL(q̂ ‖ p(z | x, η̂)): how far the learned q̂ (the last iterate) is from the posterior at the learned value.
    let klAtLearned: Double
    /// η, log p(x | η), ELBO(q̂, η), KL(q̂ ‖ p(z | x, η)) on a grid around the learned value.
    let curve: [(eta: Double, logEvidence: Double, elbo: Double, kl: Double)]

    /// Empirical Bayes over `name`, then the curve: q̂ is the q learned together with η̂; at another η the same q̂
    /// has ELBO(q̂, η) = log p(x | η) − KL(q̂ ‖ p(z | x, η)), both in closed form.
    static func make<M: EmpiricalBayesModel & ConjugateModel>(_ model: M, learning name: String, seed: UInt64, points: Int = 61) throws -> LearnExplanation {
        guard let start = try model.hyperparameters(named: [name]).first else { throw CommandError("--learn needs a hyper-parameter") }
        // As the plain explanation does: numbers beyond double precision are refused, not shown as −∞ and NaN.
        guard model.exactLogEvidence.isFinite else {
            throw CommandError("log p(x) in closed form is \(model.exactLogEvidence) for this model and data: beyond double precision; rescale the data or the prior")
        }
        var generator = SeededGenerator(seed: seed &+ 0xEB)
        let result = try learnHyperparameters(model: model, learning: [name], using: &generator)
        let learned = result.values[name]!
        let q = result.family.gaussian()
        let exact = try model.exactEvidenceMaximizer([name], from: result.values)[name]!
        guard learned.isFinite, exact.isFinite else {
            throw CommandError("--learn \(name): the learned value is \(learned) and the exact maximiser \(exact): beyond double precision; rescale the data or the prior")
        }
        // Two units of log η either side for a positive η; ± 3 (and at least 3 × |η̂|) otherwise.
        let half = start.isPositive ? 2.0 : Swift.max(3, 3 * Swift.abs(learned))
        var curve: [(Double, Double, Double, Double)] = []
        for i in 0..<points {
            let value = start.value(atUnconstrained: start.unconstrained(learned) - half + 2 * half * Double(i) / Double(points - 1))
            guard let at = try? model.with([name: value]), let posterior = at.exactGaussianPosterior else { continue }
            let kl = Swift.max(0, q.klDivergence(to: posterior).scalar)
            curve.append((value, at.exactLogEvidence, at.exactLogEvidence - kl, kl))
        }
        let klAtLearned = (try? model.with([name: learned]).exactGaussianPosterior).flatMap { $0 }.map { Swift.max(0, q.klDivergence(to: $0).scalar) } ?? .nan
        return LearnExplanation(name: name, learned: learned, standardError: result.standardErrors[name]!, steps: result.steps,
                                exactMaximizer: exact, klAtLearned: klAtLearned, curve: curve)
    }

    var text: String {
        var lines = [
            "Empirical Bayes: \(name) learned by maximising the ELBO over q and \(name) together (type-II maximum likelihood)",
            String(format: "  learned %@                        %.6g ± %.2g (%d steps, the last half averaged)", name, learned, standardError, steps),
            String(format: "  maximiser of the exact log p(x | %@)  %.6g (relative difference %.1e)", name, exactMaximizer, Swift.abs(learned - exactMaximizer) / Swift.abs(exactMaximizer)),
            "",
            "  q̂ is the q learned with it. At any other \(name) the same q̂ has ELBO = log p(x | \(name)) − KL(q̂ ‖ p(z | x, \(name))):",
            String(format: "  below the evidence everywhere, and %.1e nats from it at the learned value (q̂'s own distance from", klAtLearned),
            "  the posterior there). Raising the ELBO in \(name) at fixed q̂",
            "  raises log p(x | \(name)) at least as much (the EM argument); here both peak together.",
            "",
            "  " + name.padding(toLength: 14, withPad: " ", startingAt: 0) + "log p(x | η)        ELBO(q̂, η)          KL(q̂ ‖ p(z | x, η))",
        ]
        let stride = Swift.max(1, curve.count / 12)
        for (i, point) in curve.enumerated() where i % stride == 0 || i == curve.count - 1 {
            lines.append(String(format: "  %-14.6g%-20.9f%-20.9f%.3e", point.eta, point.logEvidence, point.elbo, point.kl))
        }
        return lines.joined(separator: "\n")
    }

    var svg: String {
        let evidence = SVGPlot.Series(label: "log p(x | \(name))", color: "#d62728", points: curve.map { ($0.eta, $0.logEvidence) })
        let elbo = SVGPlot.Series(label: "ELBO(q̂, \(name))", color: "#1f77b4", points: curve.map { ($0.eta, $0.elbo) }, dashed: true)
        let top = curve.map(\.logEvidence).max() ?? 0
        let marker = SVGPlot.Series(label: "learned \(name)", color: "#2ca02c", points: [(learned, top), (learned, curve.map(\.elbo).min() ?? top)])
        let panel = SVGPlot.panel(x: 90, y: 40, width: 600, height: 300, title: "Empirical Bayes: the evidence and the ELBO against \(name)",
                                  xTitle: name, yTitle: "nats", series: [evidence, elbo, marker], logX: false, logY: false, legendAtBottom: true)
        return SVGPlot.document(width: 740, height: 420, panel)
    }

    var json: String {
        let object: [String: Any] = [
            "hyperparameter": name, "learned": learned, "klAtLearned": klAtLearned, "standardError": standardError, "steps": steps, "exactMaximizer": exactMaximizer,
            "curve": curve.map { ["value": $0.eta, "logEvidence": $0.logEvidence, "elbo": $0.elbo, "klToPosterior": $0.kl] },
        ]
        return JSONText.serialize(object)
    }
}

struct LearnExplainVisitor: ModelVisitor {
    let name: String
    let seed: UInt64

    func visit<M: ProbabilisticModel>(_ model: M, _ table: DataTable) throws -> LearnExplanation {
        switch model {
        case let m as NormalNormalModel: return try LearnExplanation.make(m, learning: name, seed: seed)
        case let m as LinearRegressionModel: return try LearnExplanation.make(m, learning: name, seed: seed)
        default: throw CommandError("--learn applies to normal-normal and linear-regression")
        }
    }
}

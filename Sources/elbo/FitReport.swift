import Foundation
import Variational

/// A hyper-parameter learned by empirical Bayes, beside the maximiser of the exact log evidence where it is known.
struct LearnedHyperparameter {
    var name: String
    var value: Double
    var standardError: Double
    var start: Double
    var exactMaximizer: Double?
}

/// What `elbo fit` reports, as text or JSON.
struct FitReport {
    struct Exact {
        var logEvidence: Double
        var posterior: [String: (mean: [Double], standardDeviation: [Double])]
        /// In closed form, or log p(x) minus the Monte-Carlo ELBO (never below 0: a negative estimate is noise).
        var klToPosterior: Double
        var klMethod: String
        /// The Monte-Carlo estimate's standard error; nil in closed form.
        var klStandardError: Double? = nil

        /// The KL as printed: with its standard error when it is an estimate.
        func klText(_ f: (Double) -> String) -> String {
            klStandardError.map { "\(f(klToPosterior)) ± \(f($0))" } ?? f(klToPosterior)
        }
    }

    var model: String
    var dataSource: String
    var rows: Int
    var family: String
    var estimator: String
    var particles: Int
    var seed: UInt64
    var iterations: Int
    var converged: Bool
    var learningRate: Double
    var messages: [String]
    var trace: [Double]
    var diagnostics: FitDiagnostics
    var variables: [LatentVariable]
    var exact: Exact?
    /// Hyper-parameters learned by empirical Bayes before the fit.
    var learned: [LearnedHyperparameter] = []
    var learningSteps = 0
    /// The HTML report, when one was asked for.
    var html = ""

    init<F: VariationalFamily>(
        model: String, dataSource: String, rows: Int, family: String, estimator: String, particles: Int, seed: UInt64,
        result: SVIResult<F>, diagnostics: FitDiagnostics, variables: [LatentVariable]
    ) {
        self.model = model
        self.dataSource = dataSource
        self.rows = rows
        self.family = family
        self.estimator = estimator
        self.particles = particles
        self.seed = seed
        self.iterations = result.iterations
        self.converged = result.converged
        self.learningRate = result.learningRate
        self.messages = result.messages
        self.trace = result.trace
        self.diagnostics = diagnostics
        self.variables = variables
    }

    /// Element names: `mu`, or `w[0]`, `w[1]` … for vector variables.
    func elementNames(_ v: LatentVariable) -> [String] {
        v.size == 1 && v.shape.isEmpty ? [v.name] : (0..<v.size).map { "\(v.name)[\($0)]" }
    }

    func text() -> String {
        var lines: [String] = []
        let f = { (x: Double) in String(format: "%.4f", x) }
        lines.append("elbo fit \(model): data \(dataSource) (\(rows) rows), family \(family), estimator \(estimator), \(particles) particle\(particles == 1 ? "" : "s"), seed \(seed)")
        lines.append("iterations \(iterations) (\(converged ? "converged" : "not converged")), learning rate \(learningRate)")
        lines.append("ELBO                             \(f(diagnostics.elbo)) ± \(f(diagnostics.elboStandardError))")
        lines.append("log p(x), importance sampling    \(f(diagnostics.logEvidence)) ± \(f(diagnostics.logEvidenceStandardError))")
        lines.append("PSIS k̂                           \(String(format: "%.2f", diagnostics.paretoK)) (\(diagnostics.paretoVerdict))")
        if !learned.isEmpty {
            lines.append("empirical Bayes: the ELBO maximised over q and \(learned.map(\.name).joined(separator: ", ")) together (\(learningSteps) steps); the fit below uses the learned values")
            for h in learned {
                var line = "  \(h.name.padding(toLength: 12, withPad: " ", startingAt: 0)) learned \(String(format: "%.6g", h.value)) ± \(String(format: "%.2g", h.standardError)) (from \(String(format: "%.6g", h.start)))"
                if let exact = h.exactMaximizer {
                    line += String(format: "; maximiser of the exact log p(x | η) %.6g (relative difference %.1e)", exact, Swift.abs(h.value - exact) / Swift.abs(exact))
                }
                lines.append(line)
            }
        }
        if let exact {
            lines.append("exact log p(x)                   \(f(exact.logEvidence))")
            lines.append("KL(q ‖ p(z|x))                   \(exact.klText(f)) (\(exact.klMethod))")
        }
        lines.append("")
        let allExact = variables.allSatisfy { v in diagnostics.posterior[v.name]!.allSatisfy(\.isExact) }
        let anyExact = variables.contains { v in diagnostics.posterior[v.name]!.contains(where: \.isExact) }
        lines.append(allExact ? "posterior under q (q's exact Gaussian marginals), constrained space"
            : anyExact ? "posterior under q, constrained space (exact Gaussian marginals for untransformed latents; "
                + "the others from \(diagnostics.drawCount) draws, ± the mean's Monte-Carlo standard error)"
            : "posterior under q (\(diagnostics.drawCount) draws; ± the mean's Monte-Carlo standard error), constrained space")
        var header = "  " + "name".padding(toLength: 16, withPad: " ", startingAt: 0)
        header += ["mean", "±", "sd", "5%", "50%", "95%"].map { $0.leftPadded(10) }.joined()
        if exact != nil { header += ["exact mean", "exact sd"].map { $0.leftPadded(12) }.joined() }
        lines.append(header)
        for v in variables {
            for (i, name) in elementNames(v).enumerated() {
                let s = diagnostics.posterior[v.name]![i]
                var line = "  " + name.padding(toLength: 16, withPad: " ", startingAt: 0)
                line += String(format: "%.4f", s.mean).leftPadded(10)
                line += (s.isExact ? "exact" : String(format: "%.4f", s.meanStandardError)).leftPadded(10)
                line += [s.standardDeviation, s.q05, s.q50, s.q95].map { String(format: "%.4f", $0).leftPadded(10) }.joined()
                if let e = exact?.posterior[v.name] {
                    line += [e.mean[i], e.standardDeviation[i]].map { String(format: "%.4f", $0).leftPadded(12) }.joined()
                }
                lines.append(line)
            }
        }
        if let predictive = diagnostics.predictive {
            let values = predictive.scalars
            let mean = values.reduce(0, +) / Double(values.count)
            lines.append("")
            lines.append("posterior predictive: \(values.count) draws, mean \(f(mean))")
        }
        for message in messages { lines.append("note: \(message)") }
        return lines.joined(separator: "\n")
    }

    func json() -> String {
        var posterior: [String: Any] = [:]
        for v in variables {
            for (i, name) in elementNames(v).enumerated() {
                let s = diagnostics.posterior[v.name]![i]
                posterior[name] = [
                    "mean": s.mean, "sd": s.standardDeviation, "q05": s.q05, "q50": s.q50, "q95": s.q95,
                    "exact": s.isExact, "meanStandardError": s.meanStandardError,
                ]
            }
        }
        var object: [String: Any] = [
            "model": model, "data": ["source": dataSource, "rows": rows], "family": family, "estimator": estimator,
            "particles": particles, "seed": seed, "learningRate": learningRate,
            "elbo": diagnostics.elbo, "elboStandardError": diagnostics.elboStandardError,
            "iterations": iterations, "converged": converged,
            "paretoK": diagnostics.paretoK, "paretoVerdict": diagnostics.paretoVerdict,
            "logEvidenceIS": ["estimate": diagnostics.logEvidence, "standardError": diagnostics.logEvidenceStandardError],
            "posterior": posterior, "messages": messages,
        ]
        if let predictive = diagnostics.predictive {
            object["posteriorPredictive"] = ["draws": Array(predictive.scalars.prefix(100))]
        }
        if !learned.isEmpty {
            object["learned"] = Dictionary(uniqueKeysWithValues: learned.map { h in
                (h.name, ["value": h.value, "standardError": h.standardError, "start": h.start, "exactMaximizer": h.exactMaximizer as Any] as [String: Any])
            })
            object["learningSteps"] = learningSteps
        }
        if let exact {
            var exactPosterior: [String: Any] = [:]
            for v in variables {
                guard let e = exact.posterior[v.name] else { continue }
                for (i, name) in elementNames(v).enumerated() {
                    exactPosterior[name] = ["mean": e.mean[i], "sd": e.standardDeviation[i]]
                }
            }
            object["exact"] = [
                "logEvidence": exact.logEvidence, "posterior": exactPosterior, "klToPosterior": exact.klToPosterior,
                "klToPosteriorMethod": exact.klMethod, "klToPosteriorStandardError": exact.klStandardError as Any,
            ]
        }
        return JSONText.serialize(object)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? " " + self : String(repeating: " ", count: width - count) + self
    }
}

/// JSON for report objects: sorted keys, non-finite numbers as null.
enum JSONText {
    static func serialize(_ value: Any) -> String {
        switch value {
        case let d as Double: return d.isFinite ? String(format: "%.17g", d) : "null"
        case let i as Int: return String(i)
        case let u as UInt64: return String(u)
        case let b as Bool: return b ? "true" : "false"
        case let s as String: return quote(s)
        case let a as [Any]: return "[" + a.map(serialize).joined(separator: ", ") + "]"
        case let o as [String: Any]:
            return "{" + o.keys.sorted().map { "\(quote($0)): \(serialize(o[$0]!))" }.joined(separator: ", ") + "}"
        default: return "null"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
            }
        }
        return out + "\""
    }
}

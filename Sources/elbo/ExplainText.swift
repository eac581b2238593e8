import Foundation
import Variational

/// The terminal text and the JSON of `elbo explain`.
enum ExplainText {
    /// Nine decimals, or nine significant digits in exponent form beyond 1e12.
    static func number(_ x: Double) -> String { String(format: abs(x) < 1e12 ? "%.9f" : "%.9e", x) }

    static func render<M: ExactExplanation>(
        _ model: M, _ table: DataTable, _ e: Explanation, _ importance: [ImportanceTable.Row], _ intractability: [Intractability.Row]
    ) -> String {
        var out: [String] = []
        func line(_ label: String, _ value: String) { out.append("   " + label.padding(toLength: 44, withPad: " ", startingAt: 0) + value) }
        out.append("The ELBO, exactly — \(model.title)")
        out.append("")
        out.append("1. Model and data")
        line("prior", model.priorDescription)
        line("likelihood", model.likelihoodDescription)
        line("data (\(table.source))", model.dataSummary)
        out.append("")
        out.append("2. The evidence log p(x) = log ∫ p(x | z) p(z) dz")
        line("closed form", number(e.logEvidence))
        line(e.evidenceCheck.description, number(e.logEvidenceQuadrature))
        line("difference", String(format: "%.1e", e.logEvidenceQuadrature - e.logEvidence))
        out.append("")
        out.append("3. The exact posterior")
        out.append("   " + model.posteriorDescription)
        out.append("")
        out.append("4. A chosen q, and both sides of the identity")
        out.append("   " + e.initialQ)
        line("E_q[log p(x | z)]", number(e.expectedLogLikelihood))
        line("KL(q ‖ p(z))", number(e.klToPrior))
        line("ELBO = E_q[log p(x|z)] − KL(q ‖ p(z))", number(e.elbo))
        line("ELBO by Monte Carlo", "\(number(e.elboMonteCarlo.estimate)) ± \(String(format: "%.2g", e.elboMonteCarlo.standardError))")
        line("KL(q ‖ p(z | x))", number(e.klToPosterior))
        line("ELBO + KL(q ‖ p(z | x))", number(e.elbo + e.klToPosterior))
        line("log p(x) − ELBO − KL(q ‖ p(z | x))", String(format: "%.1e", e.identityResidual))
        out.append("")
        out.append("5. Gradient ascent on the ELBO: the ELBO rises, the KL falls, their sum stays log p(x)")
        out.append("   " + "iteration".leftPadded(9) + "ELBO".leftPadded(18) + "KL(q ‖ p(z|x))".leftPadded(18) + "ELBO + KL".leftPadded(18))
        for row in e.trace {
            out.append("   " + String(row.iteration).leftPadded(9) + number(row.elbo).leftPadded(18)
                       + String(format: "%.3e", row.klToPosterior).leftPadded(18) + number(row.elbo + row.klToPosterior).leftPadded(18))
        }
        out.append("   final " + e.finalQ)
        if !intractability.isEmpty || !importance.isEmpty { out.append("") }
        if !intractability.isEmpty {
            out.append("6. Why the evidence is intractable in general")
            out.append("   Bayesian logistic regression (50 rows, Normal(0, 2²) priors) has no closed-form evidence. A grid of")
            out.append("   \(Intractability.pointsPerWeight) points per weight costs \(Intractability.pointsPerWeight)^d evaluations of the likelihood; a gradient step on the ELBO does not grow so:")
            out.append("   " + "weights".leftPadded(7) + "grid points".leftPadded(14) + "quadrature".leftPadded(14) + "log p(x)".leftPadded(14) + "ELBO step".leftPadded(14))
            for row in intractability {
                out.append("   " + String(row.dimension).leftPadded(7) + String(row.points).leftPadded(14)
                           + String(format: "%.4f s", row.quadratureSeconds).leftPadded(14)
                           + String(format: "%.4f", row.logEvidence).leftPadded(14)
                           + String(format: "%.1f µs", row.elboStepMicroseconds).leftPadded(14))
            }
            if let last = intractability.last {
                let years = last.quadratureSeconds * pow(Double(Intractability.pointsPerWeight), Double(20 - last.dimension)) / 3.15e7
                out.append(String(format: "   At this rate 20 weights would take about %.1e years on this machine.", years))
            }
            out.append("")
        }
        if !importance.isEmpty {
            out.append("   Importance sampling with the starting q as proposal approaches log p(x) = \(number(e.logEvidence)) as k grows:")
            out.append("   (one importance-sampled estimate from k draws, and the IWAE bound E[log (1/k) Σ w] averaged over repeats)")
            out.append("   " + "k".leftPadded(7) + "IS estimate".leftPadded(16) + "± se".leftPadded(10) + "IWAE bound".leftPadded(16)
                       + "± se".leftPadded(10) + "log p(x) − bound".leftPadded(20))
            for row in importance {
                out.append("   " + String(row.k).leftPadded(7) + String(format: "%.4f", row.estimate).leftPadded(16)
                           + (row.k == 1 ? "—" : String(format: "%.2g", row.standardError)).leftPadded(10)
                           + String(format: "%.4f", row.bound).leftPadded(16) + String(format: "%.2g", row.boundStandardError).leftPadded(10)
                           + String(format: "%.4f", e.logEvidence - row.bound).leftPadded(20))
            }
        }
        return out.joined(separator: "\n")
    }

    static func json(_ e: Explanation) -> String {
        let object: [String: Any] = [
            "logEvidence": e.logEvidence, "logEvidenceQuadrature": e.logEvidenceQuadrature,
            "quadraturePoints": e.quadraturePoints, "evidenceCheck": e.evidenceCheck.description,
            "expectedLogLikelihood": e.expectedLogLikelihood, "klToPrior": e.klToPrior, "elbo": e.elbo,
            "elboMonteCarlo": ["estimate": e.elboMonteCarlo.estimate, "standardError": e.elboMonteCarlo.standardError],
            "klToPosterior": e.klToPosterior, "identityResidual": e.identityResidual,
            "q": e.initialQ, "finalQ": e.finalQ,
            "trace": e.trace.map { ["iteration": $0.iteration, "elbo": $0.elbo, "klToPosterior": $0.klToPosterior] as [String: Any] },
        ]
        return JSONText.serialize(object)
    }
}

/// Writes a file atomically: to a temporary file beside it, flushed to disk, then renamed over the target.
enum AtomicFile {
    /// Fails early, before any work, when the file's folder does not exist.
    static func checkFolder(of path: String) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CommandError("\(path): the folder \(directory.path) does not exist")
        }
    }

    static func write(_ text: String, to path: String) throws {
        try checkFolder(of: path)
        try writeAtomically(Array(text.utf8), to: path)
    }
}

/// A bad argument or a failure the tool reports in one line (without the usage text that follows a
/// `ValidationError`), exiting with a non-zero status.
struct CommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

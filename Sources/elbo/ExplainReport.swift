import Foundation
import Variational

/// A self-contained HTML page (no network, inline SVG).
enum HTMLPage {
    static func escape(_ s: String) -> String { SVGPlot.escape(s) }

    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body { font-family: sans-serif; max-width: 860px; margin: 2em auto; color: #222; line-height: 1.45; }
        h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
        table { border-collapse: collapse; margin: 0.6em 0; } td, th { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; }
        td:first-child, th:first-child { text-align: left; } code, .formula { font-family: monospace; }
        .formula { background: #f6f6f6; padding: 0.5em 0.8em; display: inline-block; }
        </style></head>
        <body>
        \(body)
        </body></html>

        """
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        "<table><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr>\n"
            + rows.map { "<tr>" + $0.map { "<td>\(escape($0))</td>" }.joined() + "</tr>" }.joined(separator: "\n") + "</table>\n"
    }
}

enum ExplainReport {
    static func html<M: ExactExplanation>(_ model: M, _ table: DataTable, _ e: Explanation, svg: String) -> String {
        let n = ExplainText.number
        var body = "<h1>The ELBO, exactly</h1>\n<p>\(HTMLPage.escape(model.title))</p>\n"
        body += "<h2>The identity</h2>\n<p class=\"formula\">log p(x) = ELBO(q) + KL(q ‖ p(z|x)),&nbsp;&nbsp; ELBO(q) = E<sub>q</sub>[log p(x|z)] − KL(q ‖ p(z))</p>\n"
        body += "<p>The evidence p(x) = ∫ p(x|z) p(z) dz does not depend on q, so raising the ELBO lowers the KL divergence from q to the posterior by exactly as much.</p>\n"
        body += "<h2>Model and data</h2>\n" + HTMLPage.table(["", ""], [
            ["prior", model.priorDescription], ["likelihood", model.likelihoodDescription],
            ["data (\(table.source))", model.dataSummary], ["exact posterior", model.posteriorDescription],
        ])
        body += "<h2>The numbers</h2>\n" + HTMLPage.table(["quantity", "value"], [
            ["log p(x), closed form", n(e.logEvidence)],
            ["log p(x), \(e.evidenceCheck.description)", n(e.logEvidenceQuadrature)],
            ["q", e.initialQ],
            ["E_q[log p(x | z)]", n(e.expectedLogLikelihood)], ["KL(q ‖ p(z))", n(e.klToPrior)], ["ELBO", n(e.elbo)],
            ["ELBO by Monte Carlo", "\(n(e.elboMonteCarlo.estimate)) ± \(String(format: "%.2g", e.elboMonteCarlo.standardError))"],
            ["KL(q ‖ p(z | x))", n(e.klToPosterior)],
            ["log p(x) − ELBO − KL(q ‖ p(z | x))", String(format: "%.1e", e.identityResidual)],
        ])
        body += "<h2>Gradient ascent on q</h2>\n" + svg + HTMLPage.table(["iteration", "ELBO", "KL(q ‖ p(z|x))", "ELBO + KL"],
            e.trace.map { [String($0.iteration), n($0.elbo), String(format: "%.3e", $0.klToPosterior), n($0.elbo + $0.klToPosterior)] })
        body += "<p>final \(HTMLPage.escape(e.finalQ))</p>\n"
        return HTMLPage.page(title: "elbo explain — \(model.title)", body: body)
    }
}

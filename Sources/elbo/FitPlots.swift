import Foundation
import Variational

/// The plots and the HTML report of `elbo fit`.
enum FitPlots {
    /// The per-iteration ELBO estimates with their running mean over 50 iterations.
    static func traceSVG(_ report: FitReport) -> String {
        let trace = report.trace
        guard !trace.isEmpty else {
            return SVGPlot.document(width: 740, height: 120, "<text x=\"20\" y=\"60\" font-family=\"sans-serif\">no accepted iterations</text>\n")
        }
        let step = Swift.max(1, trace.count / 600)
        let raw = stride(from: 0, to: trace.count, by: step).map { (Double($0 + 1), trace[$0]) }
        var running: [(Double, Double)] = []
        var sum = 0.0
        for (i, value) in trace.enumerated() {
            sum += value
            if i >= 50 { sum -= trace[i - 50] }
            if i % step == 0 { running.append((Double(i + 1), sum / Double(Swift.min(i + 1, 50)))) }
        }
        // Leave out the first tenth of iterations from the y range when they would flatten the rest.
        let body = SVGPlot.panel(
            x: 90, y: 40, width: 600, height: 260, title: "ELBO estimates during the fit (\(report.estimator), \(report.family))",
            xTitle: "iteration", yTitle: "ELBO estimate (nats)",
            series: [
                .init(label: "per-iteration estimate", color: "#9ecae1", points: raw.suffix(Swift.max(raw.count * 9 / 10, 1)).map { ($0.0, $0.1) }),
                .init(label: "running mean of 50", color: "#08519c", points: running.suffix(Swift.max(running.count * 9 / 10, 1)).map { ($0.0, $0.1) }),
            ],
            logX: false, logY: false, legendAtBottom: true)
        return SVGPlot.document(width: 740, height: 360, body)
    }

    /// A histogram of the posterior draws of one element with the prior's density over the same range.
    static func marginalSVG(name: String, draws: [Double], prior: ((Double) -> Double?)?) -> String {
        let sorted = draws.sorted()
        let low = sorted[Int(Double(sorted.count - 1) * 0.005)]
        var high = sorted[Int(Double(sorted.count - 1) * 0.995)]
        if high <= low { high = low + 1 }
        let bins = 40
        let width = (high - low) / Double(bins)
        var counts = [Double](repeating: 0, count: bins)
        for v in draws where v >= low && v <= high { counts[Swift.min(Int((v - low) / width), bins - 1)] += 1 }
        let densities = counts.map { $0 / (Double(draws.count) * width) }
        var histogram: [(x: Double, y: Double)] = [(low, 0)]
        for (i, d) in densities.enumerated() {
            histogram.append((low + Double(i) * width, d))
            histogram.append((low + Double(i + 1) * width, d))
        }
        histogram.append((high, 0))
        var series = [SVGPlot.Series(label: "posterior (q draws)", color: "#1f77b4", points: histogram)]
        if let prior {
            let curve = (0...100).compactMap { i -> (x: Double, y: Double)? in
                let x = low + (high - low) * Double(i) / 100
                return prior(x).map { (x, Foundation.exp($0)) }
            }
            if !curve.isEmpty { series.append(.init(label: "prior", color: "#d62728", points: curve, dashed: true)) }
        }
        let body = SVGPlot.panel(x: 70, y: 30, width: 260, height: 150, title: name, xTitle: name, yTitle: "density",
                                 series: series, logX: false, logY: false)
        return SVGPlot.document(width: 350, height: 230, body)
    }

    static func html<M: ProbabilisticModel>(_ report: FitReport, model: M) -> String {
        let d = report.diagnostics
        let f = { (x: Double) in String(format: "%.4f", x) }
        var body = "<h1>elbo fit \(HTMLPage.escape(report.model))</h1>\n"
        body += "<p>Data \(HTMLPage.escape(report.dataSource)) (\(report.rows) rows); family \(report.family); estimator \(report.estimator), \(report.particles) particle(s); seed \(report.seed); \(report.iterations) iterations, \(report.converged ? "converged" : "not converged"); learning rate \(report.learningRate).</p>\n"
        body += "<h2>Is the fit trustworthy?</h2>\n"
        body += "<p>PSIS k̂ = <b>\(String(format: "%.2f", d.paretoK))</b> — <b>\(d.paretoVerdict)</b> (below 0.5 good, 0.5–0.7 usable, above 0.7 the importance ratios p(x, z)/q(z) have too heavy a tail to trust q or the importance-sampled evidence).</p>\n"
        var numbers = [["ELBO", "\(f(d.elbo)) ± \(f(d.elboStandardError))"],
                       ["log p(x), importance sampling", "\(f(d.logEvidence)) ± \(f(d.logEvidenceStandardError))"]]
        if let exact = report.exact {
            numbers.append(["exact log p(x)", f(exact.logEvidence)])
            numbers.append(["KL(q ‖ p(z|x)) (\(exact.klMethod))", exact.klText(f)])
        }
        body += HTMLPage.table(["quantity", "value"], numbers)
        body += "<h2>ELBO trace</h2>\n" + traceSVG(report)
        body += "<h2>Posterior summary (\(d.drawCount) draws from q)</h2>\n"
        var rows: [[String]] = []
        var plots: [String] = []
        for v in report.variables {
            for (i, name) in report.elementNames(v).enumerated() {
                let s = d.posterior[v.name]![i]
                var row = [name, f(s.mean), f(s.standardDeviation), f(s.q05), f(s.q50), f(s.q95)]
                if let e = report.exact?.posterior[v.name] { row += [f(e.mean[i]), f(e.standardDeviation[i])] }
                rows.append(row)
                if plots.count < 12, let draws = d.draws[v.name]?[i] {
                    plots.append(marginalSVG(name: name, draws: draws) { model.priorMarginalLogDensity(v.name, element: i, at: $0) })
                }
            }
        }
        body += HTMLPage.table(["name", "mean", "sd", "5%", "50%", "95%"] + (report.exact == nil ? [] : ["exact mean", "exact sd"]), rows)
        body += "<h2>Posterior marginals against the priors</h2>\n<div>" + plots.joined() + "</div>\n"
        for message in report.messages { body += "<p>note: \(HTMLPage.escape(message))</p>\n" }
        return HTMLPage.page(title: "elbo fit \(report.model)", body: body)
    }
}

import Foundation
import Variational

/// SVG line plots drawn by hand: no dependencies, readable axes and labels.
enum SVGPlot {
    struct Series {
        var label: String
        var color: String
        var points: [(x: Double, y: Double)]
        var dashed = false
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// "Nice" tick values covering [low, high].
    static func ticks(_ low: Double, _ high: Double, count: Int = 5) -> [Double] {
        guard high > low, low.isFinite, high.isFinite else { return [low] }
        let raw = (high - low) / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        // Ticks by index, not by repeated addition: where the step is below the values' spacing (a range of 1e-7
        // around 1e9) adding it changes nothing, and a loop waiting to pass `high` would never end.
        let first = ceil(low / step), last = floor(high / step + 1e-9)
        guard first.isFinite, last.isFinite, last >= first, last - first <= Double(4 * count),
              (first + 1) * step != first * step
        else { return [low, high] }
        return (0...Int(last - first)).map { (first + Double($0)) * step }
    }

    static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1e5 || abs(v) < 1e-3 { return String(format: "%.0e", v) }
        return String(format: "%g", (v * 1e6).rounded() / 1e6)
    }

    /// One panel: a frame, ticks, axis titles and the series. `transformX`/`transformY` map data to plot
    /// coordinates (identity or log), and tick labels show data values.
    static func panel(
        x: Double, y: Double, width: Double, height: Double, title: String, xTitle: String, yTitle: String,
        series: [Series], logX: Bool, logY: Bool, legendAtBottom: Bool = false
    ) -> String {
        let tx = { (v: Double) in logX ? log10(v + 1) : v }
        let ty = { (v: Double) in logY ? log10(Swift.max(v, 1e-300)) : v }
        let all = series.flatMap(\.points).filter { $0.y.isFinite }
        guard !all.isEmpty else { return "" }
        var (x0, x1) = (all.map { tx($0.x) }.min()!, all.map { tx($0.x) }.max()!)
        var (y0, y1) = (all.map { ty($0.y) }.min()!, all.map { ty($0.y) }.max()!)
        if x1 == x0 { x1 = x0 + 1 }
        if y1 == y0 { (y0, y1) = (y0 - 1, y1 + 1) }
        let pad = (y1 - y0) * 0.08
        (y0, y1) = (y0 - pad, y1 + pad)
        if !logX { x0 = Swift.min(x0, 0) }
        let px = { (v: Double) in x + (tx(v) - x0) / (x1 - x0) * width }
        let py = { (v: Double) in y + height - (ty(v) - y0) / (y1 - y0) * height }
        var s = "<g font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<text x=\"\(x)\" y=\"\(y - 10)\" font-size=\"14\" font-weight=\"bold\">\(escape(title))</text>\n"
        s += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(width)\" height=\"\(height)\" fill=\"none\" stroke=\"#444\"/>\n"
        let yTicks = logY ? ticks(y0, y1).map { pow(10, $0.rounded()) }.uniqued() : ticks(y0, y1)
        for v in yTicks where ty(v) >= y0 && ty(v) <= y1 {
            let p = py(v)
            s += "<line x1=\"\(x - 4)\" y1=\"\(p)\" x2=\"\(x + width)\" y2=\"\(p)\" stroke=\"#ddd\"/>\n"
            s += "<text x=\"\(x - 6)\" y=\"\(p + 4)\" text-anchor=\"end\">\(label(v))</text>\n"
        }
        let xTicks = logX ? [0.0, 1, 10, 100, 1000, 10_000, 100_000].filter { tx($0) <= x1 + 1e-9 } : ticks(x0, x1)
        for v in xTicks {
            let p = px(v)
            s += "<line x1=\"\(p)\" y1=\"\(y + height)\" x2=\"\(p)\" y2=\"\(y + height + 4)\" stroke=\"#444\"/>\n"
            s += "<text x=\"\(p)\" y=\"\(y + height + 17)\" text-anchor=\"middle\">\(label(v))</text>\n"
        }
        s += "<text x=\"\(x + width / 2)\" y=\"\(y + height + 34)\" text-anchor=\"middle\">\(escape(xTitle))</text>\n"
        s += "<text transform=\"translate(\(x - 58) \(y + height / 2)) rotate(-90)\" text-anchor=\"middle\">\(escape(yTitle))</text>\n"
        let seriesCount = series.count
        for (i, series) in series.enumerated() {
            let path = series.points.filter { $0.y.isFinite }.map { String(format: "%.2f,%.2f", px($0.x), py($0.y)) }.joined(separator: " ")
            s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"2\"\(series.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            let ly = legendAtBottom ? y + height - 10 - Double(seriesCount - 1 - i) * 16 : y + 16 + Double(i) * 16
            s += "<line x1=\"\(x + width - 210)\" y1=\"\(ly - 4)\" x2=\"\(x + width - 185)\" y2=\"\(ly - 4)\" stroke=\"\(series.color)\" stroke-width=\"2\"\(series.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            s += "<text x=\"\(x + width - 180)\" y=\"\(ly)\">\(escape(series.label))</text>\n"
        }
        return s + "</g>\n"
    }

    static func document(width: Int, height: Int, _ body: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n" + body + "</svg>\n"
    }
}

extension Array where Element == Double {
    func uniqued() -> [Double] {
        var seen: [Double] = []
        for v in self where !seen.contains(v) { seen.append(v) }
        return seen
    }
}

/// The optimisation trace of `elbo explain`: the ELBO rising to the fixed log p(x), the KL falling.
enum TracePlot {
    static func svg(_ e: Explanation) -> String {
        let iterations = e.trace.map { Double($0.iteration) }
        let elbo = SVGPlot.Series(label: "ELBO(q)", color: "#1f77b4", points: zip(iterations, e.trace.map(\.elbo)).map { ($0, $1) })
        let evidence = SVGPlot.Series(label: "log p(x) (fixed)", color: "#d62728",
                                      points: [(iterations.first!, e.logEvidence), (iterations.last!, e.logEvidence)], dashed: true)
        let gap = SVGPlot.Series(label: "log p(x) − KL(q ‖ p(z|x))", color: "#2ca02c",
                                 points: zip(iterations, e.trace.map { e.logEvidence - $0.klToPosterior }).map { ($0, $1) }, dashed: true)
        let kl = SVGPlot.Series(label: "KL(q ‖ p(z|x))", color: "#ff7f0e",
                                points: zip(iterations, e.trace.map { Swift.max($0.klToPosterior, 1e-16) }).map { ($0, $1) })
        let top = SVGPlot.panel(x: 90, y: 40, width: 600, height: 220, title: "The ELBO rises to the evidence",
                                xTitle: "iteration of gradient ascent", yTitle: "nats", series: [elbo, gap, evidence], logX: true, logY: false,
                                legendAtBottom: true)
        let bottom = SVGPlot.panel(x: 90, y: 340, width: 600, height: 200, title: "The KL divergence to the posterior falls",
                                   xTitle: "iteration of gradient ascent", yTitle: "nats (log scale)", series: [kl], logX: true, logY: true)
        return SVGPlot.document(width: 740, height: 600, top + bottom)
    }
}

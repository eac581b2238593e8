import ArgumentParser
import Foundation
import Variational

/// `elbo vae report DIR --html FILE`: a self-contained page with the learning curves and both image grids.
struct VAEReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Write a self-contained HTML report of a run: settings, learning curves, samples and reconstructions.")

    @Argument(help: "The run's folder.")
    var directory: String

    @Option(help: "The HTML file to write.")
    var html: String

    func run() throws {
        try AtomicFile.checkFolder(of: html)
        let record = try VAERunRecord.read(from: directory)
        let grids = try VAEImages.withTrainedModel(directory) { vae, test in
            VAEImages.samples(vae, count: 64, seed: 0) + VAEImages.reconstructionPairs(vae, test, count: 32)
        }
        let samples = Array(grids.images.prefix(64)), pairs = Array(grids.images.dropFirst(64))
        func png(_ images: [[Float]], across: Int) -> String {
            let grid = PNG.grid(images, rows: grids.rows, columns: grids.columns, across: Swift.min(across, images.count))
            let bytes = PNG.greyscale(width: grid.width, height: grid.height, intensities: grid.intensities)
            return "<img alt=\"grid\" style=\"image-rendering: pixelated; width: \(grid.width * 2)px; max-width: 100%\" src=\"data:image/png;base64,\(Data(bytes).base64EncodedString())\">"
        }
        try AtomicFile.write(Self.page(record, directory: directory, samples: png(samples, across: 8), pairs: png(pairs, across: 16)), to: html)
    }

    static func page(_ record: VAERunRecord, directory: String, samples: String, pairs: String) -> String {
        let c = record.configuration
        var body = "<h1>elbo vae: \(HTMLPage.escape(directory))</h1>\n"
        body += "<p>\(c.model.rawValue), \(c.decoder.rawValue) decoder, hidden \(c.hiddenDescription) (\(c.activation.rawValue)), \(c.latentDescription) latent units, k = \(c.k)\(c.dreg ? " (DReG)" : ""); data \(HTMLPage.escape(c.data ?? "built-in synthetic images")), binarisation \(c.binarize.rawValue); batch \(c.batch), Adam at \(c.learningRate) (\(c.schedule.rawValue) schedule), seed \(c.seed).</p>\n"
        if let last = record.history.last {
            body += "<p>After \(last.epoch) of \(c.epochs) epochs: training loss \(String(format: "%.3f", last.trainLoss)), \(last.heldOutSet) negative ELBO <b>\(String(format: "%.3f", last.heldOutLoss))</b> nats per image.</p>\n"
        }
        let train = record.history.map { (Double($0.epoch), $0.trainLoss) }
        let heldOut = record.history.map { (Double($0.epoch), $0.heldOutLoss) }
        let curve = SVGPlot.panel(
            x: 90, y: 40, width: 600, height: 260, title: "Loss per image", xTitle: "epoch", yTitle: "nats per image",
            series: [
                .init(label: "training loss", color: "#9ecae1", points: train),
                .init(label: "\(record.history.first?.heldOutSet ?? "held-out") negative ELBO", color: "#08519c", points: heldOut),
            ],
            logX: record.history.count > 30, logY: false, legendAtBottom: true)
        body += "<h2>Learning curves</h2>\n" + (record.history.isEmpty ? "<p>no epoch finished yet</p>\n" : SVGPlot.document(width: 740, height: 360, curve))
        body += "<h2>Samples: decoder means at draws of the prior</h2>\n" + samples + "\n"
        body += "<h2>Test images (odd columns) and their reconstructions from E[z | x]</h2>\n" + pairs + "\n"
        let rows = record.history.suffix(50).map { h in
            ["\(h.epoch)", String(format: "%.3f", h.trainLoss), String(format: "%.3f", h.heldOutLoss), String(format: "%.1f", h.seconds), "\(h.learningRate)"]
        }
        body += "<h2>Epochs\(record.history.count > 50 ? " (the last 50)" : "")</h2>\n"
        body += HTMLPage.table(["epoch", "training loss", "held-out −ELBO", "seconds", "learning rate"], rows)
        for message in record.messages { body += "<p>note: \(HTMLPage.escape(message))</p>\n" }
        return HTMLPage.page(title: "elbo vae \(directory)", body: body)
    }
}

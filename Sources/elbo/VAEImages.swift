import ArgumentParser
import Foundation
import Variational

/// `elbo vae sample DIR --png FILE`: images decoded from draws of the prior.
struct VAESample: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sample", abstract: "Write a PNG grid of images decoded from z ~ N(0, I).")

    @Argument(help: "The run's folder.")
    var directory: String

    @Option(help: "The PNG file to write.")
    var png: String

    @Option(help: "How many images (default 64).")
    var count: Int = 64

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    func validate() throws {
        if !(1...1024).contains(count) { throw CommandError("--count must be between 1 and 1024, got \(count)") }
    }

    func run() throws {
        try AtomicFile.checkFolder(of: png)
        let (count, seed) = (self.count, self.seed)
        let images = try VAEImages.withTrainedModel(directory) { vae, _ in VAEImages.samples(vae, count: count, seed: seed) }
        try VAEImages.write(images.images, rows: images.rows, columns: images.columns, across: 8, to: png)
    }
}

/// `elbo vae reconstruct DIR --png FILE`: test images beside their reconstructions.
struct VAEReconstruct: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconstruct", abstract: "Write a PNG of test images (odd columns) beside their reconstructions from z = E[z | x] (even columns).")

    @Argument(help: "The run's folder.")
    var directory: String

    @Option(help: "The PNG file to write.")
    var png: String

    @Option(help: "How many test images (default 32).")
    var count: Int = 32

    func validate() throws {
        if !(1...512).contains(count) { throw CommandError("--count must be between 1 and 512, got \(count)") }
    }

    func run() throws {
        try AtomicFile.checkFolder(of: png)
        let count = self.count
        let images = try VAEImages.withTrainedModel(directory) { vae, test in VAEImages.reconstructionPairs(vae, test, count: count) }
        try VAEImages.write(images.images, rows: images.rows, columns: images.columns, across: 16, to: png)
    }
}

enum VAEImages {
    /// Decoder means at `count` draws z ~ N(0, I), one image a row.
    static func samples(_ vae: any ImageMaker, count: Int, seed: UInt64) -> [[Float]] {
        var generator = SeededGenerator(seed: seed)
        return rows(of: vae.decoder.mean(given: Tensor<Float>(randomNormal: [count, vae.latentDimension], using: &generator)))
    }

    /// The first `count` test images, each followed by its reconstruction from E[z | x].
    static func reconstructionPairs(_ vae: any ImageMaker, _ test: ImageDataset, count: Int) -> [[Float]] {
        let x: Tensor<Float> = test.batch(Array(0..<Swift.min(count, test.count))[...])
        let reconstructions = rows(of: vae.decoder.mean(given: vae.encoder.posterior(given: x).mean))
        return zip(rows(of: x), reconstructions).flatMap { [$0, $1] }
    }

    /// The rows of a matrix, as arrays.
    static func rows(of matrix: Tensor<Float>) -> [[Float]] {
        let width = matrix.shape[1]
        return (0..<matrix.shape[0]).map { Array(matrix.scalars[($0 * width)..<(($0 + 1) * width)]) }
    }

    /// Loads the run in `directory` and calls `body` with its VAE and test images.
    static func withTrainedModel(
        _ directory: String, _ body: @escaping (any ImageMaker, ImageDataset) -> [[Float]]
    ) throws -> (images: [[Float]], rows: Int, columns: Int) {
        let record = try VAERunRecord.read(from: directory)
        let data = try VAEData.load(record.configuration)
        let images = try record.configuration.withModel(inputs: data.train.dimension, Loader(directory: directory, data: data, body: body))
        return (images, data.test.rows, data.test.columns)
    }

    static func write(_ images: [[Float]], rows: Int, columns: Int, across: Int, to path: String) throws {
        let grid = PNG.grid(images, rows: rows, columns: columns, across: Swift.min(across, images.count))
        try writeAtomically(PNG.greyscale(width: grid.width, height: grid.height, intensities: grid.intensities), to: path)
    }

    struct Loader: VAEVisitor {
        let directory: String
        let data: VAEData
        let body: (any ImageMaker, ImageDataset) -> [[Float]]

        func visit<D: ObservationModel, E: ELBOEstimator>(
            _ vae: VariationalAutoencoder<VAEFactory.Encoder, D>, _ estimator: E, klWeight: WritableKeyPath<E, Double>?
        ) throws -> [[Float]] where D.Scalar == Float {
            let trained = try VAECheckpoint.trained(vae, estimator, directory: directory, train: data.train)
            return body(TrainedVAE(vae: trained), data.test)
        }
    }
}

/// What the image commands need of a trained VAE, whatever its decoder.
protocol ImageMaker {
    var latentDimension: Int { get }
    var encoder: VAEFactory.Encoder { get }
    var decoder: any MeanDecoder { get }
}

protocol MeanDecoder {
    func mean(given z: Tensor<Float>) -> Tensor<Float>
}

struct TrainedVAE<D: ObservationModel>: ImageMaker where D.Scalar == Float {
    let vae: VariationalAutoencoder<VAEFactory.Encoder, D>
    var latentDimension: Int { vae.latentDimension }
    var encoder: VAEFactory.Encoder { vae.encoder }
    var decoder: any MeanDecoder { DecoderMean(decoder: vae.decoder) }
}

struct DecoderMean<D: ObservationModel>: MeanDecoder where D.Scalar == Float {
    let decoder: D
    func mean(given z: Tensor<Float>) -> Tensor<Float> { decoder.mean(given: z) }
}

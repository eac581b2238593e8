import ArgumentParser
import Foundation
import Variational

/// `elbo vae sample DIR --png FILE`: images decoded from draws of the prior.
struct VAESample: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sample", abstract: "Write a PNG grid of images decoded from draws of the prior (z ~ N(0, I)).")

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
    /// Decoder means at `count` draws of the prior, one image a row.
    static func samples(_ vae: TrainedImages, count: Int, seed: UInt64) -> [[Float]] { rows(of: vae.samples(count, seed)) }

    /// The first `count` test images, each followed by its reconstruction from E[z | x].
    static func reconstructionPairs(_ vae: TrainedImages, _ test: ImageDataset, count: Int) -> [[Float]] {
        let x: Tensor<Float> = test.batch(Array(0..<Swift.min(count, test.count))[...])
        return zip(rows(of: x), rows(of: vae.reconstructions(x))).flatMap { [$0, $1] }
    }

    /// The rows of a matrix, as arrays.
    static func rows(of matrix: Tensor<Float>) -> [[Float]] {
        let width = matrix.shape[1]
        return (0..<matrix.shape[0]).map { Array(matrix.scalars[($0 * width)..<(($0 + 1) * width)]) }
    }

    /// Loads the run in `directory` and calls `body` with its VAE and test images.
    static func withTrainedModel(
        _ directory: String, _ body: @escaping (TrainedImages, ImageDataset) -> [[Float]]
    ) throws -> (images: [[Float]], rows: Int, columns: Int) {
        let record = try VAERunRecord.read(from: directory)
        let data = try VAEData.load(record.configuration)
        let images = try record.configuration.withModel(train: data.train, Loader(directory: directory, data: data, body: body))
        return (images, data.test.rows, data.test.columns)
    }

    static func write(_ images: [[Float]], rows: Int, columns: Int, across: Int, to path: String) throws {
        let grid = PNG.grid(images, rows: rows, columns: columns, across: Swift.min(across, images.count))
        try writeAtomically(PNG.greyscale(width: grid.width, height: grid.height, intensities: grid.intensities), to: path)
    }

    struct Loader: VAEVisitor {
        let directory: String
        let data: VAEData
        let body: (TrainedImages, ImageDataset) -> [[Float]]

        func visit<P: AmortizedModel, E: ELBOEstimator>(_ vae: P, _ estimator: E, klWeight: WritableKeyPath<E, Double>?) throws -> [[Float]]
        where P.Scalar == Float {
            let trained = try VAECheckpoint.trained(vae, estimator, directory: directory, train: data.train)
            let images = TrainedImages(
                samples: { count, seed in
                    var generator = SeededGenerator(seed: seed)
                    return trained.samples(count: count, using: &generator)
                },
                reconstructions: { trained.reconstructions(of: $0) })
            return body(images, data.test)
        }
    }
}

/// What the image commands need of a trained VAE, whatever its type: decoder means at (count, seed) draws of the
/// prior, and at the posterior means of a batch.
struct TrainedImages {
    let samples: (Int, UInt64) -> Tensor<Float>
    let reconstructions: (Tensor<Float>) -> Tensor<Float>
}

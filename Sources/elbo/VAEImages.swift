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
        let images = try VAEImages.withTrainedModel(directory) { vae, data in
            var generator = SeededGenerator(seed: seed)
            let z = Tensor<Float>(randomNormal: [count, vae.latentDimension], using: &generator)
            let means = vae.decoder.mean(given: z)
            return (0..<count).map { Array(means.scalars[($0 * data.dimension)..<(($0 + 1) * data.dimension)]) }
        }
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
        let images = try VAEImages.withTrainedModel(directory) { vae, data in
            let n = Swift.min(count, data.count)
            let x: Tensor<Float> = data.batch(Array(0..<n)[...])
            let means = vae.decoder.mean(given: vae.encoder.posterior(given: x).mean)
            let d = data.dimension
            var images: [[Float]] = []
            for i in 0..<n {
                let range = (i * d)..<((i + 1) * d)
                images.append(Array(x.scalars[range]))
                images.append(Array(means.scalars[range]))
            }
            return images
        }
        try VAEImages.write(images.images, rows: images.rows, columns: images.columns, across: 16, to: png)
    }
}

enum VAEImages {
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
            _ vae: VariationalAutoencoder<VAEFactory.Encoder, D>, _ estimator: E
        ) throws -> [[Float]] where D.Scalar == Float {
            var trainer = Trainer(problem: vae, estimator: estimator, optimizer: Adam())
            let structure = trainer.parameterStructure(batch: data.train.batch([0][...]))
            try trainer.loadCheckpoint(from: (directory as NSString).appendingPathComponent("checkpoint.safetensors"), structure: structure)
            return body(TrainedVAE(vae: trainer.problem), data.test)
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

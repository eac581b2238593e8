import Foundation
import Variational

/// Everything that determines a VAE training run, saved beside its checkpoint as run.json.
struct VAERunConfiguration: Codable, Equatable {
    /// The data folder, or nil for the built-in synthetic images.
    var data: String?
    /// Training images of the built-in synthetic set (its test set has a sixth as many, at most 1,000).
    var syntheticImages: Int
    var binarize: Binarization
    var model: VAEModelChoice
    var decoder: DecoderChoice
    /// σ of the Gaussian decoder with a fixed variance.
    var decoderStandardDeviation: Double
    /// The Bernoulli decoder's first output bias (nil: zero, as runs made before the choice existed).
    var decoderBias: DecoderBiasChoice?
    /// Latent units of the (lowest) stochastic layer.
    var latent: Int
    /// The encoder's hidden sizes from the data to the (lowest) layer; the decoder mirrors them.
    var hidden: [Int]
    /// Latent units of a second stochastic layer (nil: one layer).
    var topLatent: Int?
    /// Hidden sizes from the first stochastic layer to the second (mirrored in the prior p(z₁ | z₂)).
    var topHidden: [Int]?
    /// The prior of a one-layer VAE (nil: the standard normal).
    var prior: PriorChoice?
    /// The VampPrior's pseudo-inputs.
    var pseudoInputs: Int?
    /// The dVAE's latents (nil for Gaussian latents).
    var discrete: DiscreteSettings?
    /// The DDPM's steps T (nil for the other models).
    var diffusionSteps: Int?
    /// What the DDPM's gradient follows (nil: elbo).
    var diffusionLoss: DiffusionLossChoice?
    /// What the DDPM's network corrects (nil: nothing, as runs made before the baseline existed).
    var diffusionBaseline: DiffusionBaselineChoice?
    /// The DDPM's noise predictor (nil: mlp, as runs made before the choice existed).
    var diffusionNetwork: DiffusionNetworkChoice?
    var activation: ActivationChoice
    var k: Int
    var dreg: Bool
    var beta: Double
    var freeBits: Double
    var warmupEpochs: Double
    var epochs: Int
    var batch: Int
    var learningRate: Double
    /// constant, or burda: stages i = 0, 1, … of 3^i epochs at learningRate · 10^(−i/7) (Burda et al. 2016).
    var schedule: ScheduleChoice
    var adamEpsilon: Double
    var seed: UInt64
    /// Training images held out for validation when the data has no validation split of its own (0: report the
    /// test set instead).
    var validation: Int
}

extension VAERunConfiguration {
    var isHierarchical: Bool { topLatent != nil }
    var hasClosedFormKL: Bool { !isHierarchical && (prior ?? .standard) == .standard && discrete?.relaxation != .score }

    /// "20", "100,50" or "30 × 10 categorical".
    var latentDescription: String {
        if let diffusionSteps { return "\(diffusionSteps) diffusion steps of" }
        if let discrete { return "\(discrete.variables) × \(discrete.classes) categorical" }
        return ([latent] + (topLatent.map { [$0] } ?? [])).map(String.init).joined(separator: ",")
    }

    /// "400" or "200,200/100,100".
    var hiddenDescription: String {
        ([hidden] + (topHidden.map { [$0] } ?? [])).map { $0.map(String.init).joined(separator: ",") }.joined(separator: "/")
    }
}

extension Binarization: Codable {}

enum VAEModelChoice: String, Codable, CaseIterable {
    case vae, betaVAE = "beta-vae", iwae, dvae, ddpm
}

/// What a DDPM's gradient follows: its ELBO's terms, or DDPM's simplified loss.
enum DiffusionLossChoice: String, Codable, CaseIterable {
    case elbo, simple
}

/// What a DDPM's noise predictor adds its network's output to: the best predictor for independent Gaussian pixels
/// with the training images' moments, or nothing.
enum DiffusionBaselineChoice: String, Codable, CaseIterable {
    case gaussian, none
}

/// A DDPM's noise predictor: an MLP on [x_t, embedding of t], or one that gives the embedding to every layer.
enum DiffusionNetworkChoice: String, Codable, CaseIterable {
    case mlp, conditioned
}

/// How a dVAE's discrete latents are trained.
enum RelaxationChoice: String, Codable, CaseIterable {
    case gumbelSoftmax = "gumbel-softmax", straightThrough = "straight-through", score

    var relaxation: DiscreteVAE<DenseStack<Float>, BernoulliDecoder<DenseStack<Float>>>.Relaxation {
        switch self {
        case .gumbelSoftmax: return .gumbelSoftmax
        case .straightThrough: return .straightThrough
        case .score: return .none
        }
    }
}

/// The dVAE's latents and its temperature schedule, τ = max(τ_min, τ₀ e^(−r·step)), set at the start of each epoch.
struct DiscreteSettings: Codable, Equatable {
    var variables: Int
    var classes: Int
    var relaxation: RelaxationChoice
    var temperature: Double
    var minimumTemperature: Double
    var annealRate: Double

    func temperature(atStep step: Int) -> Double {
        Swift.max(minimumTemperature, temperature * Foundation.exp(-annealRate * Double(step)))
    }
}

enum PriorChoice: String, Codable, CaseIterable {
    case standard, vamp
}

enum ScheduleChoice: String, Codable, CaseIterable {
    case constant, burda

    /// The learning rate of epoch `epoch` (0-based) for a base rate.
    func rate(epoch: Int, base: Double) -> Double {
        switch self {
        case .constant: return base
        case .burda:
            var (stage, end) = (0, 1)
            while epoch >= end {
                stage += 1
                end += Int(Foundation.pow(3, Double(stage)))
            }
            return base * Foundation.pow(10, -Double(stage) / 7)
        }
    }
}

enum DecoderChoice: String, Codable, CaseIterable {
    case bernoulli, gaussian, gaussianLearned = "gaussian-learned", squaredError = "squared-error"
}

/// Where a Bernoulli decoder's output bias starts: at zero (each pixel ½), or at the logits of the training images'
/// pixel means (the mean image, as Burda et al.'s code starts).
enum DecoderBiasChoice: String, Codable, CaseIterable {
    case zero, mean
}

enum ActivationChoice: String, Codable, CaseIterable {
    case relu, tanh, elu, softplus

    var activation: Activation {
        switch self {
        case .relu: return .relu
        case .tanh: return .tanh
        case .elu: return .elu
        case .softplus: return .softplus
        }
    }
}

/// One line of the learning curve.
struct VAEEpochRecord: Codable {
    var epoch: Int
    /// The training loss per image (negative ELBO, or negative IWAE bound for iwae), averaged over the epoch.
    var trainLoss: Double
    /// The held-out negative ELBO per image.
    var heldOutLoss: Double
    var heldOutSet: String
    var seconds: Double
    var learningRate: Double
    var rejectedSteps: Int
    /// τ of a dVAE's relaxation during the epoch.
    var temperature: Double?
}

/// run.json: the configuration, the learning curve and what happened along the way.
struct VAERunRecord: Codable {
    var configuration: VAERunConfiguration
    var history: [VAEEpochRecord]
    var messages: [String]

    static func read(from directory: String) throws -> VAERunRecord {
        let path = (directory as NSString).appendingPathComponent("run.json")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandError("\(path): no run here (train one with elbo vae train --out \(directory))")
        }
        let record: VAERunRecord
        do {
            record = try JSONDecoder().decode(VAERunRecord.self, from: data)
        } catch {
            throw CommandError("\(path): not a run record (\(error))")
        }
        // A record edited by hand (or damaged) is checked as the options that made it were.
        do {
            try VAETrain.check(record.configuration)
        } catch let error as CommandError {
            throw CommandError("\(path): \(error.description)")
        }
        return record
    }

    func write(to directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        try writeAtomically(Array(data), to: (directory as NSString).appendingPathComponent("run.json"))
    }
}

/// The images of a run: training, held out (validation or test) and test.
struct VAEData {
    var train: ImageDataset
    var heldOut: ImageDataset
    var heldOutName: String
    var test: ImageDataset

    /// Reads the data a configuration names: a folder of MNIST IDX files, a folder of binarised-MNIST .amat files,
    /// a folder holding mnist/ and binarized_mnist/ (the fixed binarisation picks the latter), or the built-in
    /// synthetic images.
    static func load(_ configuration: VAERunConfiguration) throws -> VAEData {
        let fileManager = FileManager.default
        guard let folder = configuration.data else {
            let train = SyntheticDigits.generate(count: configuration.syntheticImages, seed: 1)
            let test = SyntheticDigits.generate(count: Swift.max(1, Swift.min(1000, configuration.syntheticImages / 6)), seed: 2)
            return try split(train: train, validation: nil, test: test, configuration)
        }
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CommandError("--data \(folder): no such folder")
        }
        func inFolder(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        func has(_ name: String) -> Bool { fileManager.fileExists(atPath: inFolder(name)) }
        if has(MNIST.trainImages) {
            let (train, test) = try MNIST.readIDXDirectory(folder)
            return try split(train: train, validation: nil, test: test, configuration)
        }
        if has("binarized_mnist_train.amat.gz") || has("binarized_mnist_train.amat") {
            let (train, validation, test) = try MNIST.readBinarizedDirectory(folder)
            return try split(train: train, validation: validation, test: test, configuration)
        }
        if has("mnist") || has("binarized_mnist") {
            var inner = configuration
            inner.data = inFolder(configuration.binarize == .fixed ? "binarized_mnist" : "mnist")
            return try load(inner)
        }
        throw CommandError("--data \(folder): holds neither MNIST's IDX files (\(MNIST.trainImages), …) nor binarized_mnist_*.amat(.gz)")
    }

    static func split(train: ImageDataset, validation: ImageDataset?, test: ImageDataset, _ configuration: VAERunConfiguration) throws -> VAEData {
        if configuration.binarize == .fixed && !(train.isBinary && test.isBinary) {
            throw CommandError("--binarize fixed needs binary images; these are grey levels (use dynamic or none)")
        }
        if let validation { return VAEData(train: train, heldOut: validation, heldOutName: "validation", test: test) }
        let n = configuration.validation
        guard n > 0 else { return VAEData(train: train, heldOut: test, heldOutName: "test", test: test) }
        guard n < train.count else { throw CommandError("--validation \(n) leaves no training images (there are \(train.count))") }
        return VAEData(
            train: train.subset(0..<(train.count - n)), heldOut: train.subset((train.count - n)..<train.count),
            heldOutName: "validation", test: test)
    }
}

/// The networks of a run: MLP encoders with two heads and MLP decoders, in Float.
enum VAEFactory {
    typealias Encoder = GaussianEncoder<DenseStack<Float>>

    /// A Gaussian layer: an MLP from `inputs` through `hidden`, then the two heads to `latent` units.
    static func gaussianLayer(inputs: Int, hidden: [Int], latent: Int, _ c: VAERunConfiguration, using generator: inout SeededGenerator) -> Encoder {
        let body = DenseStack<Float>(sizes: [inputs] + hidden, activation: c.activation.activation, finalActivation: c.activation.activation, using: &generator)
        return GaussianEncoder(body: body, hiddenSize: hidden.last!, latentDimension: latent, using: &generator)
    }

    static func decoderNetwork(_ c: VAERunConfiguration, outputs: Int, using generator: inout SeededGenerator) -> DenseStack<Float> {
        DenseStack<Float>(sizes: [c.latent] + c.hidden.reversed() + [outputs], activation: c.activation.activation, using: &generator)
    }
}

/// Runs `body` with the run's VAE (fresh, from the configuration's seed) and its estimator, whatever their types.
/// `klWeight` reaches the estimator's KL weight where it has one (for a warm-up).
protocol VAEVisitor {
    associatedtype Result
    func visit<P: AmortizedModel, E: ELBOEstimator>(_ vae: P, _ estimator: E, klWeight: WritableKeyPath<E, Double>?) throws -> Result
    where P.Scalar == Float
}

/// Where a run keeps its checkpoint, and how the generator's state is written in its metadata.
enum VAECheckpoint {
    static func path(in directory: String) -> String { (directory as NSString).appendingPathComponent("checkpoint.safetensors") }

    static func encode(_ generator: SeededGenerator) -> String {
        generator.stateWords.map { String($0, radix: 16) }.joined(separator: ",")
    }

    static func generator(from metadata: [String: String]) -> SeededGenerator? {
        metadata["generator"].flatMap { text in SeededGenerator(stateWords: text.split(separator: ",").compactMap { UInt64($0, radix: 16) }) }
    }

    /// The VAE with the parameters of the checkpoint in `directory`.
    static func trained<P: AmortizedModel, E: ELBOEstimator>(_ vae: P, _ estimator: E, directory: String, train: ImageDataset) throws -> P
    where P.Scalar == Float {
        var trainer = Trainer(problem: vae, estimator: estimator, optimizer: Adam())
        let structure = trainer.parameterStructure(batch: train.batch([0][...]))
        try trainer.loadCheckpoint(from: path(in: directory), structure: structure)
        return trainer.problem
    }
}

extension VAERunConfiguration {
    /// `train` gives the input size, and the VampPrior's first pseudo-inputs: training images drawn with the seed.
    func withModel<V: VAEVisitor>(train: ImageDataset, _ visitor: V) throws -> V.Result {
        let inputs = train.dimension
        var generator = SeededGenerator(seed: seed)
        if let diffusionSteps {
            let embedding = 32
            let baseline = diffusionBaseline == .gaussian ? PixelGaussian(momentsInUnitInterval: train.pixelMoments(binarization: binarize)) : nil
            func visit<Network: Layer>(_ network: Network) throws -> V.Result where Network.Scalar == Float {
                let ddpm = DiffusionModel(
                    network: network, dimension: inputs, steps: diffusionSteps, embeddingSize: embedding,
                    weighting: diffusionLoss == .simple ? .simple : .elbo, baseline: baseline)
                return try visitor.visit(ddpm, ReparameterizedELBO(particleCount: k, useClosedFormEntropy: false), klWeight: nil)
            }
            if diffusionNetwork == .conditioned {
                return try visit(ConditionedStack<Float>(
                    sizes: [inputs] + hidden + [inputs], conditionSize: embedding, activation: activation.activation, using: &generator))
            }
            return try visit(DenseStack<Float>(sizes: [inputs + embedding] + hidden + [inputs], activation: activation.activation, using: &generator))
        }
        if let discrete {
            let units = discrete.variables * discrete.classes
            let activation = self.activation.activation
            let encoder = DenseStack<Float>(sizes: [inputs] + hidden + [units], activation: activation, using: &generator)
            let network = DenseStack<Float>(sizes: [units] + hidden.reversed() + [inputs], activation: activation, using: &generator)
            guard decoder == .bernoulli else { throw CommandError("--model dvae takes the bernoulli decoder") }
            let vae = DiscreteVAE(
                encoder: encoder, decoder: BernoulliDecoder(network: network), variables: discrete.variables, classes: discrete.classes,
                temperature: discrete.temperature, relaxation: discrete.relaxation.relaxation)
            if discrete.relaxation == .score { return try visitor.visit(vae, ScoreFunctionELBO(particleCount: k), klWeight: nil) }
            return try visitor.visit(vae, AnalyticKLELBO(particleCount: k, klWeight: beta, freeBits: freeBits), klWeight: \.klWeight)
        }
        let encoder = VAEFactory.gaussianLayer(inputs: inputs, hidden: hidden, latent: latent, self, using: &generator)
        var network = VAEFactory.decoderNetwork(self, outputs: inputs, using: &generator)
        if decoderBias == .mean {
            network.layers[network.layers.count - 1].bias = Tensor(train.pixelMeanLogits(binarization: binarize).map { Float($0) })
        }
        switch decoder {
        case .bernoulli:
            return try withDecoder(BernoulliDecoder(network: network), encoder, train, &generator, visitor)
        case .gaussian:
            return try withDecoder(GaussianDecoder(network: network, outputSize: inputs, variance: .fixed(standardDeviation: decoderStandardDeviation)), encoder, train, &generator, visitor)
        case .gaussianLearned:
            return try withDecoder(GaussianDecoder(network: network, outputSize: inputs, variance: .learned), encoder, train, &generator, visitor)
        case .squaredError:
            return try withDecoder(GaussianDecoder(network: network, outputSize: inputs, variance: .squaredError), encoder, train, &generator, visitor)
        }
    }

    /// One stochastic layer, or two: then q(z₂ | z₁) and p(z₁ | z₂) are MLPs through `topHidden` and its mirror.
    private func withDecoder<D: ObservationModel, V: VAEVisitor>(
        _ decoder: D, _ encoder: VAEFactory.Encoder, _ train: ImageDataset, _ generator: inout SeededGenerator, _ visitor: V
    ) throws -> V.Result where D.Scalar == Float {
        guard let topLatent, let topHidden else {
            if prior == .vamp {
                var indices = Array(0..<train.count)
                indices.shuffle(using: &generator)
                let pseudo: Tensor<Float> = train.batch(indices.prefix(Swift.min(pseudoInputs ?? 500, train.count)))
                return try withEstimator(VampPriorVAE(encoder: encoder, decoder: decoder, pseudoInputs: pseudo), visitor)
            }
            return try withEstimator(VariationalAutoencoder(encoder: encoder, decoder: decoder), visitor)
        }
        let topEncoder = VAEFactory.gaussianLayer(inputs: latent, hidden: topHidden, latent: topLatent, self, using: &generator)
        let prior = VAEFactory.gaussianLayer(inputs: topLatent, hidden: topHidden.reversed(), latent: latent, self, using: &generator)
        return try withEstimator(HierarchicalVAE(encoder: encoder, topEncoder: topEncoder, prior: prior, decoder: decoder), visitor)
    }

    private func withEstimator<P: AmortizedModel, V: VAEVisitor>(_ vae: P, _ visitor: V) throws -> V.Result where P.Scalar == Float {
        switch model {
        case .vae where !hasClosedFormKL:
            return try visitor.visit(vae, ReparameterizedELBO(particleCount: k), klWeight: \.klWeight)
        case .betaVAE where !hasClosedFormKL:
            return try visitor.visit(vae, ReparameterizedELBO(particleCount: k, klWeight: beta), klWeight: \.klWeight)
        case .vae:
            return try visitor.visit(vae, AnalyticKLELBO(particleCount: k, freeBits: freeBits), klWeight: \.klWeight)
        case .betaVAE:
            return try visitor.visit(vae, AnalyticKLELBO(particleCount: k, klWeight: beta, freeBits: freeBits), klWeight: \.klWeight)
        case .iwae:
            return try visitor.visit(vae, ImportanceWeightedELBO(particleCount: k, doublyReparameterized: dreg), klWeight: nil)
        case .dvae, .ddpm:
            throw CommandError("--model \(model.rawValue) needs its own settings")
        }
    }

    /// The held-out sets are binarised like the training data (dynamic binarisation with a fixed seed).
    var evaluationBinarization: Binarization { binarize }
}

import ArgumentParser
import Foundation
import Variational

/// `elbo vae`: variational autoencoders on images.
struct VAECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae",
        abstract: "Train and evaluate variational autoencoders (VAE, β-VAE, IWAE) on MNIST or built-in images.",
        subcommands: [VAETrain.self, VAEEval.self, VAESample.self, VAEReconstruct.self, VAEReportCommand.self])
}

/// `elbo vae train`: trains a VAE, with a checkpoint after every epoch.
struct VAETrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a VAE on images, with a checkpoint (safetensors) and run.json after every epoch.",
        discussion: """
            Without --data the run uses built-in synthetic 28×28 images. --data takes a folder of MNIST's IDX files, \
            of the binarised MNIST's .amat files, or one holding mnist/ and binarized_mnist/. --resume DIR continues \
            a run where its last checkpoint left it (give --epochs to extend it); it takes every other setting from \
            DIR/run.json.
            """)

    @Option(help: "The data folder (default: built-in synthetic images).")
    var data: String?

    @Option(name: .customLong("synthetic-images"), help: "Training images of the built-in synthetic set, used without --data (default 6000).")
    var syntheticImages: Int?

    @Option(help: "none (grey levels as Bernoulli means), dynamic (a fresh draw each pass) or fixed (binary data). Default: fixed for .amat data, none otherwise.")
    var binarize: String?

    @Option(help: "vae, beta-vae, iwae, dvae (discrete latents) or ddpm (a diffusion model trained on its ELBO).")
    var model: String?

    @Option(help: "bernoulli, gaussian (fixed σ, --decoder-sd), gaussian-learned or squared-error.")
    var decoder: String?

    @Option(name: .customLong("decoder-sd"), help: "σ of the gaussian decoder (default 0.1).")
    var decoderStandardDeviation: Double?

    @Option(name: .customLong("decoder-bias"), help: "Where the bernoulli decoder's output bias starts: zero, or mean (the logits of the training images' pixel means, as in Burda et al.'s code) (default: mean with two stochastic layers, whose second layer went unused from zero; zero otherwise).")
    var decoderBias: String?

    @Option(help: "Latent units (default 20); two numbers, e.g. 100,50, for two stochastic layers (nearest the data first).")
    var latent: String?

    @Option(help: "Hidden layer sizes, encoder order, comma-separated (default 400; Burda et al.: 200,200); with two stochastic layers one group per layer, separated by '/' (default 200,200/100,100, the sizes of Burda et al.'s code).")
    var hidden: String?

    @Option(help: "standard (N(0, I)) or vamp: the VampPrior, a mixture of the encoder's posteriors at learned pseudo-inputs (one stochastic layer).")
    var prior: String?

    @Option(name: .customLong("pseudo-inputs"), help: "Pseudo-inputs of the VampPrior, first drawn from the training images (default 500).")
    var pseudoInputs: Int?

    @Option(name: .customLong("diffusion-steps"), help: "ddpm: the steps T of the chain (default 1000).")
    var diffusionSteps: Int?

    @Option(name: .customLong("diffusion-loss"), help: "ddpm: what the gradient follows, elbo (its terms, weighted as in the bound) or simple (DDPM's ‖ε − ε̂‖²); the reported loss is the ELBO either way (default elbo).")
    var diffusionLoss: String?
    @Option(name: .customLong("diffusion-baseline"), help: "ddpm: gaussian (the network corrects the best noise predictor for independent Gaussian pixels with the training images' moments) or none (the network alone) (default gaussian).")
    var diffusionBaseline: String?
    @Option(name: .customLong("diffusion-network"), help: "ddpm: the noise predictor, mlp (an MLP on [x_t, embedding of t]) or conditioned (the embedding given to every layer) (default mlp).")
    var diffusionNetwork: String?

    @Option(help: "dvae: categorical latent variables per image (default 30).")
    var categorical: Int?

    @Option(help: "dvae: classes of each (default 10).")
    var classes: Int?

    @Option(help: "dvae: gumbel-softmax (relaxed one-hot), straight-through, or score (exact, score-function gradient; default gumbel-softmax).")
    var relaxation: String?

    @Option(help: "dvae: the relaxation's first temperature τ₀ (default 1).")
    var temperature: Double?

    @Option(name: .customLong("min-temperature"), help: "dvae: the temperature's floor (default 0.5).")
    var minTemperature: Double?

    @Option(name: .customLong("anneal-rate"), help: "dvae: τ = max(floor, τ₀ e^(−rate·step)), set each epoch (default 3e-5).")
    var annealRate: Double?

    @Option(help: "relu, tanh, elu or softplus (default relu).")
    var activation: String?

    @Option(help: "Particles per image: importance samples for iwae (default 1; 50 for iwae).")
    var k: Int?

    @Flag(help: "Doubly-reparameterised gradients for the iwae encoder.")
    var dreg = false

    @Option(help: "β of beta-vae (default 4).")
    var beta: Double?

    @Option(name: .customLong("free-bits"), help: "Free bits λ in nats per latent unit (default 0).")
    var freeBits: Double?

    @Option(help: "Epochs over which the KL weight rises linearly from 0 (default 0: no warm-up).")
    var warmup: Double?

    @Option(help: "Epochs to train (default 10).")
    var epochs: Int?

    @Option(help: "Minibatch size (default 128).")
    var batch: Int?

    @Option(help: "Adam's learning rate (default 0.001).")
    var lr: Double?

    @Option(help: "constant, or burda: stages i = 0…7 of 3^i epochs at --lr · 10^(−i/7), 3,280 epochs in all (default constant).")
    var schedule: String?

    @Option(name: .customLong("adam-epsilon"), help: "Adam's ε (default 1e-8; Burda et al.: 1e-4).")
    var adamEpsilon: Double?

    @Option(help: "Random seed: the same seed gives the same run.")
    var seed: UInt64?

    @Option(help: "Training images held out for validation when the data has no validation split (default 0: report the test set).")
    var validation: Int?

    @Option(help: "The run's folder: checkpoint.safetensors and run.json (default vae-run).")
    var out: String?

    @Option(help: "Continue the run in this folder.")
    var resume: String?

    @Flag(help: "Print the run record (configuration and learning curve) as JSON instead of text.")
    var json = false

    func validate() throws {
        if resume != nil {
            let given: [(String, Any?)] = [
                ("--data", data), ("--synthetic-images", syntheticImages), ("--binarize", binarize), ("--model", model), ("--decoder", decoder), ("--latent", latent),
                ("--hidden", hidden), ("--activation", activation), ("--k", k), ("--beta", beta), ("--free-bits", freeBits),
                ("--warmup", warmup), ("--batch", batch), ("--lr", lr), ("--schedule", schedule), ("--seed", seed), ("--validation", validation),
                ("--out", out), ("--decoder-sd", decoderStandardDeviation), ("--decoder-bias", decoderBias), ("--adam-epsilon", adamEpsilon), ("--prior", prior),
                ("--pseudo-inputs", pseudoInputs), ("--categorical", categorical), ("--classes", classes), ("--relaxation", relaxation),
                ("--temperature", temperature), ("--min-temperature", minTemperature), ("--anneal-rate", annealRate),
                ("--diffusion-steps", diffusionSteps), ("--diffusion-loss", diffusionLoss), ("--diffusion-baseline", diffusionBaseline), ("--diffusion-network", diffusionNetwork),
            ]
            try Self.refuse(given) { "\($0) cannot be changed when resuming: the run's settings come from its run.json (only --epochs may be given)" }
            if dreg { throw CommandError("--dreg cannot be changed when resuming") }
        }
    }

    /// Throws, naming the first of `options` that was given, with the message `reason` makes of its name.
    static func refuse(_ options: [(String, Any?)], _ reason: (String) -> String) throws {
        if let first = options.first(where: { $0.1 != nil }) { throw CommandError(reason(first.0)) }
    }

    /// The configuration from the options (or defaults), checked.
    func configuration() throws -> VAERunConfiguration {
        func choice<T: RawRepresentable & CaseIterable>(_ value: String?, _ name: String, _ fallback: T) throws -> T where T.RawValue == String {
            guard let value else { return fallback }
            guard let parsed = T(rawValue: value) else {
                throw CommandError("\(name) must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), got '\(value)'")
            }
            return parsed
        }
        let model = try choice(model, "--model", VAEModelChoice.vae)
        func sizes(_ text: String, _ name: String) throws -> [Int] {
            try text.split(separator: ",", omittingEmptySubsequences: false).map { part -> Int in
                guard let size = Int(part.trimmingCharacters(in: .whitespaces)), size > 0 else {
                    throw CommandError("\(name) must be positive sizes separated by commas, got '\(text)'")
                }
                return size
            }
        }
        var discrete: DiscreteSettings?
        if model == .dvae {
            if latent != nil { throw CommandError("--latent does not apply to dvae: give --categorical N --classes K") }
            discrete = DiscreteSettings(
                variables: categorical ?? 30, classes: classes ?? 10,
                relaxation: try choice(relaxation, "--relaxation", RelaxationChoice.gumbelSoftmax),
                temperature: temperature ?? 1, minimumTemperature: minTemperature ?? 0.5, annealRate: annealRate ?? 3e-5)
        } else {
            try Self.refuse([("--categorical", categorical), ("--classes", classes), ("--relaxation", relaxation),
                             ("--temperature", temperature), ("--min-temperature", minTemperature), ("--anneal-rate", annealRate)]) {
                "\($0) applies to --model dvae only"
            }
        }
        if model == .ddpm {
            try Self.refuse([("--latent", latent), ("--decoder", decoder), ("--decoder-bias", decoderBias), ("--prior", prior), ("--beta", beta), ("--free-bits", freeBits), ("--warmup", warmup)]) {
                "\($0) does not apply to ddpm (its latents are the noised images, its decoder DDPM's discretised Gaussian)"
            }
        } else {
            try Self.refuse([("--diffusion-steps", diffusionSteps), ("--diffusion-loss", diffusionLoss), ("--diffusion-baseline", diffusionBaseline), ("--diffusion-network", diffusionNetwork)]) { "\($0) applies to --model ddpm only" }
        }
        let latents = try sizes(latent ?? "20", "--latent")
        guard latents.count <= 2 else { throw CommandError("--latent takes one stochastic layer or two (e.g. 100,50), got '\(latent ?? "")'") }
        let groups = try (hidden ?? (latents.count == 2 ? "200,200/100,100" : "400")).split(separator: "/", omittingEmptySubsequences: false)
            .map { try sizes(String($0), "--hidden") }
        guard groups.count == latents.count else {
            throw CommandError(latents.count == 2
                ? "--hidden needs one group of sizes per stochastic layer, separated by '/' (e.g. 200,200/100,100), got '\(hidden ?? "")'"
                : "--hidden takes groups separated by '/' only with two stochastic layers (e.g. --latent 100,50), got '\(hidden ?? "")'")
        }
        let isAmat = data.map { path in
            ["binarized_mnist_train.amat.gz", "binarized_mnist_train.amat"].contains { FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent($0)) }
        } ?? false
        let decoderChoice = try choice(decoder, "--decoder", DecoderChoice.bernoulli)
        let configuration = VAERunConfiguration(
            data: data, syntheticImages: syntheticImages ?? 6000, binarize: try choice(binarize, "--binarize", isAmat ? Binarization.fixed : .none), model: model,
            decoder: decoderChoice, decoderStandardDeviation: decoderStandardDeviation ?? 0.1,
            decoderBias: try decoderBias.map { try choice($0, "--decoder-bias", DecoderBiasChoice.zero) }
                ?? (latents.count == 2 && decoderChoice == .bernoulli ? .mean : nil),
            latent: latents[0], hidden: groups[0], topLatent: latents.count == 2 ? latents[1] : nil,
            topHidden: groups.count == 2 ? groups[1] : nil, prior: try choice(prior, "--prior", PriorChoice.standard),
            pseudoInputs: pseudoInputs, discrete: discrete, diffusionSteps: model == .ddpm ? diffusionSteps ?? 1000 : nil,
            diffusionLoss: model == .ddpm ? try diffusionLoss.map { try choice($0, "--diffusion-loss", DiffusionLossChoice.elbo) } : nil,
            diffusionBaseline: model == .ddpm ? try choice(diffusionBaseline, "--diffusion-baseline", DiffusionBaselineChoice.gaussian) : nil,
            diffusionNetwork: model == .ddpm ? try choice(diffusionNetwork, "--diffusion-network", DiffusionNetworkChoice.mlp) : nil, activation: try choice(activation, "--activation", ActivationChoice.relu),
            k: k ?? (model == .iwae ? 50 : discrete?.relaxation == .score ? 10 : 1), dreg: dreg, beta: beta ?? (model == .betaVAE ? 4 : 1), freeBits: freeBits ?? 0,
            warmupEpochs: warmup ?? 0, epochs: epochs ?? 10, batch: batch ?? 128, learningRate: lr ?? 1e-3,
            schedule: try choice(schedule, "--schedule", ScheduleChoice.constant),
            adamEpsilon: adamEpsilon ?? 1e-8, seed: seed ?? 0, validation: validation ?? 0)
        try Self.check(configuration)
        return configuration
    }

    /// The most units in a layer.
    static let largestLayer = 65_536
    /// The most bytes of one layer's activations for a batch.
    static let largestActivation = 2 << 30

    static func check(_ c: VAERunConfiguration) throws {
        func positive(_ value: Double, _ name: String) throws {
            if !(value > 0 && value.isFinite) { throw CommandError("\(name) must be positive and finite, got \(value)") }
        }
        func atLeast(_ value: Int, _ low: Int, _ name: String) throws {
            if value < low { throw CommandError("\(name) must be at least \(low), got \(value)") }
        }
        func atMost(_ value: Int, _ high: Int, _ name: String) throws {
            if value > high { throw CommandError("\(name) must be at most \(high), got \(value)") }
        }
        // Sizes stay below what would fail to allocate (a crash, not an error) on any machine this runs on.
        let sizes = [(c.latent, "--latent")] + (c.topLatent.map { [($0, "--latent")] } ?? [])
            + (c.hidden + (c.topHidden ?? [])).map { ($0, "--hidden") }
        for (size, name) in sizes {
            try atLeast(size, 1, name)
            try atMost(size, Self.largestLayer, name)
        }
        if let steps = c.diffusionSteps, !(2...100_000).contains(steps) {
            throw CommandError("--diffusion-steps must be between 2 and 100000, got \(steps)")
        }
        if let d = c.discrete {
            try atLeast(d.variables, 1, "--categorical")
            try atLeast(d.classes, 2, "--classes")
            try atMost(d.variables * d.classes, Self.largestLayer, "--categorical × --classes")
            try positive(d.temperature, "--temperature")
            try positive(d.minimumTemperature, "--min-temperature")
            if !(d.annealRate >= 0 && d.annealRate.isFinite) { throw CommandError("--anneal-rate must be finite and non-negative, got \(d.annealRate)") }
            if c.isHierarchical || c.prior == .vamp { throw CommandError("--model dvae has one layer of categorical latents and the uniform prior") }
            if d.relaxation == .score && c.k < 2 { throw CommandError("--relaxation score needs --k of at least 2 (each particle's baseline is the others' mean)") }
        }
        if c.isHierarchical && c.prior == .vamp { throw CommandError("--prior vamp applies to one stochastic layer") }
        if let k = c.pseudoInputs {
            if c.prior != .vamp { throw CommandError("--pseudo-inputs applies to --prior vamp only") }
            try atLeast(k, 1, "--pseudo-inputs")
            try atMost(k, 100_000, "--pseudo-inputs")
        }
        if !c.hasClosedFormKL && c.freeBits > 0 {
            let which = c.isHierarchical ? "a VAE with two stochastic layers" : c.prior == .vamp ? "the VampPrior" : "the score-function route"
            throw CommandError("--free-bits needs a closed-form KL per unit, which \(which) has not")
        }
        if c.discrete?.relaxation == .score && (c.beta != 1 || c.warmupEpochs > 0) {
            throw CommandError("--beta and --warmup do not apply to the score-function route")
        }
        try atLeast(c.syntheticImages, 1, "--synthetic-images")
        try atMost(c.syntheticImages, 1_000_000, "--synthetic-images")
        if c.data != nil && c.syntheticImages != 6000 { throw CommandError("--synthetic-images applies without --data only") }
        try atLeast(c.k, 1, "--k")
        try atLeast(c.epochs, 1, "--epochs")
        try atLeast(c.batch, 1, "--batch")
        // A layer's activations for every particle of a batch: k · batch rows of the widest layer, in Float.
        let widest = ([784, c.latent] + c.hidden + [c.topLatent ?? 0] + (c.topHidden ?? []) + [(c.discrete?.variables ?? 0) * (c.discrete?.classes ?? 0)]).max()!
        let bytes = Double(c.k) * Double(c.batch) * Double(widest) * 4
        if bytes > Double(Self.largestActivation) {
            throw CommandError(
                "--k \(c.k) × --batch \(c.batch) particles × \(widest) units make one layer's activations "
                    + "\(String(format: "%.3g", bytes / 1e9)) GB; at most \(Self.largestActivation >> 30) GiB: lower --k or --batch")
        }
        try atLeast(c.validation, 0, "--validation")
        try positive(c.learningRate, "--lr")
        try positive(c.adamEpsilon, "--adam-epsilon")
        try positive(c.decoderStandardDeviation, "--decoder-sd")
        if !(0...1e6).contains(c.beta) { throw CommandError("--beta must be between 0 and 1e6, got \(c.beta)") }
        if !(0...1e6).contains(c.freeBits) { throw CommandError("--free-bits must be between 0 and 1e6 nats, got \(c.freeBits)") }
        if !(c.warmupEpochs >= 0 && c.warmupEpochs.isFinite) { throw CommandError("--warmup must be finite and non-negative, got \(c.warmupEpochs)") }
        if c.dreg && c.model != .iwae { throw CommandError("--dreg applies to --model iwae only") }
        if c.decoderBias == .mean && (c.decoder != .bernoulli || c.discrete != nil) {
            throw CommandError("--decoder-bias mean applies to the bernoulli decoder of a VAE with Gaussian latents")
        }
        if c.model == .iwae && (c.freeBits > 0 || c.warmupEpochs > 0 || c.beta != 1) {
            throw CommandError("--beta, --free-bits and --warmup apply to vae and beta-vae, not iwae")
        }
    }

    func run() throws {
        var record: VAERunRecord
        let directory: String
        if let resume {
            directory = resume
            record = try VAERunRecord.read(from: resume)
            if let epochs {
                try Self.check({ var c = record.configuration; c.epochs = epochs; return c }())
                record.configuration.epochs = epochs
            }
        } else {
            directory = out ?? "vae-run"
            record = VAERunRecord(configuration: try configuration(), history: [], messages: [])
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            if FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("run.json")) {
                throw CommandError("\(directory) holds a run already: continue it with --resume \(directory), or choose another --out")
            }
        }
        let data = try VAEData.load(record.configuration)
        let result = try record.configuration.withModel(
            train: data.train, VAETrainingRun(record: record, data: data, directory: directory, resuming: resume != nil, quiet: json))
        if json { print(JSONText.serialize(try JSONSerialization.jsonObject(with: JSONEncoder().encode(result)))) }
    }
}

/// The training loop of `elbo vae train`, for any decoder and estimator.
struct VAETrainingRun: VAEVisitor {
    var record: VAERunRecord
    let data: VAEData
    let directory: String
    let resuming: Bool
    let quiet: Bool

    var checkpointPath: String { VAECheckpoint.path(in: directory) }

    func visit<P: AmortizedModel, E: ELBOEstimator>(
        _ vae: P, _ estimator: E, klWeight klWeightPath: WritableKeyPath<E, Double>?
    ) throws -> VAERunRecord where P.Scalar == Float {
        var record = self.record
        let c = record.configuration
        var trainer = Trainer(problem: vae, estimator: estimator, optimizer: Adam(learningRate: c.learningRate, epsilon: c.adamEpsilon))
        let stream = MinibatchStream(dataset: data.train, batchSize: c.batch, binarization: c.binarize)
        let structure = trainer.parameterStructure(batch: data.train.batch([0][...]))
        var generator = SeededGenerator(seed: c.seed &+ 0x5EED)
        var epoch = 0
        if resuming {
            let metadata = try trainer.loadCheckpoint(from: checkpointPath, structure: structure)
            guard let saved = metadata["epoch"].flatMap(Int.init),
                  let restored = VAECheckpoint.generator(from: metadata),
                  let rate = metadata["learning_rate"].flatMap(Double.init)
            else { throw CommandError("\(checkpointPath): the metadata lacks the epoch, generator or learning rate") }
            (epoch, generator) = (saved, restored)
            trainer.optimizer.schedule = ConstantRate(rate)
            record.history = Array(record.history.prefix(epoch))
            if !quiet { print("resuming \(directory) after epoch \(epoch) of \(c.epochs)") }
        } else {
            try save(trainer, structure, epoch: 0, generator: generator, record)
        }
        let stepsPerEpoch = Double(stream.batchesPerEpoch)
        let warmupSteps = c.warmupEpochs * stepsPerEpoch
        let klWeight = c.model == .betaVAE ? c.beta : 1
        var retries = 0
        // Halvings after non-finite epochs stay in force on top of the schedule.
        var rateFactor = resuming ? trainer.optimizer.learningRate / c.schedule.rate(epoch: Swift.max(epoch - 1, 0), base: c.learningRate) : 1
        while epoch < c.epochs {
            trainer.optimizer.schedule = ConstantRate(c.schedule.rate(epoch: epoch, base: c.learningRate) * rateFactor)
            var temperature: Double?
            if let discrete = c.discrete, var relaxed = trainer.problem as? any RelaxedLatentModel {
                relaxed.temperature = discrete.temperature(atStep: trainer.iteration)
                temperature = relaxed.temperature
                trainer.problem = relaxed as! P
            }
            let progress = ProgressBar(label: "epoch \(epoch + 1)/\(c.epochs)", total: stream.batchesPerEpoch, batchSize: c.batch, enabled: !quiet)
            let summary = trainer.trainEpoch(
                on: stream, using: &generator,
                beforeStep: { estimator, step in
                    guard warmupSteps > 0, let klWeightPath else { return }
                    estimator[keyPath: klWeightPath] = klWeight * Swift.min(1, Double(step + 1) / warmupSteps)
                },
                progress: progress.update)
            progress.finish()
            var evaluation = SeededGenerator(seed: c.seed &+ 0xE7A1 &+ UInt64(epoch + 1))
            let heldOut = -trainer.problem.meanImportanceWeightedBound(
                on: data.heldOut, particles: 1, binarization: c.evaluationBinarization, using: &evaluation)
            // Rejected steps leave the parameters as they were, but many of them, or parameters whose held-out loss
            // is not finite, mean the learning rate is too high for this point of the run.
            let tooManyRejected = summary.rejectedSteps > Swift.max(2, (summary.acceptedSteps + summary.rejectedSteps) / 20)
            if !summary.meanLoss.isFinite || !heldOut.isFinite || tooManyRejected {
                retries += 1
                let rate = trainer.optimizer.learningRate / 2
                rateFactor /= 2
                let what = tooManyRejected || !summary.meanLoss.isFinite
                    ? "\(summary.rejectedSteps) of \(summary.acceptedSteps + summary.rejectedSteps) steps had a non-finite loss or gradient"
                    : "the \(data.heldOutName) loss was not finite"
                let message = "epoch \(epoch + 1): \(what); rolled back to the checkpoint of epoch \(epoch) and halved the learning rate to \(rate)"
                record.messages.append(message)
                if !quiet {
                    print(message)
                    fflush(stdout)
                }
                guard retries <= 5 else { throw CommandError("\(message); giving up after 5 tries") }
                let metadata = try trainer.loadCheckpoint(from: checkpointPath, structure: structure)
                if let restored = VAECheckpoint.generator(from: metadata) { generator = restored }
                continue
            }
            retries = 0
            epoch += 1
            record.history.append(VAEEpochRecord(
                epoch: epoch, trainLoss: summary.meanLoss, heldOutLoss: heldOut, heldOutSet: data.heldOutName,
                seconds: summary.seconds, learningRate: trainer.optimizer.learningRate, rejectedSteps: summary.rejectedSteps,
                temperature: temperature))
            try save(trainer, structure, epoch: epoch, generator: generator, record)
            if !quiet {
                print(String(format: "epoch %3d/%d  train %.3f  %@ %.3f nats/image  (%.1f s)", epoch, c.epochs, summary.meanLoss,
                             data.heldOutName, heldOut, summary.seconds))
                fflush(stdout)
            }
        }
        return record
    }

    /// The checkpoint first, then run.json: a run.json never names an epoch whose checkpoint is not on disk.
    func save<P: VariationalProblem, E: ELBOEstimator>(
        _ trainer: Trainer<P, E>, _ structure: P.TangentVector, epoch: Int, generator: SeededGenerator, _ record: VAERunRecord
    ) throws {
        let metadata = [
            "format": "variational-vae-checkpoint-1", "epoch": "\(epoch)",
            "generator": VAECheckpoint.encode(generator),
            "learning_rate": "\(trainer.optimizer.learningRate)",
        ]
        try trainer.saveCheckpoint(to: checkpointPath, structure: structure, metadata: metadata)
        try record.write(to: directory)
    }
}

/// A progress line on standard error, redrawn in place, when standard error is a terminal.
final class ProgressBar {
    let label: String
    let total: Int
    let batchSize: Int
    let enabled: Bool
    let start = DispatchTime.now().uptimeNanoseconds
    var lastDrawn: UInt64 = 0

    init(label: String, total: Int, batchSize: Int, enabled: Bool) {
        self.label = label
        self.total = total
        self.batchSize = batchSize
        self.enabled = enabled && isatty(2) == 1
    }

    func update(_ done: Int, _ total: Int, _ loss: Double) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastDrawn > 100_000_000 || done == total else { return }
        lastDrawn = now
        let elapsed = Double(now - start) / 1e9
        let width = 30
        let filled = width * done / Swift.max(total, 1)
        let rate = Double(done * batchSize) / Swift.max(elapsed, 1e-9)
        let eta = elapsed / Double(Swift.max(done, 1)) * Double(total - done)
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let line = String(format: "\r%@ %@ %d/%d  loss %.3f  %.0f images/s  ETA %.0f s ", label, bar, done, total, loss, rate, eta)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

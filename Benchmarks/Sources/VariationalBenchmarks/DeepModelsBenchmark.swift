import Foundation
import Variational

/// One training step of each deeper model, in the settings `elbo vae train` uses for them on MNIST-sized images:
/// the two-stochastic-layer VAE (Burda et al.), the VampPrior, the discrete VAE and the diffusion model.
enum DeepModelsBenchmark {
    static func run() {
        var generator = SeededGenerator(seed: 5)
        let grey = Tensor<Float>(randomUniform: [128, 784], using: &generator)
        let binary20 = Tensor<Float>(randomUniform: [20, 784], using: &generator).map { $0 < 0.2 ? 1 : 0 }
        let binary100 = Tensor<Float>(randomUniform: [100, 784], using: &generator).map { $0 < 0.2 ? 1 : 0 }
        func layer(_ inputs: Int, _ hidden: [Int], _ latent: Int, _ activation: Activation) -> GaussianEncoder<DenseStack<Float>> {
            GaussianEncoder(
                body: DenseStack<Float>(sizes: [inputs] + hidden, activation: activation, finalActivation: activation, using: &generator),
                hiddenSize: hidden.last!, latentDimension: latent, using: &generator)
        }

        let twoLayer = HierarchicalVAE(
            encoder: layer(784, [100, 100], 100, .tanh), topEncoder: layer(100, [50, 50], 50, .tanh), prior: layer(50, [50, 50], 100, .tanh),
            decoder: BernoulliDecoder(network: DenseStack<Float>(sizes: [100, 100, 100, 784], activation: .tanh, using: &generator)))
        var hierarchical = Trainer(problem: twoLayer, estimator: ReparameterizedELBO(), optimizer: Adam(learningRate: 1e-3, epsilon: 1e-4))
        var hierarchicalIWAE = Trainer(problem: twoLayer, estimator: ImportanceWeightedELBO(particleCount: 50), optimizer: Adam(learningRate: 1e-3, epsilon: 1e-4))

        let standard = VariationalAutoencoder(
            encoder: layer(784, [300, 300], 40, .relu),
            decoder: BernoulliDecoder(network: DenseStack<Float>(sizes: [40, 300, 300, 784], activation: .relu, using: &generator)))
        var plain = Trainer(problem: standard, estimator: AnalyticKLELBO(), optimizer: Adam(learningRate: 1e-3))
        let pseudo = Tensor<Float>(randomUniform: [500, 784], using: &generator)
        var vamp = Trainer(problem: VampPriorVAE(encoder: standard.encoder, decoder: standard.decoder, pseudoInputs: pseudo),
                           estimator: ReparameterizedELBO(), optimizer: Adam(learningRate: 1e-3))

        let discrete = DiscreteVAE(
            encoder: DenseStack<Float>(sizes: [784, 512, 256, 300], activation: .relu, using: &generator),
            decoder: BernoulliDecoder(network: DenseStack<Float>(sizes: [300, 256, 512, 784], activation: .relu, using: &generator)),
            variables: 30, classes: 10, temperature: 1)
        var gumbel = Trainer(problem: discrete, estimator: AnalyticKLELBO(), optimizer: Adam(learningRate: 1e-3))

        let diffusion = DiffusionModel(
            network: DenseStack<Float>(sizes: [784 + 32, 1024, 1024, 784], activation: .relu, using: &generator), dimension: 784)
        var ddpm = Trainer(problem: diffusion, estimator: ReparameterizedELBO(useClosedFormEntropy: false), optimizer: Adam(learningRate: 2e-4))

        let times = interleavedMedians(repeats: 7, iterations: 3, [
            { hierarchical.step(on: binary20, using: &generator) },
            { hierarchicalIWAE.step(on: binary20, using: &generator) },
            { plain.step(on: binary100, using: &generator) },
            { vamp.step(on: binary100, using: &generator) },
            { gumbel.step(on: binary100, using: &generator) },
            { ddpm.step(on: grey, using: &generator) },
        ])
        print("Training steps of the deeper models (release, medians of 7 rounds of 3 steps)")
        let rows = [
            "two stochastic layers, 784-100-100-(100)-50-50-(50), batch 20, k = 1",
            "the same as an IWAE, k = 50",
            "one layer, 784-300-300-(40), batch 100, N(0, I) prior, analytic KL",
            "the same with the VampPrior, 500 pseudo-inputs",
            "discrete VAE, 784-512-256-(30 × 10), Gumbel-softmax, batch 100",
            "diffusion model, MLP 816-1024-1024-784, T = 1000, batch 128",
        ]
        for (row, time) in zip(rows, times) { print(String(format: "  %8.2f ms   %@", time * 1e3, row)) }
        print(String(format: "  per 60,000-image epoch: two layers %.0f s, IWAE k = 50 %.0f s, VampPrior %.0f s (N(0, I) %.0f s), dVAE %.0f s, diffusion %.0f s",
                     times[0] * 3000, times[1] * 3000, times[3] * 600, times[2] * 600, times[4] * 600, times[5] * 60_000 / 128))
    }
}

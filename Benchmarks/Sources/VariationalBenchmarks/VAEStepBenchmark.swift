import Foundation
import Variational

/// The PyTorch-examples VAE: 784-400-20 (μ, log σ²)-400-784, ReLU, Bernoulli likelihood from logits, analytic
/// Gaussian KL, Adam — built from the library's VariationalAutoencoder and trained by its Trainer.
typealias ExampleVAE = VariationalAutoencoder<GaussianEncoder<Dense<Float>>, BernoulliDecoder<VariationalNeural.Chain<Dense<Float>, Dense<Float>>>>

func exampleVAE(using generator: inout SeededGenerator) -> ExampleVAE {
    let encoder = GaussianEncoder(
        body: Dense<Float>(inputSize: 784, outputSize: 400, activation: .relu, using: &generator),
        hiddenSize: 400, latentDimension: 20, using: &generator)
    let decoder = BernoulliDecoder(network: Dense<Float>(inputSize: 20, outputSize: 400, activation: .relu, using: &generator)
        .then(Dense<Float>(inputSize: 400, outputSize: 784, using: &generator)))
    return VariationalAutoencoder(encoder: encoder, decoder: decoder)
}

enum VAEStepBenchmark {
    static let batch = 128

    static func run() {
        var generator = SeededGenerator(seed: 2)
        let x = Tensor<Float>(randomUniform: [batch, 784], using: &generator).map { $0 < 0.2 ? 1 : 0 }
        var trainer = Trainer(problem: exampleVAE(using: &generator), estimator: AnalyticKLELBO(), optimizer: Adam(learningRate: 1e-3))
        let noise = trainer.problem.sampleNoise(particles: 1, batch: x, using: &generator)
        let estimator = AnalyticKLELBO()
        let g = estimator.lossAndGradient(problem: trainer.problem, noise: noise, batch: x).gradient
        var scratch = trainer.problem
        let adam = Adam(learningRate: 1e-3)
        let times = interleavedMedians(repeats: 15, iterations: 10, [
            { trainer.step(on: x, using: &generator) },
            { _ = estimator.lossAndGradient(problem: trainer.problem, noise: noise, batch: x) },
            { adam.update(&scratch, along: g) },
            { runGEMMs() },
        ])
        let (stepSeconds, gradientSeconds, adamSeconds, gemmSeconds) = (times[0], times[1], times[2], times[3])
        print("VAE training step (784-400-20-400-784, batch \(batch), Bernoulli logits, analytic KL, Adam; library VAE and Trainer)")
        print(String(format: "  step        %7.3f ms", stepSeconds * 1e3))
        print(String(format: "  gradient    %7.3f ms   (forward and backward)", gradientSeconds * 1e3))
        print(String(format: "  Adam        %7.3f ms   (update of %d parameters, repeated: its state in the caches)", adamSeconds * 1e3, parameterCount(trainer.problem)))
        // Adam as the step meets it: right after a gradient, its moments no longer in the caches.
        var afterGradient: [Double] = []
        var model = trainer.problem
        for _ in 0..<200 {
            let fresh = estimator.lossAndGradient(problem: model, noise: noise, batch: x).gradient
            afterGradient.append(seconds { adam.update(&model, along: fresh) })
        }
        print(String(format: "  Adam        %7.3f ms   (the same, each right after a gradient, as in the step)", median(afterGradient) * 1e3))
        print(String(format: "  its GEMMs   %7.3f ms   (11 products: 4 forward, 4 weight gradients, 3 input gradients)", gemmSeconds * 1e3))
        print(String(format: "  ratio       %7.2f ×", stepSeconds / gemmSeconds))
    }

    static func runSteps(count: Int) {
        var generator = SeededGenerator(seed: 2)
        let x = Tensor<Float>(randomUniform: [batch, 784], using: &generator).map { $0 < 0.2 ? 1 : 0 }
        var trainer = Trainer(problem: exampleVAE(using: &generator), estimator: AnalyticKLELBO(), optimizer: Adam(learningRate: 1e-3))
        let time = seconds { for _ in 0..<count { trainer.step(on: x, using: &generator) } }
        print(String(format: "%d VAE steps: %.3f ms each", count, time / Double(count) * 1e3))
    }

    /// One epoch of 60,000 random binary images in batches of 128 (the last short), the data in memory, as
    /// `elbo vae train` runs it: a seeded shuffle, each batch copied out, a Trainer step.
    static func runEpoch() {
        var generator = SeededGenerator(seed: 2)
        let count = 60_000
        let pixels = (0..<(count * 784)).map { _ in Float(Double.random(in: 0..<1, using: &generator) < 0.2 ? 1 : 0) }
        let stream = MinibatchStream(
            dataset: ImageDataset(pixels: pixels, count: count, rows: 28, columns: 28), batchSize: batch, binarization: .none)
        var trainer = Trainer(problem: exampleVAE(using: &generator), estimator: AnalyticKLELBO(), optimizer: Adam(learningRate: 1e-3))
        let summary = trainer.trainEpoch(on: stream, using: &generator)
        print(String(format: "VAE epoch of %d images, batch %d: %.3f s (mean loss %.2f)", count, batch, summary.seconds, summary.meanLoss))
    }

    static func parameterCount(_ model: ExampleVAE) -> Int {
        [model.encoder.body, model.encoder.meanHead, model.encoder.logVarianceHead, model.decoder.network.first, model.decoder.network.second]
            .reduce(0) { $0 + $1.weight.scalarCount + $1.bias.scalarCount }
    }

    /// The same 11 products the step makes, on buffers of the same shapes.
    static let buffers: [String: [Float]] = {
        var generator = SeededGenerator(seed: 3)
        func random(_ n: Int) -> [Float] { Tensor<Float>(randomNormal: [n], using: &generator).scalars.array }
        // The images as the step sees them: binary, 20% ones (a sparse left operand for the first layer's products).
        let x = Tensor<Float>(randomUniform: [batch * 784], using: &generator).scalars.array.map { $0 < 0.2 ? Float(1) : 0 }
        return [
            "x": x, "w1": random(784 * 400), "h": random(batch * 400), "w2": random(400 * 40),
            "z": random(batch * 40), "w4": random(20 * 400), "w5": random(400 * 784), "out": random(batch * 784),
        ]
    }()

    /// The first layer's two products, X·W₁ (forward) and Xᵀ·δ (the weight's gradient), for images `x` into `c`.
    static func firstLayerProducts(_ x: [Float], into c: inout [Float]) {
        firstLayerForward(x, into: &c)
        firstLayerWeightGradient(x, into: &c)
    }

    /// X·W₁, [batch, 784]·[784, 400].
    static func firstLayerForward(_ x: [Float], into c: inout [Float]) {
        let w = buffers["w1"]!
        x.withUnsafeBufferPointer { pa in
            c.withUnsafeMutableBufferPointer { pc in
                w.withUnsafeBufferPointer { pw in
                    Float.gemm(transposeA: false, transposeB: false, m: batch, n: 400, k: 784, alpha: 1, a: pa.baseAddress!,
                               lda: 784, b: pw.baseAddress!, ldb: 400, beta: 0, c: pc.baseAddress!, ldc: 400)
                }
            }
        }
    }

    /// Xᵀ·δ, [784, batch]·[batch, 400].
    static func firstLayerWeightGradient(_ x: [Float], into c: inout [Float]) {
        let delta = buffers["h"]!
        x.withUnsafeBufferPointer { pa in
            c.withUnsafeMutableBufferPointer { pc in
                delta.withUnsafeBufferPointer { pd in
                    Float.gemm(transposeA: true, transposeB: false, m: 784, n: 400, k: batch, alpha: 1, a: pa.baseAddress!,
                               lda: 784, b: pd.baseAddress!, ldb: 400, beta: 0, c: pc.baseAddress!, ldc: 400)
                }
            }
        }
    }

    /// The first layer's products on binary images with 20% ones (the sparse path) and on the same images with every
    /// zero made 1e-30 (the blocked kernel; same shapes and work).
    static func runFirstLayer() {
        let x = buffers["x"]!
        let dense = x.map { $0 == 0 ? Float(1e-30) : $0 }
        var c = [Float](repeating: 0, count: 784 * 400)
        let times = interleavedMedians(repeats: 21, iterations: 20, [
            { firstLayerProducts(x, into: &c) }, { firstLayerProducts(dense, into: &c) },
        ])
        print("VAE first layer: X·W₁ [\(batch), 784]·[784, 400] and Xᵀ·δ [784, \(batch)]·[\(batch), 400]")
        print(String(format: "  binary images, 20%% ones   %7.3f ms", times[0] * 1e3))
        print(String(format: "  no zeros (blocked kernel)  %7.3f ms   (ratio %.2f)", times[1] * 1e3, times[0] / times[1]))
    }

    /// The first layer's two products each on its own, sparse (binary images, 20% ones) and dense (the same with
    /// zeros made 1e-30), interleaved: how each scales with the threads (`VARIATIONAL_THREADS=1` against the default).
    static func runFirstLayerParts() {
        let x = buffers["x"]!
        let dense = x.map { $0 == 0 ? Float(1e-30) : $0 }
        var c = [Float](repeating: 0, count: 784 * 400)
        let times = interleavedMedians(repeats: 21, iterations: 20, [
            { firstLayerForward(x, into: &c) }, { firstLayerForward(dense, into: &c) },
            { firstLayerWeightGradient(x, into: &c) }, { firstLayerWeightGradient(dense, into: &c) },
        ])
        print(String(format: "  X·W1 sparse %7.1f µs  dense %7.1f µs;  Xᵀ·δ sparse %7.1f µs  dense %7.1f µs",
                     times[0] * 1e6, times[1] * 1e6, times[2] * 1e6, times[3] * 1e6))
    }

    /// The first layer's products at densities of the images from 10% to 60% ones, the sparse path forced on
    /// (`Kernels.sparseDensityLimit` 1) against it turned off (0), on the same images: where the limit belongs.
    static func runSparseDensities() {
        var generator = SeededGenerator(seed: 4)
        let uniform = Tensor<Float>(randomUniform: [batch * 784], using: &generator).scalars.array
        var c = [Float](repeating: 0, count: 784 * 400)
        let saved = Kernels.sparseDensityLimit
        defer { Kernels.sparseDensityLimit = saved }
        print("VAE first layer (X·W₁ and Xᵀ·δ) by the density of X: sparse path against blocked kernel, same images")
        for density in [0.1, 0.2, 0.3, 0.4, 0.5, 0.6] {
            let x = uniform.map { $0 < Float(density) ? Float(1) : 0 }
            let times = interleavedMedians(repeats: 15, iterations: 20, [
                { Kernels.sparseDensityLimit = 1; firstLayerProducts(x, into: &c) },
                { Kernels.sparseDensityLimit = 0; firstLayerProducts(x, into: &c) },
            ])
            print(String(format: "  %3.0f%% ones   sparse %6.3f ms   blocked %6.3f ms   ratio %.2f", density * 100, times[0] * 1e3,
                         times[1] * 1e3, times[0] / times[1]))
        }
    }

    /// Each of the step's 11 products timed on its own (interleaved), with its rate in GFLOP/s (2mnk over the time;
    /// the first layer's sparse products count the dense work they stand for).
    static func runGEMMBreakdown() {
        let times = interleavedMedians(repeats: 15, iterations: 20, shapes.map { shape in { runGEMMs([shape]) } })
        print("VAE step's products one by one (transA, transB, m × n × k: time, rate)")
        for (shape, time) in zip(shapes, times) {
            let (ta, tb, m, n, k, an, bn) = shape
            print(String(format: "  %@%@ · %@%@  %4d × %4d × %4d  %7.1f µs  %6.1f GFLOP/s", an, ta ? "ᵀ" : " ", bn, tb ? "ᵀ" : " ",
                         m, n, k, time * 1e6, 2 * Double(m * n * k) / time / 1e9))
        }
        print(String(format: "  sum %7.1f µs", times.reduce(0, +) * 1e6))
    }

    // (transA, transB, m, n, k, a, b): forward, then weight gradients (aᵀ·g), then input gradients (g·wᵀ).
    // The encoder's two heads (μ and log σ², 20 units each) are one product of 40 columns each way (`linearPair`).
    static let shapes: [(Bool, Bool, Int, Int, Int, String, String)] = [
        (false, false, batch, 400, 784, "x", "w1"), (false, false, batch, 40, 400, "h", "w2"),
        (false, false, batch, 400, 20, "z", "w4"), (false, false, batch, 784, 400, "h", "w5"),
        (true, false, 400, 784, batch, "h", "out"), (true, false, 20, 400, batch, "z", "h"),
        (true, false, 784, 400, batch, "x", "h"), (true, false, 400, 40, batch, "h", "z"),
        (false, true, batch, 400, 784, "out", "w5"), (false, true, batch, 20, 400, "h", "w4"),
        (false, true, batch, 400, 40, "z", "w2"),
    ]

    /// The products' output, made once: a fresh zeroed array of 1.25 MB per call had cost about 20 µs, more than a
    /// small product itself.
    nonisolated(unsafe) static let output: UnsafeMutablePointer<Float> = {
        let c = UnsafeMutablePointer<Float>.allocate(capacity: 784 * 400)
        c.initialize(repeating: 0, count: 784 * 400)
        return c
    }()

    static func runGEMMs(_ shapes: [(Bool, Bool, Int, Int, Int, String, String)] = shapes) {
        for (ta, tb, m, n, k, an, bn) in shapes {
            let a = buffers[an]!
            let b = buffers[bn]!
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    Float.gemm(
                        transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 1, a: pa.baseAddress!,
                        lda: ta ? m : k, b: pb.baseAddress!, ldb: tb ? k : n, beta: 0, c: output, ldc: n)
                }
            }
        }
    }
}

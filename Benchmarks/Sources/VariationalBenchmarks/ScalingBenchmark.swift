import Foundation
import Variational

/// The logistic regression of `svi` (D = 10, mean-field, 1 particle, Adam) written as a user writes it, on N
/// observations with minibatches of 1,000: time per step (which should not grow with N) and per epoch (N / 1,000
/// steps). Run one N per process to read its peak memory: `variational-benchmarks scaling 1000000` under
/// `/usr/bin/time -v` (Benchmarks/peers/run_scaling.sh).
enum ScalingBenchmark {
    static func run(_ n: Int) {
        var generator = SeededGenerator(seed: 12)
        let d = 10
        let x = Tensor<Double>(randomNormal: [n, d], using: &generator)
        let w = Tensor<Double>(randomNormal: [d, 1], using: &generator)
        let y = Tensor<Double>(shape: [n], scalars: matmul(x, w).sigmoid().scalars.map { Random.bernoulli(probability: $0, using: &generator) ? 1 : 0 })
        // The features stay in rows [N, 10]: a batch's rows are contiguous, where columns of Xᵀ would cost a cache
        // miss per element at large N.
        let model = Model([Latent("w", Normal(0, 10), shape: [d])], observationCount: n) { z, batch in
            Bernoulli(uncheckedLogits: matmul(z["w"], x.rows(batch).transposed())).logProbability(of: y.rows(batch))
        }
        var configuration = SVIConfiguration()
        configuration.learningRate = 0.01
        configuration.batchSize = 1000
        var svi = SVI(model: model, family: MeanFieldGaussian(dimension: d), estimator: ReparameterizedELBO(particleCount: 1),
                      configuration: configuration)
        let step = medianSecondsPerIteration(repeats: 9, iterations: 200) { svi.step(using: &generator) }
        require(svi.trace.last!.isFinite, "scaling benchmark: the fit went wrong")
        print(String(format: "logistic regression, N = %d, minibatches of 1000: step %.1f µs, epoch (%d steps) %.3f s", n, step * 1e6,
                     n / 1000, step * Double(n / 1000)))
    }
}

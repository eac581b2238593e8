import Foundation
import Variational

/// One SVI step for Bayesian logistic regression, N = 1000, D = 10: a mean-field Gaussian, one particle,
/// the reparameterised ELBO with closed-form entropy, Adam — the same step NumPyro takes with AutoNormal and
/// Trace_ELBO (Benchmarks/peers/numpyro_logistic.py).
enum SVIStepBenchmark {
    static func data() -> (Tensor<Double>, [Double]) {
        var generator = SeededGenerator(seed: 5)
        let x = Tensor<Double>(randomNormal: [1000, 10], using: &generator)
        let w = Tensor<Double>(randomNormal: [10, 1], using: &generator)
        let p = matmul(x, w).sigmoid().scalars
        let y = p.map { Random.bernoulli(probability: $0, using: &generator) ? 1.0 : 0.0 }
        return (x, y)
    }

    /// The same model written as a user writes it, every derivative from automatic differentiation.
    static func userModel(_ x: Tensor<Double>, _ y: [Double]) -> Model {
        let (xT, labels) = (x.transposed(), Tensor(y))
        return Model([Latent("w", Normal(0, 10), shape: [10])]) { z in
            Bernoulli(uncheckedLogits: matmul(z["w"], xT)).logProbability(of: labels)
        }
    }

    static func secondsPerStep<M: ProbabilisticModel, F: VariationalFamily>(
        _ model: M, family: F, particles: Int = 1
    ) -> Double {
        var configuration = SVIConfiguration()
        configuration.learningRate = 0.01
        var svi = SVI(model: model, family: family, estimator: ReparameterizedELBO(particleCount: particles), configuration: configuration)
        var generator = SeededGenerator(seed: 6)
        let seconds = medianSecondsPerIteration(repeats: 9, iterations: 500) { svi.step(using: &generator) }
        precondition(svi.trace.count == svi.iteration && svi.trace.last!.isFinite, "SVI step benchmark: the fit went wrong")
        return seconds
    }

    /// `count` steps of the benchmark's fit, untimed.
    static func runSteps<M: ProbabilisticModel>(_ model: M, meanField: Bool, particles: Int, count: Int) {
        let dimension = model.latentSpace.dimension
        func go<F: VariationalFamily>(_ family: F) {
            var configuration = SVIConfiguration()
            configuration.learningRate = 0.01
            var svi = SVI(model: model, family: family, estimator: ReparameterizedELBO(particleCount: particles), configuration: configuration)
            var generator = SeededGenerator(seed: 6)
            for _ in 0..<count { svi.step(using: &generator) }
            precondition(svi.trace.last!.isFinite, "steps: the fit went wrong")
        }
        if meanField { go(MeanFieldGaussian(dimension: dimension)) } else { go(FullRankGaussian(dimension: dimension, initialScale: 0.1)) }
    }

    static func run() {
        let (x, y) = data()
        let model = try! LogisticRegressionModel(features: x, responses: y, priorStandardDeviation: 10)
        print("Logistic-regression SVI step (N = 1000, D = 10, mean-field, 1 particle, Adam, Double)")
        print(String(format: "  step, built-in model (hand-written log-joint gradient)  %7.2f µs", secondsPerStep(model, family: MeanFieldGaussian(dimension: 10)) * 1e6))
        print(String(format: "  step, same model through automatic differentiation    %7.2f µs", secondsPerStep(userModel(x, y), family: MeanFieldGaussian(dimension: 10)) * 1e6))
    }
}

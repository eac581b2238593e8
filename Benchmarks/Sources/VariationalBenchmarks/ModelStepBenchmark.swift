import Foundation
import Variational

/// One SVI step of each model in Examples/, written as there (every derivative from automatic differentiation):
/// a full-rank Gaussian, the reparameterised ELBO, Adam. NumPyro takes the same step with AutoMultivariateNormal and
/// Trace_ELBO in Benchmarks/peers/numpyro_models.py. Data of the same shapes as the examples'.
enum ModelStepBenchmark {
    static func eightSchools() -> Model {
        let y = Tensor<Double>([28, 8, -3, 7, -1, 1, 18, 12])
        let sigma = Tensor<Double>([15, 10, 16, 11, 9, 11, 10, 18])
        return Model([
            Latent("mu", Normal(0, 5)), Latent("tau", HalfCauchy(5)), Latent("theta_tilde", Normal(0, 1), shape: [8]),
        ]) { z in Normal(z["mu"] + z["tau"] * z["theta_tilde"], sigma).logProbability(of: y) }
    }

    static func poissonRegression() -> Model {
        var generator = SeededGenerator(seed: 7)
        let x = Tensor<Double>(randomNormal: [500, 5], standardDeviation: 0.5, using: &generator)
        let y = Poisson(logRate: matmul(x, Tensor(shape: [5, 1], scalars: [0.6, -0.4, 0.3, 0, 0.5])).reshaped(to: [500]) + 0.8)
            .sample(using: &generator)
        let xT = x.transposed()
        return Model([Latent("alpha", Normal(0, 5)), Latent("beta", Normal(0, 1), shape: [5])]) { z in
            Poisson(logRate: z["alpha"] + matmul(z["beta"], xT)).logProbability(of: y)
        }
    }

    static func robustRegression() -> Model {
        var generator = SeededGenerator(seed: 11)
        let x = Tensor<Double>(randomNormal: [100, 2], using: &generator)
        let noise = StudentT(Tensor<Double>(3), Tensor(0), Tensor(0.5)).sample(sampleShape: [100], using: &generator)
        let y = matmul(x, Tensor(shape: [2, 1], scalars: [2, -1])).reshaped(to: [100]) + 1 + noise
        let xT = x.transposed()
        return Model([
            Latent("alpha", Normal(0, 10)), Latent("beta", Normal(0, 10), shape: [2]),
            Latent("sigma", HalfNormal(2)), Latent("nu", Gamma(2, 0.1)),
        ]) { z in StudentT(z["nu"], z["alpha"] + matmul(z["beta"], xT), z["sigma"]).logProbability(of: y) }
    }

    static func run() {
        print("SVI step of the example models through automatic differentiation (full-rank Gaussian, reparameterised ELBO, Adam, Double)")
        let cases: [(String, Model, Int)] = [
            ("eight schools, 4 particles", eightSchools(), 4),
            ("Poisson regression (N = 500, D = 5), 1 particle", poissonRegression(), 1),
            ("robust regression (N = 100, D = 2), 1 particle", robustRegression(), 1),
        ]
        for (name, model, particles) in cases {
            let family = FullRankGaussian(dimension: model.latentSpace.dimension, initialScale: 0.1)
            let step = SVIStepBenchmark.secondsPerStep(model, family: family, particles: particles)
            print("  " + name.padding(toLength: 52, withPad: " ", startingAt: 0) + String(format: "%7.2f µs", step * 1e6))
        }
    }
}

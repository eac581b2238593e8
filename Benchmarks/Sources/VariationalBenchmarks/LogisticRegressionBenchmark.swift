import Foundation
import Variational

/// One reparameterised ELBO gradient for Bayesian logistic regression, N = 1000, D = 10, mean-field Gaussian q,
/// one sample, standard normal prior.
enum LogisticRegressionBenchmark {
    struct MeanField: Differentiable {
        var mean: Tensor<Double>
        var logScale: Tensor<Double>
    }

    @differentiable(reverse, wrt: q)
    static func negativeELBO(
        _ q: MeanField, x: Tensor<Double>, y: Tensor<Double>, noise: Tensor<Double>
    ) -> Tensor<Double> {
        let w = q.mean + q.logScale.exp() * noise
        let logits = matmul(x, w.reshaped(to: [-1, 1])).reshaped(to: [-1])
        let logLikelihood = (y * logits - logits.softplus()).sum()
        let logPrior = (w.squared() * -0.5).sum()
        let entropy = q.logScale.sum()
        return -(logLikelihood + logPrior + entropy)
    }

    static func run() {
        let (n, d) = (1000, 10)
        var generator = SeededGenerator(seed: 4)
        let x = Tensor<Double>(randomNormal: [n, d], using: &generator)
        let trueWeights = Tensor<Double>(randomNormal: [d, 1], using: &generator)
        let y = matmul(x, trueWeights).reshaped(to: [n]).sigmoid().map { $0 > 0.5 ? 1 : 0 }
        let q = MeanField(mean: Tensor(zeros: [d]), logScale: Tensor(repeating: -1, shape: [d]))
        let seconds = medianSecondsPerIteration(repeats: 9, iterations: 500) {
            let noise = Tensor<Double>(randomNormal: [d], using: &generator)
            _ = gradient(at: q) { q in negativeELBO(q, x: x, y: y, noise: noise) }
        }
        print("Logistic-regression ELBO gradient (N = \(n), D = \(d), mean-field, 1 sample, Double)")
        print(String(format: "  gradient    %7.1f µs", seconds * 1e6))
    }
}

import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions
import VariationalInference
import VariationalNeural
import VariationalOptimizers
import XCTest

typealias SmallDiffusion = DiffusionModel<DenseStack<Double>>

final class DiffusionModelTests: XCTestCase {
    let (pixels, embedding) = (3, 4)

    func model(seed: UInt64, steps: Int = 10) -> SmallDiffusion {
        var generator = SeededGenerator(seed: seed)
        return DiffusionModel(
            network: DenseStack<Double>(sizes: [pixels + embedding, 8, pixels], activation: .tanh, using: &generator),
            dimension: pixels, steps: steps, embeddingSize: embedding)
    }

    /// Images on the 8-bit grid, one pixel at each end.
    let x = Tensor<Double>(shape: [2, 3], scalars: [0, 17.0 / 255, 1, 128.0 / 255, 1, 0])

    /// Each term against its definition: L_{t−1} = KL(q(x_{t−1} | x_t, x₀) ‖ N(μ(x_t), β_t)) summed over pixels,
    /// with the forward posterior's mean and variance and the model's mean written out; L₀ the discretised
    /// Gaussian's mass of each pixel's bin, by erf; L_T the KL of q(x_T | x₀) to N(0, I).
    func testTermsAgainstTheirDefinitions() {
        let diffusion = model(seed: 1)
        var generator = SeededGenerator(seed: 2)
        let x0 = x * 2 - 1
        for step in [1, 2, 5, 10] {
            let epsilon = Tensor<Double>(randomNormal: [2, pixels], using: &generator)
            let terms = diffusion.stepTerms(x0: x0, epsilon: epsilon, steps: [step, step])
            let (beta, bar, previous) = (diffusion.betas[step - 1], diffusion.alphaBars[step], diffusion.alphaBars[step - 1])
            let xt = x0 * bar.squareRoot() + epsilon * (1 - bar).squareRoot()
            let predicted = diffusion.predictedNoise(xt, steps: [step, step])
            let mean = (xt - predicted * (beta / (1 - bar).squareRoot())) / (1 - beta).squareRoot()
            for row in 0..<2 {
                var expected = 0.0
                for j in 0..<pixels {
                    let (a, m) = (x0.scalars[row * pixels + j], mean.scalars[row * pixels + j])
                    if step == 1 {
                        let s = (2 * beta).squareRoot()
                        let upper = a > 0.999 ? 1 : Foundation.erf((a + 1.0 / 255 - m) / s)
                        let lower = a < -0.999 ? -1 : Foundation.erf((a - 1.0 / 255 - m) / s)
                        expected -= Foundation.log(Swift.max(0.5 * (upper - lower), 1e-12))
                    } else {
                        let posteriorMean = previous.squareRoot() * beta / (1 - bar) * a
                            + (1 - beta).squareRoot() * (1 - previous) / (1 - bar) * xt.scalars[row * pixels + j]
                        let posteriorVariance = (1 - previous) * beta / (1 - bar)
                        expected += 0.5 * (Foundation.log(beta / posteriorVariance) + (posteriorVariance + (posteriorMean - m) * (posteriorMean - m)) / beta - 1)
                    }
                }
                XCTAssertEqual(terms.scalars[row], expected, accuracy: 1e-9 * Swift.max(1, Swift.abs(expected)), "t = \(step), row \(row)")
            }
        }
        // L_T: ᾱ_T is small, so q(x_T | x₀) is close to N(0, I).
        var g = SeededGenerator(seed: 3)
        let noise = diffusion.sampleNoise(particles: 1, batch: x, using: &g)
        XCTAssertEqual(noise.shape, [1, 2, pixels + 1])
        XCTAssertTrue(noise.slice(axis: 2, range: pixels..<(pixels + 1)).scalars.allSatisfy { $0 >= 1 && $0 <= 10 && $0 == $0.rounded() })
    }

    /// One random step per image, scaled by T, estimates the sum over all steps without bias.
    func testOneStepEstimateIsUnbiased() {
        let diffusion = model(seed: 4, steps: 6)
        var generator = SeededGenerator(seed: 5)
        var full: [Double] = [], sampled: [Double] = []
        for _ in 0..<4000 {
            full.append(diffusion.negativeELBO(x, using: &generator).scalars.reduce(0, +))
            let noise = diffusion.sampleNoise(particles: 1, batch: x, using: &generator)
            sampled.append(-diffusion.terms(noise: noise, batch: x, requesting: [.logJoint]).logJoint.sum().scalar)
        }
        let (a, sa) = meanAndStandardError(full), (b, sb) = meanAndStandardError(sampled)
        XCTAssertEqual(a, b, accuracy: 4 * (sa * sa + sb * sb).squareRoot())
        XCTAssertLessThan(sa, sb, "the sum over every step has less noise than one step")
    }

    /// The training loss's gradient against finite differences at fixed noise (and fixed steps).
    func testGradientMatchesFiniteDifferences() {
        let diffusion = model(seed: 6)
        var generator = SeededGenerator(seed: 7)
        let noise = diffusion.sampleNoise(particles: 2, batch: x, using: &generator)
        let estimator = ReparameterizedELBO(particleCount: 2, useClosedFormEntropy: false)
        let g = estimator.lossAndGradient(problem: diffusion, noise: noise, batch: x).gradient
        for layer in 0..<2 {
            for index in [0, 5] {
                let h = 1e-6
                var plus = diffusion, minus = diffusion
                let w = diffusion.network.layers[layer].weight
                plus.network.layers[layer].weight = w.replacing(index: index, with: w.scalars[index] + h)
                minus.network.layers[layer].weight = w.replacing(index: index, with: w.scalars[index] - h)
                let numerical = (estimator.loss(problem: plus, noise: noise, batch: x).scalar - estimator.loss(problem: minus, noise: noise, batch: x).scalar) / (2 * h)
                XCTAssertEqual(g.network.layers[layer].weight.scalars[index], numerical, accuracy: 1e-5 * Swift.max(1, Swift.abs(numerical)), "layer \(layer)[\(index)]")
            }
        }
    }

    /// DDPM's simplified loss: the same value (the ELBO's estimate), the gradient of the mean of ‖ε − ε̂‖².
    func testSimplifiedLossKeepsTheELBOsValue() {
        var simple = model(seed: 11)
        simple.weighting = .simple
        let elbo = model(seed: 11)
        var generator = SeededGenerator(seed: 12)
        let noise = elbo.sampleNoise(particles: 2, batch: x, using: &generator)
        let estimator = ReparameterizedELBO(particleCount: 2, useClosedFormEntropy: false)
        let (value, g, _) = estimator.lossAndGradient(problem: simple, noise: noise, batch: x)
        XCTAssertEqual(value, estimator.loss(problem: elbo, noise: noise, batch: x).scalar, accuracy: 1e-12)
        let flat = noise.reshaped(to: [4, pixels + 1])
        let epsilon = flat.slice(axis: 1, range: 0..<pixels)
        let t = flat.slice(axis: 1, range: pixels..<(pixels + 1)).scalars.map { Int($0.rounded()) }
        let x0 = (x * 2 - 1).broadcasted(to: [2, 2, pixels]).reshaped(to: [4, pixels])
        let reference = gradient(at: elbo) { m in m.noiseResidual(x0: x0, epsilon: epsilon, steps: t).squared().sum(squeezingAxes: 1).mean() }
        for (a, b) in zip(g.network.layers[0].weight.scalars, reference.network.layers[0].weight.scalars) {
            XCTAssertEqual(a, b, accuracy: 1e-12 * Swift.max(1, Swift.abs(b)))
        }
    }

    /// Training on the ELBO lowers the full bound on a few repeated images, and samples land in [0, 1].
    func testTrainingLowersTheBound() {
        var generator = SeededGenerator(seed: 8)
        let data = x.gathering(atIndices: (0..<32).map { $0 % 2 }, alongAxis: 0)
        var trainer = Trainer(problem: model(seed: 9), estimator: ReparameterizedELBO(useClosedFormEntropy: false), optimizer: Adam(learningRate: 0.01))
        func bound(_ m: SmallDiffusion) -> Double {
            var evaluation = SeededGenerator(seed: 10)
            return (0..<20).map { _ in m.negativeELBO(data, using: &evaluation).mean().scalar }.reduce(0, +) / 20
        }
        let before = bound(trainer.problem)
        for _ in 0..<1500 { trainer.step(on: data, using: &generator) }
        let after = bound(trainer.problem)
        XCTAssertLessThan(after, before - 1, "−ELBO from \(before) to \(after)")
        let samples = trainer.problem.samples(count: 5, using: &generator)
        XCTAssertEqual(samples.shape, [5, pixels])
        XCTAssertTrue(samples.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    /// The Gaussian baseline is E[ε | x_t] for pixels x₀ ~ N(m_j, s_j²): its residual has mean zero and the least
    /// variance any predictor of x_t can reach, ᾱ_t s_j²/(ᾱ_t s_j² + 1 − ᾱ_t), which draws of x₀ and ε must show
    /// (20,000 draws per pixel: the mean square's standard error is 1%; the tolerance is four of them). The model adds
    /// exactly this prediction to its network's output.
    func testGaussianBaselineIsTheBestPredictorForGaussianPixels() {
        let (mean, variance) = ([-1.0, 0.2, 0.7], [0.0, 0.25, 0.04])
        let baseline = PixelGaussian(momentsInUnitInterval: (mean.map { ($0 + 1) / 2 }, variance.map { $0 / 4 }))
        for j in 0..<pixels {
            XCTAssertEqual(baseline.mean[j], mean[j], accuracy: 1e-15)
            XCTAssertEqual(baseline.variance[j], variance[j], accuracy: 1e-15)
        }
        var generator = SeededGenerator(seed: 5)
        let plain = model(seed: 1, steps: 100)
        let diffusion = DiffusionModel(network: plain.network, dimension: pixels, steps: 100, embeddingSize: embedding, baseline: baseline)
        let n = 20_000
        for step in [1, 10, 50, 100] {
            let bar = diffusion.alphaBars[step]
            let x0 = Tensor<Double>(randomNormal: [n, pixels], using: &generator) * Tensor(variance.map { $0.squareRoot() }) + Tensor(mean)
            let epsilon = Tensor<Double>(randomNormal: [n, pixels], using: &generator)
            let xt = x0 * bar.squareRoot() + epsilon * (1 - bar).squareRoot()
            let steps = [Int](repeating: step, count: n)
            let residual = (epsilon - diffusion.baselineNoise(xt, steps: steps)).scalars.array
            for j in 0..<pixels {
                let column = stride(from: j, to: n * pixels, by: pixels).map { residual[$0] }
                let best = bar * variance[j] / (bar * variance[j] + 1 - bar)
                let meanSquare = column.reduce(0) { $0 + $1 * $1 } / Double(n)
                let average = column.reduce(0, +) / Double(n)
                XCTAssertEqual(meanSquare, best, accuracy: 4 * best * (2.0 / Double(n)).squareRoot() + 1e-12, "t = \(step), pixel \(j)")
                XCTAssertEqual(average, 0, accuracy: 4 * (best / Double(n)).squareRoot() + 1e-12, "t = \(step), pixel \(j)")
            }
            let sum = diffusion.predictedNoise(xt, steps: steps) - plain.predictedNoise(xt, steps: steps)
            let added = diffusion.baselineNoise(xt, steps: steps)
            XCTAssertLessThan(zip(sum.scalars.array, added.scalars.array).map { Swift.abs($0 - $1) }.max()!, 1e-12)
        }
    }

    /// The conditioned network gives every layer the step's embedding: its output against the layers applied by
    /// hand to [h, c]; the diffusion loss's gradient through it, and its own gradient in its input, against finite
    /// differences (the embedding's columns of a hidden layer among the probed weights).
    func testConditionedNetwork() {
        var generator = SeededGenerator(seed: 8)
        let network = ConditionedStack<Double>(sizes: [pixels, 8, pixels], conditionSize: embedding, activation: .tanh, using: &generator)
        XCTAssertEqual(network.layers.map(\.weight.shape), [[pixels + embedding, 8], [8 + embedding, pixels]])
        let input = Tensor<Double>(randomNormal: [2, pixels + embedding], using: &generator)
        let c = input.slice(axis: 1, range: pixels..<(pixels + embedding))
        let hidden = network.layers[0](input)
        let expected = network.layers[1](hidden.concatenated(with: c, alongAxis: 1))
        XCTAssertLessThan(zip(network(input).scalars.array, expected.scalars.array).map { Swift.abs($0 - $1) }.max()!, 1e-14)

        let diffusion = DiffusionModel(network: network, dimension: pixels, steps: 10, embeddingSize: embedding)
        let noise = diffusion.sampleNoise(particles: 2, batch: x, using: &generator)
        let estimator = ReparameterizedELBO(particleCount: 2, useClosedFormEntropy: false)
        let g = estimator.lossAndGradient(problem: diffusion, noise: noise, batch: x).gradient
        let h = 1e-6
        for layer in 0..<2 {
            let w = diffusion.network.layers[layer].weight
            for index in [0, w.scalarCount - 1] {
                var plus = diffusion, minus = diffusion
                plus.network.layers[layer].weight = w.replacing(index: index, with: w.scalars[index] + h)
                minus.network.layers[layer].weight = w.replacing(index: index, with: w.scalars[index] - h)
                let numerical = (estimator.loss(problem: plus, noise: noise, batch: x).scalar - estimator.loss(problem: minus, noise: noise, batch: x).scalar) / (2 * h)
                XCTAssertEqual(g.network.layers[layer].weight.scalars[index], numerical, accuracy: 1e-5 * Swift.max(1, Swift.abs(numerical)), "layer \(layer)[\(index)]")
            }
        }
        let inputGradient = gradient(at: input) { network($0).sum() }
        for index in [0, pixels + embedding - 1] {
            let numerical = (network(input.replacing(index: index, with: input.scalars[index] + h)).sum().scalar
                - network(input.replacing(index: index, with: input.scalars[index] - h)).sum().scalar) / (2 * h)
            XCTAssertEqual(inputGradient.scalars[index], numerical, accuracy: 1e-6, "input[\(index)]")
        }
    }
}

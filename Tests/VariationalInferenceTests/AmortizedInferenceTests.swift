import _Differentiation
import Foundation
import VariationalCore
import VariationalInference
import VariationalNeural
import VariationalDistributions
import VariationalOptimizers
import VariationalTestSupport
import XCTest

typealias LinearVAE = VariationalAutoencoder<GaussianEncoder<Dense<Double>>, GaussianDecoder<Dense<Double>>>

/// A linear-Gaussian latent-variable model (probabilistic PCA), x = W z + b + σ ε with z ~ N(0, I), whose
/// evidence N(x | b, W Wᵀ + σ² I) and posterior are known in closed form. W has orthogonal columns, so the exact
/// posterior has a diagonal covariance σ² M⁻¹ (M = WᵀW + σ² I) and mean M⁻¹ Wᵀ (x − b), both of which a linear
/// Gaussian encoder can represent exactly.
struct LinearGaussianModel {
    let columns: [[Double]] = [[1, 0, 1, 0], [0, 2, 0, -1]]
    let offset: [Double] = [0.5, -1, 0.2, 0.3]
    let sigma = 0.7
    var d: Int { offset.count }
    var l: Int { columns.count }
    /// The diagonal of M.
    var m: [Double] { columns.map { c in c.reduce(0) { $0 + $1 * $1 } + sigma * sigma } }

    func exactLogEvidence(_ x: [Double]) -> Double {
        let r = zip(x, offset).map { $0 - $1 }
        let projections = columns.map { c in zip(c, r).reduce(0) { $0 + $1.0 * $1.1 } }
        var quadratic = r.reduce(0) { $0 + $1 * $1 }
        for j in 0..<l { quadratic -= projections[j] * projections[j] / m[j] }
        quadratic /= sigma * sigma
        let logDet = Double(d - l) * Foundation.log(sigma * sigma) + m.reduce(0) { $0 + Foundation.log($1) }
        return -0.5 * (quadratic + logDet + Double(d) * Foundation.log(2 * Double.pi))
    }

    var decoder: GaussianDecoder<Dense<Double>> {
        let weight = Tensor<Double>(shape: [l, d], scalars: columns.flatMap { $0 })
        return GaussianDecoder(network: Dense(weight: weight, bias: Tensor(offset)), outputSize: d, variance: .fixed(standardDeviation: sigma))
    }

    /// The encoder whose q(z | x) is the exact posterior.
    var exactEncoder: GaussianEncoder<Dense<Double>> {
        var meanWeight = [Double](repeating: 0, count: d * l)
        for i in 0..<d { for j in 0..<l { meanWeight[i * l + j] = columns[j][i] / m[j] } }
        var meanBias = [Double](repeating: 0, count: l)
        for j in 0..<l { meanBias[j] = -(0..<d).reduce(0) { $0 + offset[$1] * meanWeight[$1 * l + j] } }
        return GaussianEncoder(
            body: Dense(weight: Tensor(identity: d), bias: Tensor(zeros: [d])),
            meanHead: Dense(weight: Tensor(shape: [d, l], scalars: meanWeight), bias: Tensor(meanBias)),
            logVarianceHead: Dense(weight: Tensor(zeros: [d, l]), bias: Tensor(m.map { Foundation.log(sigma * sigma / $0) })))
    }

    func randomEncoder(seed: UInt64) -> GaussianEncoder<Dense<Double>> {
        var generator = SeededGenerator(seed: seed)
        return GaussianEncoder(body: Dense(inputSize: d, outputSize: d, using: &generator), hiddenSize: d, latentDimension: l, using: &generator)
    }

    /// Draws from the model, [n, D].
    func data(count n: Int, seed: UInt64) -> Tensor<Double> {
        var generator = SeededGenerator(seed: seed)
        let z = Tensor<Double>(randomNormal: [1, n, l], using: &generator)
        let mean = decoder.mean(given: z.reshaped(to: [n, l]))
        return mean + Tensor<Double>(randomNormal: [n, d], using: &generator) * sigma
    }

    func meanExactLogEvidence(_ x: Tensor<Double>) -> Double {
        let n = x.shape[0]
        return (0..<n).reduce(0) { total, i in total + exactLogEvidence(Array(x.scalars[(i * d)..<((i + 1) * d)])) } / Double(n)
    }
}

final class AmortizedInferenceTests: XCTestCase {
    let model = LinearGaussianModel()

    /// With the exact posterior as q, log p(x, z) − log q(z | x) = log p(x) at every z: every estimator that reads
    /// log q gives exactly the negative mean log evidence, whatever the noise. Those with a closed-form entropy or
    /// KL average log p(x, z), a quadratic in the noise here, over sigma points ±√L eⱼ, which give its expectation
    /// exactly. This checks every term's constants and signs.
    func testExactPosteriorGivesTheExactEvidenceForEveryEstimator() {
        let vae = LinearVAE(encoder: model.exactEncoder, decoder: model.decoder)
        let x = model.data(count: 7, seed: 1)
        let exact = model.meanExactLogEvidence(x)
        var generator = SeededGenerator(seed: 2)
        let anyNoise: [any ELBOEstimator] = [
            ReparameterizedELBO(particleCount: 2, useClosedFormEntropy: false), StickingTheLandingELBO(particleCount: 2),
            ScoreFunctionELBO(particleCount: 3), ImportanceWeightedELBO(particleCount: 5),
            ImportanceWeightedELBO(particleCount: 4, doublyReparameterized: true), RenyiELBO(particleCount: 4, alpha: 0.5),
        ]
        for estimator in anyNoise {
            let loss = lossValue(estimator, vae, x, noise: nil, &generator)
            XCTAssertEqual(-loss, exact, accuracy: 1e-10 * Swift.abs(exact), estimator.name)
        }
        let l = model.l
        var points = [Double](repeating: 0, count: 2 * l * x.shape[0] * l)
        for j in 0..<l {
            for b in 0..<x.shape[0] {
                points[((2 * j) * x.shape[0] + b) * l + j] = Double(l).squareRoot()
                points[((2 * j + 1) * x.shape[0] + b) * l + j] = -Double(l).squareRoot()
            }
        }
        let sigmaPoints = Tensor(shape: [2 * l, x.shape[0], l], scalars: points)
        let closedForms: [any ELBOEstimator] = [ReparameterizedELBO(), AnalyticKLELBO(), AnalyticKLELBO(klWeight: 0.3, freeBits: 0.1)]
        for estimator in closedForms {
            let loss = lossValue(estimator, vae, x, noise: sigmaPoints, &generator)
            XCTAssertEqual(-loss, exact, accuracy: 1e-10 * Swift.abs(exact), estimator.name)
        }
        // Sticking the landing's gradient vanishes for the encoder at the exact posterior.
        let noise = vae.sampleNoise(particles: 2, batch: x, using: &generator)
        let g = StickingTheLandingELBO(particleCount: 2).lossAndGradient(problem: vae, noise: noise, batch: x).gradient
        for value in g.encoder.meanHead.weight.scalars.array + g.encoder.logVarianceHead.bias.scalars {
            XCTAssertEqual(value, 0, accuracy: 1e-10)
        }
    }

    func lossValue(_ estimator: any ELBOEstimator, _ vae: LinearVAE, _ x: Tensor<Double>, noise: Tensor<Double>?, _ generator: inout SeededGenerator) -> Double {
        func value<E: ELBOEstimator>(_ e: E) -> Double {
            let noise = noise ?? vae.sampleNoise(particles: e.particleCount, batch: x, using: &generator)
            return e.loss(problem: vae, noise: noise, batch: x).scalar
        }
        return value(estimator)
    }

    /// Away from the optimum, each estimator's gradient (the loss's own, where the loss is not a surrogate) agrees
    /// with finite differences of its loss at the same noise, for encoder and decoder parameters alike.
    func testGradientsMatchFiniteDifferences() {
        var decoder = model.decoder
        decoder.variance = .learned
        decoder.logScale = Tensor([-0.2, 0.1, 0.3, -0.4])
        let vae = LinearVAE(encoder: model.randomEncoder(seed: 3), decoder: decoder)
        let x = model.data(count: 5, seed: 4)
        var generator = SeededGenerator(seed: 5)
        let estimators: [any ELBOEstimator] = [
            ReparameterizedELBO(particleCount: 2), ReparameterizedELBO(particleCount: 2, useClosedFormEntropy: false),
            AnalyticKLELBO(particleCount: 2), ImportanceWeightedELBO(particleCount: 3), RenyiELBO(particleCount: 3, alpha: 0.3),
        ]
        for estimator in estimators { checkFiniteDifferences(estimator, vae, x, &generator) }
    }

    func checkFiniteDifferences(_ estimator: any ELBOEstimator, _ vae: LinearVAE, _ x: Tensor<Double>, _ generator: inout SeededGenerator) {
        func check<E: ELBOEstimator>(_ e: E) {
            let noise = vae.sampleNoise(particles: e.particleCount, batch: x, using: &generator)
            let g = e.lossAndGradient(problem: vae, noise: noise, batch: x).gradient
            let probes: [(String, WritableKeyPath<LinearVAE, Tensor<Double>>, Tensor<Double>)] = [
                ("encoder body weight", \.encoder.body.weight, g.encoder.body.weight),
                ("encoder mean bias", \.encoder.meanHead.bias, g.encoder.meanHead.bias),
                ("encoder log-variance weight", \.encoder.logVarianceHead.weight, g.encoder.logVarianceHead.weight),
                ("decoder weight", \.decoder.network.weight, g.decoder.network.weight),
                ("decoder log scale", \.decoder.logScale, g.decoder.logScale),
            ]
            checkAgainstFiniteDifferences(e, vae, noise: noise, batch: x, probes: probes)
        }
        check(estimator)
    }

    /// The sample and the KL of a `LocalNormal`, each one fused pass forward and back, give the bits of the
    /// compositions they replace: values and gradients in μ and log σ, for one particle and for three, in Float and
    /// in Double, with log σ from −30 to 30 (σ² under- and overflowing Float).
    func testFusedSampleAndKLGiveTheBitsOfTheirCompositions() {
        func check<S: TensorScalar>(_: S.Type) {
            var generator = SeededGenerator(seed: 41)
            let mean = Tensor<S>(randomNormal: [7, 5], using: &generator) * 3
            var logScale = Tensor<S>(randomNormal: [7, 5], using: &generator)
            logScale = Tensor(shape: [7, 5], scalars: logScale.scalars.enumerated().map { $0 == 0 ? -30 : $0 == 1 ? 30 : $1 })
            let q = LocalNormal(mean: mean, logScale: logScale)
            for particles in [1, 3] {
                let noise = Tensor<S>(randomNormal: [particles, 7, 5], using: &generator)
                let upstream = Tensor<S>(randomNormal: [particles, 7, 5], using: &generator)
                let (z, zPullback) = valueWithPullback(at: q) { $0.sample(fromNoise: noise) }
                @differentiable(reverse) func composedSample(_ m: Tensor<S>, _ l: Tensor<S>) -> Tensor<S> { m + l.exp() * noise }
                let (zz, zzPullback) = valueWithPullback(at: mean, logScale, of: composedSample)
                XCTAssertEqual(z, zz)
                let (g, gg) = (zPullback(upstream), zzPullback(upstream))
                XCTAssertEqual(g.mean, gg.0)
                XCTAssertEqual(g.logScale, gg.1)
            }
            let upstream = Tensor<S>(randomNormal: [7, 5], using: &generator)
            let (kl, klPullback) = valueWithPullback(at: q) { $0.klToStandardNormal() }
            @differentiable(reverse) func composedKL(_ m: Tensor<S>, _ l: Tensor<S>) -> Tensor<S> {
                let variance = (l * 2).exp()
                let sum = m.squared() + variance - 1
                return sum * S(0.5) - l
            }
            let (kk, kkPullback) = valueWithPullback(at: mean, logScale, of: composedKL)
            XCTAssertEqual(kl, kk)
            let (g, gg) = (klPullback(upstream), kkPullback(upstream))
            XCTAssertEqual(g.mean, gg.0)
            XCTAssertEqual(g.logScale, gg.1)
        }
        check(Float.self)
        check(Double.self)
    }

    /// At the same noise the IWAE bound is at least the ELBO of its particles (Jensen), on every batch; its
    /// expectation rises with K and stays below log p(x).
    func testImportanceWeightedBoundIsAboveTheELBOAndRisesWithK() {
        let vae = LinearVAE(encoder: model.randomEncoder(seed: 6), decoder: model.decoder)
        let x = model.data(count: 20, seed: 7)
        var generator = SeededGenerator(seed: 8)
        for _ in 0..<10 {
            let noise = vae.sampleNoise(particles: 5, batch: x, using: &generator)
            let iwae = -ImportanceWeightedELBO(particleCount: 5).loss(problem: vae, noise: noise, batch: x).scalar
            let elbo = -ReparameterizedELBO(particleCount: 5, useClosedFormEntropy: false).loss(problem: vae, noise: noise, batch: x).scalar
            XCTAssertGreaterThanOrEqual(iwae, elbo)
        }
        var previous = -Double.infinity
        for k in [1, 5, 50] {
            var values: [Double] = []
            for _ in 0..<100 {
                let noise = vae.sampleNoise(particles: k, batch: x, using: &generator)
                values.append(-ImportanceWeightedELBO(particleCount: k).loss(problem: vae, noise: noise, batch: x).scalar)
            }
            let (mean, standardError) = meanAndStandardError(values)
            XCTAssertGreaterThan(mean, previous + 3 * standardError, "k = \(k)")
            XCTAssertLessThan(mean, model.meanExactLogEvidence(x))
            previous = mean
        }
    }

    /// DReG changes only the encoder's gradient: the decoder's is the IWAE one at the same noise, exactly; the
    /// score-function estimator gives the decoder ∇ mean log p(x, z) at the drawn z.
    func testGenerativeParametersKeepTheirOwnGradient() {
        var decoder = model.decoder
        decoder.variance = .learned
        let vae = LinearVAE(encoder: model.randomEncoder(seed: 9), decoder: decoder)
        let x = model.data(count: 6, seed: 10)
        var generator = SeededGenerator(seed: 11)
        let noise = vae.sampleNoise(particles: 4, batch: x, using: &generator)
        let plain = ImportanceWeightedELBO(particleCount: 4).lossAndGradient(problem: vae, noise: noise, batch: x).gradient
        let dreg = ImportanceWeightedELBO(particleCount: 4, doublyReparameterized: true).lossAndGradient(problem: vae, noise: noise, batch: x).gradient
        for (a, b) in zip(plain.decoder.network.weight.scalars.array + plain.decoder.logScale.scalars, dreg.decoder.network.weight.scalars.array + dreg.decoder.logScale.scalars) {
            XCTAssertEqual(a, b, accuracy: 1e-12 * Swift.max(1, Swift.abs(a)))
        }
        XCTAssertNotEqual(plain.encoder.meanHead.weight, dreg.encoder.meanHead.weight)

        let score = ScoreFunctionELBO(particleCount: 4).lossAndGradient(problem: vae, noise: noise, batch: x).gradient
        let z = vae.encoder.posterior(given: x).sample(fromNoise: noise)
        let reference = gradient(at: vae.decoder) { d in -(d.logLikelihood(of: x, given: z) + standardNormalLogDensity(z)).mean() }
        for (a, b) in zip(score.decoder.network.weight.scalars, reference.network.weight.scalars) {
            XCTAssertEqual(a, b, accuracy: 1e-12 * Swift.max(1, Swift.abs(b)))
        }
    }

    /// The whole stack against an exact answer: training a linear Gaussian encoder from a random start (decoder held
    /// at the true model) brings the ELBO to the exact log-likelihood, the gap being the mean KL(q ‖ p(z | x)).
    /// Sticking the landing's gradient noise vanishes at the optimum, so a constant learning rate gets there.
    func testTrainingTheEncoderReachesTheExactLogLikelihood() {
        let x = model.data(count: 200, seed: 12)
        let exact = model.meanExactLogEvidence(x)
        var trainer = Trainer(
            problem: LinearVAE(encoder: model.randomEncoder(seed: 13), decoder: model.decoder),
            estimator: StickingTheLandingELBO(), optimizer: Adam(learningRate: 0.02))
        var generator = SeededGenerator(seed: 14)
        func evaluate(_ vae: LinearVAE) -> Double {
            var evaluation = SeededGenerator(seed: 15)
            let noise = vae.sampleNoise(particles: 200, batch: x, using: &evaluation)
            return -ReparameterizedELBO(particleCount: 200).loss(problem: vae, noise: noise, batch: x).scalar
        }
        let initialGap = exact - evaluate(trainer.problem)
        for step in 0..<1500 {
            let start = (step * 25) % 200
            trainer.step(on: x.slice(axis: 0, range: start..<(start + 25)), using: &generator)
            trainer.problem.decoder = model.decoder
        }
        let gap = exact - evaluate(trainer.problem)
        XCTAssertGreaterThan(initialGap, 1)
        XCTAssertLessThan(gap, 0.01, "ELBO gap after training (from \(initialGap))")
        XCTAssertGreaterThan(gap, -0.01)
    }

    /// A Float VAE with a Bernoulli decoder learns binary patterns; the β-weighted loss reports the true ELBO.
    func testFloatBernoulliVAETrains() {
        var generator = SeededGenerator(seed: 16)
        let prototypes = Tensor<Float>(randomUniform: [4, 16], using: &generator).map { $0 < 0.5 ? 0 : 1 }
        let data = prototypes.gathering(atIndices: (0..<64).map { $0 % 4 }, alongAxis: 0)
        let encoder = GaussianEncoder(
            body: Dense<Float>(inputSize: 16, outputSize: 32, activation: .tanh, using: &generator),
            hiddenSize: 32, latentDimension: 2, using: &generator)
        let decoder = BernoulliDecoder(network: Dense<Float>(inputSize: 2, outputSize: 32, activation: .tanh, using: &generator)
            .then(Dense<Float>(inputSize: 32, outputSize: 16, using: &generator)))
        let vae = VariationalAutoencoder(encoder: encoder, decoder: decoder)
        let noise = vae.sampleNoise(particles: 1, batch: data, using: &generator)
        XCTAssertEqual(AnalyticKLELBO(klWeight: 0.25, freeBits: 0.5).loss(problem: vae, noise: noise, batch: data).scalar,
                       AnalyticKLELBO().loss(problem: vae, noise: noise, batch: data).scalar, accuracy: 1e-4)
        var trainer = Trainer(problem: vae, estimator: ReparameterizedELBO(), optimizer: Adam(learningRate: 0.01))
        var losses: [Double] = []
        for _ in 0..<300 { losses.append(trainer.step(on: data, using: &generator).loss) }
        let first = losses[0], last = losses.suffix(20).reduce(0, +) / 20
        // 16 fair coins cost 11.1 nats; four prototypes need at most log 4 = 1.4 nats of code.
        XCTAssertGreaterThan(first, 9)
        XCTAssertLessThan(last, 4, "loss from \(first) to \(last)")
    }
}

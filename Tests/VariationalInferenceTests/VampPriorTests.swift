import _Differentiation
import Foundation
import VariationalCore
import VariationalInference
import VariationalNeural
import XCTest

typealias LinearVampVAE = VampPriorVAE<GaussianEncoder<Dense<Double>>, GaussianDecoder<Dense<Double>>>

final class VampPriorTests: XCTestCase {
    let model = LinearGaussianModel()

    /// log p(z) is the log of the mean of the K component densities, each computed here from the encoder's mean
    /// and scale at its pseudo-input.
    func testLogPriorIsTheMixtureDensity() {
        var generator = SeededGenerator(seed: 1)
        let pseudo = Tensor<Double>(randomNormal: [3, model.d], using: &generator)
        let vae = LinearVampVAE(encoder: model.randomEncoder(seed: 2), decoder: model.decoder, pseudoInputs: pseudo)
        let z = Tensor<Double>(randomNormal: [2, 4, model.l], using: &generator)
        let logPrior = vae.logPrior(z)
        XCTAssertEqual(logPrior.shape, [2, 4])
        let components = vae.encoder.posterior(given: pseudo)
        let (mean, scale) = (components.mean.scalars, components.scale.scalars)
        for row in 0..<8 {
            var density = 0.0
            for k in 0..<3 {
                var product = 1.0
                for j in 0..<model.l {
                    let (m, s) = (mean[k * model.l + j], scale[k * model.l + j])
                    let u = (z.scalars[row * model.l + j] - m) / s
                    product *= Foundation.exp(-0.5 * u * u) / (s * (2 * Double.pi).squareRoot())
                }
                density += product / 3
            }
            XCTAssertEqual(logPrior.scalars[row], Foundation.log(density), accuracy: 1e-12)
        }
    }

    /// The mixture's N·K component densities come from two matrix products (the square expanded), which cancel
    /// large terms: in Float, with components as a trained encoder gives them (means up to ±4, scales down to 0.05,
    /// 40 units) and points drawn from the components themselves, they must agree with the direct sum of squares in
    /// Double to 0.01 nats.
    func testEachComponentDensityInFloatAgreesWithTheDirectForm() {
        var generator = SeededGenerator(seed: 4)
        let (k, n, l) = (50, 200, 40)
        let mean = Tensor<Double>(randomNormal: [k, l], using: &generator) * 1.5
        let logScale = Tensor<Double>(randomUniform: [k, l], using: &generator) * 3 - 3
        let chosen = (0..<n).map { _ in Int.random(in: 0..<k, using: &generator) }
        let z = mean.gathering(atIndices: chosen, alongAxis: 0)
            + logScale.gathering(atIndices: chosen, alongAxis: 0).exp() * Tensor<Double>(randomNormal: [n, l], using: &generator)
        let direct = LocalNormal(mean: mean, logScale: logScale).logDensity(z.reshaped(to: [n, 1, l]))
        let float = LocalNormal(mean: Tensor<Float>(shape: [k, l], scalars: mean.scalars.map { Float($0) }),
                                logScale: Tensor<Float>(shape: [k, l], scalars: logScale.scalars.map { Float($0) }))
            .logDensityOfEach(Tensor<Float>(shape: [n, l], scalars: z.scalars.map { Float($0) }))
        XCTAssertEqual(float.shape, [n, k])
        var worst = 0.0
        for i in 0..<(n * k) { worst = Swift.max(worst, abs(Double(float.scalars[i]) - direct.scalars[i])) }
        print("largest difference \(worst)")
        XCTAssertLessThan(worst, 0.01)
    }

    /// One pseudo-input where the encoder gives N(0, I) (zero input, zero biases): the VampPrior is the standard
    /// normal, and every estimator's loss is the plain VAE's at the same noise.
    func testOneComponentAtTheStandardNormalIsThePlainVAE() {
        var encoder = model.randomEncoder(seed: 3)
        encoder.body.bias = Tensor(zeros: [model.d])
        encoder.meanHead.bias = Tensor(zeros: [model.l])
        encoder.logVarianceHead.bias = Tensor(zeros: [model.l])
        let vamp = LinearVampVAE(encoder: encoder, decoder: model.decoder, pseudoInputs: Tensor(zeros: [1, model.d]))
        let plain = LinearVAE(encoder: encoder, decoder: model.decoder)
        let x = model.data(count: 6, seed: 4)
        var generator = SeededGenerator(seed: 5)
        let estimators: [any ELBOEstimator] = [
            ReparameterizedELBO(particleCount: 2), ReparameterizedELBO(particleCount: 2, useClosedFormEntropy: false),
            ImportanceWeightedELBO(particleCount: 4), ImportanceWeightedELBO(particleCount: 4, doublyReparameterized: true),
            StickingTheLandingELBO(particleCount: 2),
        ]
        for estimator in estimators {
            func compare<E: ELBOEstimator>(_ e: E) {
                let noise = plain.sampleNoise(particles: e.particleCount, batch: x, using: &generator)
                XCTAssertEqual(e.loss(problem: vamp, noise: noise, batch: x).scalar, e.loss(problem: plain, noise: noise, batch: x).scalar,
                               accuracy: 1e-12, e.name)
            }
            compare(estimator)
        }
        XCTAssertNotNil(AnalyticKLELBO().incompatibility(with: vamp))
    }

    /// The estimators' gradients, the pseudo-inputs' included, against finite differences of their losses.
    func testGradientsMatchFiniteDifferences() {
        var generator = SeededGenerator(seed: 6)
        let vae = LinearVampVAE(
            encoder: model.randomEncoder(seed: 7), decoder: model.decoder,
            pseudoInputs: Tensor<Double>(randomNormal: [3, model.d], using: &generator))
        let x = model.data(count: 5, seed: 8)
        let estimators: [any ELBOEstimator] = [ReparameterizedELBO(particleCount: 2), ImportanceWeightedELBO(particleCount: 3)]
        for estimator in estimators {
            func check<E: ELBOEstimator>(_ e: E) {
                let noise = vae.sampleNoise(particles: e.particleCount, batch: x, using: &generator)
                let g = e.lossAndGradient(problem: vae, noise: noise, batch: x).gradient
                let probes: [(String, WritableKeyPath<LinearVampVAE, Tensor<Double>>, Tensor<Double>)] = [
                    ("pseudo-inputs", \.pseudoInputs, g.pseudoInputs),
                    ("encoder body weight", \.encoder.body.weight, g.encoder.body.weight),
                    ("encoder log-variance bias", \.encoder.logVarianceHead.bias, g.encoder.logVarianceHead.bias),
                    ("decoder weight", \.decoder.network.weight, g.decoder.network.weight),
                ]
                checkAgainstFiniteDifferences(e, vae, noise: noise, batch: x, probes: probes, indices: [0, 5, -1])
                XCTAssertGreaterThan(g.pseudoInputs.scalars.map(Swift.abs).max()!, 1e-6, "the pseudo-inputs are trained")
            }
            check(estimator)
        }
    }

    /// The KL reported for evaluation is E_q[log q(z | x) − log p(z)] at the same draws.
    func testReportedKLIsTheELBOsKLTerm() {
        var generator = SeededGenerator(seed: 9)
        let vae = LinearVampVAE(
            encoder: model.randomEncoder(seed: 10), decoder: model.decoder,
            pseudoInputs: Tensor<Double>(randomNormal: [4, model.d], using: &generator))
        let x = model.data(count: 7, seed: 11)
        generator = SeededGenerator(seed: 12)
        let usage = vae.latentUsage(of: x, particles: 50, using: &generator)
        XCTAssertNil(usage[0].klPerUnit)
        generator = SeededGenerator(seed: 12)
        let noise = vae.sampleNoise(particles: 50, batch: x, using: &generator)
        let t = vae.terms(noise: noise, batch: x, requesting: [.logJoint, .logLikelihood, .logQ])
        let kl = (t.logQ - (t.logJoint - t.logLikelihood)).mean(squeezingAxes: 0)
        for (a, b) in zip(usage[0].kl.scalars, kl.scalars) { XCTAssertEqual(a, b, accuracy: 1e-10 * Swift.max(1, Swift.abs(b))) }
    }
}

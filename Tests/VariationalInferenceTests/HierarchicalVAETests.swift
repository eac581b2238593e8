import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions
import VariationalInference
import VariationalNeural
import VariationalOptimizers
import XCTest

typealias LinearLayer = GaussianEncoder<Dense<Double>>
typealias LinearHierarchicalVAE = HierarchicalVAE<LinearLayer, LinearLayer, LinearLayer, GaussianDecoder<Dense<Double>>>

/// A linear-Gaussian model with two stochastic layers, z₂ ~ N(0, 1), z₁ | z₂ ~ N(z₂ A + c, S²),
/// x | z₁ ~ N(z₁ W + b, σ² I), with z₂ scalar, z₁ in ℝ², x in ℝ³. A's second entry is 0 and W's rows are
/// orthogonal, so z₁'s prior covariance Σ = AᵀA + S² and its posterior precision P = Σ⁻¹ + W Wᵀ/σ² are diagonal:
/// the exact posterior p(z₁ | x) p(z₂ | z₁) is a product of linear Gaussian layers with constant variances, which
/// linear encoders represent exactly. The evidence is N(x | c W + b, Wᵀ Σ W + σ² I).
struct TwoLayerLinearGaussianModel {
    let a: [Double] = [1.5, 0]
    let c: [Double] = [0.3, -0.2]
    let s: [Double] = [0.6, 0.9]
    let w: [[Double]] = [[1, 0, 1], [0, 2, 0]]
    let b: [Double] = [0.5, -1, 0.2]
    let sigma = 0.7
    var l1: Int { c.count }
    var d: Int { b.count }
    /// The diagonal of Σ.
    var priorVariance: [Double] { (0..<l1).map { a[$0] * a[$0] + s[$0] * s[$0] } }
    /// The diagonal of P.
    var posteriorPrecision: [Double] {
        (0..<l1).map { j in 1 / priorVariance[j] + w[j].reduce(0) { $0 + $1 * $1 } / (sigma * sigma) }
    }
    /// The precision of p(z₂ | z₁).
    var topPrecision: Double { 1 + (0..<l1).reduce(0) { $0 + a[$1] * a[$1] / (s[$1] * s[$1]) } }

    var prior: LinearLayer {
        LinearLayer(
            body: Dense(weight: Tensor(identity: 1), bias: Tensor(zeros: [1])),
            meanHead: Dense(weight: Tensor(shape: [1, l1], scalars: a), bias: Tensor(c)),
            logVarianceHead: Dense(weight: Tensor(zeros: [1, l1]), bias: Tensor(s.map { 2 * Foundation.log($0) })))
    }

    var decoder: GaussianDecoder<Dense<Double>> {
        GaussianDecoder(network: Dense(weight: Tensor(shape: [l1, d], scalars: w.flatMap { $0 }), bias: Tensor(b)), outputSize: d,
                        variance: .fixed(standardDeviation: sigma))
    }

    /// q(z₁ | x) = p(z₁ | x): mean P⁻¹ (Σ⁻¹ c + W (x − b)/σ²), variance P⁻¹.
    var exactEncoder: LinearLayer {
        let p = posteriorPrecision, v = priorVariance, s2 = sigma * sigma
        var weight = [Double](repeating: 0, count: d * l1)
        for i in 0..<d { for j in 0..<l1 { weight[i * l1 + j] = w[j][i] / (s2 * p[j]) } }
        let bias = (0..<l1).map { j in (c[j] / v[j] - (0..<d).reduce(0) { $0 + w[j][$1] * b[$1] } / s2) / p[j] }
        return LinearLayer(
            body: Dense(weight: Tensor(identity: d), bias: Tensor(zeros: [d])),
            meanHead: Dense(weight: Tensor(shape: [d, l1], scalars: weight), bias: Tensor(bias)),
            logVarianceHead: Dense(weight: Tensor(zeros: [d, l1]), bias: Tensor(p.map { -Foundation.log($0) })))
    }

    /// q(z₂ | z₁) = p(z₂ | z₁): mean Σⱼ aⱼ (z₁ⱼ − cⱼ)/(sⱼ² π), variance 1/π.
    var exactTopEncoder: LinearLayer {
        let pi = topPrecision
        let weight = (0..<l1).map { a[$0] / (s[$0] * s[$0] * pi) }
        let bias = -(0..<l1).reduce(0) { $0 + a[$1] * c[$1] / (s[$1] * s[$1] * pi) }
        return LinearLayer(
            body: Dense(weight: Tensor(identity: l1), bias: Tensor(zeros: [l1])),
            meanHead: Dense(weight: Tensor(shape: [l1, 1], scalars: weight), bias: Tensor([bias])),
            logVarianceHead: Dense(weight: Tensor(zeros: [l1, 1]), bias: Tensor([-Foundation.log(pi)])))
    }

    var exactModel: LinearHierarchicalVAE {
        HierarchicalVAE(encoder: exactEncoder, topEncoder: exactTopEncoder, prior: prior, decoder: decoder)
    }

    /// The exact encoders with every parameter moved by N(0, 0.5²) noise. (Encoders drawn afresh would chain a
    /// random log variance of q(z₁ | x) into the input of q(z₂ | z₁), whose variance is then e to the power of
    /// thousands: no finite differences or Monte Carlo survive that.)
    func randomModel(seed: UInt64) -> LinearHierarchicalVAE {
        var generator = SeededGenerator(seed: seed)
        func moved(_ t: Tensor<Double>) -> Tensor<Double> { t + Tensor(randomNormal: t.shape, using: &generator) * 0.5 }
        func moved(_ layer: LinearLayer) -> LinearLayer {
            LinearLayer(
                body: Dense(weight: moved(layer.body.weight), bias: moved(layer.body.bias)),
                meanHead: Dense(weight: moved(layer.meanHead.weight), bias: moved(layer.meanHead.bias)),
                logVarianceHead: Dense(weight: moved(layer.logVarianceHead.weight), bias: moved(layer.logVarianceHead.bias)))
        }
        return HierarchicalVAE(encoder: moved(exactEncoder), topEncoder: moved(exactTopEncoder), prior: prior, decoder: decoder)
    }

    /// Draws from the model, [n, D].
    func data(count n: Int, seed: UInt64) -> Tensor<Double> {
        var generator = SeededGenerator(seed: seed)
        let z2 = Tensor<Double>(randomNormal: [n, 1], using: &generator)
        let z1 = matmul(z2, Tensor(shape: [1, l1], scalars: a)) + Tensor(c) + Tensor<Double>(randomNormal: [n, l1], using: &generator) * Tensor(s)
        return decoder.mean(given: z1) + Tensor<Double>(randomNormal: [n, d], using: &generator) * sigma
    }

    func meanExactLogEvidence(_ x: Tensor<Double>) throws -> Double {
        // Wᵀ Σ W + σ² I with the factor Wᵀ Σ^½.
        var factor = [Double](repeating: 0, count: d * l1)
        for i in 0..<d { for j in 0..<l1 { factor[i * l1 + j] = w[j][i] * priorVariance[j].squareRoot() } }
        let location = (0..<d).map { i in b[i] + (0..<l1).reduce(0) { $0 + c[$1] * w[$1][i] } }
        let evidence = try MultivariateNormal(
            location: Tensor(location), covarianceFactor: Tensor(shape: [d, l1], scalars: factor),
            covarianceDiagonal: Tensor(repeating: sigma * sigma, shape: [d]))
        return evidence.logProbability(of: x).mean().scalar
    }
}

final class HierarchicalVAETests: XCTestCase {
    let model = TwoLayerLinearGaussianModel()

    /// Each log density of the ELBO at one particle, computed by hand from the formulas, on the exact model.
    func testTermsAddUpByHand() {
        let vae = model.exactModel
        let x = Tensor<Double>(shape: [1, 3], scalars: [0.9, -0.4, 1.3])
        let (e1, e2, e3) = (0.3, -1.1, 0.7)
        let noise = Tensor<Double>(shape: [1, 1, 3], scalars: [e1, e2, e3])
        let t = vae.layerTerms(noise: noise, batch: x)

        func logNormal(_ value: Double, _ mean: Double, _ variance: Double) -> Double {
            -0.5 * ((value - mean) * (value - mean) / variance + Foundation.log(2 * Double.pi * variance))
        }
        let p = model.posteriorPrecision, v = model.priorVariance, s2 = model.sigma * model.sigma
        let xs = [0.9, -0.4, 1.3]
        var mean1 = [0.0, 0.0]
        for j in 0..<2 {
            var projection = 0.0
            for i in 0..<3 { projection += model.w[j][i] * (xs[i] - model.b[i]) }
            mean1[j] = (model.c[j] / v[j] + projection / s2) / p[j]
        }
        let z1 = [mean1[0] + e1 / p[0].squareRoot(), mean1[1] + e2 / p[1].squareRoot()]
        let pi = model.topPrecision
        var mean2 = 0.0
        for j in 0..<2 { mean2 += model.a[j] * (z1[j] - model.c[j]) / (model.s[j] * model.s[j] * pi) }
        let z2 = mean2 + e3 / pi.squareRoot()
        let logQ1 = logNormal(z1[0], mean1[0], 1 / p[0]) + logNormal(z1[1], mean1[1], 1 / p[1])
        let logQ2 = logNormal(z2, mean2, 1 / pi)
        var logPrior1 = 0.0
        for j in 0..<2 { logPrior1 += logNormal(z1[j], model.a[j] * z2 + model.c[j], model.s[j] * model.s[j]) }
        let logPrior2 = logNormal(z2, 0, 1)
        var logLikelihood = 0.0
        for i in 0..<3 {
            let mean = model.b[i] + z1[0] * model.w[0][i] + z1[1] * model.w[1][i]
            logLikelihood += logNormal(xs[i], mean, s2)
        }
        XCTAssertEqual(t.logQ1.scalars[0], logQ1, accuracy: 1e-12)
        XCTAssertEqual(t.logQ2.scalars[0], logQ2, accuracy: 1e-12)
        XCTAssertEqual(t.logPrior1.scalars[0], logPrior1, accuracy: 1e-12)
        XCTAssertEqual(t.logPrior2.scalars[0], logPrior2, accuracy: 1e-12)
        XCTAssertEqual(t.logLikelihood.scalars[0], logLikelihood, accuracy: 1e-12)
        let elbo = -ReparameterizedELBO().loss(problem: vae, noise: noise, batch: x).scalar
        XCTAssertEqual(elbo, logLikelihood + logPrior1 + logPrior2 - logQ1 - logQ2, accuracy: 1e-12)
    }

    /// At the exact posterior, log p(x, z₁, z₂) − log q(z₁, z₂ | x) = log p(x) at every particle: every estimator
    /// gives the exact mean log evidence whatever the noise.
    func testExactPosteriorGivesTheExactEvidence() throws {
        let vae = model.exactModel
        let x = model.data(count: 9, seed: 1)
        let exact = try model.meanExactLogEvidence(x)
        var generator = SeededGenerator(seed: 2)
        let estimators: [any ELBOEstimator] = [
            ReparameterizedELBO(particleCount: 3), StickingTheLandingELBO(particleCount: 2), ScoreFunctionELBO(particleCount: 2),
            ImportanceWeightedELBO(particleCount: 5), ImportanceWeightedELBO(particleCount: 4, doublyReparameterized: true),
            RenyiELBO(particleCount: 3, alpha: 0.5),
        ]
        for estimator in estimators {
            func value<E: ELBOEstimator>(_ e: E) -> Double {
                e.loss(problem: vae, noise: vae.sampleNoise(particles: e.particleCount, batch: x, using: &generator), batch: x).scalar
            }
            XCTAssertEqual(-value(estimator), exact, accuracy: 1e-10 * Swift.abs(exact), estimator.name)
        }
        XCTAssertNotNil(AnalyticKLELBO().incompatibility(with: vae))
        // Sticking the landing's gradient vanishes for both encoders at the exact posterior.
        let noise = vae.sampleNoise(particles: 2, batch: x, using: &generator)
        let g = StickingTheLandingELBO(particleCount: 2).lossAndGradient(problem: vae, noise: noise, batch: x).gradient
        for value in g.encoder.meanHead.weight.scalars.array + g.encoder.logVarianceHead.bias.scalars
            + g.topEncoder.meanHead.weight.scalars + g.topEncoder.logVarianceHead.bias.scalars {
            XCTAssertEqual(value, 0, accuracy: 1e-10)
        }
    }

    /// Away from the optimum, the estimators' gradients agree with finite differences of their losses at the same
    /// noise, for every part of the model.
    func testGradientsMatchFiniteDifferences() {
        var vae = model.randomModel(seed: 3)
        vae.decoder.variance = .learned
        vae.decoder.logScale = Tensor([-0.2, 0.1, 0.3])
        vae.prior.meanHead.weight = Tensor(shape: [1, 2], scalars: [0.8, -0.4])
        let x = model.data(count: 5, seed: 4)
        var generator = SeededGenerator(seed: 5)
        let estimators: [any ELBOEstimator] = [
            ReparameterizedELBO(particleCount: 2), ImportanceWeightedELBO(particleCount: 3), RenyiELBO(particleCount: 3, alpha: 0.3),
        ]
        for estimator in estimators {
            func check<E: ELBOEstimator>(_ e: E) {
                let noise = vae.sampleNoise(particles: e.particleCount, batch: x, using: &generator)
                let g = e.lossAndGradient(problem: vae, noise: noise, batch: x).gradient
                let probes: [(String, WritableKeyPath<LinearHierarchicalVAE, Tensor<Double>>, Tensor<Double>)] = [
                    ("encoder body weight", \.encoder.body.weight, g.encoder.body.weight),
                    ("encoder log-variance bias", \.encoder.logVarianceHead.bias, g.encoder.logVarianceHead.bias),
                    ("top encoder body weight", \.topEncoder.body.weight, g.topEncoder.body.weight),
                    ("top encoder mean weight", \.topEncoder.meanHead.weight, g.topEncoder.meanHead.weight),
                    ("top encoder log-variance bias", \.topEncoder.logVarianceHead.bias, g.topEncoder.logVarianceHead.bias),
                    ("prior mean weight", \.prior.meanHead.weight, g.prior.meanHead.weight),
                    ("prior log-variance bias", \.prior.logVarianceHead.bias, g.prior.logVarianceHead.bias),
                    ("decoder weight", \.decoder.network.weight, g.decoder.network.weight),
                    ("decoder log scale", \.decoder.logScale, g.decoder.logScale),
                ]
                checkAgainstFiniteDifferences(e, vae, noise: noise, batch: x, probes: probes)
            }
            check(estimator)
        }
    }

    /// The reparameterised ELBO with a KL weight β (for a β-VAE or a warm-up without a closed-form KL): its value is
    /// the ELBO's, its gradient that of E[log p(x | z)] + β E[log p(z) − log q(z)], with log q or the entropy.
    func testKLWeightedGradient() {
        let vae = model.randomModel(seed: 16)
        let x = model.data(count: 6, seed: 17)
        var generator = SeededGenerator(seed: 18)
        let noise = vae.sampleNoise(particles: 3, batch: x, using: &generator)
        let weighted = ReparameterizedELBO(particleCount: 3, klWeight: 0.3)
        let (loss, g, _) = weighted.lossAndGradient(problem: vae, noise: noise, batch: x)
        XCTAssertEqual(loss, ReparameterizedELBO(particleCount: 3).loss(problem: vae, noise: noise, batch: x).scalar, accuracy: 1e-12)
        let reference = gradient(at: vae) { v -> Tensor<Double> in
            let t = v.terms(noise: noise, batch: x, requesting: [.logJoint, .logLikelihood, .logQ])
            let reconstruction = t.logLikelihood.mean()
            return -(reconstruction + ((t.logJoint - t.logQ).mean() - reconstruction) * 0.3)
        }
        for (a, b) in zip(g.encoder.meanHead.weight.scalars.array + g.topEncoder.body.weight.scalars + g.decoder.network.weight.scalars,
                          reference.encoder.meanHead.weight.scalars.array + reference.topEncoder.body.weight.scalars + reference.decoder.network.weight.scalars) {
            XCTAssertEqual(a, b, accuracy: 1e-12 * Swift.max(1, Swift.abs(b)))
        }
        let plain = ReparameterizedELBO(particleCount: 3).lossAndGradient(problem: vae, noise: noise, batch: x).gradient
        XCTAssertNotEqual(plain.encoder.meanHead.weight, g.encoder.meanHead.weight)

        // With the closed-form entropy (a one-layer family that has one): β weights log p(z) + H(q).
        let one = LinearGaussianModel()
        let plainVAE = LinearVAE(encoder: one.randomEncoder(seed: 19), decoder: one.decoder)
        let y = one.data(count: 5, seed: 20)
        let z = plainVAE.sampleNoise(particles: 2, batch: y, using: &generator)
        let g2 = ReparameterizedELBO(particleCount: 2, klWeight: 0.5).lossAndGradient(problem: plainVAE, noise: z, batch: y).gradient
        let reference2 = gradient(at: plainVAE) { v -> Tensor<Double> in
            let t = v.terms(noise: z, batch: y, requesting: [.logJoint, .logLikelihood, .entropy])
            let reconstruction = t.logLikelihood.mean()
            return -(reconstruction + (t.logJoint.mean() + t.entropy.mean() - reconstruction) * 0.5)
        }
        for (a, b) in zip(g2.encoder.logVarianceHead.weight.scalars, reference2.encoder.logVarianceHead.weight.scalars) {
            XCTAssertEqual(a, b, accuracy: 1e-12 * Swift.max(1, Swift.abs(b)))
        }
    }

    /// DReG gives the prior and decoder the IWAE gradient exactly and changes only the encoders'.
    func testDReGChangesOnlyTheEncoders() {
        let vae = model.randomModel(seed: 6)
        let x = model.data(count: 6, seed: 7)
        var generator = SeededGenerator(seed: 8)
        let noise = vae.sampleNoise(particles: 4, batch: x, using: &generator)
        let plain = ImportanceWeightedELBO(particleCount: 4).lossAndGradient(problem: vae, noise: noise, batch: x).gradient
        let dreg = ImportanceWeightedELBO(particleCount: 4, doublyReparameterized: true).lossAndGradient(problem: vae, noise: noise, batch: x).gradient
        for (a, b) in zip(plain.prior.meanHead.weight.scalars.array + plain.decoder.network.weight.scalars,
                          dreg.prior.meanHead.weight.scalars.array + dreg.decoder.network.weight.scalars) {
            XCTAssertEqual(a, b, accuracy: 1e-12 * Swift.max(1, Swift.abs(a)))
        }
        XCTAssertNotEqual(plain.encoder.meanHead.weight, dreg.encoder.meanHead.weight)
        XCTAssertNotEqual(plain.topEncoder.meanHead.weight, dreg.topEncoder.meanHead.weight)
    }

    /// The whole stack against the exact answer: training both encoders from a random start (the generative model
    /// held at the truth) closes the gap between the ELBO and the exact log-likelihood.
    func testTrainingTheEncodersReachesTheExactLogLikelihood() throws {
        let x = model.data(count: 200, seed: 9)
        let exact = try model.meanExactLogEvidence(x)
        var trainer = Trainer(problem: model.randomModel(seed: 10), estimator: StickingTheLandingELBO(), optimizer: Adam(learningRate: 0.02))
        var generator = SeededGenerator(seed: 11)
        func evaluate(_ vae: LinearHierarchicalVAE) -> Double {
            var evaluation = SeededGenerator(seed: 12)
            let noise = vae.sampleNoise(particles: 200, batch: x, using: &evaluation)
            return -ReparameterizedELBO(particleCount: 200).loss(problem: vae, noise: noise, batch: x).scalar
        }
        let initialGap = exact - evaluate(trainer.problem)
        for step in 0..<2000 {
            let start = (step * 25) % 200
            trainer.step(on: x.slice(axis: 0, range: start..<(start + 25)), using: &generator)
            trainer.problem.prior = model.prior
            trainer.problem.decoder = model.decoder
        }
        let gap = exact - evaluate(trainer.problem)
        XCTAssertGreaterThan(initialGap, 1)
        XCTAssertLessThan(gap, 0.01, "ELBO gap after training (from \(initialGap))")
        XCTAssertGreaterThan(gap, -0.01)
    }

    /// Layer 1's KL term by unit sums to log q(z₁ | x) − log p(z₁ | z₂) at the same draws, exactly; layer 2's,
    /// E_q(z₁|x)[KL(q(z₂ | z₁) ‖ N(0, I))] in closed form given z₁, matches E[log q(z₂ | z₁) − log p(z₂)] within Monte
    /// Carlo error.
    func testLayerKLsAreTheELBOsKLTerms() {
        let vae = model.randomModel(seed: 13)
        let x = model.data(count: 50, seed: 14)
        let particles = 400
        var generator = SeededGenerator(seed: 15)
        let usage = vae.latentUsage(of: x, particles: particles, using: &generator)
        XCTAssertEqual(usage.map { $0.klPerUnit?.shape }, [[50, 2], [50, 1]])
        XCTAssertEqual(usage.map { $0.posteriorMean.shape }, [[50, 2], [50, 1]])
        generator = SeededGenerator(seed: 15)
        let t = vae.layerTerms(noise: vae.sampleNoise(particles: particles, batch: x, using: &generator), batch: x)
        let kl1 = (t.logQ1 - t.logPrior1).mean(squeezingAxes: 0)
        for (a, b) in zip(usage[0].kl.scalars, kl1.scalars) {
            XCTAssertEqual(a, b, accuracy: 1e-10 * Swift.max(1, Swift.abs(b)))
        }
        let draws = (t.logQ2 - t.logPrior2).scalars.array
        let (kl2, standardError) = meanAndStandardError(draws)
        XCTAssertGreaterThan(kl2, 10 * standardError)
        XCTAssertEqual(usage[1].kl.mean().scalar, kl2, accuracy: 4 * standardError)
        // E_q[z₁ | x] is the encoder's mean.
        XCTAssertEqual(usage[0].posteriorMean, vae.encoder.posterior(given: x).mean)
    }
}

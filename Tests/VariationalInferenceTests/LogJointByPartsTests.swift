import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions
@testable import VariationalInference
import VariationalTestSupport
import XCTest

/// The log joint's gradient with automatic differentiation confined to the model's own code (likelihood and priors
/// that depend on other latents), the supports' maps and fixed priors chained by hand, against differentiating
/// the whole log joint.
final class LogJointByPartsTests: XCTestCase {
    /// Every kind of elementwise support, a prior that depends on other latents, vector latents and a minibatch.
    func mixedModel() throws -> Model {
        let y = Tensor<Double>([0.3, 2.2, -1.1, 0.8, 1.7, -0.4])
        let uniform = try Uniform(low: Tensor<Double>(-1), high: Tensor(4))
        return Model([
            Latent("mu", Normal(0.5, 2)), Latent("tau", HalfCauchy(3)), Latent("p", Beta(2, 3)),
            Latent("u", uniform), Latent("theta", shape: [3]) { z in Normal(z["mu"], z["tau"]) },
            Latent("w", Gamma(2, 1.5), shape: [2]),
        ], observationCount: 6) { z, batch in
            let rows = withoutDerivative(at: batch ?? Array(0..<6))
            let location = z["theta"].sum(squeezingAxes: 1).expandingShape(at: 1) * z["p"] + z["u"]
            let scale = z["w"].sum(squeezingAxes: 1).expandingShape(at: 1) + 0.5
            return StudentT(Tensor<Double>(4), location, scale).logProbability(of: Tensor(rows.map { y.scalars[$0] }))
        }
    }

    func testByPartsMatchesDifferentiatingEverything() throws {
        let model = try mixedModel()
        var generator = SeededGenerator(seed: 31)
        let theta = Tensor<Double>(randomNormal: [4, model.latentSpace.dimension], using: &generator)
        for observations in [nil, [5, 0, 3]] as [[Int]?] {
            let (value, gradient) = try XCTUnwrap(model.logJointUnconstrainedByParts(theta, observations: observations))
            let (reference, pullback) = valueWithPullback(at: theta) {
                model.logJointUnconstrainedByDifferentiation($0, observations: observations)
            }
            let referenceGradient = pullback(Tensor(ones: [4]))
            XCTAssertEqual(value.shape, [4])
            XCTAssertEqual(gradient.shape, theta.shape)
            for (a, b) in zip(value.scalars.array, reference.scalars.array) { assertClose(a, b, relativeTolerance: 1e-12) }
            for (a, b) in zip(gradient.scalars.array, referenceGradient.scalars.array) {
                XCTAssertEqual(a, b, accuracy: 1e-10 * Swift.max(1, Swift.abs(b)))
            }
            // The route differentiation takes for the log joint is this one.
            let routed = VariationalCore.gradient(at: theta) { model.logJointUnconstrained($0, observations: observations).sum() }
            XCTAssertEqual(routed, gradient)
        }
        // The gradient itself, against finite differences of the value.
        assertGradientMatchesFiniteDifferences("log joint by parts", { model.logJointUnconstrained($0[0], observations: [1, 4]).sum() }, at: [theta], tolerance: 1e-5)
    }

    /// The built-in models without a hand-written gradient, and one with only real latents.
    func testBuiltInModelsByParts() throws {
        let models: [any ProbabilisticModel] = [
            try NormalNormalModel(observations: [1.2, 0.4, 2.5], priorMean: 0.5, priorStandardDeviation: 2, noiseStandardDeviation: 1.3),
            Model([Latent("w", Normal(0, 10), shape: [3])]) { z in Normal(z["w"], Tensor(1.5)).logProbability(of: Tensor([0.1, -0.2, 0.4])) },
        ]
        for model in models {
            var generator = SeededGenerator(seed: 32)
            try assertByPartsMatchesDifferentiatingEverything(model, Tensor<Double>(randomNormal: [3, model.latentSpace.dimension], using: &generator))
        }
    }

    /// Value and gradient by parts against differentiating the whole log joint, at particles θ on all observations.
    func assertByPartsMatchesDifferentiatingEverything(
        _ model: some ProbabilisticModel, _ theta: Tensor<Double>, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let (value, gradient) = try XCTUnwrap(model.logJointUnconstrainedByParts(theta, observations: nil), file: file, line: line)
        let (reference, pullback) = valueWithPullback(at: theta) { model.logJointUnconstrainedByDifferentiation($0) }
        let referenceGradient = pullback(Tensor(ones: [theta.shape[0]]))
        for (a, b) in zip(value.scalars.array, reference.scalars.array) { assertClose(a, b, relativeTolerance: 1e-12, file: file, line: line) }
        for (a, b) in zip(gradient.scalars.array, referenceGradient.scalars.array) {
            XCTAssertEqual(a, b, accuracy: 1e-10 * Swift.max(1, Swift.abs(b)), file: file, line: line)
        }
    }

    /// The reads z["name"] pour their gradients into one buffer during the pullback; a model that also reads the
    /// values whole, reads a copy of them scaled, or takes a derivative of its own while it runs gets the same
    /// gradient as differentiating everything.
    func testReadsGatheredInOneBufferGiveTheFullGradient() throws {
        let y = Tensor<Double>([0.3, 2.2, -1.1])
        let model = Model([Latent("mu", Normal(0.5, 2)), Latent("sigma", HalfNormal(2)), Latent("w", Normal(0, 1), shape: [2])]) { z in
            // A derivative taken inside the model: its pullback runs in the forward pass, not into the buffer.
            let slope = withoutDerivative(at: gradient(at: z) { ($0["mu"] * 3).sum() }.values.sum())
            var scaled = z
            scaled.values = z.values * 2
            let location = z["mu"] + scaled["w"].sum(squeezingAxes: 1).expandingShape(at: 1) + z.values.sum(squeezingAxes: 1).expandingShape(at: 1) * 0.1
            return Normal(location * (1 + 0.01 * slope), z["sigma"]).logProbability(of: y)
        }
        var generator = SeededGenerator(seed: 34)
        let theta = Tensor<Double>(randomNormal: [3, model.latentSpace.dimension], using: &generator)
        try assertByPartsMatchesDifferentiatingEverything(model, theta)
        assertGradientMatchesFiniteDifferences("reads in one buffer", { model.logJointUnconstrained($0[0]).sum() }, at: [theta], tolerance: 1e-5)
    }

    /// A simplex is not mapped elementwise: the whole log joint is differentiated instead.
    func testSimplexLatentsAreDifferentiatedWhole() throws {
        let dirichlet = try Dirichlet(concentration: Tensor<Double>([1, 2, 3]))
        let model = Model([Latent("p", dirichlet)]) { z in (z["p"] * Tensor([1, 0, 2])).sum(squeezingAxes: 1) }
        let theta = Tensor<Double>([[0.2, -0.4], [1, 0.5]])
        XCTAssertNil(model.logJointUnconstrainedByParts(theta, observations: nil))
        let routed = gradient(at: theta) { model.logJointUnconstrained($0).sum() }
        let whole = gradient(at: theta) { model.logJointUnconstrainedByDifferentiation($0).sum() }
        XCTAssertEqual(routed, whole)
        assertGradientMatchesFiniteDifferences("simplex log joint", { model.logJointUnconstrained($0[0]).sum() }, at: [theta])
    }

    /// The priors written out element by element against differentiating each distribution's own density, at
    /// draws from the prior (four particles of a latent of shape [3]; parameters scalar or one per element).
    func testElementwisePriorsMatchTheirDensities() throws {
        let v = { (values: [Double]) in Tensor<Double>(values) }
        func check<D: Distribution>(_ name: String, _ prior: D, file: StaticString = #filePath, line: UInt = #line) throws where D.Scalar == Double {
            let score = try XCTUnwrap(ElementwiseScore(prior, shape: [3]), name, file: file, line: line)
            var generator = SeededGenerator(seed: 33)
            let sampleShape: TensorShape = prior.batchShape.isEmpty ? [4, 3] : [4]
            let x = prior.sample(sampleShape: sampleShape, using: &generator)
            let (value, gradient) = score.logDensityWithGradient(x)
            let (reference, pullback) = valueWithPullback(at: x) { sumPerParticle(prior.logProbability(of: $0)) }
            let referenceGradient = pullback(Tensor(ones: [4]))
            for (a, b) in zip(value.scalars.array, reference.scalars.array) { assertClose(a, b, relativeTolerance: 1e-12, name, file: file, line: line) }
            for (a, b) in zip(gradient.scalars.array, referenceGradient.scalars.array) { assertClose(a, b, relativeTolerance: 1e-10, name, file: file, line: line) }
        }
        try check("Normal", Normal(v([0.5, -1, 2]), v([2, 0.3, 1])))
        try check("HalfNormal", HalfNormal(2))
        try check("HalfCauchy", HalfCauchy(v([0.5, 1, 3])))
        try check("Cauchy", Cauchy(1, 0.4))
        try check("Exponential", Exponential(v([0.5, 2, 7])))
        try check("Gamma", Gamma(v([2, 0.7, 5]), v([0.1, 1, 3])))
        try check("InverseGamma", InverseGamma(3, 2))
        try check("StudentT", StudentT(v([3, 1.5, 30]), v([0, 1, -2]), v([1, 0.2, 4])))
        try check("Laplace", Laplace(-0.5, 1.5))
        try check("Beta", Beta(v([2, 0.8, 5]), v([3, 0.6, 1])))
        XCTAssertNil(ElementwiseScore(LogNormal(0, 1), shape: [3]), "not written out: differentiated")
    }

    /// A seed of ones passes through the sum per particle and the likelihood's product untouched: the gradient has
    /// the bits that an unmarked seed of ones gives, where each element is multiplied by 1.
    func testSeedOfOnesGivesTheGradientOfAnyOtherSeedOfOnes() {
        var generator = SeededGenerator(seed: 35)
        let x = Tensor<Double>(randomNormal: [5, 3], using: &generator)
        let labels = Tensor<Double>([1, 0, 0, 1, 1])
        let w = Tensor<Double>(randomNormal: [2, 3], using: &generator)
        let (value, pullback) = valueWithPullback(at: w) { w in
            sumPerParticle(Bernoulli(uncheckedLogits: matmul(w, x.transposed())).logProbability(of: labels))
                + sumPerParticle(Normal(w, Tensor(2)).logProbability(of: Tensor(0.5)))
        }
        XCTAssertEqual(value.shape, [2])
        let marked = pullback(Tensor(ones: [2]))
        let plain = pullback(Tensor(repeating: 1, shape: [2]))
        XCTAssertEqual(marked.shape, [2, 3])
        XCTAssertEqual(marked.scalars.map(\.bitPattern), plain.scalars.map(\.bitPattern))
        XCTAssertTrue(marked.scalars.contains { $0 != 0 })
    }
}

import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions
import VariationalInference
import VariationalTestSupport
import XCTest

/// Latents declared once with their priors: what the prior decides (shape, support, bijector, log-Jacobian), the
/// log prior they add up to, and the model built on them, each against a computation written out by hand.
private typealias T = Tensor<Double>

final class LatentTests: XCTestCase {
    func logNormal(_ x: Double, _ m: Double, _ s: Double) -> Double {
        -0.5 * ((x - m) / s) * ((x - m) / s) - Foundation.log(s) - 0.5 * Foundation.log(2 * Double.pi)
    }

    func testThePriorGivesShapeAndSupport() {
        let tau = Latent("tau", HalfCauchy(5))
        XCTAssertEqual(tau.shape, [])
        XCTAssertEqual(tau.support, .nonNegative)
        XCTAssertEqual(Latent("theta", Normal(0, 1), shape: [8]).shape, [8])
        XCTAssertEqual(Latent("w", Normal(T(zeros: [3]), T(1))).shape, [3])
        let p = Latent("p", Dirichlet(uncheckedConcentration: T([1, 2, 3])))
        XCTAssertEqual(p.support, .simplex)
        XCTAssertEqual(LatentSpace([p]).dimension, 2)
        let dependent = Latent("b", shape: [2]) { z in Gamma(z["a"], T(1)) }
        XCTAssertEqual(dependent.support, .positive)
        XCTAssertFalse(dependent.hasFixedPrior)
    }

    func testScalarLatentsReadAsColumns() {
        let space = LatentSpace([Latent("mu", Normal(0, 1)), Latent("theta", Normal(0, 1), shape: [3])])
        let z = Latents(values: T(shape: [2, 4], scalars: [1, 2, 3, 4, 5, 6, 7, 8]), space: space)
        XCTAssertEqual(z["mu"].shape, [2, 1])
        XCTAssertEqual(z["mu"].scalars, [1, 5])
        XCTAssertEqual(z["theta"].shape, [2, 3])
        XCTAssertEqual((z["mu"] + z["theta"]).scalars, [3, 4, 5, 11, 12, 13])
    }

    /// Eight schools' log joint through the model API against the same sum written with scalars.
    func testLogJointAgainstHandWrittenSum() {
        let y = [28.0, 8, -3], sigma = [15.0, 10, 16]
        let model = Model([
            Latent("mu", Normal(0, 5)), Latent("tau", HalfCauchy(5)), Latent("theta", Normal(0, 1), shape: [3]),
        ]) { z in Normal(z["mu"] + z["tau"] * z["theta"], T(sigma)).logProbability(of: T(y)) }
        let theta = T(shape: [2, 5], scalars: [0.3, -0.4, 0.5, -1, 2, -2, 1.1, 0, 0.2, -0.7])
        let values = model.logJointUnconstrained(theta).scalars
        for s in 0..<2 {
            let u = (0..<5).map { theta[s, $0] }
            let (mu, logTau) = (u[0], u[1])
            let tau = Foundation.exp(logTau)
            var expected = logNormal(mu, 0, 5) + Foundation.log(2 / (Double.pi * 5)) - Foundation.log1p(tau * tau / 25) + logTau
            for j in 0..<3 { expected += logNormal(u[2 + j], 0, 1) + logNormal(y[j], mu + tau * u[2 + j], sigma[j]) }
            assertClose(values[s], expected, relativeTolerance: 1e-13)
        }
    }

    /// A prior that depends on another latent (w | σ² ~ N(0, 4σ²)), whichever order they are declared in.
    func testDependentPriorAgainstHand() {
        let latents = [
            Latent("w", shape: [2]) { z in Normal(T(0), z["sigma2"].sqrt() * 2) }, Latent("sigma2", InverseGamma(3, 2)),
        ]
        let model = Model(latents) { z in z["w"] * 0 }
        let theta = T(shape: [1, 3], scalars: [0.5, -1.5, 0.2])
        let s2 = Foundation.exp(0.2)
        let inverseGamma = 3 * Foundation.log(2.0) - lgamma(3) - 4 * Foundation.log(s2) - 2 / s2
        let expected = logNormal(0.5, 0, 2 * s2.squareRoot()) + logNormal(-1.5, 0, 2 * s2.squareRoot()) + inverseGamma + 0.2
        assertClose(model.logJointUnconstrained(theta).scalar, expected, relativeTolerance: 1e-13)
        XCTAssertNil(model.unconstrainedGaussianPrior)
        XCTAssertNil(model.priorMarginalLogDensity("w", element: 0, at: 0.3))
        assertClose(model.priorMarginalLogDensity("sigma2", element: 0, at: s2)!, inverseGamma)
    }

    func testGaussianPriorAndMarginalsAreDerived() throws {
        let model = Model([Latent("a", Normal(1, 2)), Latent("b", Normal(T([0, 3]), T([1, 4])))]) { z in z["a"] * 0 }
        let prior = try XCTUnwrap(model.unconstrainedGaussianPrior)
        XCTAssertEqual(prior.mean.scalars, [1, 0, 3])
        XCTAssertEqual(prior.standardDeviation.scalars, [2, 1, 4])
        assertClose(model.priorMarginalLogDensity("b", element: 1, at: 2)!, logNormal(2, 3, 4))
        XCTAssertNil(model.priorMarginalLogDensity("c", element: 0, at: 2))
        XCTAssertNil(Model([Latent("a", Normal(1, 2)), Latent("s", HalfNormal(1))]) { z in z["a"] * 0 }.unconstrainedGaussianPrior)
    }

    /// A minibatch's log likelihood is scaled by N/B; the priors and the log-Jacobian are not.
    func testMinibatchesAreScaled() {
        let y = T([0.5, -1, 2, 0.3, 1.1])
        let model = Model([Latent("mu", Normal(0, 10)), Latent("sigma", HalfNormal(2))], observationCount: 5) { z, batch in
            Normal(z["mu"], z["sigma"]).logProbability(of: y.rows(batch))
        }
        let theta = T(shape: [1, 2], scalars: [0.4, -0.3])
        let sigma = Foundation.exp(-0.3)
        let prior = logNormal(0.4, 0, 10) + Foundation.log(2) + logNormal(sigma, 0, 2) - 0.3
        let batch = [1, 4]
        let likelihood = batch.reduce(0.0) { $0 + logNormal(y.scalars[$1], 0.4, sigma) }
        assertClose(model.logJointUnconstrained(theta, observations: batch).scalar, prior + 2.5 * likelihood, relativeTolerance: 1e-13)
    }

    /// Reading a variable by name has one pullback of its own: gradients land in the variable's columns, also when
    /// the variable fills the whole vector, is a matrix, or is read twice, and a broadcast upstream is summed back.
    func testReadingByNameDifferentiates() {
        let space = LatentSpace([Latent("a", Normal(0, 1)), Latent("m", Normal(0, 1), shape: [2, 3]), Latent("b", Normal(0, 1), shape: [2])])
        let whole = LatentSpace([Latent("v", Normal(0, 1), shape: [3])])
        var generator = SeededGenerator(seed: 9)
        let weights = T(randomNormal: [2, 2, 3], using: &generator)
        let row = T(randomNormal: [4], using: &generator)
        assertGradientMatchesFiniteDifferences("a, m and b", { x in
            let z = Latents(values: x[0], space: space)
            return (z["a"] * row).sum() + (z["m"] * weights).sum() + (z["b"] * z["b"] * z["a"]).sum() + z["m"].squared().sum()
        }, at: [T(randomNormal: [2, 9], using: &generator)])
        assertGradientMatchesFiniteDifferences("one variable", { x in
            let z = Latents(values: x[0], space: whole)
            return (z["v"] * z["v"] * T([1, -2, 0.5])).sum()
        }, at: [T(randomNormal: [2, 3], using: &generator)])
        XCTAssertEqual(Latents(values: T(zeros: [2, 9]), space: space)["m"].shape, [2, 2, 3])
        XCTAssertEqual(Latents(values: T(zeros: [2, 9]), space: space)["a"].shape, [2, 1])
    }

    /// Gradients of a log joint with constrained latents and a dependent prior, through automatic differentiation.
    func testGradientMatchesFiniteDifferences() {
        let y = T([0.5, -1, 2, 0.3])
        let model = Model([
            Latent("mu", Normal(0, 3)), Latent("sigma", Gamma(2, 1)), Latent("nu", Gamma(2, 0.1)),
            Latent("theta", shape: [4]) { z in Normal(z["mu"], z["sigma"]) },
        ]) { z in StudentT(z["nu"], z["theta"], T(0.5)).logProbability(of: y) }
        var generator = SeededGenerator(seed: 4)
        let theta = T(randomNormal: [3, 7], standardDeviation: 0.5, using: &generator)
        assertGradientMatchesFiniteDifferences("log joint", { model.logJointUnconstrained($0[0]).sum() }, at: [theta], tolerance: 1e-6)
    }
}

final class ConstrainGradientTests: XCTestCase {
    /// The values alone, or the log-Jacobian alone, differentiate (the other's cotangent is a symbolic zero).
    func testEitherOutputAlone() {
        let space = LatentSpace([Latent("mu", Normal(0, 5)), Latent("tau", HalfCauchy(5)), Latent("t", Normal(0, 1), shape: [3])])
        let theta = Tensor<Double>(shape: [2, 5], scalars: [0.1, 0.2, 0.3, 0.4, 0.5, -0.1, -0.2, -0.3, -0.4, -0.5])
        let values = gradient(at: theta) { th in space.constrain(th).values.sum() }
        XCTAssertEqual(values.scalars, [1, Foundation.exp(0.2), 1, 1, 1, 1, Foundation.exp(-0.2), 1, 1, 1])
        let jacobian = gradient(at: theta) { th in space.constrain(th).logJacobian.sum() }
        XCTAssertEqual(jacobian.scalars, [0, 1, 0, 0, 0, 0, 1, 0, 0, 0])
    }

    /// Every elementwise support, in the one-pass map: values and log-Jacobians against the formulas, gradients of
    /// both against finite differences.
    func testElementwiseSupports() {
        let space = LatentSpace([
            LatentVariable("a"), LatentVariable("b", shape: [2], support: .positive), LatentVariable("c", support: .unitInterval),
            LatentVariable("d", support: .interval(-1, 3)), LatentVariable("e", support: .greaterThan(2)),
        ])
        let theta = Tensor<Double>(shape: [2, 6], scalars: [0.3, -40, 1.5, 0.7, -2, 0.4, -0.6, 2, -1, -30, 35, -1.2])
        let constrained = space.constrain(theta)
        for p in 0..<2 {
            let x = (0..<6).map { theta[p, $0] }
            let sigma = { (t: Double) in 1 / (1 + Foundation.exp(-t)) }
            let expected = [x[0], Foundation.exp(x[1]), Foundation.exp(x[2]), sigma(x[3]), -1 + 4 * sigma(x[4]), 2 + Foundation.exp(x[5])]
            for j in 0..<6 { assertClose(constrained.values[p, j], expected[j], relativeTolerance: 1e-14) }
            let logJacobian = x[1] + x[2] + Foundation.log(sigma(x[3]) * sigma(-x[3]))
                + Foundation.log(4 * sigma(x[4]) * sigma(-x[4])) + x[5]
            assertClose(constrained.logJacobian.scalars[p], logJacobian, relativeTolerance: 1e-13)
        }
        assertGradientMatchesFiniteDifferences("values and log-Jacobian", { t in
            let c = space.constrain(t[0])
            return (c.values * c.values).sum() * 0.1 + c.logJacobian.sum()
        }, at: [Tensor<Double>(shape: [2, 6], scalars: [0.3, -1, 1.5, 0.7, -2, 0.4, -0.6, 2, -1, -3, 3.5, -1.2])])
    }
}

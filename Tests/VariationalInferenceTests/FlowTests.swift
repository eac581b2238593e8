import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions
import VariationalInference
import VariationalTestSupport
import XCTest

final class FlowTests: XCTestCase {
    /// log q at a flow's own samples equals the base density minus log |det| of the noise-to-sample map,
    /// the determinant taken from a central-difference Jacobian.
    func checkLogDensity<F: VariationalFamily>(_ family: F, base: MeanFieldGaussian, file: StaticString = #filePath, line: UInt = #line) {
        var generator = SeededGenerator(seed: 3)
        let d = family.dimension
        let noise = family.sampleNoise(count: 5, using: &generator)
        let (_, logQ) = family.sampleWithLogDensity(fromNoise: noise)
        for s in 0..<5 {
            let row = noise.slice(axis: 0, range: s..<(s + 1))
            var jacobian = [[Double]](repeating: [Double](repeating: 0, count: d), count: d)
            let h = 1e-6
            for j in 0..<d {
                let plus = family.sample(fromNoise: row.replacing(index: j, with: row.scalars[j] + h))
                let minus = family.sample(fromNoise: row.replacing(index: j, with: row.scalars[j] - h))
                for i in 0..<d { jacobian[i][j] = (plus.scalars[i] - minus.scalars[i]) / (2 * h) }
            }
            // log q(θ) = log N(ε; 0, I) − log |det ∂θ/∂ε|.
            let standardNormal = row.squared().sum().scalar * -0.5 - Double(d) * 0.5 * Foundation.log(2 * Double.pi)
            let expected = standardNormal - logAbsDeterminant(jacobian)
            XCTAssertEqual(logQ.scalars[s], expected, accuracy: 1e-6, "\(family.name) particle \(s)", file: file, line: line)
        }
        _ = base
    }

    func testPlanarAndAutoregressiveLogDensities() {
        var planar = PlanarFlow(dimension: 3, layers: 3, seed: 1)
        planar.u = planar.u * 100  // make the layers bend visibly
        planar.w = planar.w * 100
        checkLogDensity(planar, base: planar.base)
        var iaf = InverseAutoregressiveFlow(dimension: 3, layers: 2, seed: 2)
        for i in iaf.layers.indices {
            iaf.layers[i].meanWeight = iaf.layers[i].meanWeight * 50
            iaf.layers[i].scaleWeight = iaf.layers[i].scaleWeight * 50
            iaf.layers[i].scaleBias = iaf.layers[i].scaleBias * 0
        }
        checkLogDensity(iaf, base: iaf.base)
    }

    /// An autoregressive layer's Jacobian is triangular: output d does not depend on inputs after d.
    func testAutoregressiveMasks() {
        var generator = SeededGenerator(seed: 4)
        var layer = AutoregressiveLayer(dimension: 4, hidden: 8, using: &generator)
        layer.meanWeight = layer.meanWeight * 100
        var iaf = InverseAutoregressiveFlow(dimension: 4, layers: 1, seed: 0)
        iaf.layers = [layer]
        let z = Tensor<Double>([[0.1, -0.3, 0.7, 0.2]])
        let y = iaf.sample(fromNoise: z)
        for j in 0..<4 {
            let moved = iaf.sample(fromNoise: z.replacing(index: j, with: z.scalars[j] + 0.5))
            for i in 0..<j { XCTAssertEqual(moved.scalars[i], y.scalars[i], accuracy: 1e-12, "output \(i) moved with input \(j)") }
        }
    }

    /// On a skewed posterior (a beta–Bernoulli with six observations, in logit space) the planar flow closes most
    /// of the gap a Gaussian leaves between the ELBO and log p(x).
    func testPlanarFlowFitsASkewedPosterior() throws {
        let model = try BetaBernoulliModel(observations: [1, 0, 0, 0, 0, 0], priorAlpha: 1, priorBeta: 1)
        func gap<F: VariationalFamily>(_ family: F) -> Double {
            var generator = SeededGenerator(seed: 1)
            var svi = SVI(model: model, family: family, estimator: ReparameterizedELBO(particleCount: 8))
            let result = svi.run(using: &generator)
            let d = diagnose(model: model, family: result.family, drawCount: 50_000, using: &generator)
            return model.exactLogEvidence - d.elbo
        }
        let gaussian = gap(FullRankGaussian(dimension: 1))
        let planar = gap(PlanarFlow(dimension: 1, layers: 4))
        XCTAssertGreaterThan(gaussian, 0.01)
        XCTAssertLessThan(planar, gaussian / 4, "planar gap \(planar), Gaussian gap \(gaussian)")
        XCTAssertGreaterThan(planar, -0.002)  // a lower bound stays below the evidence
    }

    func testFlowsRefuseDensityEstimators() {
        let model = try! NormalNormalModel(observations: [1])
        XCTAssertNotNil(StickingTheLandingELBO().incompatibility(model: model, family: PlanarFlow(dimension: 1)))
        XCTAssertNotNil(ScoreFunctionELBO().incompatibility(model: model, family: InverseAutoregressiveFlow(dimension: 1)))
        XCTAssertNil(ReparameterizedELBO().incompatibility(model: model, family: PlanarFlow(dimension: 1)))
        XCTAssertNil(ImportanceWeightedELBO().incompatibility(model: model, family: PlanarFlow(dimension: 1)))
    }
}

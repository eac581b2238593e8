import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore
import VariationalDistributions
import VariationalTestSupport
import XCTest

final class BijectorTests: XCTestCase {
    var generator = SeededGenerator(seed: 31)

    func testElementwiseBijectors() {
        let x = T(randomNormal: [2, 3], standardDeviation: 2, using: &generator)
        checkBijector("Identity", Identity(), at: x)
        checkBijector("Exp", Exp(), at: x)
        checkBijector("Softplus", Softplus(), at: x)
        checkBijector("Sigmoid", Sigmoid(), at: x)
        checkBijector("Tanh", Tanh(), at: x)
        checkBijector("Affine", Affine(shift: T([1, 2, 3]), scale: T([0.5, -2, 3])), at: x)
        checkBijector("Chain(Softplus, Affine)", VariationalBijectors.Chain(Softplus(), Affine(shift: scalar(1), scale: scalar(-3))), at: x)
        checkBijector("Inverse(Sigmoid)", Inverse(Sigmoid()), at: T([0.1, 0.5, 0.97]))
        checkBijector("Inverse(Exp)", Inverse(Exp()), at: T([0.1, 2, 40]))
    }

    func testVectorBijectors() {
        let l = T([[1.5, 0, 0], [0.3, -0.8, 0], [2, 1, 0.4]])
        checkBijector("LowerCholeskyAffine", LowerCholeskyAffine(shift: T([1, -1, 0]), scaleTril: l), at: T(randomNormal: [4, 3], using: &generator))
        checkBijector("StickBreaking", StickBreaking(), at: T(randomNormal: [3, 4], using: &generator))
        checkBijector("Ordered", Ordered(), at: T(randomNormal: [2, 5], using: &generator))
        checkBijector("CorrCholesky", CorrCholesky(), at: T(randomNormal: [6], using: &generator))
        checkBijector("Chain(StickBreaking, Identity)", VariationalBijectors.Chain(StickBreaking(), Identity()), at: T([0.2, -0.3]))
    }

    /// The derivatives of the log-determinant alone (the log-Jacobian term of a model with a simplex latent),
    /// against finite differences, for one event and for a batch of them.
    func testStickBreakingLogDeterminantGradient() {
        let weights = T([1, -2, 0.5, 3])
        for x in [T([0.4, -1.2, 0.7]), T(randomNormal: [2, 3], using: &generator)] {
            assertGradientMatchesFiniteDifferences("StickBreaking log det", { StickBreaking<Double>().forwardLogDetJacobian($0[0]).sum() }, at: [x])
            assertGradientMatchesFiniteDifferences("StickBreaking forward", { (StickBreaking<Double>().forward($0[0]) * weights).sum() }, at: [x])
        }
    }

    func testImagesLieInTheirSets() {
        let y = StickBreaking<Double>().forward(T(randomNormal: [5, 3], using: &generator))
        for row in 0..<5 {
            let entries = (0..<4).map { y[row, $0] }
            XCTAssertTrue(entries.allSatisfy { $0 > 0 })
            XCTAssertEqual(entries.reduce(0, +), 1, accuracy: 1e-12)
        }
        XCTAssertEqual(StickBreaking<Double>().forward(T([0, 0, 0])).scalars.map { ($0 * 1e12).rounded() / 1e12 }, [0.25, 0.25, 0.25, 0.25])
        let ordered = Ordered<Double>().forward(T(randomNormal: [6], using: &generator))
        XCTAssertTrue(zip(ordered.scalars, ordered.scalars.dropFirst()).allSatisfy { $0 < $1 })
        let l = CorrCholesky<Double>().forward(T(randomNormal: [6], using: &generator))
        let correlation = matmul(l, l.transposed())
        for i in 0..<4 { XCTAssertEqual(correlation[i, i], 1, accuracy: 1e-12) }
        XCTAssertEqual(l[0, 1], 0)
    }

    /// Each constrained distribution names the bijector from ℝ onto its support.
    func testSupportBijectorsMapOntoTheSupport() throws {
        let x = T(randomNormal: [100], standardDeviation: 3, using: &generator)
        func inside<D: Distribution>(_ d: D, _ name: String) where D.Scalar == Double {
            let y = d.supportBijector.forward(x)
            XCTAssertTrue(d.logProbability(of: y).scalars.allSatisfy(\.isFinite), name)
        }
        inside(try Gamma(concentration: scalar(2), rate: scalar(1)), "Gamma")
        inside(try Beta(alpha: scalar(2), beta: scalar(2)), "Beta")
        inside(try Exponential(rate: scalar(2)), "Exponential")
        inside(try HalfNormal(scale: scalar(2)), "HalfNormal")
        inside(try Uniform(low: scalar(-2), high: scalar(5)), "Uniform")
        inside(try LogNormal(location: scalar(0), scale: scalar(1)), "LogNormal")
        let dirichlet = try Dirichlet(concentration: T([1, 2, 3]))
        XCTAssertTrue(dirichlet.logProbability(of: dirichlet.supportBijector.forward(T(randomNormal: [10, 2], using: &generator))).scalars.allSatisfy(\.isFinite))
    }
}

import Foundation
import XCTest

/// The messages of errors a user's code can cause inside the library. CI runs the tests in debug and in release
/// builds; in release, Swift drops the message of a failed `precondition`, so these check that the library's own
/// checks keep theirs.
final class UsageErrorTests: XCTestCase {
    func stop(_ name: String) throws -> String {
        let result = try ElboToolTests.runTool([name], executable: "usage-errors", environment: ["SWIFT_BACKTRACE": "enable=no"])
        XCTAssertNotEqual(result.status, 0, "\(name) did not stop: \(result.output)")
        return result.error
    }

    func testShapeErrorsNameBothShapes() throws {
        XCTAssertTrue(try stop("value-shape").contains(
            "Normal<Double>.logProbability: a value of shape [5] does not broadcast against batch shape [3, 4] + event shape []"))
        XCTAssertTrue(try stop("tensor-shapes").contains("shapes [3] and [4] cannot be broadcast together"))
        XCTAssertTrue(try stop("matmul-shapes").contains("matmul: inner dimensions differ for shapes [3, 4] and [3, 4]"))
        XCTAssertTrue(try stop("rank-five").contains("TensorShape: at most 4 dimensions"))
        XCTAssertTrue(try stop("elements-count").contains("Tensor: shape [2, 3] needs 6 scalars, got 3"))
        XCTAssertTrue(try stop("negative-dimension").contains("Tensor: negative dimension in shape [-1, 3]"))
        XCTAssertTrue(try stop("deferred-elements").contains("TensorElements.deferred: 1 sums for 1 rows of 0 elements"))
        XCTAssertTrue(try stop("huge-dimension").contains("TensorShape: dimension 6000000000 is outside ±2147483647"))
    }

    func testPriorErrorsNameTheLatentAndTheLine() throws {
        let discrete = try stop("discrete-prior")
        XCTAssertTrue(discrete.contains("latent 'k': its prior Poisson<Double> is discrete (support {0, 1, 2, …})"), discrete)
        XCTAssertTrue(discrete.contains("sum the variable out in the likelihood"), discrete)
        XCTAssertTrue(discrete.contains("usage_errors/main.swift:"), discrete)  // the line of the declaration
        let parameter = try stop("prior-parameter")
        XCTAssertTrue(parameter.contains("HalfCauchy: scale must be positive, got -5.0"), parameter)
        XCTAssertTrue(parameter.contains("usage_errors/main.swift:"), parameter)
        XCTAssertTrue(try stop("prior-shape").contains(
            "latent 'beta': its prior Normal<Double> has shape [3], which does not broadcast to the latent's shape [4]"))
        XCTAssertTrue(try stop("dependent-support").contains(
            "latent 'b': its prior Uniform<Double> has a support that depends on its parameters"))
        XCTAssertTrue(try stop("unknown-latent").contains("no latent variable named 'sigma'; the model has [\"mu\"]"))
    }

    func testModelAndFitErrors() throws {
        let none = try stop("no-latents")
        XCTAssertTrue(none.contains("Model: no latent variables; declare at least one Latent with its prior"), none)
        XCTAssertTrue(none.contains("usage_errors/main.swift:"), none)
        XCTAssertTrue(try stop("duplicate-latents").contains("Model: two latents are named 'mu'"))
        XCTAssertTrue(try stop("batch-size").contains("SVI: the minibatch size (SVIConfiguration.batchSize) must be at least 1, got 0"))
    }
}

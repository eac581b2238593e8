import _Differentiation
import VariationalCore
import XCTest

/// Fails the current test when the gradient of `f` disagrees with finite differences beyond `tolerance`.
public func assertGradientMatchesFiniteDifferences(
    _ name: String,
    _ f: @escaping @differentiable(reverse) ([Tensor<Double>]) -> Tensor<Double>,
    at inputs: [Tensor<Double>], tolerance: Double = 1e-6, file: StaticString = #filePath, line: UInt = #line
) {
    let result = GradientChecker.check(f, at: inputs)
    XCTAssertLessThanOrEqual(result.maximumError, tolerance, "\(name): \(result)", file: file, line: line)
}

/// Asserts two numbers agree to a relative tolerance (absolute near zero).
public func assertClose<T: BinaryFloatingPoint>(
    _ a: T, _ b: T, relativeTolerance: T = 1e-9, _ message: String = "",
    file: StaticString = #filePath, line: UInt = #line
) {
    if a == b { return }  // equal infinities included
    let scale = Swift.max(1, Swift.abs(a), Swift.abs(b))
    XCTAssert(Swift.abs(a - b) <= relativeTolerance * scale, "\(a) ≠ \(b) (tolerance \(relativeTolerance)) \(message)", file: file, line: line)
}

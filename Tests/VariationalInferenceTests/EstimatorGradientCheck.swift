import Foundation
import VariationalCore
import VariationalInference
import XCTest

/// One parameter tensor of a problem to probe: its name, where it is, and the gradient the estimator gave for it.
typealias GradientProbe<P> = (name: String, path: WritableKeyPath<P, Tensor<Double>>, analytic: Tensor<Double>)

/// Checks an estimator's gradient against central differences of its loss at the same noise, at the given element
/// indices of each probed tensor (those past its end are skipped).
func checkAgainstFiniteDifferences<P: VariationalProblem, E: ELBOEstimator>(
    _ estimator: E, _ problem: P, noise: Tensor<Double>, batch: P.Batch, probes: [GradientProbe<P>], indices: [Int] = [0, -1],
    tolerance: Double = 1e-6, file: StaticString = #filePath, line: UInt = #line
) where P.Scalar == Double {
    for (name, path, analytic) in probes {
        let count = problem[keyPath: path].scalarCount
        for requested in indices {
            let index = requested < 0 ? count + requested : requested
            guard index >= 0 && index < count else { continue }
            let h = 1e-6
            var plus = problem, minus = problem
            plus[keyPath: path] = plus[keyPath: path].replacing(index: index, with: problem[keyPath: path].scalars[index] + h)
            minus[keyPath: path] = minus[keyPath: path].replacing(index: index, with: problem[keyPath: path].scalars[index] - h)
            let numerical = (estimator.loss(problem: plus, noise: noise, batch: batch).scalar
                - estimator.loss(problem: minus, noise: noise, batch: batch).scalar) / (2 * h)
            XCTAssertEqual(analytic.scalars[index], numerical, accuracy: tolerance * Swift.max(1, Swift.abs(numerical)),
                           "\(estimator.name): \(name)[\(index)]", file: file, line: line)
        }
    }
}

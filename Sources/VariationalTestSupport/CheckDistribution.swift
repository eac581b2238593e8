import Foundation
import VariationalBijectors
import VariationalCore
import VariationalDistributions
import XCTest

/// The one checker every distribution runs through: seeded sample moments against `mean` and `variance`
/// (5 standard errors), draws inside the support with finite log densities, and a closed-form entropy against
/// its Monte-Carlo estimate −E[log p(x)] (5 standard errors).
///
/// Five standard errors: a correct distribution fails a given check with probability below 1e-6, and the seed is
/// fixed, so the outcome is reproducible.
public func checkDistribution<D: Distribution>(
    _ name: String, _ distribution: D, sampleCount: Int = 100_000, seed: UInt64 = 11,
    checkMoments: Bool = true, file: StaticString = #filePath, line: UInt = #line
) where D.Scalar == Double {
    var generator = SeededGenerator(seed: seed)
    let draws = distribution.sample(sampleShape: [sampleCount], using: &generator)
    let eventSize = (distribution.batchShape + distribution.eventShape).reduce(1, *)
    XCTAssertEqual(draws.shape, [sampleCount] + distribution.batchShape + distribution.eventShape, "\(name): sample shape", file: file, line: line)

    let logDensities = distribution.logProbability(of: draws)
    XCTAssertEqual(logDensities.shape, [sampleCount] + distribution.batchShape, "\(name): log-density shape", file: file, line: line)
    if let bad = logDensities.scalars.firstIndex(where: { !$0.isFinite }) {
        XCTFail("\(name): draw \(bad) has log density \(logDensities.scalars[bad])", file: file, line: line)
    }

    if checkMoments {
        let mean = distribution.mean.broadcasted(to: distribution.batchShape + distribution.eventShape)
        let variance = distribution.variance.broadcasted(to: distribution.batchShape + distribution.eventShape)
        for j in 0..<eventSize {
            let column = (0..<sampleCount).map { draws.scalars[$0 * eventSize + j] }
            let n = Double(sampleCount)
            let sampleMean = column.reduce(0, +) / n
            let centered = column.map { $0 - sampleMean }
            let sampleVariance = centered.reduce(0) { $0 + $1 * $1 } / (n - 1)
            let fourth = centered.reduce(0) { $0 + $1 * $1 * $1 * $1 } / n
            let meanError = (variance.scalars[j] / n).squareRoot()
            // The standard error of a sample variance, plus σ²/n for the O(1/n) term from estimating the mean,
            // which dominates when the fourth central moment equals σ⁴ (a fair coin).
            let varianceError = (Swift.max(0, fourth - sampleVariance * sampleVariance) / n).squareRoot() + variance.scalars[j] / n
            XCTAssertEqual(sampleMean, mean.scalars[j], accuracy: 5 * meanError + 1e-12, "\(name): mean of element \(j)", file: file, line: line)
            XCTAssertEqual(sampleVariance, variance.scalars[j], accuracy: 5 * varianceError + 1e-12, "\(name): variance of element \(j)", file: file, line: line)
        }
    }

    if D.hasClosedFormEntropy {
        let perDraw = logDensities.reshaped(to: [sampleCount, -1]).sum(squeezingAxes: 1).scalars.map { -$0 }
        let (estimate, error) = meanAndStandardError(perDraw)
        let exact = distribution.entropy().sum().scalar
        XCTAssertEqual(exact, estimate, accuracy: 5 * error + 1e-9, "\(name): entropy against Monte Carlo", file: file, line: line)
    }
}

/// Checks a closed-form KL divergence against its Monte-Carlo estimate E_q[log q − log p] (5 standard errors).
public func checkKLAgainstMonteCarlo<Q: Distribution, P: Distribution>(
    _ name: String, _ q: Q, _ p: P, sampleCount: Int = 200_000, seed: UInt64 = 12,
    file: StaticString = #filePath, line: UInt = #line
) where Q.Scalar == Double, P.Scalar == Double {
    XCTAssertTrue(hasClosedFormKL(from: Q.self, to: P.self), "\(name): no closed form", file: file, line: line)
    var generator = SeededGenerator(seed: seed)
    let exact = closedFormKL(from: q, to: p).sum().scalar
    let (estimate, error) = monteCarloKL(from: q, to: p, sampleCount: sampleCount, using: &generator)
    XCTAssertEqual(exact, estimate, accuracy: 5 * error + 1e-9, "\(name): closed-form KL against Monte Carlo", file: file, line: line)
}

/// Checks a bijector on the given inputs: the round trip x → f(x) → f⁻¹ restores x, and log |det ∂f/∂x| equals the
/// log-determinant of a central-difference Jacobian (square part: the first n outputs for n inputs per event).
public func checkBijector<B: Bijector>(
    _ name: String, _ bijector: B, at x: Tensor<Double>, tolerance: Double = 1e-6,
    file: StaticString = #filePath, line: UInt = #line
) where B.Scalar == Double {
    let y = bijector.forward(x)
    let back = bijector.inverse(y)
    XCTAssertEqual(back.shape, x.shape, "\(name): inverse shape", file: file, line: line)
    for i in 0..<x.scalarCount {
        XCTAssertEqual(back.scalars[i], x.scalars[i], accuracy: 1e-9 * Swift.max(1, Swift.abs(x.scalars[i])), "\(name): round trip at \(i)", file: file, line: line)
    }
    let logDet = bijector.forwardLogDetJacobian(x)
    let inverseLogDet = bijector.inverseLogDetJacobian(y)
    for i in 0..<logDet.scalarCount {
        XCTAssertEqual(inverseLogDet.scalars[i], -logDet.scalars[i], accuracy: 1e-9 * Swift.max(1, Swift.abs(logDet.scalars[i])), "\(name): inverse log-det", file: file, line: line)
    }
    // Numerical Jacobian per event.
    let eventSize = bijector.inputEventRank == 0 ? 1 : x.shape.suffix(bijector.inputEventRank).reduce(1, *)
    let events = x.scalarCount / eventSize
    let outputsPerEvent = y.scalarCount / events
    let step = 1e-6
    for e in 0..<events {
        var jacobian = [[Double]](repeating: [Double](repeating: 0, count: eventSize), count: eventSize)
        for j in 0..<eventSize {
            let index = e * eventSize + j
            let plus = bijector.forward(x.replacing(index: index, with: x.scalars[index] + step))
            let minus = bijector.forward(x.replacing(index: index, with: x.scalars[index] - step))
            for i in 0..<eventSize {
                let out = e * outputsPerEvent + i
                jacobian[i][j] = (plus.scalars[out] - minus.scalars[out]) / (2 * step)
            }
        }
        let numerical = logAbsDeterminant(jacobian)
        XCTAssertEqual(logDet.scalars[e], numerical, accuracy: tolerance * Swift.max(1, Swift.abs(numerical)), "\(name): log |det J| of event \(e)", file: file, line: line)
    }
}

/// log |det A| by Gaussian elimination with partial pivoting.
public func logAbsDeterminant(_ matrix: [[Double]]) -> Double {
    var a = matrix
    let n = a.count
    var result = 0.0
    for column in 0..<n {
        let pivot = (column..<n).max { Swift.abs(a[$0][column]) < Swift.abs(a[$1][column]) }!
        a.swapAt(column, pivot)
        let p = a[column][column]
        if p == 0 { return -.infinity }
        result += Foundation.log(Swift.abs(p))
        for row in (column + 1)..<n {
            let factor = a[row][column] / p
            for k in column..<n { a[row][k] -= factor * a[column][k] }
        }
    }
    return result
}

import Foundation
import Variational

/// The checks behind `elbo doctor`, kept apart from printing so that tests can run them.
enum DoctorChecks {
    struct Line {
        var passed: Bool
        var text: String
    }

    /// A few gradients against central finite differences, in Double.
    static func gradientChecks() -> [Line] {
        var generator = SeededGenerator(seed: 1)
        let a = Tensor<Double>(randomNormal: [4, 3], using: &generator)
        let b = Tensor<Double>(randomNormal: [3, 5], using: &generator)
        let m = Tensor<Double>(randomNormal: [3, 3], using: &generator)
        // Each check is called directly: an array of @differentiable closures miscompiles in release builds
        // (a crash when the array is destroyed), so none is stored.
        return [
            line("matmul + softplus", at: [a, b]) { xs in matmul(xs[0], xs[1]).softplus() },
            line("logSumExp", at: [a]) { xs in xs[0].logSumExp(alongAxes: 1) },
            line("tanh · sigmoid", at: [a]) { xs in xs[0].tanh() * xs[0].sigmoid() },
            line("cholesky", at: [m]) { xs in (matmul(xs[0], xs[0].transposed()) + Tensor(identity: 3)).cholesky() },
        ]
    }

    static func line(
        _ name: String, at inputs: [Tensor<Double>],
        _ f: @escaping @differentiable(reverse) ([Tensor<Double>]) -> Tensor<Double>
    ) -> Line {
        let result = GradientChecker.check(f, at: inputs)
        return Line(
            passed: result.maximumError < 1e-6,
            text: "gradient of \(name): relative error \(String(format: "%.1e", result.maximumError))")
    }

    /// The product kernel against a plain triple loop, and the generator's reproducibility.
    static func kernelChecks() -> [Line] {
        var generator = SeededGenerator(seed: 2)
        let a = Tensor<Double>(randomNormal: [37, 29], using: &generator)
        let b = Tensor<Double>(randomNormal: [29, 41], using: &generator)
        let product = matmul(a, b)
        var worst = 0.0
        for i in 0..<37 {
            for j in 0..<41 {
                var sum = 0.0
                for k in 0..<29 { sum += a[i, k] * b[k, j] }
                worst = max(worst, abs(sum - product[i, j]))
            }
        }
        var first = SeededGenerator(seed: 42)
        var second = SeededGenerator(seed: 42)
        let same = (0..<1000).allSatisfy { _ in first.next() == second.next() }
        return [
            Line(passed: worst < 1e-12, text: "matrix product against a direct sum: max difference \(String(format: "%.1e", worst))"),
            Line(passed: same, text: "seeded generator reproduces its stream"),
        ]
    }

    /// GEMM speed: the median of several timed products.
    static func gemmGigaflops<Scalar: TensorScalar>(_: Scalar.Type, size n: Int, repeats: Int = 7) -> Double {
        var generator = SeededGenerator(seed: 3)
        let a = Tensor<Scalar>(randomNormal: [n, n], using: &generator)
        let b = Tensor<Scalar>(randomNormal: [n, n], using: &generator)
        _ = matmul(a, b)
        var times: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = matmul(a, b)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        let median = times.sorted()[repeats / 2]
        return 2 * Double(n) * Double(n) * Double(n) / median / 1e9
    }
}

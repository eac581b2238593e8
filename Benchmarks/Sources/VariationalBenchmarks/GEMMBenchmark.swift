import Foundation
import Variational

/// GEMM throughput, Float and Double, on the product kernel in use and on the portable kernel.
enum GEMMBenchmark {
    static func gigaflops<Scalar: TensorScalar>(_: Scalar.Type, size n: Int) -> Double {
        var generator = SeededGenerator(seed: 1)
        let a = Tensor<Scalar>(randomNormal: [n, n], using: &generator)
        let b = Tensor<Scalar>(randomNormal: [n, n], using: &generator)
        let seconds = medianSeconds(repeats: 9) { _ = matmul(a, b) }
        return 2 * pow(Double(n), 3) / seconds / 1e9
    }

    static func run() {
        print("GEMM (median of 9), GFLOP/s")
        // In use: Float on our AVX-512 kernel where the processor has it, else OpenBLAS when loaded, else portable.
        let floatKernel = Kernels.usesOwnFloatProducts ? "own" : Kernels.usesOpenBLAS ? "OpenBLAS" : "portable"
        let doubleKernel = Kernels.usesOpenBLAS ? "OpenBLAS" : "portable"
        print("  size   backend (Float/Double)   Float    Double")
        for n in [128, 256, 512, 1024] {
            let f = gigaflops(Float.self, size: n)
            let d = gigaflops(Double.self, size: n)
            let name = "\(floatKernel)/\(doubleKernel)"
            print(String(format: "  %4d   ", n) + name.padding(toLength: 21, withPad: " ", startingAt: 0) + String(format: " %8.1f  %8.1f", f, d))
            if floatKernel != "portable" || doubleKernel != "portable" {
                let (pf, pd) = Kernels.withPortableKernel { (gigaflops(Float.self, size: n), gigaflops(Double.self, size: n)) }
                print(String(format: "  %4d   portable/portable     %8.1f  %8.1f", n, pf, pd))
            }
        }
    }
}

/// The products of small batches with weight matrices, the right operand read where it lies against packed first
/// (`Kernels.unpackedRightOperandPanels` at its default against 0), interleaved in one process.
enum UnpackedOperandBenchmark {
    static func run(threads: Int) {
        let saved = (Kernels.unpackedRightOperandPanels, Kernels.maximumThreads)
        defer { (Kernels.unpackedRightOperandPanels, Kernels.maximumThreads) = saved }
        Kernels.maximumThreads = threads
        var generator = SeededGenerator(seed: 2)
        print("Batch × weights, B read in place (\(saved.0) panels) against packed, \(threads) thread(s), medians of 15 rounds")
        for (m, k, n) in [(20, 784, 200), (20, 200, 200), (20, 100, 784), (20, 200, 784), (32, 400, 784), (48, 400, 784), (128, 400, 784), (128, 784, 400), (128, 20, 400), (128, 1000, 1000), (128, 1024, 1024), (20, 1000, 1000), (32, 1000, 1000), (48, 1000, 1000), (64, 1000, 1000), (96, 1000, 1000)] {
            let a = Tensor<Float>(randomNormal: [m, k], using: &generator)
            let b = Tensor<Float>(randomNormal: [k, n], using: &generator)
            let repeats = max(1, 4_000_000 / (m * k * n / 64))
            let times = interleavedMedians(repeats: 15, iterations: repeats, [
                { Kernels.unpackedRightOperandPanels = saved.0; _ = matmul(a, b) },
                { Kernels.unpackedRightOperandPanels = 0; _ = matmul(a, b) },
            ])
            print(String(format: "  %4d × %4d · %4d × %4d: in place %7.2f µs, packed %7.2f µs, ratio %.3f", m, k, k, n, times[0] * 1e6, times[1] * 1e6, times[0] / times[1]))
        }
    }
}

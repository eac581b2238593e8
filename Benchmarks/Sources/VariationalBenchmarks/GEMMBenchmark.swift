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

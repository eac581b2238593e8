import ArgumentParser
import Foundation
import Variational

/// `elbo doctor`: a self-check that runs in seconds.
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that gradients, kernels and randomness work on this machine, and measure GEMM speed.")

    @Option(help: "Matrix size for the GEMM speed measurement.")
    var size: Int = 512

    func validate() throws {
        guard size >= 16 && size <= 4096 else {
            throw CommandError("--size must be between 16 and 4096, got \(size)")
        }
    }

    func run() throws {
        print("elbo \(Elbo.version)")
        print(Kernels.summary)
        var problems: [String] = []
        for line in DoctorChecks.gradientChecks() {
            print(line.passed ? "  ok    " : "  FAIL  ", line.text, separator: "")
            if !line.passed { problems.append(line.text) }
        }
        for line in DoctorChecks.kernelChecks() {
            print(line.passed ? "  ok    " : "  FAIL  ", line.text, separator: "")
            if !line.passed { problems.append(line.text) }
        }
        print("GEMM \(size)×\(size)×\(size):")
        print(String(format: "  Float   %7.1f GFLOP/s", DoctorChecks.gemmGigaflops(Float.self, size: size)))
        print(String(format: "  Double  %7.1f GFLOP/s", DoctorChecks.gemmGigaflops(Double.self, size: size)))
        if problems.isEmpty {
            print("All checks passed.")
        } else {
            print("\(problems.count) check(s) failed: \(problems.joined(separator: "; "))")
            throw ExitCode(1)
        }
    }
}

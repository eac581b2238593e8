import Variational

print("Variational benchmarks — release build, medians of repeated runs")
print(Kernels.summary)
print()
let arguments = Array(CommandLine.arguments.dropFirst())
let selected = Set(arguments)
if selected.isEmpty || selected.contains("gemm") { GEMMBenchmark.run(); print() }
if selected.isEmpty || selected.contains("vae") { VAEStepBenchmark.run(); print() }
if selected.isEmpty || selected.contains("logistic") { LogisticRegressionBenchmark.run(); print() }
if selected.isEmpty || selected.contains("svi") { SVIStepBenchmark.run(); print() }
if selected.isEmpty || selected.contains("models") { ModelStepBenchmark.run() }
if selected.contains("scaling") {
    let sizes = arguments.compactMap { Int($0) }
    for n in sizes.isEmpty ? [10_000, 100_000, 1_000_000] : sizes { ScalingBenchmark.run(n) }
}

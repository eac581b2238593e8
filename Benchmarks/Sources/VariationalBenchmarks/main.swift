import Variational

print("Variational benchmarks — release build, medians of repeated runs")
print(Kernels.summary)
print()
let selected = Set(CommandLine.arguments.dropFirst())
if selected.isEmpty || selected.contains("gemm") { GEMMBenchmark.run(); print() }
if selected.isEmpty || selected.contains("vae") { VAEStepBenchmark.run(); print() }
if selected.isEmpty || selected.contains("logistic") { LogisticRegressionBenchmark.run(); print() }
if selected.isEmpty || selected.contains("svi") { SVIStepBenchmark.run(); print() }
if selected.isEmpty || selected.contains("models") { ModelStepBenchmark.run() }

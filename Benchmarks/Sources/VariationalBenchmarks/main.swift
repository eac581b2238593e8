import Variational

print("Variational benchmarks — release build, medians of repeated runs")
print(Kernels.summary)
print()
let arguments = Array(CommandLine.arguments.dropFirst())
let selected = Set(arguments)
if selected.isEmpty || selected.contains("gemm") { GEMMBenchmark.run(); print() }
if selected.isEmpty || selected.contains("vae") { VAEStepBenchmark.run(); print() }
if selected.contains("cores") { CoreDistanceBenchmark.run(); print() }
if selected.contains("vae-gemms") { VAEStepBenchmark.runGEMMBreakdown(); print() }
if selected.contains("first-layer") { VAEStepBenchmark.runFirstLayer(); print() }
if selected.contains("first-layer-parts") { VAEStepBenchmark.runFirstLayerParts(); print() }
if selected.contains("sparse-density") { VAEStepBenchmark.runSparseDensities(); print() }
if selected.contains("unpacked") {
    // `unpacked [2] [PANELS]`: on two threads; with the in-place limit at PANELS (3 or more) instead of its default.
    if let panels = arguments.compactMap({ Int($0) }).first(where: { $0 >= 3 }) { Kernels.unpackedRightOperandPanels = panels }
    UnpackedOperandBenchmark.run(threads: arguments.contains("2") ? 2 : 1)
    print()
}
if selected.contains("vae-epoch") { VAEStepBenchmark.runEpoch(); print() }
if selected.contains("vae-steps") {
    // `vae-steps COUNT`: COUNT training steps of the PyTorch-examples VAE and nothing else, for a profiler.
    VAEStepBenchmark.runSteps(count: arguments.compactMap { Int($0) }.first ?? 1000)
}
if selected.isEmpty || (selected.contains("logistic") && !selected.contains("steps")) { LogisticRegressionBenchmark.run(); print() }
if selected.isEmpty || selected.contains("svi") { SVIStepBenchmark.run(); print() }
if selected.isEmpty || selected.contains("models") { ModelStepBenchmark.run(); print() }
if selected.isEmpty || selected.contains("deep") { DeepModelsBenchmark.run() }
if selected.contains("scaling") {
    let sizes = arguments.compactMap { Int($0) }
    for n in sizes.isEmpty ? [10_000, 100_000, 1_000_000] : sizes { ScalingBenchmark.run(n) }
}
if selected.contains("steps") {
    // `steps NAME COUNT`: COUNT SVI steps of one model and nothing else, for a profiler (callgrind counts
    // instructions, which the machine's drifting speed does not disturb).
    let count = arguments.compactMap { Int($0) }.first ?? 1000
    let (x, y) = SVIStepBenchmark.data()
    let models: [String: (Model, Int)] = [
        "logistic": (SVIStepBenchmark.userModel(x, y), 1), "eight-schools": (ModelStepBenchmark.eightSchools(), 4),
        "poisson": (ModelStepBenchmark.poissonRegression(), 1), "robust": (ModelStepBenchmark.robustRegression(), 1),
    ]
    if arguments.contains("logistic-builtin") {
        // The same regression with its hand-written log-joint gradient: the floor under the path above.
        let model = try! LogisticRegressionModel(features: x, responses: y, priorStandardDeviation: 10)
        SVIStepBenchmark.runSteps(model, meanField: true, particles: 1, count: count)
    } else {
        guard let name = arguments.first(where: { models[$0] != nil }), let (model, particles) = models[name] else {
            fatalError("steps: name one of \(models.keys.sorted()) or logistic-builtin")
        }
        SVIStepBenchmark.runSteps(model, meanField: name == "logistic", particles: particles, count: count)
    }
}
if selected.contains("op-chain") {
    // `op-chain KIND COUNT`: COUNT gradients of ten operations of one kind on [4, 8] tensors, for a profiler (`none`:
    // the sum alone, the cost of the gradient call itself).
    let count = arguments.compactMap { Int($0) }.first ?? 1000
    var generator = SeededGenerator(seed: 1)
    let a = Tensor<Double>(randomNormal: [4, 8], using: &generator)
    let b = Tensor<Double>(randomNormal: [4, 8], using: &generator)
    let row = Tensor<Double>(randomNormal: [8], using: &generator)
    @differentiable(reverse) func none(_ x: Tensor<Double>) -> Tensor<Double> { x.sum() }
    @differentiable(reverse) func add(_ x: Tensor<Double>) -> Tensor<Double> {
        (x + b + b + b + b + b + b + b + b + b + b).sum()
    }
    @differentiable(reverse) func mul(_ x: Tensor<Double>) -> Tensor<Double> {
        (x * b * b * b * b * b * b * b * b * b * b).sum()
    }
    @differentiable(reverse) func addRow(_ x: Tensor<Double>) -> Tensor<Double> {
        (x + row + row + row + row + row + row + row + row + row + row).sum()
    }
    // Values stay in (0, 1), so the chain measures the map rather than the overflow paths of an exponential.
    @differentiable(reverse) func sigmoids(_ x: Tensor<Double>) -> Tensor<Double> {
        x.sigmoid().sigmoid().sigmoid().sigmoid().sigmoid().sigmoid().sigmoid().sigmoid().sigmoid().sigmoid().sum()
    }
    let kinds: [String: @differentiable(reverse) (Tensor<Double>) -> Tensor<Double>] = [
        "none": none, "add": add, "mul": mul, "add-row": addRow, "sigmoid": sigmoids,
    ]
    guard let kind = arguments.first(where: { kinds[$0] != nil }), let f = kinds[kind] else {
        fatalError("op-chain: name one of \(kinds.keys.sorted())")
    }
    var total = 0.0
    for _ in 0..<count {
        let (value, gradient) = valueWithGradient(at: a, of: f)
        total += value.scalar + gradient.scalars[0]
    }
    print(total)
}

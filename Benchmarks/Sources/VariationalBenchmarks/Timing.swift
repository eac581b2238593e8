import Foundation

/// Wall-clock seconds of one call.
func seconds(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
}

/// The median of the values.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// The median wall-clock seconds of `repeats` runs of `body`, after `warmup` untimed runs.
func medianSeconds(repeats: Int, warmup: Int = 2, _ body: () -> Void) -> Double {
    for _ in 0..<warmup { body() }
    return median((0..<repeats).map { _ in seconds(body) })
}

/// Median seconds per iteration: `repeats` timed blocks of `iterations` runs each.
func medianSecondsPerIteration(repeats: Int, iterations: Int, _ body: () -> Void) -> Double {
    medianSeconds(repeats: repeats) {
        for _ in 0..<iterations { body() }
    } / Double(iterations)
}

/// Median seconds per iteration of several bodies measured in turn, block by block, so that a slow spell of the
/// machine falls on all of them alike and their ratios stay meaningful.
func interleavedMedians(repeats: Int, iterations: Int, _ bodies: [() -> Void]) -> [Double] {
    for body in bodies { for _ in 0..<iterations { body() } }
    var samples = [[Double]](repeating: [], count: bodies.count)
    for _ in 0..<repeats {
        for (i, body) in bodies.enumerated() {
            samples[i].append(seconds { for _ in 0..<iterations { body() } } / Double(iterations))
        }
    }
    return samples.map(median)
}

import Foundation

/// The median wall-clock seconds of `repeats` runs of `body`, after `warmup` untimed runs.
func medianSeconds(repeats: Int, warmup: Int = 2, _ body: () -> Void) -> Double {
    for _ in 0..<warmup { body() }
    var times: [Double] = []
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
    }
    return times.sorted()[repeats / 2]
}

/// Median seconds per iteration: `repeats` timed blocks of `iterations` runs each.
func medianSecondsPerIteration(repeats: Int, iterations: Int, _ body: () -> Void) -> Double {
    medianSeconds(repeats: repeats) {
        for _ in 0..<iterations { body() }
    } / Double(iterations)
}

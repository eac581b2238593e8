import Foundation
import FuzzSupport
import Variational

/// Two distribution specifications on two lines, as `elbo kl Q P` takes them: KL(Q ‖ P) is a number that is not NaN
/// (a closed form is never below zero), or the failure is one line of error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSpecification(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: start, count: count), as: UTF8.self)
    let lines = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
    let q = lines[0]
    let p = lines.count > 1 ? lines[1] : lines[0]
    do {
        let first = try DistributionSpecification(parsing: q).distribution()
        let second = try DistributionSpecification(parsing: p).distribution()
        let estimate = try first.klDivergence(to: second, sampleCount: 16, seed: 1)
        require(!estimate.value.isNaN, "KL(\(q) ‖ \(p)) is NaN")
        if estimate.method == .closedForm {
            require(estimate.value >= 0, "closed-form KL(\(q) ‖ \(p)) = \(estimate.value) < 0")
        }
    } catch {
        requireOneLine(error, input: text)
    }
    return 0
}

@main
enum Harness {
    static func main() { runFuzzer(fuzzSpecification) }
}

// What every harness asks of an input it was handed: an answer, or an error a user can read.

#if canImport(Glibc)
import Glibc
#endif
import CFuzzer

/// Stops the run (libFuzzer then saves the input) unless `error` reads as one non-empty line.
public func requireOneLine(_ error: any Error, input: String) {
    let message = String(describing: error)
    if message.isEmpty || message.contains(where: \.isNewline) {
        fatalError("error message is not one line for input \(input.debugDescription): \(message.debugDescription)")
    }
}

/// Stops the run unless `condition` holds.
public func require(_ condition: Bool, _ what: @autoclosure () -> String) {
    if !condition { fatalError(what()) }
}

/// Hands the process's arguments and `harness` to libFuzzer and exits with its status.
public func runFuzzer(_ harness: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, harness))
}

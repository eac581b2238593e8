// Text shown to users.

/// The text with every control character written as an escape (\n, \r, \t, \0, \u{1B}), so that it prints on one line.
public func escapingControlCharacters(_ text: String) -> String {
    var result = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case "\0": result += "\\0"
        default:
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}" {
                result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result
}

/// Stops the program with `message`, which names what was wrong and where.
///
/// Swift drops the message of a failed `precondition` in optimised builds (`-c release`), leaving only
/// "precondition failure"; the library's checks that a user's code can trip (shapes that do not broadcast,
/// a latent without a usable prior, a value outside a support) stop through here instead, and the message is
/// printed in every build.
@inline(never)
public func usageFailure(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError(message, file: file, line: line)
}

/// Stops with `message` when `condition` is false; unlike `precondition`, the message survives `-c release`.
@inline(__always)
public func require(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line
) {
    if !condition() { usageFailure(message(), file: file, line: line) }
}

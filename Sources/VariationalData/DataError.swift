/// A problem with input data — a file that cannot be read as what it claims to be, a bad value in a table: the
/// message names the file and the place (byte, line, row, column). It is one line: control characters quoted from
/// the data (a CR LF in a header, a NUL in a cell) are shown escaped, as \r, \n, \0 or \u{1B}.
public struct DataError: Error, CustomStringConvertible, Equatable {
    public let message: String

    public init(_ message: String) { self.message = escapingControlCharacters(message) }

    public var description: String { message }
}

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

import VariationalCore

/// A problem with input data — a file that cannot be read as what it claims to be, a bad value in a table: the
/// message names the file and the place (byte, line, row, column). It is one line: control characters quoted from
/// the data (a CR LF in a header, a NUL in a cell) are shown escaped, as \r, \n, \0 or \u{1B}.
public struct DataError: Error, CustomStringConvertible, Equatable {
    public let message: String

    public init(_ message: String) { self.message = escapingControlCharacters(message) }

    public var description: String { message }
}

/// A problem with input data — a file that cannot be read as what it claims to be, a bad value in a table: the
/// message names the file and the place (byte, line, row, column).
public struct DataError: Error, CustomStringConvertible, Equatable {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

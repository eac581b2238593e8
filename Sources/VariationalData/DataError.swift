/// A data file that cannot be read as what it claims to be: the message names the file and the place.
public struct DataError: Error, CustomStringConvertible, Equatable {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

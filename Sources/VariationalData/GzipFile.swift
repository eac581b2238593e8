import CZlib
import Foundation

/// Reads a whole file, inflating it first when it is gzip-compressed (zlib reads plain files as they are).
public func readPossiblyCompressedFile(at path: String) throws -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw DataError("\(path): no such file")
    }
    if isDirectory.boolValue { throw DataError("\(path): is a directory, not a data file") }
    guard let file = gzopen(path, "rb") else { throw DataError("\(path): cannot be opened") }
    defer { gzclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let count = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
        if count < 0 || gzerrorCode(file) != Z_OK {
            throw DataError("\(path): corrupt or truncated gzip data after \(bytes.count) bytes (\(gzerrorMessage(file)))")
        }
        if count == 0 { break }
        bytes.append(contentsOf: chunk[0..<Int(count)])
    }
    return bytes
}

private func gzerrorCode(_ file: gzFile) -> Int32 {
    var code: Int32 = 0
    _ = gzerror(file, &code)
    return code
}

private func gzerrorMessage(_ file: gzFile) -> String {
    var code: Int32 = 0
    guard let message = gzerror(file, &code) else { return "zlib error \(code)" }
    return String(cString: message)
}

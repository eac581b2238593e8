import Foundation
import FuzzSupport
import Variational

/// Any bytes, read as a NumPy .npy file: either a table of finite numbers whose shape the header declared, or one
/// line of error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNumPy(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = Data(UnsafeBufferPointer(start: start, count: count))
    do {
        let table = try DataTable.parseNumPy(data, source: "fuzz.npy", columnNames: DataTable.defaultNumPyColumnNames)
        let cells = table.rows.reduce(0) { $0 + $1.count }
        require(cells * 4 <= data.count, "\(cells) cells read from \(data.count) bytes")
        for row in table.rows {
            require(row.count == table.columnNames.count, "a row of \(row.count) values under \(table.columnNames.count) names")
            require(row.allSatisfy(\.isFinite), "a non-finite value accepted")
        }
    } catch {
        requireOneLine(error, input: String(decoding: data.prefix(200), as: UTF8.self))
    }
    return 0
}

@main
enum Harness {
    static func main() { runFuzzer(fuzzNumPy) }
}

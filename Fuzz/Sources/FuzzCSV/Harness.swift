import Foundation
import FuzzSupport
import Variational

/// Any bytes, read as a CSV file: either a table whose rows all have the header's width and hold finite numbers,
/// or one line of error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = Data(UnsafeBufferPointer(start: start, count: count))
    guard let text = String(data: data, encoding: .utf8) else { return 0 }  // load(path:) refuses non-UTF-8 first
    do {
        let table = try DataTable.parseCSV(text, source: "fuzz.csv")
        require(!table.columnNames.isEmpty, "a table without columns from \(text.debugDescription)")
        for row in table.rows {
            require(row.count == table.columnNames.count, "a row of \(row.count) cells under \(table.columnNames.count) names")
            require(row.allSatisfy(\.isFinite), "a non-finite cell accepted from \(text.debugDescription)")
        }
    } catch {
        requireOneLine(error, input: text)
    }
    return 0
}

@main
enum Harness {
    static func main() { runFuzzer(fuzzCSV) }
}

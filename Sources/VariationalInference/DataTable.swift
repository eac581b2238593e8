import Foundation
import VariationalCore
import VariationalData

/// Numeric columns read from a CSV file with a header row, or from a NumPy `.npy` array.
///
/// Every error names the file and, where it applies, the row (counting the header as row 1) and the column.
/// Cells must be finite numbers: NaN and infinities are rejected.
public struct DataTable: Equatable {
    public var columnNames: [String]
    /// Values by row.
    public var rows: [[Double]]
    /// Where the data came from (a file name, or "built-in").
    public var source: String

    public init(columnNames: [String], rows: [[Double]], source: String) {
        self.columnNames = columnNames
        self.rows = rows
        self.source = source
    }

    public var rowCount: Int { rows.count }

    /// Reads a `.csv` or `.npy` file. A 1-D `.npy` array is the column `x`; a 2-D array's columns get
    /// `npyColumnNames(columnCount)`.
    public static func load(path: String, npyColumnNames: (Int) -> [String] = DataTable.defaultNumPyColumnNames) throws -> DataTable {
        let name = (path as NSString).lastPathComponent
        guard FileManager.default.fileExists(atPath: path) else { throw DataError("\(path): no such file") }
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError("\(path): cannot be read") }
        if path.lowercased().hasSuffix(".npy") {
            return try parseNumPy(data, source: name, columnNames: npyColumnNames)
        }
        guard let text = String(data: data, encoding: .utf8) else { throw DataError("\(name): not UTF-8 text") }
        return try parseCSV(text, source: name)
    }

    /// Columns x1 … x(k−1), y: the layout of a regression.
    public static func defaultNumPyColumnNames(_ count: Int) -> [String] {
        (1..<Swift.max(count, 1)).map { "x\($0)" } + ["y"]
    }

    /// Parses CSV text with a header row; fields are separated by commas, surrounding spaces and quotes ignored.
    public static func parseCSV(_ text: String, source: String) throws -> DataTable {
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        guard let header = lines.first, !header.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw DataError("\(source): empty file; expected a header row such as 'x' or 'y,x1,x2'")
        }
        let names = fields(header)
        if let empty = names.firstIndex(where: \.isEmpty) {
            throw DataError("\(source), row 1: column \(empty + 1) of the header has no name")
        }
        if let duplicate = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
            throw DataError("\(source), row 1: column '\(duplicate)' appears twice in the header")
        }
        var rows: [[Double]] = []
        for (offset, line) in lines.enumerated().dropFirst() {
            let row = offset + 1
            if line.trimmingCharacters(in: .whitespaces).isEmpty {
                throw DataError("\(source), row \(row): empty line")
            }
            let cells = fields(line)
            guard cells.count == names.count else {
                throw DataError("\(source), row \(row): \(cells.count) fields, but the header has \(names.count)")
            }
            var values: [Double] = []
            for (column, cell) in cells.enumerated() {
                guard let value = decimalNumber(cell) else {
                    throw DataError("\(source), row \(row), column '\(names[column])': '\(cell)' is not a number")
                }
                guard value.isFinite else {
                    throw DataError("\(source), row \(row), column '\(names[column])': \(cell) is not allowed (values must be finite)")
                }
                values.append(value)
            }
            rows.append(values)
        }
        guard !rows.isEmpty else { throw DataError("\(source): no data rows after the header") }
        return DataTable(columnNames: names, rows: rows, source: source)
    }

    /// A decimal number as people write one in a table — optional sign, digits with an optional point, an optional
    /// exponent — or inf/infinity/nan (which the caller refuses by name). Nothing else: `Double(_:)` would also take
    /// hexadecimal ("0x10" as 16) and stop at a NUL ("1\02" as 1).
    static func decimalNumber(_ cell: String) -> Double? {
        var scalars = Substring(cell).unicodeScalars[...]
        if scalars.first == "+" || scalars.first == "-" { scalars = scalars.dropFirst() }
        let word = String(String.UnicodeScalarView(scalars)).lowercased()
        if word == "inf" || word == "infinity" || word == "nan" { return Double(cell) }
        func isDigit(_ s: Unicode.Scalar) -> Bool { ("0"..."9").contains(s) }
        let integer = scalars.prefix(while: isDigit)
        scalars = scalars.dropFirst(integer.count)
        var fraction = 0
        if scalars.first == "." {
            scalars = scalars.dropFirst()
            fraction = scalars.prefix(while: isDigit).count
            scalars = scalars.dropFirst(fraction)
        }
        guard integer.count + fraction > 0 else { return nil }
        if scalars.first == "e" || scalars.first == "E" {
            scalars = scalars.dropFirst()
            if scalars.first == "+" || scalars.first == "-" { scalars = scalars.dropFirst() }
            let exponent = scalars.prefix(while: isDigit).count
            guard exponent > 0 else { return nil }
            scalars = scalars.dropFirst(exponent)
        }
        guard scalars.isEmpty else { return nil }
        return Double(cell)
    }

    static func fields(_ line: String) -> [String] {
        line.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
    }

    /// The table as CSV text with a header, every value written so that it reads back exactly.
    public var csv: String {
        ([columnNames.joined(separator: ",")] + rows.map { $0.map { "\($0)" }.joined(separator: ",") }).joined(separator: "\n") + "\n"
    }

    /// The values of a named column.
    public func column(_ name: String) throws -> [Double] {
        guard let index = columnNames.firstIndex(of: name) else {
            throw DataError("\(source): no column '\(name)' (columns: \(columnNames.joined(separator: ", ")))")
        }
        return rows.map { $0[index] }
    }

    /// The columns other than `excluded`, as a matrix [rows, columns], optionally with a leading column of ones.
    public func matrix(excluding excluded: [String], intercept: Bool = false) throws -> Tensor<Double> {
        let kept = columnNames.indices.filter { !excluded.contains(columnNames[$0]) }
        guard !kept.isEmpty || intercept else {
            throw DataError("\(source): no feature columns besides \(excluded.joined(separator: ", "))")
        }
        let width = kept.count + (intercept ? 1 : 0)
        let values = rows.flatMap { row in (intercept ? [1.0] : []) + kept.map { row[$0] } }
        return Tensor(shape: [rows.count, width], scalars: values)
    }

    // MARK: NumPy

    public static func parseNumPy(_ data: Data, source: String, columnNames: (Int) -> [String]) throws -> DataTable {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw DataError("\(source): not a NumPy .npy file (bad magic string)")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        } else if major == 2 || major == 3 {
            guard bytes.count >= 12 else { throw DataError("\(source): truncated .npy header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        } else {
            throw DataError("\(source): unsupported .npy version \(major)")
        }
        guard bytes.count >= headerStart + headerLength,
              let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .ascii) else {
            throw DataError("\(source): truncated .npy header")
        }
        guard let descr = headerValue(header, "descr"), let shapeText = headerValue(header, "shape") else {
            throw DataError("\(source): .npy header lacks descr or shape")
        }
        if headerValue(header, "fortran_order") == "True" {
            throw DataError("\(source): Fortran-ordered .npy arrays are not supported; save with numpy.ascontiguousarray")
        }
        // Every dimension a non-negative decimal integer: a token that is not one is an error, not skipped.
        let shownShape = shapeText.unicodeScalars.map { $0.value < 32 || $0.value > 126 ? "?" : String($0) }.joined()
        let tokens = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "()")).split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        let dimensions = tokens.last == "" && tokens.count > 1 ? tokens.dropLast() : tokens[...]
        let shape = dimensions.compactMap { token in token.allSatisfy(\.isASCII) && token.allSatisfy(\.isNumber) ? Int(token) : nil }
        guard shape.count == dimensions.count else {
            throw DataError("\(source): .npy shape \(shownShape) is not a tuple of non-negative integers")
        }
        guard shape.count == 1 || shape.count == 2 else {
            throw DataError("\(source): .npy array of shape \(shownShape) — expected 1 or 2 dimensions")
        }
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw DataError("\(source): .npy shape \(shownShape) has more values than can be counted") }
            count = product
        }
        guard count > 0 else { throw DataError("\(source): .npy array of shape \(shownShape) holds no values") }
        let type = descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
        let (size, read): (Int, (Int) -> Double)
        let payload = Array(bytes[(headerStart + headerLength)...])
        func word<T: FixedWidthInteger>(_ i: Int, _: T.Type) -> T {
            var value: T = 0
            for b in 0..<MemoryLayout<T>.size { value |= T(truncatingIfNeeded: payload[i * MemoryLayout<T>.size + b]) << (8 * b) }
            return value
        }
        switch type {
        case "<f8": (size, read) = (8, { Double(bitPattern: word($0, UInt64.self)) })
        case "<f4": (size, read) = (4, { Double(Float(bitPattern: word($0, UInt32.self))) })
        case "<i8": (size, read) = (8, { Double(Int64(bitPattern: word($0, UInt64.self))) })
        case "<i4": (size, read) = (4, { Double(Int32(bitPattern: word($0, UInt32.self))) })
        case "|u1", "|b1": (size, read) = (1, { Double(payload[$0]) })
        default: throw DataError("\(source): .npy element type \(type) is not supported (use float64, float32, int64, int32 or uint8)")
        }
        guard count <= payload.count / size else {
            throw DataError("\(source): .npy data holds \(payload.count / size) of the \(count) values its header announces")
        }
        let values = (0..<count).map(read)
        let columns = shape.count == 1 ? 1 : shape[1]
        let names = shape.count == 1 ? ["x"] : columnNames(columns)
        guard names.count == columns else {
            throw DataError("\(source): .npy array has \(columns) columns, expected \(names.count) (\(names.joined(separator: ", ")))")
        }
        var rows: [[Double]] = []
        for r in 0..<(count / Swift.max(columns, 1)) {
            let row = Array(values[(r * columns)..<((r + 1) * columns)])
            if let c = row.firstIndex(where: { !$0.isFinite }) {
                throw DataError("\(source), row \(r + 1), column '\(names[c])': \(row[c]) is not allowed (values must be finite)")
            }
            rows.append(row)
        }
        guard !rows.isEmpty else { throw DataError("\(source): the array is empty") }
        return DataTable(columnNames: names, rows: rows, source: source)
    }

    /// The text of a key's value in a NumPy header dictionary.
    static func headerValue(_ header: String, _ key: String) -> String? {
        guard let keyRange = header.range(of: "'\(key)':") else { return nil }
        var rest = header[keyRange.upperBound...].drop { $0 == " " }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        rest = rest.prefix { $0 != "," && $0 != "}" }
        return rest.trimmingCharacters(in: .whitespaces)
    }
}

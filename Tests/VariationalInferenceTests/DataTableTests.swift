import Foundation
import VariationalCore
import VariationalData
import VariationalInference
import XCTest

final class DataTableTests: XCTestCase {
    func assertError(_ text: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try DataTable.parseCSV(text, source: "data.csv"), file: file, line: line) { error in
            XCTAssertEqual("\(error)", expected, file: file, line: line)
        }
    }

    func testParsesColumns() throws {
        let table = try DataTable.parseCSV("y, x1,\"x2\"\n1,2,3\n4, 5 ,6\n", source: "data.csv")
        XCTAssertEqual(table.columnNames, ["y", "x1", "x2"])
        XCTAssertEqual(try table.column("y"), [1, 4])
        XCTAssertEqual(try table.matrix(excluding: ["y"], intercept: true), Tensor([[1, 2, 3], [1, 5, 6]]))
    }

    func testErrorsNameFileRowAndColumn() {
        assertError("", "data.csv: empty file; expected a header row such as 'x' or 'y,x1,x2'")
        assertError("x\n", "data.csv: no data rows after the header")
        assertError("x,y\n1,2\n3\n", "data.csv, row 3: 1 fields, but the header has 2")
        assertError("x,y\n1,2\n3,abc\n", "data.csv, row 3, column 'y': 'abc' is not a number")
        assertError("x\n1\nnan\n", "data.csv, row 3, column 'x': nan is not allowed (values must be finite)")
        assertError("x\n1\n\n2\n", "data.csv, row 3: empty line")
        assertError("x,x\n1,2\n", "data.csv, row 1: column 'x' appears twice in the header")
        // Only decimal numbers: no hexadecimal, nothing after a NUL, no bare signs, points or exponents.
        assertError("x\n1\n0x10\n", "data.csv, row 3, column 'x': '0x10' is not a number")
        assertError("x\n1\u{0}2\n", "data.csv, row 2, column 'x': '1\\02' is not a number")
        for bad in ["1e", ".", "-", "1.5.2", "1e+", "e5", "1 2", "0b1", "1_000", "١"] {
            XCTAssertThrowsError(try DataTable.parseCSV("x\n\(bad)\n", source: "data.csv"), bad) { error in
                XCTAssertTrue("\(error)".hasSuffix("is not a number"), "\(bad): \(error)")
            }
        }
        let good = try! DataTable.parseCSV("x\n-1.5e+3\n.25\n7.\n+2E-2\n", source: "data.csv")
        XCTAssertEqual(try! good.column("x"), [-1500, 0.25, 7, 0.02])
        assertError("x\n-Infinity\n", "data.csv, row 2, column 'x': -Infinity is not allowed (values must be finite)")
        // Control characters quoted from the data are escaped: one line, whatever the file holds.
        XCTAssertEqual(DataError("a\r\nb\u{1B}").message, "a\\r\\nb\\u{1B}")
        XCTAssertThrowsError(try DataTable.parseCSV("x\n1\n", source: "data.csv").column("y")) { error in
            XCTAssertEqual("\(error)", "data.csv: no column 'y' (columns: x)")
        }
        XCTAssertThrowsError(try DataTable.load(path: "/nonexistent/file.csv")) { error in
            XCTAssertEqual("\(error)", "/nonexistent/file.csv: no such file")
        }
    }

    /// A .npy file written byte by byte: version 1.0 header, little-endian float64, C order.
    static func numPy(_ values: [Double], shape: [Int], descr: String = "<f8", shapeText given: String? = nil) -> Data {
        let shapeText = given ?? (shape.count == 1 ? "(\(shape[0]),)" : "(\(shape.map(String.init).joined(separator: ", ")))")
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        while (10 + header.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xff), UInt8(header.count >> 8)])
        data.append(header.data(using: .ascii)!)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    /// Round trips, at 500 seeded random tables: writing a table as CSV (`csv`) or as a float64 .npy array and
    /// reading it back gives the same numbers bit for bit — values drawn over the whole double range (subnormals,
    /// the largest finite, −0, integers, ordinary decimals), 1 to 6 columns, 1 to 40 rows (a table without rows is refused).
    func testReadersRoundTripRandomTables() throws {
        var generator = SeededGenerator(seed: 77)
        func value() -> Double {
            switch Int.random(in: 0..<6, using: &generator) {
            case 0: return [0, -0.0, .leastNonzeroMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude, 1e-300][Int.random(in: 0..<6, using: &generator)]
            case 1: return Double(Int.random(in: -1_000_000...1_000_000, using: &generator))
            case 2: return Double(sign: Bool.random(using: &generator) ? .minus : .plus,
                                  exponent: Int.random(in: -1074...1023, using: &generator),
                                  significand: Double.random(in: 1..<2, using: &generator))
            default: return Double.random(in: -100...100, using: &generator)
            }
        }
        for trial in 0..<500 {
            let width = Int.random(in: 1...6, using: &generator)
            let rows = (0..<Int.random(in: 1...40, using: &generator)).map { _ in (0..<width).map { _ in value() } }
            let names = (0..<width).map { "c\($0)_\(trial)" }
            let table = DataTable(columnNames: names, rows: rows, source: "t.csv")
            let csv = try DataTable.parseCSV(table.csv, source: "t.csv")
            XCTAssertEqual(csv.columnNames, names)
            XCTAssertEqual(csv.rows.map { $0.map(\.bitPattern) }, rows.map { $0.map(\.bitPattern) }, "CSV, trial \(trial)")
            let npy = try DataTable.parseNumPy(Self.numPy(rows.flatMap { $0 }, shape: [rows.count, width]), source: "t.npy",
                                               columnNames: { count in (0..<count).map { "c\($0)" } })
            XCTAssertEqual(npy.rows.map { $0.map(\.bitPattern) }, rows.map { $0.map(\.bitPattern) }, ".npy, trial \(trial)")
        }
    }

    func testNumPyArrays() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("variational-npy-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let vector = directory.appendingPathComponent("x.npy")
        try Self.numPy([1, 2, 3.5], shape: [3]).write(to: vector)
        let table = try DataTable.load(path: vector.path)
        XCTAssertEqual(table.columnNames, ["x"])
        XCTAssertEqual(try table.column("x"), [1, 2, 3.5])
        let matrix = directory.appendingPathComponent("m.npy")
        try Self.numPy([1, 2, 3, 4, 5, 6], shape: [2, 3]).write(to: matrix)
        let regression = try DataTable.load(path: matrix.path)
        XCTAssertEqual(regression.columnNames, ["x1", "x2", "y"])
        XCTAssertEqual(try regression.column("y"), [3, 6])
        let bad = directory.appendingPathComponent("bad.npy")
        try Self.numPy([1, .nan], shape: [2]).write(to: bad)
        XCTAssertThrowsError(try DataTable.load(path: bad.path)) { error in
            XCTAssertEqual("\(error)", "bad.npy, row 2, column 'x': nan is not allowed (values must be finite)")
        }
        let truncated = directory.appendingPathComponent("short.npy")
        try Self.numPy([1, 2, 3], shape: [3]).dropLast(8).write(to: truncated)
        XCTAssertThrowsError(try DataTable.load(path: truncated.path)) { error in
            XCTAssertEqual("\(error)", "short.npy: .npy data holds 2 of the 3 values its header announces")
        }
        let notNumPy = directory.appendingPathComponent("text.npy")
        try Data("hello".utf8).write(to: notNumPy)
        XCTAssertThrowsError(try DataTable.load(path: notNumPy.path)) { error in
            XCTAssertEqual("\(error)", "text.npy: not a NumPy .npy file (bad magic string)")
        }
    }

    /// Shapes that are not tuples of non-negative integers, whose product overflows, or that hold no values are
    /// refused in one line (they once trapped, were read as another shape, or hung naming 2^63 − 1 columns).
    func testNumPyHeadersWithBadShapes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("variational-npy-shapes-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases: [(String, String)] = [
            ("(-3,)", "is not a tuple of non-negative integers"),
            ("(3,\n2,\n2)", "is not a tuple of non-negative integers"),
            ("(3, x)", "is not a tuple of non-negative integers"),
            ("(4611686018427387904, 4)", "has more values than can be counted"),
            ("(0, 9223372036854775807)", "holds no values"),
            ("(2, 2, 2)", "expected 1 or 2 dimensions"),
            ("(3,\r\n)", "is not a tuple of non-negative integers"),
        ]
        for (index, (shape, message)) in cases.enumerated() {
            let file = directory.appendingPathComponent("s\(index).npy")
            try Self.numPy([1, 2, 3], shape: [], shapeText: shape).write(to: file)
            XCTAssertThrowsError(try DataTable.load(path: file.path), shape) { error in
                XCTAssertTrue("\(error)".contains(message), "\(shape): \(error)")
                XCTAssertFalse("\(error)".contains("\n"), "one line: \(error)")
            }
        }
    }

    func testBuiltInDataFitsEveryModel() throws {
        for model in BuiltInModel.allCases {
            let table = model.builtInData()
            XCTAssertGreaterThan(table.rowCount, 0, model.rawValue)
            XCTAssertEqual(model.builtInData(), table, "\(model.rawValue): built-in data must be reproducible")
        }
    }
}

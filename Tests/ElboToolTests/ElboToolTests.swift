import Foundation
import XCTest

/// Runs the `elbo` executable end to end, as a user would.
final class ElboToolTests: XCTestCase {
    struct Run {
        var status: Int32
        var output: String
        var error: String
    }

    /// The built `elbo` next to the test bundle.
    static var executable: URL {
        var directory = Bundle.main.bundleURL
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("elbo")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        fatalError("elbo executable not found near \(Bundle.main.bundleURL.path)")
    }

    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let error = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: output, error: error)
    }

    func testVersionNamesTheKernel() throws {
        let result = try run(["--version"])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.output.hasPrefix("elbo "), result.output)
        XCTAssertTrue(result.output.contains("products: "), result.output)
        XCTAssertTrue(result.output.contains("threads: "), result.output)
    }

    func testVersionSaysPortableWhenForced() throws {
        let result = try run(["--version"], environment: ["VARIATIONAL_KERNEL": "portable"])
        XCTAssertTrue(result.output.contains("portable blocked kernel"), result.output)
    }

    func testDoctorPasses() throws {
        let result = try run(["doctor", "--size", "64"])
        XCTAssertEqual(result.status, 0, result.output + result.error)
        XCTAssertTrue(result.output.contains("All checks passed."), result.output)
        XCTAssertTrue(result.output.contains("GFLOP/s"), result.output)
        XCTAssertFalse(result.output.contains("FAIL"), result.output)
    }

    func testBadOptionGivesOneLineErrorAndNonZeroExit() throws {
        let result = try run(["doctor", "--size", "3"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.error.contains("--size must be between 16 and 4096, got 3"), result.error)
    }
}

import Foundation
import XCTest

/// Runs the `elbo` executable end to end, as a user would.
final class ElboToolTests: XCTestCase {
    struct Run {
        var status: Int32
        var output: String
        var error: String
    }

    /// A built executable next to the test bundle.
    static func executable(_ name: String) -> URL {
        var directory = Bundle.main.bundleURL
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        fatalError("\(name) executable not found near \(Bundle.main.bundleURL.path)")
    }

    func run(_ arguments: [String], executable: String = "elbo", environment: [String: String] = [:]) throws -> Run {
        let process = Process()
        process.executableURL = Self.executable(executable)
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

    func testKLClosedForm() throws {
        let result = try run(["kl", "Normal(0,1)", "Normal(1,2)", "--json"])
        XCTAssertEqual(result.status, 0, result.error)
        let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as! [String: Any]
        // log 2 + (1 + 1)/8 − ½
        XCTAssertEqual(object["kl"] as! Double, log(2) + 0.25 - 0.5, accuracy: 1e-15)
        XCTAssertEqual(object["method"] as? String, "closed-form")
        XCTAssertEqual(object["standardError"] as? Double, 0)
    }

    func testKLMonteCarloFallback() throws {
        let result = try run(["kl", "Normal(0, 1)", "Laplace(0, 1)", "--json", "--samples", "200000", "--seed", "3"])
        XCTAssertEqual(result.status, 0, result.error)
        let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as! [String: Any]
        XCTAssertEqual(object["method"] as? String, "monte-carlo")
        // Exact: E_N[log N − log Laplace] = −½ log 2π − ½ + log 2 + √(2/π).
        let exact = -0.5 * log(2 * Double.pi) - 0.5 + log(2) + (2 / Double.pi).squareRoot()
        let error = object["standardError"] as! Double
        XCTAssertGreaterThan(error, 0)
        XCTAssertEqual(object["kl"] as! Double, exact, accuracy: 5 * error)
    }

    func testKLTextOutputAndVectors() throws {
        let result = try run(["kl", "Dirichlet([1, 2, 3])", "Dirichlet([1,1,1])"])
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertTrue(result.output.contains("(closed form)"), result.output)
        let mvn = try run(["kl", "MultivariateNormal([0,0],[[1,0.5],[0.5,2]])", "MultivariateNormal([1,0],[[1,0],[0,1]])"])
        XCTAssertEqual(mvn.status, 0, mvn.error)
    }

    func testKLBadSpecificationsGiveOneLineErrors() throws {
        let cases: [([String], String)] = [
            (["kl", "Normal(0,1", "Normal(1,2)"], "cannot parse 'Normal(0,1': expected ')' at the end"),
            (["kl", "Normal(0,-1)", "Normal(1,2)"], "'Normal(0,-1)': Normal: scale must be positive, got -1.0"),
            (["kl", "Foo(1)", "Normal(1,2)"], "'Foo(1)': unknown distribution 'Foo'"),
            (["kl", "Normal(0)", "Normal(1,2)"], "'Normal(0)': Normal takes 2 argument(s) (location, scale), got 1"),
            (["kl", "Normal(0, x)", "Normal(1,2)"], "'x' is not a finite number"),
            (["kl", "Dirichlet([1,2])", "Normal(1,2)"], "has event shape [2] but 'Normal(1,2)' has []"),
            (["kl", "Categorical([0.5, 0.6])", "Categorical([0.5, 0.5])"], "Categorical probabilities must sum to 1"),
        ]
        for (arguments, message) in cases {
            let result = try run(arguments)
            XCTAssertNotEqual(result.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(result.error.contains(message), "\(arguments): \(result.error)")
            XCTAssertEqual(result.error.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, result.error)
        }
    }

    func temporaryFile(_ name: String, _ contents: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("elbo-tests-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(name)
        try contents.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func testFitEveryModelWithJSON() throws {
        for model in ["normal-normal", "beta-bernoulli", "gamma-poisson", "linear-regression", "linear-regression-unknown-noise",
                      "logistic-regression", "eight-schools", "gaussian-mixture"] {
            let result = try run(["fit", model, "--json", "--max-iterations", "300", "--draws", "500"])
            XCTAssertEqual(result.status, 0, "\(model): \(result.error)")
            let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as! [String: Any]
            for key in ["elbo", "elboStandardError", "iterations", "converged", "paretoK", "logEvidenceIS", "posterior"] {
                XCTAssertNotNil(object[key], "\(model): missing \(key)")
            }
            let isConjugate = !["logistic-regression", "eight-schools", "gaussian-mixture"].contains(model)
            XCTAssertEqual(object["exact"] != nil, isConjugate, model)
            if let exact = object["exact"] as? [String: Any] {
                XCTAssertNotNil(exact["logEvidence"] as? Double, model)
                XCTAssertNotNil(exact["klToPosterior"] as? Double, model)
                XCTAssertNotNil(exact["posterior"] as? [String: Any], model)
            }
        }
    }

    /// A conjugate fit from a CSV file recovers the exact posterior, and the same seed gives the same output.
    func testFitFromCSVIsExactAndReproducible() throws {
        let path = try temporaryFile("x.csv", "x\n" + (0..<40).map { String(1 + Double($0 % 7) * 0.3) }.joined(separator: "\n") + "\n")
        let arguments = ["fit", "normal-normal", "--data", path, "--family", "fullrank", "--estimator", "stl", "--particles", "4",
                         "--prior-sd", "2", "--noise-sd", "0.5", "--json", "--seed", "7"]
        let first = try run(arguments)
        XCTAssertEqual(first.status, 0, first.error)
        let object = try JSONSerialization.jsonObject(with: Data(first.output.utf8)) as! [String: Any]
        let exact = object["exact"] as! [String: Any]
        let fitted = (object["posterior"] as! [String: Any])["mu"] as! [String: Double]
        let truth = (exact["posterior"] as! [String: Any])["mu"] as! [String: Double]
        XCTAssertEqual(fitted["mean"]!, truth["mean"]!, accuracy: 0.01 * truth["sd"]! * 10)
        XCTAssertEqual(fitted["sd"]!, truth["sd"]!, accuracy: 0.02 * truth["sd"]!)
        XCTAssertEqual(object["elbo"] as! Double, exact["logEvidence"] as! Double, accuracy: 0.01)
        XCTAssertEqual(try run(arguments).output, first.output)
    }

    func testFitBadInputsGiveOneLineErrors() throws {
        let missing = try temporaryFile("missing.csv", "y,x1\n1,2\n")
        let text = try temporaryFile("text.csv", "x\n1\nabc\n")
        let nan = try temporaryFile("nan.csv", "x\n1\nNaN\n")
        let empty = try temporaryFile("empty.csv", "")
        let cases: [([String], String)] = [
            (["fit", "normal-normal", "--data", missing], "missing.csv: no column 'x' (columns: y, x1)"),
            (["fit", "normal-normal", "--data", text], "text.csv, row 3, column 'x': 'abc' is not a number"),
            (["fit", "normal-normal", "--data", nan], "nan.csv, row 3, column 'x': NaN is not allowed"),
            (["fit", "normal-normal", "--data", empty], "empty.csv: empty file"),
            (["fit", "no-such-model"], "no-such-model"),
            (["fit", "normal-normal", "--family", "gaussian"], "gaussian"),
            (["fit", "normal-normal", "--prior-sd=-1"], "--prior-sd must be positive and finite, got -1.0"),
            (["fit", "eight-schools", "--prior-sd", "2"], "--prior-sd does not apply to eight-schools"),
            (["fit", "eight-schools", "--estimator", "analytic-kl"], "needs a model whose prior is independent normals"),
            (["fit", "beta-bernoulli", "--data", try temporaryFile("counts.csv", "x\n2\n")], "x must be 0 or 1, got 2.0 in row 1"),
        ]
        for (arguments, message) in cases {
            let result = try run(arguments)
            XCTAssertNotEqual(result.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(result.error.contains(message), "\(arguments): \(result.error)")
        }
    }

    /// The example model in Examples/CustomModel runs end to end and recovers the simulated parameters.
    func testCustomModelExample() throws {
        let result = try run([], executable: "custom-model-example")
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertTrue(result.output.contains("converged true"), result.output)
        let lines = result.output.split(separator: "\n")
        let mu = lines.first { $0.hasPrefix("posterior mu") }!
        let mean = Double(mu.split(separator: " ")[3].dropLast())!
        XCTAssertEqual(mean, 3, accuracy: 0.3, result.output)  // simulated μ = 3, posterior sd ≈ 0.12
    }
}

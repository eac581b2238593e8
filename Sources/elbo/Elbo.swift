import ArgumentParser
import Foundation
import Variational

/// The `elbo` command-line tool.
@main
struct Elbo: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "elbo",
        abstract: "Variational inference: fit, explain and check evidence lower bounds.",
        version: "elbo \(version)\n\(Kernels.summary)",
        subcommands: [Explain.self, Fit.self, VAECommand.self, KL.self, Doctor.self]
    )

    /// Parses and runs a command. Every error is one line on standard error with a non-zero status: the lists of
    /// allowed values that the argument parser prints one per line are folded into that line, and its usage text
    /// is left to --help.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }  // --help and --version print as usual
            FileHandle.standardError.write(Data("Error: \(oneLine(message(for: error)))\n".utf8))
            Foundation.exit(code.rawValue)
        }
    }

    /// "… one of the following:\n  - a\n  - b" becomes "… one of the following: a, b".
    static func oneLine(_ message: String) -> String {
        var sentences: [String] = []
        var items: [String] = []
        for line in message.split(whereSeparator: \.isNewline).map({ $0.trimmingCharacters(in: .whitespaces) }) where !line.isEmpty {
            if line.hasPrefix("- ") {
                items.append(String(line.dropFirst(2)))
            } else {
                if !items.isEmpty { sentences.append(items.joined(separator: ", ")) }
                items = []
                sentences.append(line)
            }
        }
        if !items.isEmpty { sentences.append(items.joined(separator: ", ")) }
        return escapingControlCharacters(sentences.joined(separator: " "))
    }
}

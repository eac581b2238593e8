import ArgumentParser
import Variational

/// The `elbo` command-line tool.
@main
struct Elbo: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "elbo",
        abstract: "Variational inference: fit, explain and check evidence lower bounds.",
        version: "elbo \(version)\n\(Kernels.summary)",
        subcommands: [Explain.self, Fit.self, KL.self, Doctor.self]
    )
}

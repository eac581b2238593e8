import ArgumentParser
import Foundation
import Variational

/// `elbo kl Q P`: the KL divergence KL(Q ‖ P) between two distributions given on the command line.
struct KL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kl",
        abstract: "Print KL(q ‖ p) between two distributions, in closed form when one exists.",
        discussion: """
            Distributions are written like function calls: 'Normal(0, 1)', 'Gamma(2, 0.5)', 'Dirichlet([1, 2, 3])', \
            'MultivariateNormal([0, 0], [[1, 0.5], [0.5, 2]])'. Known families and their arguments: \
            \(DistributionSpecification.families.map { "\($0.name)(\($0.arguments))" }.joined(separator: ", ")).
            Without a closed form, KL is estimated by Monte Carlo from samples of q, with its standard error.
            """)

    @Argument(help: "The distribution q, e.g. 'Normal(0, 1)'.")
    var q: String

    @Argument(help: "The distribution p, e.g. 'Normal(1, 2)'.")
    var p: String

    @Option(help: "Samples for a Monte-Carlo estimate.")
    var samples: Int = 100_000

    @Option(help: "Seed for a Monte-Carlo estimate.")
    var seed: UInt64 = 0

    @Flag(help: "Print one JSON object: {\"kl\", \"method\", \"standardError\"}.")
    var json = false

    func validate() throws {
        guard (2...10_000_000).contains(samples) else { throw CommandError("--samples must be between 2 and 10,000,000, got \(samples)") }
    }

    func run() throws {
        let first = try DistributionSpecification(parsing: q).distribution()
        let second = try DistributionSpecification(parsing: p).distribution()
        guard first.eventShape == second.eventShape else {
            throw SpecificationError("'\(q)' has event shape \(first.eventShape) but '\(p)' has \(second.eventShape): KL needs the same space")
        }
        let estimate = try first.klDivergence(to: second, sampleCount: samples, seed: seed)
        if json {
            print(Self.json(estimate))
        } else {
            let value = estimate.value.isInfinite ? "∞" : String(format: "%.12g", estimate.value)
            switch estimate.method {
            case .closedForm:
                print("KL(\(q) ‖ \(p)) = \(value) nats (closed form)")
            case .supportMismatch:
                let (discrete, continuous) = first.isDiscrete ? ("q", "p") : ("p", "q")
                print("KL(\(q) ‖ \(p)) = ∞ nats (exact: \(discrete) is discrete and \(continuous) continuous, so q has mass where p has none)")
            case .monteCarlo:
                print("KL(\(q) ‖ \(p)) ≈ \(value) ± \(String(format: "%.2g", estimate.standardError)) nats "
                    + "(Monte Carlo, \(samples) samples, standard error)")
            }
        }
    }

    static func json(_ estimate: KLEstimate) -> String {
        let number = { (x: Double) -> String in x.isFinite ? String(format: "%.17g", x) : "null" }
        var fields = [
            "\"kl\": \(number(estimate.value))", "\"method\": \"\(estimate.method.rawValue)\"",
            "\"standardError\": \(number(estimate.standardError))",
        ]
        if estimate.value.isInfinite { fields.append("\"infinite\": true") }
        return "{" + fields.joined(separator: ", ") + "}"
    }
}

import Foundation
import VariationalCore

/// A distribution written on the command line, such as `Normal(0, 1)`, `Gamma(2, 0.5)`, `Dirichlet([1, 2, 3])`
/// or `MultivariateNormal([0, 0], [[1, 0.5], [0.5, 2]])`.
///
/// Parsing and checking never trap: text that is not a specification, a wrong number or kind of arguments, and
/// invalid parameters each throw a `SpecificationError` of one line that quotes the text.
public struct DistributionSpecification {
    /// One argument: a number, a vector or a matrix.
    public enum Argument {
        case number(Double)
        case vector([Double])
        case matrix([[Double]])
    }

    public var name: String
    public var arguments: [Argument]
    public var text: String

    /// The families the tool knows, with their arguments in order.
    public static let families: [(name: String, arguments: String)] = [
        ("Normal", "location, scale"), ("LogNormal", "location, scale"), ("Laplace", "location, scale"),
        ("Cauchy", "location, scale"), ("StudentT", "degreesOfFreedom, location, scale"), ("HalfNormal", "scale"),
        ("HalfCauchy", "scale"), ("Exponential", "rate"), ("Gamma", "concentration, rate"),
        ("InverseGamma", "concentration, scale"), ("Beta", "alpha, beta"), ("Uniform", "low, high"),
        ("Bernoulli", "probability"), ("Binomial", "totalCount, probability"), ("Poisson", "rate"),
        ("Categorical", "[probabilities]"), ("Dirichlet", "[concentration]"),
        ("MultivariateNormal", "[location], [[covariance]]"),
    ]

    public init(parsing text: String) throws {
        self.text = text
        var parser = Parser(text: text)
        name = try parser.identifier()
        try parser.expect("(")
        arguments = []
        parser.skipSpaces()
        if !parser.consume(")") {
            repeat {
                arguments.append(try parser.argument())
            } while parser.consume(",")
            try parser.expect(")")
        }
        try parser.expectEnd()
    }

    /// The distribution, with its parameters checked.
    public func distribution() throws -> AnyDistribution {
        guard let family = Self.families.first(where: { $0.name.lowercased() == name.lowercased() }) else {
            let known = Self.families.map(\.name).joined(separator: ", ")
            throw SpecificationError("'\(text)': unknown distribution '\(name)'; known: \(known)")
        }
        let expected = family.arguments.split(separator: ",").count
        guard arguments.count == expected else {
            throw SpecificationError("'\(text)': \(family.name) takes \(expected) argument(s) (\(family.arguments)), got \(arguments.count)")
        }
        do {
            return try make(family.name)
        } catch let error as DistributionError {
            throw SpecificationError("'\(text)': \(error.description)")
        }
    }

    private func make(_ family: String) throws -> AnyDistribution {
        func n(_ i: Int) throws -> Tensor<Double> {
            guard case .number(let value) = arguments[i] else {
                throw SpecificationError("'\(text)': argument \(i + 1) of \(family) must be a number")
            }
            return Tensor(value)
        }
        func v(_ i: Int) throws -> Tensor<Double> {
            guard case .vector(let values) = arguments[i] else {
                throw SpecificationError("'\(text)': argument \(i + 1) of \(family) must be a vector like [1, 2, 3]")
            }
            return Tensor(values)
        }
        func m(_ i: Int) throws -> Tensor<Double> {
            guard case .matrix(let rows) = arguments[i], let width = rows.first?.count, rows.allSatisfy({ $0.count == width }) else {
                throw SpecificationError("'\(text)': argument \(i + 1) of \(family) must be a matrix like [[1, 0], [0, 1]]")
            }
            return Tensor(rows)
        }
        switch family {
        case "Normal": return .init(try Normal(location: n(0), scale: n(1)))
        case "LogNormal": return .init(try LogNormal(location: n(0), scale: n(1)))
        case "Laplace": return .init(try Laplace(location: n(0), scale: n(1)))
        case "Cauchy": return .init(try Cauchy(location: n(0), scale: n(1)))
        case "StudentT": return .init(try StudentT(degreesOfFreedom: n(0), location: n(1), scale: n(2)))
        case "HalfNormal": return .init(try HalfNormal(scale: n(0)))
        case "HalfCauchy": return .init(try HalfCauchy(scale: n(0)))
        case "Exponential": return .init(try Exponential(rate: n(0)))
        case "Gamma": return .init(try Gamma(concentration: n(0), rate: n(1)))
        case "InverseGamma": return .init(try InverseGamma(concentration: n(0), scale: n(1)))
        case "Beta": return .init(try Beta(alpha: n(0), beta: n(1)))
        case "Uniform": return .init(try Uniform(low: n(0), high: n(1)))
        case "Bernoulli": return .init(try Bernoulli(probabilities: n(0)))
        case "Binomial": return .init(try Binomial(totalCount: n(0), probabilities: n(1)))
        case "Poisson": return .init(try Poisson(rate: n(0)))
        case "Categorical":
            let p = try v(0)
            guard abs(p.scalars.reduce(0, +) - 1) < 1e-9 else {
                throw SpecificationError("'\(text)': Categorical probabilities must sum to 1, got \(p.scalars.reduce(0, +))")
            }
            return .init(try Categorical(probabilities: p))
        case "Dirichlet": return .init(try Dirichlet(concentration: v(0)))
        case "MultivariateNormal": return .init(try MultivariateNormal(location: v(0), covariance: m(1)))
        default: throw SpecificationError("'\(text)': unknown distribution '\(family)'")
        }
    }
}

/// A malformed or invalid distribution specification. One line: control characters quoted from the text are shown
/// escaped.
public struct SpecificationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = escapingControlCharacters(description) }
}

/// A parsed distribution of any family, opened for generic code through a visitor.
public struct AnyDistribution {
    public let open: (any DistributionVisitor) -> Any
    public let eventShape: TensorShape
    public let familyName: String
    /// The number of categories of a categorical distribution (its values are 0 ..< count); nil for other families.
    public let categoryCount: Int?
    /// Whether its values are discrete (a probability mass function rather than a density).
    public let isDiscrete: Bool

    public init<D: Distribution>(_ distribution: D) where D.Scalar == Double {
        open = { visitor in visitor.visit(distribution) }
        eventShape = distribution.eventShape
        isDiscrete = D.isDiscrete
        familyName = String(describing: D.self)
        categoryCount = (distribution as? Categorical<Double>)?.logits.shape.last
    }
}

/// Generic code over a distribution whose concrete type is known only at run time.
public protocol DistributionVisitor {
    func visit<D: Distribution>(_ distribution: D) -> Any where D.Scalar == Double
}

/// A small recursive-descent parser for the specification syntax.
private struct Parser {
    let characters: [Character]
    var position = 0
    let text: String

    init(text: String) {
        self.text = text
        self.characters = Array(text)
    }

    mutating func skipSpaces() {
        while position < characters.count, characters[position].isWhitespace { position += 1 }
    }

    mutating func consume(_ c: Character) -> Bool {
        skipSpaces()
        if position < characters.count, characters[position] == c {
            position += 1
            return true
        }
        return false
    }

    mutating func expect(_ c: Character) throws {
        guard consume(c) else { throw error("expected '\(c)'") }
    }

    mutating func expectEnd() throws {
        skipSpaces()
        guard position == characters.count else { throw error("unexpected '\(characters[position])'") }
    }

    func error(_ message: String) -> SpecificationError {
        let place = position < characters.count ? "at column \(position + 1)" : "at the end"
        return SpecificationError("cannot parse '\(text)': \(message) \(place); write e.g. Normal(0, 1)")
    }

    mutating func identifier() throws -> String {
        skipSpaces()
        let start = position
        while position < characters.count, characters[position].isLetter || characters[position].isNumber { position += 1 }
        guard position > start else { throw error("expected a distribution name") }
        return String(characters[start..<position])
    }

    mutating func number() throws -> Double {
        skipSpaces()
        let start = position
        while position < characters.count, "+-.0123456789eE".contains(characters[position]) || characters[position].isLetter {
            position += 1
        }
        let token = String(characters[start..<position])
        guard let value = Double(token), value.isFinite else {
            position = start
            throw error(token.isEmpty ? "expected a number" : "'\(token)' is not a finite number")
        }
        return value
    }

    mutating func vector() throws -> [Double] {
        try expect("[")
        var values: [Double] = []
        if consume("]") { return values }
        repeat { values.append(try number()) } while consume(",")
        try expect("]")
        return values
    }

    mutating func argument() throws -> DistributionSpecification.Argument {
        skipSpaces()
        guard position < characters.count else { throw error("expected an argument") }
        if characters[position] != "[" { return .number(try number()) }
        // A vector, or a matrix when the first element is itself a bracket.
        let save = position
        position += 1
        skipSpaces()
        let isMatrix = position < characters.count && characters[position] == "["
        position = save
        if !isMatrix { return .vector(try vector()) }
        try expect("[")
        var rows: [[Double]] = []
        repeat { rows.append(try vector()) } while consume(",")
        try expect("]")
        return .matrix(rows)
    }
}

extension AnyDistribution {
    /// KL(self ‖ other): the closed form when the pair has one, otherwise a Monte-Carlo estimate from `sampleCount`
    /// seeded draws of `self`. Throws when the two live on spaces of different shapes, or when draws of `self`
    /// overflow and the estimate is NaN.
    public func klDivergence(to other: AnyDistribution, sampleCount: Int = 100_000, seed: UInt64 = 0) throws -> KLEstimate {
        guard eventShape == other.eventShape else {
            throw SpecificationError("\(familyName) has event shape \(eventShape) but \(other.familyName) has \(other.eventShape): KL needs the same space")
        }
        if let count = categoryCount, let otherCount = other.categoryCount, count != otherCount {
            throw SpecificationError("categorical distributions over \(count) and over \(otherCount) categories: KL needs the same categories")
        }
        let estimate = open(OpenFirst(second: other, sampleCount: sampleCount, seed: seed)) as! KLEstimate
        if estimate.value.isNaN {
            let name = { (family: String) in family.split(separator: "<").first.map(String.init) ?? family }
            throw SpecificationError(
                "KL(\(name(familyName)) ‖ \(name(other.familyName))) by Monte Carlo is not a number: draws of q overflow double precision")
        }
        return estimate
    }
}

private struct OpenFirst: DistributionVisitor {
    let second: AnyDistribution
    let sampleCount: Int
    let seed: UInt64

    func visit<Q: Distribution>(_ q: Q) -> Any where Q.Scalar == Double {
        second.open(OpenSecond(q: q, sampleCount: sampleCount, seed: seed))
    }
}

private struct OpenSecond<Q: Distribution>: DistributionVisitor where Q.Scalar == Double {
    let q: Q
    let sampleCount: Int
    let seed: UInt64

    func visit<P: Distribution>(_ p: P) -> Any where P.Scalar == Double {
        var generator = SeededGenerator(seed: seed)
        return VariationalDistributions.klDivergence(from: q, to: p, sampleCount: sampleCount, using: &generator)
    }
}

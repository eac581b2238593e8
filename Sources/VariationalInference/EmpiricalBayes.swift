import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions
import VariationalOptimizers

/// A hyper-parameter of a model that empirical Bayes can learn.
public struct Hyperparameter: Sendable, Equatable {
    /// Its name on the command line ("prior-sd").
    public var name: String
    public var value: Double
    /// Positive (learned as its logarithm) or any real number.
    public var isPositive: Bool

    public init(name: String, value: Double, isPositive: Bool) {
        self.name = name
        self.value = value
        self.isPositive = isPositive
    }

    /// The unconstrained coordinate: log η for a positive one, η otherwise.
    public var unconstrained: Double { unconstrained(value) }

    /// The unconstrained coordinate of a value of this hyper-parameter.
    public func unconstrained(_ value: Double) -> Double { isPositive ? Foundation.log(value) : value }

    /// The value at an unconstrained coordinate: e^c for a positive hyper-parameter, c otherwise.
    public func value(atUnconstrained c: Double) -> Double { isPositive ? Foundation.exp(c) : c }
}

/// A model whose hyper-parameters η can be learned by empirical Bayes (type-II maximum likelihood): maximising the
/// ELBO jointly over q and η, which at the optimum q maximises log p(x | η) where q can reach the posterior.
public protocol EmpiricalBayesModel: ProbabilisticModel {
    /// The hyper-parameters that can be learned, with their current values.
    var hyperparameters: [Hyperparameter] { get }

    /// The same model with some hyper-parameters changed (by name); throws on invalid values.
    func with(_ values: [String: Double]) throws -> Self

    /// log p(x, θ | η) + log |J| at unconstrained θ ([S, D] → [S]), with the hyper-parameters named in `learned`
    /// taken from `coordinates` (their unconstrained coordinates, in that order) and the others at their values.
    @differentiable(reverse, wrt: (theta, coordinates))
    func logJointUnconstrained(_ theta: Tensor<Double>, coordinates: Tensor<Double>, learned: [String]) -> Tensor<Double>
}

extension EmpiricalBayesModel {
    /// The named hyper-parameters, in that order; throws naming an unknown one.
    public func hyperparameters(named names: [String]) throws -> [Hyperparameter] {
        let known = hyperparameters
        return try names.map { name in
            guard let h = known.first(where: { $0.name == name }) else {
                throw ModelError("--learn \(name): not a hyper-parameter of this model (it has \(known.map(\.name).joined(separator: ", ")))")
            }
            return h
        }
    }

    /// The value of hyper-parameter `name`: from `coordinates` when it is learned, its own otherwise (differentiable).
    @differentiable(reverse, wrt: coordinates)
    public func hyperparameter(_ name: String, coordinates: Tensor<Double>, learned: [String]) -> Tensor<Double> {
        guard let index = learned.firstIndex(of: name) else {
            return withoutDerivative(at: Tensor(hyperparameters.first { $0.name == name }!.value))
        }
        let coordinate = coordinates.slice(axis: 0, range: index..<(index + 1)).reshaped(to: [])
        return withoutDerivative(at: hyperparameters.first { $0.name == name }!.isPositive) ? coordinate.exp() : coordinate
    }
}

/// Empirical Bayes as a variational problem: the family q(θ) and the learned hyper-parameters' unconstrained
/// coordinates are trained together on the ELBO. Uses all observations at every step.
public struct EmpiricalBayesProblem<Model: EmpiricalBayesModel, Family: VariationalFamily>: VariationalProblem {
    public typealias Scalar = Double
    public typealias Batch = [Int]?

    @noDerivative public let model: Model
    @noDerivative public let learned: [String]
    public var family: Family
    /// The learned hyper-parameters' unconstrained coordinates, in the order of `learned`.
    public var coordinates: Tensor<Double>

    public init(model: Model, family: Family, learning names: [String]) throws {
        self.model = model
        self.learned = names
        self.family = family
        self.coordinates = Tensor(try model.hyperparameters(named: names).map(\.unconstrained))
    }

    public var familyName: String { family.name }
    public var availableTerms: ELBOTermSet { family.hasClosedFormEntropy ? [.logJoint, .entropy] : [.logJoint, .logQ] }

    public func sampleNoise<G: RandomNumberGenerator>(particles: Int, batch: [Int]?, using generator: inout G) -> Tensor<Double> {
        family.sampleNoise(count: particles, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func terms(noise: Tensor<Double>, batch: [Int]?, requesting requested: ELBOTermSet) -> ELBOTerms<Double> {
        if requested.contains(.entropy) {
            let theta = family.sample(fromNoise: noise)
            return ELBOTerms(logJoint: model.logJointUnconstrained(theta, coordinates: coordinates, learned: learned), entropy: family.entropy())
        }
        let sampled = family.sampleWithLogDensity(fromNoise: noise)
        return ELBOTerms(logJoint: model.logJointUnconstrained(sampled.theta, coordinates: coordinates, learned: learned), logQ: sampled.logDensity)
    }

    public func combining(variational: TangentVector, generative: TangentVector) -> TangentVector {
        TangentVector(family: variational.family, coordinates: generative.coordinates)
    }
}

/// What an empirical-Bayes fit gave.
public struct EmpiricalBayesResult<Family: VariationalFamily> {
    /// The learned hyper-parameters: the average of the iterates over the last half of the run.
    public var values: [String: Double]
    /// Each value's Monte-Carlo standard error, from batch means of the averaged iterates.
    public var standardErrors: [String: Double]
    /// q at the end of the run.
    public var family: Family
    public var steps: Int
}

/// Maximises the ELBO over q and the hyper-parameters `names` together: Adam with the learning rate halved at 30%,
/// 50%, 70% and 85% of `steps`, the hyper-parameters averaged over the last half (Polyak averaging removes the gradient
/// noise that a constant rate leaves). The model must be able to reach its posterior with `family` for the answer
/// to be the type-II maximum-likelihood one.
public func learnHyperparameters<Model: EmpiricalBayesModel, Family: VariationalFamily, G: RandomNumberGenerator>(
    model: Model, family: Family, learning names: [String], steps: Int = 20_000, particles: Int = 8, learningRate: Double = 0.02,
    using generator: inout G
) throws -> EmpiricalBayesResult<Family> {
    guard steps >= 100 else { throw ModelError("empirical Bayes needs at least 100 steps, got \(steps)") }
    var trainer = Trainer(
        problem: try EmpiricalBayesProblem(model: model, family: family, learning: names),
        estimator: ReparameterizedELBO(particleCount: particles), optimizer: Adam(learningRate: learningRate))
    let hyper = try model.hyperparameters(named: names)
    var averaged: [[Double]] = []
    for step in 0..<steps {
        let fraction = Double(step) / Double(steps)
        let halvings = [0.3, 0.5, 0.7, 0.85].filter { fraction >= $0 }.count
        trainer.optimizer.schedule = ConstantRate(learningRate / Foundation.pow(2, Double(halvings)))
        trainer.step(on: nil, using: &generator)
        if step >= steps / 2 { averaged.append(trainer.problem.coordinates.scalars.array) }
    }
    var values: [String: Double] = [:], errors: [String: Double] = [:]
    for (i, h) in hyper.enumerated() {
        let series = averaged.map { h.value(atUnconstrained: $0[i]) }
        let mean = series.reduce(0, +) / Double(series.count)
        // 20 batch means of consecutive iterates: their spread gives the standard error of the average.
        let batches = 20, size = series.count / batches
        let means = (0..<batches).map { b in series[(b * size)..<((b + 1) * size)].reduce(0, +) / Double(size) }
        let grand = means.reduce(0, +) / Double(batches)
        let variance = means.reduce(0) { $0 + ($1 - grand) * ($1 - grand) } / Double(batches - 1)
        values[h.name] = mean
        errors[h.name] = (variance / Double(batches)).squareRoot()
    }
    return EmpiricalBayesResult(values: values, standardErrors: errors, family: trainer.problem.family, steps: steps)
}

/// Empirical Bayes with q the full-rank Gaussian started at the Laplace approximation, which reaches the
/// Gaussian posteriors of the built-in conjugate models.
public func learnHyperparameters<Model: EmpiricalBayesModel, G: RandomNumberGenerator>(
    model: Model, learning names: [String], steps: Int = 20_000, using generator: inout G
) throws -> EmpiricalBayesResult<FullRankGaussian> {
    let family = LaplaceApproximation(model: model).map(FullRankGaussian.init(laplace:)) ?? FullRankGaussian(dimension: model.latentSpace.dimension)
    return try learnHyperparameters(model: model, family: family, learning: names, steps: steps, using: &generator)
}

extension EmpiricalBayesModel where Self: ConjugateModel {
    /// The maximiser of the exact log evidence log p(x | η) over the named hyper-parameters, by Newton's method in
    /// their unconstrained coordinates from the values `start`.
    public func exactEvidenceMaximizer(_ names: [String], from start: [String: Double]) throws -> [String: Double] {
        let hyper = try hyperparameters(named: names)
        func values(_ c: [Double]) -> [String: Double] {
            Dictionary(uniqueKeysWithValues: zip(hyper, c).map { h, x in (h.name, h.value(atUnconstrained: x)) })
        }
        let best = maximize({ c in (try? with(values(c)).exactLogEvidence) ?? -.infinity },
                            from: hyper.map { h in h.unconstrained(start[h.name] ?? h.value) })
        return values(best)
    }
}

/// The maximiser of a smooth function of a few unconstrained coordinates by Newton's method with finite-difference
/// derivatives and backtracking: for the closed-form log evidence of conjugate models.
public func maximize(_ f: ([Double]) -> Double, from start: [Double], tolerance: Double = 1e-10, maxIterations: Int = 200) -> [Double] {
    var x = start
    let n = x.count
    for _ in 0..<maxIterations {
        let h = 1e-4
        func shifted(_ i: Int, _ d: Double, _ j: Int = -1, _ e: Double = 0) -> [Double] {
            var y = x
            y[i] += d
            if j >= 0 { y[j] += e }
            return y
        }
        let f0 = f(x)
        let gradient = (0..<n).map { (f(shifted($0, h)) - f(shifted($0, -h))) / (2 * h) }
        var hessian = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n {
            for j in 0..<n {
                hessian[i][j] = i == j
                    ? (f(shifted(i, h)) - 2 * f0 + f(shifted(i, -h))) / (h * h)
                    : (f(shifted(i, h, j, h)) - f(shifted(i, h, j, -h)) - f(shifted(i, -h, j, h)) + f(shifted(i, -h, j, -h))) / (4 * h * h)
            }
        }
        // Solve −H d = g (Gaussian elimination; n is tiny); fall back to gradient ascent where −H is not positive.
        var a = hessian.map { $0.map { -$0 } }, b = gradient
        var direction: [Double]? = nil
        var ok = true
        for i in 0..<n {
            guard let p = (i..<n).max(by: { Swift.abs(a[$0][i]) < Swift.abs(a[$1][i]) }), Swift.abs(a[p][i]) > 1e-300 else { ok = false; break }
            a.swapAt(i, p)
            b.swapAt(i, p)
            for r in (i + 1)..<n {
                let m = a[r][i] / a[i][i]
                for c in i..<n { a[r][c] -= m * a[i][c] }
                b[r] -= m * b[i]
            }
        }
        if ok {
            var d = [Double](repeating: 0, count: n)
            for i in stride(from: n - 1, through: 0, by: -1) {
                d[i] = (b[i] - ((i + 1)..<n).reduce(0) { $0 + a[i][$1] * d[$1] }) / a[i][i]
            }
            if zip(d, gradient).reduce(0, { $0 + $1.0 * $1.1 }) > 0 { direction = d }
        }
        let step = direction ?? gradient
        var scale = 1.0
        var next = x
        while scale > 1e-12 {
            next = zip(x, step).map { $0 + scale * $1 }
            if f(next) >= f0 { break }
            scale /= 2
        }
        let moved = zip(next, x).map { Swift.abs($0 - $1) }.max() ?? 0
        x = next
        if moved < tolerance || gradient.allSatisfy({ Swift.abs($0) < tolerance }) { break }
    }
    return x
}

extension NormalNormalModel: EmpiricalBayesModel {
    public var hyperparameters: [Hyperparameter] {
        [Hyperparameter(name: "prior-mean", value: priorMean, isPositive: false),
         Hyperparameter(name: "prior-sd", value: priorStandardDeviation, isPositive: true),
         Hyperparameter(name: "noise-sd", value: noiseStandardDeviation, isPositive: true)]
    }

    public func with(_ values: [String: Double]) throws -> NormalNormalModel {
        try NormalNormalModel(
            observations: observations, priorMean: values["prior-mean"] ?? priorMean,
            priorStandardDeviation: values["prior-sd"] ?? priorStandardDeviation, noiseStandardDeviation: values["noise-sd"] ?? noiseStandardDeviation)
    }

    /// log N(μ | m₀, s₀²) + Σᵢ log N(xᵢ | μ, σ²) at θ = μ (no map: μ is on the whole line).
    @differentiable(reverse, wrt: (theta, coordinates))
    public func logJointUnconstrained(_ theta: Tensor<Double>, coordinates: Tensor<Double>, learned: [String]) -> Tensor<Double> {
        let mu = theta.reshaped(to: [-1, 1])
        let m0 = hyperparameter("prior-mean", coordinates: coordinates, learned: learned)
        let s0 = hyperparameter("prior-sd", coordinates: coordinates, learned: learned)
        let sigma = hyperparameter("noise-sd", coordinates: coordinates, learned: learned)
        let prior = Normal(m0, s0).logProbability(of: mu).sum(squeezingAxes: 1)
        let likelihood = Normal(mu, sigma).logProbability(of: withoutDerivative(at: data)).sum(squeezingAxes: 1)
        return prior + likelihood
    }
}

extension LinearRegressionModel: EmpiricalBayesModel {
    public var hyperparameters: [Hyperparameter] {
        [Hyperparameter(name: "prior-mean", value: priorMean, isPositive: false),
         Hyperparameter(name: "prior-sd", value: priorStandardDeviation, isPositive: true),
         Hyperparameter(name: "noise-sd", value: noiseStandardDeviation, isPositive: true)]
    }

    public func with(_ values: [String: Double]) throws -> LinearRegressionModel {
        try LinearRegressionModel(
            features: features, responses: responses.scalars.array, priorMean: values["prior-mean"] ?? priorMean,
            priorStandardDeviation: values["prior-sd"] ?? priorStandardDeviation, noiseStandardDeviation: values["noise-sd"] ?? noiseStandardDeviation)
    }

    /// Σⱼ log N(wⱼ | m₀, s₀²) + Σᵢ log N(yᵢ | xᵢᵀw, σ²) at θ = w.
    @differentiable(reverse, wrt: (theta, coordinates))
    public func logJointUnconstrained(_ theta: Tensor<Double>, coordinates: Tensor<Double>, learned: [String]) -> Tensor<Double> {
        let m0 = hyperparameter("prior-mean", coordinates: coordinates, learned: learned)
        let s0 = hyperparameter("prior-sd", coordinates: coordinates, learned: learned)
        let sigma = hyperparameter("noise-sd", coordinates: coordinates, learned: learned)
        let prior = Normal(m0, s0).logProbability(of: theta).sum(squeezingAxes: 1)
        let x = withoutDerivative(at: features)
        let likelihood = Normal(matmul(theta, x.transposed()), sigma).logProbability(of: withoutDerivative(at: responses)).sum(squeezingAxes: 1)
        return prior + likelihood
    }
}

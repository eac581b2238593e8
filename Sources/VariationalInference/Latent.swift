import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions

/// A latent variable of a model, declared once with its prior: `Latent("tau", HalfCauchy(5))`.
///
/// The prior decides everything else about the variable: its shape (the prior's, or `shape:` for independent
/// copies, `Latent("theta", Normal(0, 1), shape: [8])`), its support, and so the bijector from the unconstrained
/// space where inference runs and the log-Jacobian of that map. A prior may depend on other latents, declared before or after it
/// (`Latent("theta", shape: [8]) { z in Normal(z["mu"], z["tau"]) }`, a centred hierarchy); its distribution then
/// has to be one whose support does not depend on its parameters.
///
/// Declarations that cannot work stop at once with a message naming the latent and the line of the declaration, in
/// release builds too: a discrete prior (sum the variable out in the likelihood instead), a prior whose parameters
/// are invalid, a shape the prior does not broadcast to.
public struct Latent {
    /// The variable's name, shape and support.
    public let variable: LatentVariable
    /// log p(z_name | the latents it depends on), one value per particle: [S].
    public let logPrior: @differentiable(reverse) (Latents) -> Tensor<Double>
    /// What is known about a prior whose parameters are fixed; nil for a prior that depends on other latents.
    let fixed: FixedPrior?

    struct FixedPrior {
        /// The prior's mean and standard deviation of each element, when it is a normal distribution.
        let gaussian: (mean: [Double], standardDeviation: [Double])?
        /// The marginal log density of one element at a value, for elementwise priors.
        let marginal: (Int, Double) -> Double?
        /// log p summed per particle ([S]) at values shaped as `z[name]` reads them, and its gradient there.
        let logDensityWithGradient: (Tensor<Double>) -> (value: Tensor<Double>, gradient: Tensor<Double>)
    }

    public var name: String { variable.name }
    public var shape: [Int] { variable.shape }
    public var support: Support { variable.support }
    /// True when the prior's parameters are constants rather than functions of other latents.
    public var hasFixedPrior: Bool { fixed != nil }

    /// A latent variable with a prior whose parameters are fixed. Its shape is the prior's
    /// (`batchShape + eventShape`) unless `shape` asks for independent copies that the prior broadcasts to.
    public init<D: Distribution>(
        _ name: String, _ prior: D, shape: [Int]? = nil, file: StaticString = #fileID, line: UInt = #line
    ) where D.Scalar == Double {
        let priorShape = prior.batchShape + prior.eventShape
        let shape = shape ?? priorShape
        guard (try? checkedBroadcastShape(priorShape, shape)) == shape else {
            usageFailure("latent '\(name)': its prior \(D.self) has shape \(priorShape), which does not broadcast to the latent's shape \(shape)", file: file, line: line)
        }
        Latent.refuseUnusable(name, D.self, prior.support, file, line)
        variable = LatentVariable(name, shape: shape, support: prior.support)
        logPrior = { z in sumPerParticle(prior.logProbability(of: z[name])) }
        var gaussian: (mean: [Double], standardDeviation: [Double])?
        if let normal = prior as? Normal<Double> {
            gaussian = (normal.location.broadcasted(to: shape).scalars.array, normal.scale.broadcasted(to: shape).scalars.array)
        }
        let elementwise = prior.eventShape.isEmpty
        let normal = gaussian
        fixed = FixedPrior(
            gaussian: gaussian,
            marginal: { element, value in
                guard elementwise else { return nil }
                let density = prior.logProbability(of: Tensor(repeating: value, shape: shape)).scalars[element]
                return density.isFinite ? density : nil
            },
            logDensityWithGradient: { x in
                if let normal { return Latent.normalLogDensityWithGradient(x, normal.mean, normal.standardDeviation) }
                let (value, pullback) = valueWithPullback(at: x) { prior.logProbability(of: $0) }
                let gradient = pullback(Tensor(repeating: 1, shape: value.shape))
                return (particleSums(value), gradient.isSymbolicZero ? Tensor(zeros: x.shape) : gradient)
            })
    }

    /// A latent variable whose prior depends on other latents: `prior` receives their values for a
    /// batch of particles (scalars as columns [S, 1]) and returns the distribution of this one, which must
    /// broadcast to [S] + `shape`.
    public init<D: Distribution>(
        _ name: String, shape: [Int] = [], file: StaticString = #fileID, line: UInt = #line,
        prior: @escaping @differentiable(reverse) (Latents) -> D
    ) where D.Scalar == Double {
        guard let support = D.fixedSupport else {
            let kind = D.isDiscrete ? "is discrete" : "has a support that depends on its parameters"
            usageFailure("latent '\(name)': its prior \(D.self) \(kind), and its parameters here depend on other latents; a prior that depends on other latents needs a continuous distribution with a fixed support", file: file, line: line)
        }
        Latent.refuseUnusable(name, D.self, support, file, line)
        variable = LatentVariable(name, shape: shape, support: support)
        logPrior = { z in sumPerParticle(prior(z).logProbability(of: z[name])) }
        fixed = nil
    }

    /// Σⱼ log N(xₛⱼ; μⱼ, σⱼ²) for each particle s and its gradient −(xₛⱼ − μⱼ)/σⱼ², for particles x [S, …] whose
    /// trailing elements line up with `mean` and `standardDeviation` (the most common prior, without the
    /// bookkeeping of differentiating it).
    static func normalLogDensityWithGradient(_ x: Tensor<Double>, _ mean: [Double], _ standardDeviation: [Double]) -> (value: Tensor<Double>, gradient: Tensor<Double>) {
        let size = mean.count
        let s = size == 0 ? 0 : x.scalarCount / size
        var constant = 0.0
        for sd in standardDeviation { constant -= Foundation.log(sd) + 0.5 * Foundation.log(2 * Double.pi) }
        var value = [Double](repeating: constant, count: s)
        let gradient = TensorElements<Double>.filled(count: x.scalarCount) { g in
            x.scalars.withUnsafeBufferPointer { x in
                for p in 0..<s {
                    var total = 0.0
                    for j in 0..<size {
                        let z = (x[p * size + j] - mean[j]) / standardDeviation[j]
                        total -= 0.5 * z * z
                        g[p * size + j] = -z / standardDeviation[j]
                    }
                    value[p] += total
                }
            }
        }
        return (Tensor(shape: [s], scalars: value), Tensor(shape: x.shape, scalars: gradient))
    }

    /// Stops on priors that variational inference over a continuous unconstrained space cannot use.
    static func refuseUnusable<D: Distribution>(_ name: String, _ type: D.Type, _ support: Support, _ file: StaticString, _ line: UInt) {
        let discrete: Bool
        switch support {
        case .boolean, .nonNegativeIntegers, .integerInterval: discrete = true
        default: discrete = D.isDiscrete
        }
        if discrete {
            usageFailure("latent '\(name)': its prior \(D.self) is discrete (support \(support)); the variational families here are continuous, so sum the variable out in the likelihood instead (enumerate its values with logSumExp, as the built-in Gaussian mixture does with its assignments)", file: file, line: line)
        }
        if support == .positiveDefinite {
            usageFailure("latent '\(name)': its prior \(D.self) is over positive-definite matrices, for which there is no bijector yet; put a prior on a Cholesky factor's entries instead", file: file, line: line)
        }
    }
}

extension LatentSpace {
    /// The layout of a model's latents, in the order they were declared.
    public init(_ latents: [Latent]) {
        self.init(latents.map(\.variable))
    }
}

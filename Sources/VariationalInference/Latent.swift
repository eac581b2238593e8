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

    /// A class: the fit reads it at every step, and copying a reference costs one retain where copying its fields
    /// cost one each.
    final class FixedPrior {
        /// The prior's mean and standard deviation of each element, when it is a normal distribution.
        let gaussian: (mean: [Double], standardDeviation: [Double])?
        /// The marginal log density of one element at a value, for elementwise priors.
        let marginal: (Int, Double) -> Double?
        /// log p summed per particle ([S]) at values shaped as `z[name]` reads them, and its gradient there, by
        /// differentiating the prior's density: for the priors that have no `score`.
        let logDensityWithGradient: (Tensor<Double>) -> (value: Tensor<Double>, gradient: Tensor<Double>)
        /// The same element by element, for the priors written out by hand.
        let score: ElementwiseScore?

        init(
            gaussian: (mean: [Double], standardDeviation: [Double])?, marginal: @escaping (Int, Double) -> Double?,
            logDensityWithGradient: @escaping (Tensor<Double>) -> (value: Tensor<Double>, gradient: Tensor<Double>),
            score: ElementwiseScore?
        ) {
            self.gaussian = gaussian
            self.marginal = marginal
            self.logDensityWithGradient = logDensityWithGradient
            self.score = score
        }
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
        let score = ElementwiseScore(prior, shape: shape)
        fixed = FixedPrior(
            gaussian: gaussian,
            marginal: { element, value in
                guard elementwise else { return nil }
                let density = prior.logProbability(of: Tensor(repeating: value, shape: shape)).scalars[element]
                return density.isFinite ? density : nil
            },
            logDensityWithGradient: { x in
                let (value, pullback) = valueWithPullback(at: x) { prior.logProbability(of: $0) }
                let gradient = pullback(Tensor(repeating: 1, shape: value.shape))
                return (particleSums(value), gradient.isSymbolicZero ? Tensor(zeros: x.shape) : gradient)
            },
            score: score)
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

/// A fixed elementwise prior's log density and its derivative in the value, element by element with the
/// parameters broadcast to the latent's shape once: the priors models use most, without the bookkeeping of
/// differentiating them at every step. Each is tested against differentiating the distribution's own density.
struct ElementwiseScore {
    /// Per element j: the terms of log p that do not depend on the value.
    let constants: [Double]
    /// log p(x) − constant and d log p / dx, for element j at x.
    let evaluate: (Double, Int) -> (Double, Double)

    /// Nil for a prior not covered here (its density is then differentiated).
    init?<D: Distribution>(_ prior: D, shape: [Int]) where D.Scalar == Double {
        guard prior.eventShape.isEmpty else { return nil }
        let size = shape.reduce(1, *)
        func parameter(_ t: Tensor<Double>) -> [Double] { t.broadcasted(to: shape).scalars.array }
        let halfLogTwoPi = 0.5 * Foundation.log(2 * Double.pi)
        switch prior {
        case let d as Normal<Double>:
            let (m, s) = (parameter(d.location), parameter(d.scale))
            constants = (0..<size).map { -Foundation.log(s[$0]) - halfLogTwoPi }
            evaluate = { x, j in
                let z = (x - m[j]) / s[j]
                return (-0.5 * z * z, -z / s[j])
            }
        case let d as HalfNormal<Double>:
            let s = parameter(d.scale)
            constants = s.map { Foundation.log(2) - Foundation.log($0) - halfLogTwoPi }
            evaluate = { x, j in
                let z = x / s[j]
                return (-0.5 * z * z, -z / s[j])
            }
        case let d as HalfCauchy<Double>:
            let s = parameter(d.scale)
            constants = s.map { Foundation.log(2 / Double.pi) - Foundation.log($0) }
            evaluate = { x, j in
                let z = x / s[j]
                return (-Foundation.log1p(z * z), -2 * z / (s[j] * (1 + z * z)))
            }
        case let d as Cauchy<Double>:
            let (m, s) = (parameter(d.location), parameter(d.scale))
            constants = s.map { -Foundation.log(Double.pi) - Foundation.log($0) }
            evaluate = { x, j in
                let z = (x - m[j]) / s[j]
                return (-Foundation.log1p(z * z), -2 * z / (s[j] * (1 + z * z)))
            }
        case let d as Exponential<Double>:
            let rate = parameter(d.rate)
            constants = rate.map { Foundation.log($0) }
            evaluate = { x, j in (-rate[j] * x, -rate[j]) }
        case let d as Gamma<Double>:
            let (a, b) = (parameter(d.concentration), parameter(d.rate))
            constants = (0..<size).map { a[$0] * Foundation.log(b[$0]) - Foundation.lgamma(a[$0]) }
            evaluate = { x, j in ((a[j] - 1) * Foundation.log(x) - b[j] * x, (a[j] - 1) / x - b[j]) }
        case let d as InverseGamma<Double>:
            let (a, b) = (parameter(d.concentration), parameter(d.scale))
            constants = (0..<size).map { a[$0] * Foundation.log(b[$0]) - Foundation.lgamma(a[$0]) }
            evaluate = { x, j in (-(a[j] + 1) * Foundation.log(x) - b[j] / x, -(a[j] + 1) / x + b[j] / (x * x)) }
        case let d as StudentT<Double>:
            let (nu, m, s) = (parameter(d.degreesOfFreedom), parameter(d.location), parameter(d.scale))
            constants = (0..<size).map {
                Foundation.lgamma((nu[$0] + 1) / 2) - Foundation.lgamma(nu[$0] / 2) - 0.5 * Foundation.log(nu[$0] * Double.pi) - Foundation.log(s[$0])
            }
            evaluate = { x, j in
                let z = (x - m[j]) / s[j]
                let r = z * z / nu[j]
                return (-(nu[j] + 1) / 2 * Foundation.log1p(r), -(nu[j] + 1) * z / (s[j] * nu[j] * (1 + r)))
            }
        case let d as Laplace<Double>:
            let (m, b) = (parameter(d.location), parameter(d.scale))
            constants = b.map { -Foundation.log(2 * $0) }
            evaluate = { x, j in
                let u = x - m[j]
                return (-Swift.abs(u) / b[j], u > 0 ? -1 / b[j] : (u < 0 ? 1 / b[j] : 0))
            }
        case let d as Beta<Double>:
            let (a, b) = (parameter(d.alpha), parameter(d.beta))
            constants = (0..<size).map { Foundation.lgamma(a[$0] + b[$0]) - Foundation.lgamma(a[$0]) - Foundation.lgamma(b[$0]) }
            evaluate = { x, j in
                ((a[j] - 1) * Foundation.log(x) + (b[j] - 1) * Foundation.log1p(-x), (a[j] - 1) / x - (b[j] - 1) / (1 - x))
            }
        default:
            return nil
        }
    }

    /// Σⱼ log p(xₛⱼ) for each particle s, [S], and the gradient (x's shape), for particles x [S, …] whose trailing
    /// elements line up with the parameters.
    func logDensityWithGradient(_ x: Tensor<Double>) -> (value: Tensor<Double>, gradient: Tensor<Double>) {
        let size = constants.count
        let s = size == 0 ? 0 : x.scalarCount / size
        var value = TensorElements<Double>.zeros(count: s)
        var gradient = TensorElements<Double>.zeros(count: x.scalarCount)
        x.scalars.withUnsafeBufferPointer { x in
            value.withUnsafeMutableBufferPointer { value in
                gradient.withUnsafeMutableBufferPointer { gradient in
                    accumulate(x, stride: size, offset: 0, particles: s, value: value, gradient: gradient)
                }
            }
        }
        return (Tensor(shape: [s], scalars: value), Tensor(shape: x.shape, scalars: gradient))
    }

    /// Adds Σⱼ log p(zₚⱼ) to `value[p]` and d log p / dzₚⱼ to `gradient` for particles whose elements are at
    /// `p * stride + offset + j` of `z` (one latent's columns of all the latents' values), writing the gradient at
    /// the same places.
    func accumulate(
        _ z: UnsafeBufferPointer<Double>, stride: Int, offset: Int, particles: Int,
        value: UnsafeMutableBufferPointer<Double>, gradient: UnsafeMutableBufferPointer<Double>
    ) {
        let size = constants.count
        let constant = constants.reduce(0, +)
        for p in 0..<particles {
            var total = constant
            let base = p * stride + offset
            for j in 0..<size {
                let (logDensity, slope) = evaluate(z[base + j], j)
                total += logDensity
                gradient[base + j] += slope
            }
            value[p] += total
        }
    }
}

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
    public var shape: TensorShape { variable.shape }
    public var support: Support { variable.support }
    /// True when the prior's parameters are constants rather than functions of other latents.
    public var hasFixedPrior: Bool { fixed != nil }

    /// A latent variable with a prior whose parameters are fixed. Its shape is the prior's
    /// (`batchShape + eventShape`) unless `shape` asks for independent copies that the prior broadcasts to.
    public init<D: Distribution>(
        _ name: String, _ prior: D, shape: TensorShape? = nil, file: StaticString = #fileID, line: UInt = #line
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
                let gradient = pullback(Tensor(ones: value.shape))
                return (particleSums(value), gradient.isSymbolicZero ? Tensor(zeros: x.shape) : gradient)
            },
            score: score)
    }

    /// A latent variable whose prior depends on other latents: `prior` receives their values for a
    /// batch of particles (scalars as columns [S, 1]) and returns the distribution of this one, which must
    /// broadcast to [S] + `shape`.
    public init<D: Distribution>(
        _ name: String, shape: TensorShape = [], file: StaticString = #fileID, line: UInt = #line,
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
/// A class: the fit reads it at every step, and a copy of its five arrays cost five retains and five releases.
final class ElementwiseScore {
    /// The priors written out.
    enum Kind { case normal, halfNormal, halfCauchy, cauchy, exponential, gamma, inverseGamma, studentT, laplace, beta }
    let kind: Kind
    /// Per element j: the terms of log p that do not depend on the value.
    let constants: [Double]
    /// Their sum, added once for each particle.
    let constant: Double
    /// Per element j, the prior's parameters broadcast to the latent's shape, in the order of `evaluate`'s
    /// arguments (those a kind does not use are empty).
    let first: [Double], second: [Double], third: [Double]

    /// Nil for a prior not covered here (its density is then differentiated).
    init?<D: Distribution>(_ prior: D, shape: TensorShape) where D.Scalar == Double {
        guard prior.eventShape.isEmpty else { return nil }
        let size = shape.elementCount
        func parameter(_ t: Tensor<Double>) -> [Double] { t.broadcasted(to: shape).scalars.array }
        let halfLogTwoPi = 0.5 * Foundation.log(2 * Double.pi)
        var (first, second, third) = ([Double](), [Double](), [Double]())
        switch prior {
        case let d as Normal<Double>:
            (kind, first, second) = (.normal, parameter(d.location), parameter(d.scale))
            constants = second.map { -Foundation.log($0) - halfLogTwoPi }
        case let d as HalfNormal<Double>:
            (kind, first) = (.halfNormal, parameter(d.scale))
            constants = first.map { Foundation.log(2) - Foundation.log($0) - halfLogTwoPi }
        case let d as HalfCauchy<Double>:
            (kind, first) = (.halfCauchy, parameter(d.scale))
            constants = first.map { Foundation.log(2 / Double.pi) - Foundation.log($0) }
        case let d as Cauchy<Double>:
            (kind, first, second) = (.cauchy, parameter(d.location), parameter(d.scale))
            constants = second.map { -Foundation.log(Double.pi) - Foundation.log($0) }
        case let d as Exponential<Double>:
            (kind, first) = (.exponential, parameter(d.rate))
            constants = first.map { Foundation.log($0) }
        case let d as Gamma<Double>:
            (kind, first, second) = (.gamma, parameter(d.concentration), parameter(d.rate))
            let (a, b) = (first, second)
            constants = (0..<size).map { a[$0] * Foundation.log(b[$0]) - Foundation.lgamma(a[$0]) }
        case let d as InverseGamma<Double>:
            (kind, first, second) = (.inverseGamma, parameter(d.concentration), parameter(d.scale))
            let (a, b) = (first, second)
            constants = (0..<size).map { a[$0] * Foundation.log(b[$0]) - Foundation.lgamma(a[$0]) }
        case let d as StudentT<Double>:
            (kind, first, second, third) = (.studentT, parameter(d.degreesOfFreedom), parameter(d.location), parameter(d.scale))
            let (nu, s) = (first, third)
            constants = (0..<size).map {
                Foundation.lgamma((nu[$0] + 1) / 2) - Foundation.lgamma(nu[$0] / 2) - 0.5 * Foundation.log(nu[$0] * Double.pi) - Foundation.log(s[$0])
            }
        case let d as Laplace<Double>:
            (kind, first, second) = (.laplace, parameter(d.location), parameter(d.scale))
            constants = second.map { -Foundation.log(2 * $0) }
        case let d as Beta<Double>:
            (kind, first, second) = (.beta, parameter(d.alpha), parameter(d.beta))
            let (a, b) = (first, second)
            constants = (0..<size).map { Foundation.lgamma(a[$0] + b[$0]) - Foundation.lgamma(a[$0]) - Foundation.lgamma(b[$0]) }
        default:
            return nil
        }
        (self.first, self.second, self.third) = (first, second, third)
        constant = constants.reduce(0, +)
    }

    /// log p(x) − constant and d log p / dx for element j at x; a, b and c are element j's parameters.
    @inline(__always)
    static func evaluate(_ kind: Kind, _ x: Double, _ a: Double, _ b: Double, _ c: Double) -> (Double, Double) {
        switch kind {
        case .normal:
            let z = (x - a) / b
            return (-0.5 * z * z, -z / b)
        case .halfNormal:
            let z = x / a
            return (-0.5 * z * z, -z / a)
        case .halfCauchy:
            let z = x / a
            return (-Foundation.log1p(z * z), -2 * z / (a * (1 + z * z)))
        case .cauchy:
            let z = (x - a) / b
            return (-Foundation.log1p(z * z), -2 * z / (b * (1 + z * z)))
        case .exponential:
            return (-a * x, -a)
        case .gamma:
            return ((a - 1) * Foundation.log(x) - b * x, (a - 1) / x - b)
        case .inverseGamma:
            return (-(a + 1) * Foundation.log(x) - b / x, -(a + 1) / x + b / (x * x))
        case .studentT:
            let (nu, m, s) = (a, b, c)
            let z = (x - m) / s
            let r = z * z / nu
            return (-(nu + 1) / 2 * Foundation.log1p(r), -(nu + 1) * z / (s * nu * (1 + r)))
        case .laplace:
            let u = x - a
            return (-Swift.abs(u) / b, u > 0 ? -1 / b : (u < 0 ? 1 / b : 0))
        case .beta:
            return ((a - 1) * Foundation.log(x) + (b - 1) * Foundation.log1p(-x), (a - 1) / x - (b - 1) / (1 - x))
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
        first.withUnsafeBufferPointer { a in
            second.withUnsafeBufferPointer { b in
                third.withUnsafeBufferPointer { c in
                    // One loop per kind: the switch is decided outside it, and the parameters are read unchecked
                    // (a kind reads only the arrays it filled, each of the latent's size).
                    switch kind {
                    case .normal: sweep(z, stride, offset, particles, value, gradient) { Self.evaluate(.normal, $0, a[$1], b[$1], 0) }
                    case .halfNormal: sweep(z, stride, offset, particles, value, gradient) { Self.evaluate(.halfNormal, $0, a[$1], 0, 0) }
                    case .halfCauchy: sweep(z, stride, offset, particles, value, gradient) { Self.evaluate(.halfCauchy, $0, a[$1], 0, 0) }
                    case .cauchy: sweep(z, stride, offset, particles, value, gradient) { Self.evaluate(.cauchy, $0, a[$1], b[$1], 0) }
                    case .exponential: sweep(z, stride, offset, particles, value, gradient) { Self.evaluate(.exponential, $0, a[$1], 0, 0) }
                    case .gamma: sweep(z, stride, offset, particles, value, gradient) { Self.evaluate(.gamma, $0, a[$1], b[$1], 0) }
                    case .inverseGamma: sweep(z, stride, offset, particles, value, gradient) { Self.evaluate(.inverseGamma, $0, a[$1], b[$1], 0) }
                    case .studentT: sweep(z, stride, offset, particles, value, gradient) { Self.evaluate(.studentT, $0, a[$1], b[$1], c[$1]) }
                    case .laplace: sweep(z, stride, offset, particles, value, gradient) { Self.evaluate(.laplace, $0, a[$1], b[$1], 0) }
                    case .beta: sweep(z, stride, offset, particles, value, gradient) { Self.evaluate(.beta, $0, a[$1], b[$1], 0) }
                    }
                }
            }
        }
    }

    @inline(__always)
    private func sweep(
        _ z: UnsafeBufferPointer<Double>, _ stride: Int, _ offset: Int, _ particles: Int,
        _ value: UnsafeMutableBufferPointer<Double>, _ gradient: UnsafeMutableBufferPointer<Double>,
        _ evaluate: (Double, Int) -> (Double, Double)
    ) {
        let size = constants.count
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

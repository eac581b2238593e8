import _Differentiation
import VariationalBijectors
import VariationalCore

/// A probability distribution over tensors, with explicit batch and event shapes.
///
/// A value has shape `sampleShape + batchShape + eventShape`. `logProbability(of:)` returns one log density per
/// event: shape `sampleShape + batchShape`. A batch of 128 diagonal Gaussians over 20 dimensions is
/// `Independent(Normal(...), reinterpretedBatchDimensions: 1)` with batch shape [128] and event shape [20].
/// A value is broadcast against `batchShape + eventShape` as tensor arithmetic broadcasts, so that one call gives
/// the log densities of every (particle, observation) pair: `Normal(location: mu, scale: sigma)` with `mu` of shape
/// [S, 1] and observations `y` of shape [n] gives [S, n]. Shapes that do not broadcast stop with a message naming
/// both, in release builds too.
///
/// Distributions are `Differentiable` in their parameters, so gradients of log densities, samples and KL
/// divergences flow into whatever produced the parameters.
public protocol Distribution: Differentiable {
    associatedtype Scalar: TensorScalar
    /// The type of the other distribution a closed-form KL divergence is known for (usually `Self`);
    /// `NoClosedForm` when there is none.
    associatedtype KLPartner: Distribution = NoClosedForm<Scalar> where KLPartner.Scalar == Scalar
    /// The bijector from unconstrained space (all of ℝⁿ) onto the support.
    associatedtype SupportBijector: Bijector = Identity<Scalar> where SupportBijector.Scalar == Scalar

    /// The shape of a batch of independent distributions.
    var batchShape: TensorShape { get }
    /// The shape of one draw.
    var eventShape: TensorShape { get }
    /// Where the density is positive.
    var support: Support { get }
    /// The support when it is the same for every value of the parameters (`Normal`: the real line; `Uniform`:
    /// nil, its interval is a parameter), so that it is known before the parameters are.
    static var fixedSupport: Support? { get }
    /// True for distributions over integers or one-hot vectors (probability masses rather than densities).
    static var isDiscrete: Bool { get }

    /// log p(value), one per event; −∞ outside the support.
    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar>

    /// Draws of shape `sampleShape + batchShape + eventShape` (no gradient).
    func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar>

    /// The mean, shape `batchShape + eventShape`.
    var mean: Tensor<Scalar> { get }
    /// The variance, shape `batchShape + eventShape` (the diagonal of the covariance for vector events).
    var variance: Tensor<Scalar> { get }

    /// True when `entropy()` has a closed form.
    static var hasClosedFormEntropy: Bool { get }
    /// The differential (or Shannon) entropy, shape `batchShape`, where a closed form exists.
    @differentiable(reverse, wrt: self)
    func entropy() -> Tensor<Scalar>

    /// KL(self ‖ other) in closed form, shape `batchShape`.
    @differentiable(reverse)
    func klDivergence(to other: KLPartner) -> Tensor<Scalar>

    /// The bijector from unconstrained space onto the support.
    var supportBijector: SupportBijector { get }
}

/// A distribution whose samples are differentiable functions of its parameters and of parameter-free noise.
///
/// Draw the noise outside differentiated code with `sampleNoise`, then call `sample(fromNoise:)` inside it.
/// For Gamma, Beta and Dirichlet the "noise" is a draw itself and gradients are implicit reparameterisation
/// gradients (Figurnov et al. 2018).
public protocol ReparameterizedDistribution: Distribution {
    /// Noise of the shape `sampleShape + batchShape + eventShape`.
    func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar>
    /// The sample that `noise` gives, differentiable in the parameters.
    @differentiable(reverse, wrt: self)
    func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar>
}

extension ReparameterizedDistribution {
    /// Draws noise and maps it to a sample (no gradient through the generator; for use outside differentiation).
    public func reparameterizedSample<G: RandomNumberGenerator>(sampleShape: TensorShape = [], using generator: inout G) -> Tensor<Scalar> {
        sample(fromNoise: sampleNoise(sampleShape: sampleShape, using: &generator))
    }
}

extension Distribution {
    /// One draw of shape `batchShape + eventShape`.
    public func sample<G: RandomNumberGenerator>(using generator: inout G) -> Tensor<Scalar> {
        sample(sampleShape: [], using: &generator)
    }

    public static var hasClosedFormEntropy: Bool { false }
    public static var fixedSupport: Support? { nil }
    public static var isDiscrete: Bool { false }

    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        require(false, "\(Self.self) has no closed-form entropy; check hasClosedFormEntropy first")
        return withoutDerivative(at: Tensor(0))
    }

    /// The standard deviation, √variance.
    public var standardDeviation: Tensor<Scalar> { variance.sqrt() }
}

/// The shape a value of shape `shape` broadcasts to against `batchShape + eventShape` (aligned from the right,
/// dimensions of 1 stretched, the event dimensions unchanged); stops with a message naming both shapes, in every
/// build, when they do not broadcast.
func valueBroadcastShape(_ shape: TensorShape, _ batchShape: TensorShape, _ eventShape: TensorShape, _ distribution: Any.Type) -> TensorShape {
    guard let target = try? checkedBroadcastShape(shape, batchShape + eventShape),
          target.endsWith(eventShape)
    else {
        usageFailure(
            "\(distribution).logProbability: a value of shape \(shape) does not broadcast against batch shape \(batchShape) + event shape \(eventShape)")
    }
    return target
}

/// Stops with the message of `broadcastValue` when a value of shape `shape` does not broadcast against the
/// distribution's shapes; for log densities that broadcast inside one fused pass and need no copy of the value.
public func checkValueBroadcasts(_ shape: TensorShape, _ batchShape: TensorShape, _ eventShape: TensorShape, _ distribution: Any.Type) {
    if eventShape.isEmpty && (batchShape.isEmpty || shape == batchShape) { return }
    _ = valueBroadcastShape(shape, batchShape, eventShape, distribution)
}

/// A value for `logProbability(of:)`, broadcast against the distribution's `batchShape + eventShape` as tensor
/// arithmetic broadcasts: `Normal` with parameters of shape [S, 8] takes observations of shape [8] and gives
/// [S, 8] log densities, one per particle and observation. A value that already ends in `batchShape + eventShape`
/// is returned as it is. Shapes that do not broadcast stop with a message naming both, in every build.
@differentiable(reverse, wrt: value)
public func broadcastValue<Scalar: TensorScalar>(
    _ value: Tensor<Scalar>, _ batchShape: TensorShape, _ eventShape: TensorShape, _ distribution: Any.Type
) -> Tensor<Scalar> {
    let shape = withoutDerivative(at: value.shape)
    if eventShape.isEmpty && (batchShape.isEmpty || shape == batchShape) { return value }
    let expected = batchShape + eventShape
    if shape.endsWith(expected) { return value }
    let target = valueBroadcastShape(shape, batchShape, eventShape, distribution)
    // Only leading dimensions of 1 added (observations [n] for one particle's [1, n]): the same elements, reshaped.
    if target.reduce(1, *) == withoutDerivative(at: value.scalarCount) { return value.reshaped(to: target) }
    return value.broadcasted(to: target)
}

extension Distribution where KLPartner == NoClosedForm<Scalar> {
    @differentiable(reverse)
    public func klDivergence(to other: NoClosedForm<Scalar>) -> Tensor<Scalar> {
        require(false, "\(Self.self) has no closed-form KL divergence")
        return withoutDerivative(at: Tensor(0))
    }
}

extension Distribution where SupportBijector == Identity<Scalar> {
    public var supportBijector: Identity<Scalar> { Identity() }
}

/// The `KLPartner` of distributions without a closed-form KL divergence; it has no values.
public struct NoClosedForm<Scalar: TensorScalar>: Distribution {
    public typealias KLPartner = NoClosedForm
    private init() {}
    public var batchShape: TensorShape { [] }
    public var eventShape: TensorShape { [] }
    public var support: Support { .real }
    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> { value }
    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        Tensor(zeros: sampleShape)
    }
    public var mean: Tensor<Scalar> { Tensor(0) }
    public var variance: Tensor<Scalar> { Tensor(0) }
}

/// Where a distribution's density is positive.
public enum Support: Equatable, Sendable, CustomStringConvertible {
    case real, positive, nonNegative, unitInterval, simplex, boolean, nonNegativeIntegers
    case integerInterval(Int, Int)
    case interval(Double, Double)
    case greaterThan(Double)
    case realVector, positiveDefinite

    public var description: String {
        switch self {
        case .real: return "real"
        case .positive: return "positive"
        case .nonNegative: return "[0, ∞)"
        case .unitInterval: return "(0, 1)"
        case .simplex: return "simplex"
        case .boolean: return "{0, 1}"
        case .nonNegativeIntegers: return "{0, 1, 2, …}"
        case .integerInterval(let a, let b): return "{\(a), …, \(b)}"
        case .interval(let a, let b): return "(\(a), \(b))"
        case .greaterThan(let a): return "(\(a), ∞)"
        case .realVector: return "ℝⁿ"
        case .positiveDefinite: return "positive-definite matrices"
        }
    }

    /// Whether a scalar lies in the support (for elementwise supports).
    public func contains(_ x: Double) -> Bool {
        switch self {
        case .real, .realVector: return x.isFinite
        case .positive: return x > 0 && x.isFinite
        case .nonNegative: return x >= 0 && x.isFinite
        case .unitInterval: return x > 0 && x < 1
        case .boolean: return x == 0 || x == 1
        case .nonNegativeIntegers: return x >= 0 && x == x.rounded() && x.isFinite
        case .integerInterval(let a, let b): return x >= Double(a) && x <= Double(b) && x == x.rounded()
        case .interval(let a, let b): return x > a && x < b
        case .greaterThan(let a): return x > a && x.isFinite
        case .simplex, .positiveDefinite: return x.isFinite
        }
    }
}

/// An invalid distribution parameter: names the distribution, the parameter and the offending value.
public struct DistributionError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Parameter checks for the validating initialisers: each throws a `DistributionError` naming what and where.
enum Check {
    static func finite<S: TensorScalar>(_ t: Tensor<S>, _ distribution: String, _ name: String) throws {
        if let i = t.scalars.firstIndex(where: { !$0.isFinite }) {
            throw DistributionError("\(distribution): \(name) must be finite, got \(t.scalars[i])\(at(i, t))")
        }
    }

    static func positive<S: TensorScalar>(_ t: Tensor<S>, _ distribution: String, _ name: String) throws {
        try finite(t, distribution, name)
        if let i = t.scalars.firstIndex(where: { !($0 > 0) }) {
            throw DistributionError("\(distribution): \(name) must be positive, got \(t.scalars[i])\(at(i, t))")
        }
    }

    static func probability<S: TensorScalar>(_ t: Tensor<S>, _ distribution: String, _ name: String) throws {
        if let i = t.scalars.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
            throw DistributionError("\(distribution): \(name) must be in [0, 1], got \(t.scalars[i])\(at(i, t))")
        }
    }

    static func broadcastable(_ a: TensorShape, _ b: TensorShape, _ distribution: String, _ names: String) throws -> TensorShape {
        do {
            return try checkedBroadcastShape(a, b)
        } catch {
            throw DistributionError("\(distribution): \(names) of shapes \(a) and \(b) cannot be broadcast together")
        }
    }

    static func at<S: TensorScalar>(_ i: Int, _ t: Tensor<S>) -> String {
        t.scalarCount > 1 ? " at element \(i)" : ""
    }
}

/// A mask of the elements outside a support, for `replacing(with: -.infinity, where:)`.
@usableFromInline
@_specialize(where S == Double)
@_specialize(where S == Float)
func outside<S: TensorScalar>(_ support: Support, _ value: Tensor<S>) -> [Bool] {
    // One loop per support, without a switch or a conversion per element: likelihoods call this on every
    // observation at every step.
    value.scalars.withUnsafeBufferPointer { x in
        switch support {
        case .real, .realVector: return x.map { !$0.isFinite }
        case .positive: return x.map { !($0 > 0 && $0.isFinite) }
        case .nonNegative: return x.map { !($0 >= 0 && $0.isFinite) }
        case .unitInterval: return x.map { !($0 > 0 && $0 < 1) }
        case .boolean: return x.map { $0 != 0 && $0 != 1 }
        case .nonNegativeIntegers: return x.map { !($0 >= 0 && $0 == $0.rounded() && $0.isFinite) }
        default: return x.map { !support.contains(Double($0)) }
        }
    }
}

extension Tensor {
    /// Elementwise combination of two tensors of the same shape (no derivative): for moments
    /// that exist only for some parameter values.
    func combinedElementwise(_ other: Tensor, _ combine: (Scalar, Scalar) -> Scalar) -> Tensor {
        Tensor(shape: shape, scalars: zip(scalars, other.scalars).map(combine))
    }
}

/// weight · term, with 0 wherever the weight is 0 whatever the term (0 · log 0 = 0 in entropies and KL divergences,
/// where the plain product is NaN). Broadcasts; the gradient is 0 at those entries.
@differentiable(reverse)
func zeroWhereWeightIsZero<S: TensorScalar>(_ weight: Tensor<S>, _ term: Tensor<S>) -> Tensor<S> {
    let shape = withoutDerivative(at: broadcastShape(weight.shape, term.shape))
    let w = weight.broadcasted(to: shape)
    let mask = withoutDerivative(at: w.scalars.map { $0 == 0 })
    return w * term.broadcasted(to: shape).replacing(with: 0, where: mask)
}

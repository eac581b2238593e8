import _Differentiation
import CVariationalKernels
import Foundation
import VariationalBijectors
import VariationalCore
import VariationalDistributions

/// Where a latent variable sits in the flat parameter vector: its name, shape and the set its values live in.
/// A model declares its latents as `Latent`s, with their priors; this is the layout they give.
///
/// Inference runs in unconstrained space (all of ℝⁿ); each variable is mapped onto its support by the bijector
/// its support names, and the log-Jacobian of that map is counted (automatic differentiation variational
/// inference, ADVI).
public struct LatentVariable: Sendable, Equatable {
    public var name: String
    public var shape: TensorShape
    public var support: Support

    /// A latent variable with the given shape and support.
    public init(_ name: String, shape: TensorShape = [], support: Support = .real) {
        require(!name.isEmpty, "LatentVariable: empty name")
        require(shape.allSatisfy { $0 > 0 }, "LatentVariable \(name): dimensions must be positive, got \(shape)")
        self.name = name
        self.shape = shape
        self.support = support
    }

    /// A latent variable shaped and constrained like draws from `prior`.
    public init<D: Distribution>(_ name: String, prior: D) {
        self.init(name, shape: prior.batchShape + prior.eventShape, support: prior.support)
    }

    /// The number of constrained values.
    public var size: Int { shape.elementCount }

    /// The number of unconstrained coordinates (one fewer per simplex).
    public var unconstrainedSize: Int {
        if support == .simplex { return size - size / shape.last! }
        return size
    }
}

/// The layout of all latent variables in one flat unconstrained vector.
public struct LatentSpace: Sendable, Equatable {
    /// The layout behind one reference: a fit reads the space several times a step, and a copy of five arrays cost
    /// five retains and five releases each time.
    final class Layout: Sendable {
        let variables: [LatentVariable]
        let unconstrainedOffsets: [Int]
        let constrainedOffsets: [Int]
        let dimension: Int
        let constrainedDimension: Int
        let coordinateMaps: [CoordinateMap]?
        let mapsAreIdentity: Bool

        init(_ variables: [LatentVariable]) {
            self.variables = variables
            var u = 0
            var c = 0
            var uo: [Int] = []
            var co: [Int] = []
            for v in variables {
                uo.append(u)
                co.append(c)
                u += v.unconstrainedSize
                c += v.size
            }
            unconstrainedOffsets = uo
            constrainedOffsets = co
            dimension = u
            constrainedDimension = c
            coordinateMaps = LatentSpace.coordinateMaps(of: variables, dimension: u)
            mapsAreIdentity = coordinateMaps?.allSatisfy { $0 == .identity } ?? false
        }
    }
    let layout: Layout

    public var variables: [LatentVariable] { layout.variables }
    /// Offsets of each variable in the unconstrained vector.
    public var unconstrainedOffsets: [Int] { layout.unconstrainedOffsets }
    /// Offsets of each variable in the constrained vector.
    public var constrainedOffsets: [Int] { layout.constrainedOffsets }
    /// The total unconstrained dimension.
    public var dimension: Int { layout.dimension }
    /// The total constrained dimension.
    public var constrainedDimension: Int { layout.constrainedDimension }
    /// The map of each unconstrained coordinate onto its support, when every variable's map is elementwise (no
    /// simplex); nil otherwise. Built once: the fit reads it at every step.
    var coordinateMaps: [CoordinateMap]? { layout.coordinateMaps }
    /// True when every coordinate map is the identity (every latent real): z = θ, with no log-Jacobian.
    var mapsAreIdentity: Bool { layout.mapsAreIdentity }

    public init(_ variables: [LatentVariable]) {
        if let name = LatentSpace.repeatedName(variables.map(\.name)) {
            usageFailure("LatentSpace: latent variable names must be unique; '\(name)' appears twice")
        }
        layout = Layout(variables)
    }

    /// Two spaces are equal when their variables are (the rest follows from them).
    public static func == (lhs: LatentSpace, rhs: LatentSpace) -> Bool {
        lhs.layout === rhs.layout || lhs.variables == rhs.variables
    }

    /// The first name that appears twice, if any.
    static func repeatedName(_ names: [String]) -> String? {
        var seen = Set<String>()
        return names.first { !seen.insert($0).inserted }
    }

    /// The index of a variable by name.
    public func index(of name: String) -> Int {
        guard let i = variables.firstIndex(where: { $0.name == name }) else {
            usageFailure("no latent variable named '\(name)'; the model has \(variables.map(\.name))")
        }
        return i
    }

    /// True when every variable is real-valued: constrained and unconstrained values coincide.
    public var isUnconstrained: Bool { variables.allSatisfy { $0.support == .real || $0.support == .realVector } }

    static func coordinateMaps(of variables: [LatentVariable], dimension: Int) -> [CoordinateMap]? {
        var maps: [CoordinateMap] = []
        maps.reserveCapacity(dimension)
        for v in variables {
            let map: CoordinateMap
            switch v.support {
            case .positive, .nonNegative: map = .exp(low: 0)
            case .greaterThan(let low): map = .exp(low: low)
            case .unitInterval: map = .sigmoid(low: 0, width: 1)
            case .interval(let low, let high): map = .sigmoid(low: low, width: high - low)
            case .simplex: return nil
            default: map = .identity
            }
            maps += Array(repeating: map, count: v.unconstrainedSize)
        }
        return maps
    }

    /// Maps unconstrained particles [S, D] to constrained values [S, C] and the log-Jacobian of the map, [S].
    /// (A struct rather than a tuple: differentiating a tuple result of which only the second element is used
    /// handed the first element's pullback the second's cotangent.)
    @differentiable(reverse)
    public func constrain(_ theta: Tensor<Double>) -> ConstrainedValues {
        let s = withoutDerivative(at: theta.shape[0])
        if withoutDerivative(at: isUnconstrained) {
            return ConstrainedValues(values: theta, logJacobian: withoutDerivative(at: Tensor<Double>(zeros: [s])))
        }
        if let maps = withoutDerivative(at: coordinateMaps) { return constrainElementwise(theta, maps) }
        var parts: [Tensor<Double>] = []
        var logJacobian = Tensor<Double>(zeros: [s])
        for i in 0..<withoutDerivative(at: variables.count) {
            let v = withoutDerivative(at: variables[i])
            let start = withoutDerivative(at: unconstrainedOffsets[i])
            let piece = theta.slice(axis: 1, range: start..<(start + v.unconstrainedSize))
            let (value, logDet) = LatentSpace.constrain(piece, v)
            parts.append(value)
            logJacobian = logJacobian + logDet
        }
        return ConstrainedValues(values: Tensor.concatenating(parts, alongAxis: 1), logJacobian: logJacobian)
    }

    /// One variable's unconstrained block [S, n] onto its support, flattened [S, size], with log-Jacobians [S].
    @differentiable(reverse)
    static func constrain(_ x: Tensor<Double>, _ v: LatentVariable) -> (Tensor<Double>, Tensor<Double>) {
        switch v.support {
        case .positive, .nonNegative:
            return (x.exp(), x.sum(squeezingAxes: 1))
        case .unitInterval:
            let b = Sigmoid<Double>()
            return (b.forward(x), b.forwardLogDetJacobian(x).sum(squeezingAxes: 1))
        case .interval(let low, let high):
            let b = Sigmoid<Double>()
            let y = b.forward(x) * (high - low) + low
            let width = Double(withoutDerivative(at: x.shape[1]))
            return (y, b.forwardLogDetJacobian(x).sum(squeezingAxes: 1) + width * Foundation.log(high - low))
        case .greaterThan(let low):
            return (x.exp() + low, x.sum(squeezingAxes: 1))
        case .simplex:
            let k = v.shape.last!
            let groups = v.size / k
            let s = withoutDerivative(at: x.shape[0])
            let blocks = x.reshaped(to: [s, groups, k - 1])
            let b = StickBreaking<Double>()
            return (b.forward(blocks).reshaped(to: [s, v.size]), b.forwardLogDetJacobian(blocks).sum(squeezingAxes: 1))
        default:
            return (x, x.sum(squeezingAxes: 1) * 0)
        }
    }
}

/// How one unconstrained coordinate x maps onto its support: y = x, y = low + eˣ, or y = low + width σ(x).
enum CoordinateMap: Equatable {
    case identity
    case exp(low: Double)
    case sigmoid(low: Double, width: Double)

    /// y, log |dy/dx|, dy/dx and d log|dy/dx| / dx at x.
    @inline(__always)
    func apply(_ x: Double) -> (value: Double, logDerivative: Double, derivative: Double, logDerivativeSlope: Double) {
        switch self {
        case .identity:
            return (x, 0, 1, 0)
        case .exp(let low):
            let e = Foundation.exp(x)
            return (low + e, x, e, 1)
        case .sigmoid(let low, let width):
            // σ(x), and log σ(x) + log σ(−x) = −softplus(−x) − softplus(x) = x − 2 softplus(x).
            let (softplus, sigma) = softplusAndSlope(x)
            let logDerivative = Foundation.log(width) + x - 2 * softplus
            return (low + width * sigma, logDerivative, width * sigma * (1 - sigma), 1 - 2 * sigma)
        }
    }
}

/// Elementwise maps of particles θ [S, D] onto their supports and the log-Jacobian [S], in one pass; the
/// gradient in one more.
@differentiable(reverse, wrt: theta)
func constrainElementwise(_ theta: Tensor<Double>, _ maps: [CoordinateMap]) -> ConstrainedValues {
    constrainElementwiseValue(theta, maps).0
}

/// The constrained values and log-Jacobian, and for the chain rule one buffer of 2·S·D: dz/dθ for each element, then
/// the log-Jacobian's derivative d log|dz/dθ| / dθ for each element (one allocation for the two).
func constrainElementwiseValue(_ theta: Tensor<Double>, _ maps: [CoordinateMap])
    -> (ConstrainedValues, derivativesAndSlopes: TensorElements<Double>)
{
    let (s, d) = (theta.shape[0], theta.shape[1])
    // Storage of the project's own throughout: a [Double] costs a generic allocation and a copy into a tensor.
    var values = TensorElements<Double>.uninitialized(count: s * d)
    var logJacobian = TensorElements<Double>.uninitialized(count: s)
    var chain = TensorElements<Double>.uninitialized(count: 2 * s * d)
    theta.scalars.withUnsafeBufferPointer { x in
        values.withUnsafeMutableBufferPointer { values in
            chain.withUnsafeMutableBufferPointer { chain in
                logJacobian.withUnsafeMutableBufferPointer { logJacobian in
                    let (derivatives, slopes) = (chain.baseAddress!, chain.baseAddress! + s * d)
                    for p in 0..<s {
                        var total = 0.0
                        for j in 0..<d {
                            let (y, logDerivative, derivative, slope) = maps[j].apply(x[p * d + j])
                            values[p * d + j] = y
                            derivatives[p * d + j] = derivative
                            slopes[p * d + j] = slope
                            total += logDerivative
                        }
                        logJacobian[p] = total
                    }
                }
            }
        }
    }
    let result = ConstrainedValues(
        values: Tensor(shape: theta.shape, scalars: values), logJacobian: Tensor(shape: TensorShape(repeating: s, count: 1), scalars: logJacobian))
    return (result, chain)
}

/// `body` with the two halves of `constrainElementwiseValue`'s buffer: dz/dθ, then the log-Jacobian's slopes.
@inline(__always)
func withDerivativesAndSlopes<R>(
    _ chain: TensorElements<Double>, _ body: (UnsafePointer<Double>, UnsafePointer<Double>) -> R
) -> R {
    chain.withUnsafeBufferPointer { body($0.baseAddress!, $0.baseAddress! + $0.count / 2) }
}

@derivative(of: constrainElementwise, wrt: theta)
func vjpConstrainElementwise(_ theta: Tensor<Double>, _ maps: [CoordinateMap])
    -> (value: ConstrainedValues, pullback: (ConstrainedValues.TangentVector) -> Tensor<Double>)
{
    let (value, chain) = constrainElementwiseValue(theta, maps)
    let (s, d, shape) = (theta.shape[0], theta.shape[1], theta.shape)
    return (value, { v in
        let (vy, vl) = (v.values, v.logJacobian)
        if vy.isSymbolicZero && vl.isSymbolicZero { return .zero }
        return Tensor(shape: shape) { gradient in
            withDerivativesAndSlopes(chain) { derivatives, slopes in
                for p in 0..<s {
                    let l = vl.isSymbolicZero ? 0 : vl.scalars[p]
                    for j in 0..<d {
                        let i = p * d + j
                        gradient[i] = (vy.isSymbolicZero ? 0 : vy.scalars[i] * derivatives[i]) + l * slopes[i]
                    }
                }
            }
        }
    })
}

/// Constrained values [S, C] of unconstrained particles and the log-Jacobian of the map, [S].
public struct ConstrainedValues: Differentiable {
    public var values: Tensor<Double>
    public var logJacobian: Tensor<Double>

    @differentiable(reverse)
    public init(values: Tensor<Double>, logJacobian: Tensor<Double>) {
        self.values = values
        self.logJacobian = logJacobian
    }
}

/// Constrained values of the latent variables for a set of particles, read by name: `z["mu"]` has shape
/// [particles] + the variable's shape.
public struct Latents: Differentiable {
    /// Constrained values [S, C].
    public var values: Tensor<Double>
    @noDerivative public let space: LatentSpace

    @differentiable(reverse, wrt: values)
    public init(values: Tensor<Double>, space: LatentSpace) {
        self.values = values
        self.space = space
    }

    /// The number of particles.
    public var particleCount: Int { values.shape[0] }

    /// A variable's values: shape [S] + its shape, except that a scalar variable reads as a column [S, 1], so that
    /// it broadcasts against a row of observations ([S, 1] with [n] gives [S, n]) and against vector variables
    /// ([S, 1] with [S, 8]) the way plates broadcast in other probabilistic languages.
    @differentiable(reverse, wrt: self)
    public subscript(name: String) -> Tensor<Double> {
        readVariable(at: space.index(of: name))
    }

    /// The subscript's value for the variable at index `i`, computed outside differentiation (its pullback is
    /// `vjpSubscript`).
    func readVariable(at i: Int) -> Tensor<Double> {
        let v = space.variables[i]
        let (start, size) = (space.constrainedOffsets[i], v.size)
        let (s, c) = (values.shape[0], values.shape[1])
        // One variable filling the whole vector needs no copy; a scalar or vector variable's columns [S, size] are
        // already its shape.
        if start == 0 && size == c { return v.shape.count <= 1 ? values : values.reshaped(to: v.shape.prepending(s)) }
        // Its columns copied particle by particle (a general slice along an axis cost twice as much).
        let columns = values.scalars.withUnsafeBufferPointer { x in
            TensorElements<Double>.filled(count: s * size) { out in
                guard let x = x.baseAddress, let out = out.baseAddress, size > 0 else { return }
                if size == 1 {
                    for p in 0..<s { out[p] = x[p * c + start] }
                } else {
                    for p in 0..<s { (out + p * size).update(from: x + p * c + start, count: size) }
                }
            }
        }
        // Shapes made without arrays (an array literal allocates).
        return Tensor(shape: v.shape.count <= 1 ? TensorShape(repeating: size, count: 1).prepending(s) : v.shape.prepending(s), scalars: columns)
    }

    /// One pullback for the read: the variable's gradient placed in its columns of zeros [S, C] (a gradient that
    /// broadcasts to the variable's shape is broadcast first).
    /// (While a `LatentGradientSink` collects the reads of these values, the gradient goes into it instead.)
    @derivative(of: subscript(_:))
    @usableFromInline
    func vjpSubscript(_ name: String) -> (value: Tensor<Double>, pullback: (Tensor<Double>) -> TangentVector) {
        let i = space.index(of: name)
        let value = readVariable(at: i)
        let (start, size) = (space.constrainedOffsets[i], space.variables[i].size)
        let (valueShape, fullShape) = (value.shape, values.shape)
        let sink = LatentGradientSink.current(for: values)
        return (value, { v in
            if v.isSymbolicZero { return TangentVector(values: .zero) }
            let upstream = v.shape == valueShape ? v : v.broadcasted(to: valueShape)
            if let sink, sink.isCollecting {
                sink.add(upstream, start: start, size: size)
                return TangentVector(values: .zero)
            }
            let (s, c) = (fullShape[0], fullShape[1])
            if size == c { return TangentVector(values: upstream.reshaped(to: fullShape)) }
            return TangentVector(values: Tensor(shape: fullShape) { out in
                guard let target = out.baseAddress else { return }
                target.initialize(repeating: 0, count: out.count)
                upstream.scalars.withUnsafeBufferPointer { source in
                    guard let source = source.baseAddress, size > 0 else { return }
                    for p in 0..<s { (target + p * c + start).update(from: source + p * size, count: size) }
                }
            })
        })
    }
}

/// Where the gradients of a model's reads `z["name"]` collect while `logJointUnconstrainedByParts` pulls the model
/// back: each read adds its columns into one [S, C] buffer. Without it each read's pullback made a tensor of zeros
/// [S, C] for its few columns and differentiation added those up, a new tensor per addition: k reads cost k + (k − 1)
/// tensors of the whole width. It is found through a slot of this thread while the model runs forward, and only by
/// reads of the very values it was made for (the same storage); it takes gradients only while `isCollecting`, that
/// is, during the one pullback it was made for, so a derivative the model takes itself inside goes the usual way.
final class LatentGradientSink {
    /// The gradient so far, [S, C] in row-major order, held here alone until taken (so written through `target`).
    @exclusivity(unchecked) private var gradient: TensorElements<Double>
    private let target: UnsafeMutablePointer<Double>?
    /// True during the pullback whose reads it collects. (Properties read at every read skip the run-time
    /// exclusivity check: a sink belongs to one evaluation on one thread.)
    @exclusivity(unchecked) var isCollecting = false
    private let values: Tensor<Double>
    private let (particles, columns): (Int, Int)

    init(for values: Tensor<Double>) {
        self.values = values
        (particles, columns) = (values.shape[0], values.shape[1])
        gradient = .zeros(count: values.scalarCount)
        target = gradient.withUnsafeMutableBufferPointer { $0.baseAddress }
    }

    /// The sink collecting the reads of `values` on this thread, if any.
    static func current(for values: Tensor<Double>) -> LatentGradientSink? {
        guard let raw = vk_gradient_sink() else { return nil }
        let sink = Unmanaged<LatentGradientSink>.fromOpaque(raw).takeUnretainedValue()
        return sink.values.scalars.sharesStorage(with: values.scalars) && sink.values.shape == values.shape ? sink : nil
    }

    /// Runs `body` (the model's forward pass) with this sink found by the reads on this thread.
    func finding<R>(_ body: () -> R) -> R {
        let previous = vk_gradient_sink()
        vk_set_gradient_sink(Unmanaged.passUnretained(self).toOpaque())
        defer { vk_set_gradient_sink(previous) }
        return body()
    }

    /// Adds a read's gradient [S, size] into columns start ..< start + size.
    func add(_ upstream: Tensor<Double>, start: Int, size: Int) {
        guard let target else { return }
        let (s, c) = (particles, columns)
        upstream.scalars.withUnsafeBufferPointer { source in
            guard let source = source.baseAddress else { return }
            if size == 1 {  // a scalar variable: one column
                for p in 0..<s { target[p &* c &+ start] += source[p] }
                return
            }
            for p in 0..<s {
                let (row, from) = (target + p * c + start, source + p * size)
                for j in 0..<size { row[j] += from[j] }
            }
        }
    }

    /// The gradient collected plus `rest` (a gradient in the values that reached them another way), taken over.
    func take(adding rest: Tensor<Double>) -> TensorElements<Double> {
        var total = gradient
        gradient = TensorElements()
        if !rest.isSymbolicZero {
            let rest = rest.scalarCount == total.count ? rest : rest.broadcasted(to: values.shape)
            total.withUnsafeMutableBufferPointer { total in
                rest.scalars.withUnsafeBufferPointer { rest in
                    for i in 0..<total.count { total[i] += rest[i] }
                }
            }
        }
        return total
    }
}

/// Sums a tensor of shape [S, …] over every axis but the first: one value per particle, [S]. One operation with
/// its own derivative (a likelihood, and each latent's prior, pass through it at every step).
@differentiable(reverse)
public func sumPerParticle(_ x: Tensor<Double>) -> Tensor<Double> {
    particleSums(x)
}

func particleSums(_ x: Tensor<Double>) -> Tensor<Double> {
    x.sumOverTrailingAxes()
}

@derivative(of: sumPerParticle)
@usableFromInline
func vjpSumPerParticle(_ x: Tensor<Double>) -> (value: Tensor<Double>, pullback: (Tensor<Double>) -> Tensor<Double>) {
    let shape = x.shape
    return (particleSums(x), { v in
        if v.isSymbolicZero || shape.count <= 1 { return v }
        // A seed of ones (the log joint's gradient) gives ones, which the likelihood's pullback multiplies by nothing.
        if v.scalars.areOnes { return Tensor(ones: shape) }
        let s = shape[0]
        let k = s == 0 ? 0 : x.scalarCount / s
        let upstream = v.scalarCount == s ? v.scalars : v.broadcasted(to: [s]).scalars
        let gradient = TensorElements<Double>.filled(count: s * k) { out in
            for p in 0..<s {
                (out.baseAddress! + p * k).update(repeating: upstream[p], count: k)
            }
        }
        return Tensor(shape: shape, scalars: gradient)
    })
}

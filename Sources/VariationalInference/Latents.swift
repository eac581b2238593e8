import _Differentiation
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
    public var shape: [Int]
    public var support: Support

    /// A latent variable with the given shape and support.
    public init(_ name: String, shape: [Int] = [], support: Support = .real) {
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
    public var size: Int { shape.reduce(1, *) }

    /// The number of unconstrained coordinates (one fewer per simplex).
    public var unconstrainedSize: Int {
        if support == .simplex { return size - size / shape.last! }
        return size
    }
}

/// The layout of all latent variables in one flat unconstrained vector.
public struct LatentSpace: Sendable, Equatable {
    public let variables: [LatentVariable]
    /// Offsets of each variable in the unconstrained vector.
    public let unconstrainedOffsets: [Int]
    /// Offsets of each variable in the constrained vector.
    public let constrainedOffsets: [Int]
    /// The total unconstrained dimension.
    public let dimension: Int
    /// The total constrained dimension.
    public let constrainedDimension: Int

    public init(_ variables: [LatentVariable]) {
        require(Set(variables.map(\.name)).count == variables.count, "LatentSpace: latent variable names must be unique")
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

    /// Maps unconstrained particles [S, D] to constrained values [S, C] and the log-Jacobian of the map, [S].
    /// (A struct rather than a tuple: differentiating a tuple result of which only the second element is used
    /// handed the first element's pullback the second's cotangent.)
    @differentiable(reverse)
    public func constrain(_ theta: Tensor<Double>) -> ConstrainedValues {
        let s = withoutDerivative(at: theta.shape[0])
        if withoutDerivative(at: isUnconstrained) {
            return ConstrainedValues(values: theta, logJacobian: withoutDerivative(at: Tensor<Double>(zeros: [s])))
        }
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
        let i = withoutDerivative(at: space.index(of: name))
        let v = withoutDerivative(at: space.variables[i])
        let start = withoutDerivative(at: space.constrainedOffsets[i])
        let s = withoutDerivative(at: values.shape[0])
        let flat = withoutDerivative(at: v.shape.count <= 1)
        // One variable filling the whole vector needs no slice.
        if start == 0 && v.size == withoutDerivative(at: values.shape[1]) {
            return flat ? values : values.reshaped(to: [s] + v.shape)
        }
        let block = values.slice(axis: 1, range: start..<(start + v.size))
        return flat ? block : block.reshaped(to: [s] + v.shape)
    }
}

/// Sums a tensor of shape [S, …] over every axis but the first: one value per particle, [S].
@differentiable(reverse)
public func sumPerParticle(_ x: Tensor<Double>) -> Tensor<Double> {
    let shape = withoutDerivative(at: x.shape)
    if shape.count == 1 { return x }
    if shape.count == 2 { return x.sum(squeezingAxes: 1) }
    return x.reshaped(to: [shape[0], shape.dropFirst().reduce(1, *)]).sum(squeezingAxes: 1)
}

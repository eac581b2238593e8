import _Differentiation
import VariationalCore

/// An invertible, differentiable map y = f(x) with a tractable log |det ∂y/∂x|.
///
/// `inputEventRank` says how many trailing dimensions of x form one event: 0 for elementwise maps, 1 for maps of
/// vectors. Log-determinants are reported per event: the shape of x without its event dimensions.
public protocol Bijector: Differentiable {
    associatedtype Scalar: TensorScalar

    /// The number of trailing dimensions of the input that form one event.
    var inputEventRank: Int { get }

    /// y = f(x).
    @differentiable(reverse)
    func forward(_ x: Tensor<Scalar>) -> Tensor<Scalar>

    /// x = f⁻¹(y).
    @differentiable(reverse)
    func inverse(_ y: Tensor<Scalar>) -> Tensor<Scalar>

    /// log |det ∂f(x)/∂x|, one value per event.
    @differentiable(reverse)
    func forwardLogDetJacobian(_ x: Tensor<Scalar>) -> Tensor<Scalar>
}

extension Bijector {
    /// log |det ∂f⁻¹(y)/∂y| = −log |det ∂f(x)/∂x| at x = f⁻¹(y).
    @differentiable(reverse)
    public func inverseLogDetJacobian(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        -forwardLogDetJacobian(inverse(y))
    }
}

/// Sums the trailing `count` axes (none when `count` is 0).
@differentiable(reverse)
public func sumTrailing<Scalar: TensorScalar>(_ x: Tensor<Scalar>, _ count: Int) -> Tensor<Scalar> {
    if count == 0 { return x }
    let rank = withoutDerivative(at: x.rank)
    return x.sum(squeezingAxes: withoutDerivative(at: Array((rank - count)..<rank)))
}

/// The identity map.
public struct Identity<Scalar: TensorScalar>: Bijector {
    public init() {}
    public var inputEventRank: Int { 0 }
    @differentiable(reverse) public func forward(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x }
    @differentiable(reverse) public func inverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> { y }
    @differentiable(reverse) public func forwardLogDetJacobian(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x * 0 }
}

/// y = exp(x): the real line onto the positive reals.
public struct Exp<Scalar: TensorScalar>: Bijector {
    public init() {}
    public var inputEventRank: Int { 0 }
    @differentiable(reverse) public func forward(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.exp() }
    @differentiable(reverse) public func inverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> { y.log() }
    @differentiable(reverse) public func forwardLogDetJacobian(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x }
}

/// y = log(1 + eˣ): the real line onto the positive reals, close to the identity for large x.
public struct Softplus<Scalar: TensorScalar>: Bijector {
    public init() {}
    public var inputEventRank: Int { 0 }
    @differentiable(reverse) public func forward(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.softplus() }
    /// x = y + log(1 − e^−y).
    @differentiable(reverse) public func inverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> { y + (-(-y).expm1()).log() }
    /// dy/dx = σ(x).
    @differentiable(reverse) public func forwardLogDetJacobian(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.logSigmoid() }
}

/// y = σ(x) = 1 / (1 + e^−x): the real line onto (0, 1).
public struct Sigmoid<Scalar: TensorScalar>: Bijector {
    public init() {}
    public var inputEventRank: Int { 0 }
    @differentiable(reverse) public func forward(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.sigmoid() }
    /// x = log y − log(1 − y).
    @differentiable(reverse) public func inverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> { y.log() - (-y).log1p() }
    /// dy/dx = σ(x) σ(−x).
    @differentiable(reverse) public func forwardLogDetJacobian(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        x.logSigmoid() + (-x).logSigmoid()
    }
}

/// y = tanh(x): the real line onto (−1, 1).
public struct Tanh<Scalar: TensorScalar>: Bijector {
    public init() {}
    public var inputEventRank: Int { 0 }
    @differentiable(reverse) public func forward(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.tanh() }
    /// x = atanh(y) = ½ (log(1 + y) − log(1 − y)).
    @differentiable(reverse) public func inverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> { (y.log1p() - (-y).log1p()) * 0.5 }
    /// log(1 − tanh² x) = 2 (log 2 − x − softplus(−2x)), stable for large |x|.
    @differentiable(reverse) public func forwardLogDetJacobian(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        ((x * -2).softplus() + x - Scalar.log(2)) * -2
    }
}

/// y = shift + scale · x, elementwise with broadcasting; scale must be non-zero.
public struct Affine<Scalar: TensorScalar>: Bijector {
    public var shift: Tensor<Scalar>
    public var scale: Tensor<Scalar>

    @differentiable(reverse)
    public init(shift: Tensor<Scalar>, scale: Tensor<Scalar>) {
        self.shift = shift
        self.scale = scale
    }

    public var inputEventRank: Int { 0 }
    @differentiable(reverse) public func forward(_ x: Tensor<Scalar>) -> Tensor<Scalar> { shift + scale * x }
    @differentiable(reverse) public func inverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> { (y - shift) / scale }
    @differentiable(reverse) public func forwardLogDetJacobian(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        (x * 0) + scale.abs().log()
    }
}

/// y = shift + L x for vectors x (the last axis), with L lower-triangular with non-zero diagonal.
public struct LowerCholeskyAffine<Scalar: TensorScalar>: Bijector {
    public var shift: Tensor<Scalar>
    public var scaleTril: Tensor<Scalar>

    @differentiable(reverse)
    public init(shift: Tensor<Scalar>, scaleTril: Tensor<Scalar>) {
        self.shift = shift
        self.scaleTril = scaleTril
    }

    public var inputEventRank: Int { 1 }

    @differentiable(reverse)
    public func forward(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        let rows = x.reshaped(to: withoutDerivative(at: [-1, scaleTril.shape[0]]))
        let y = matmul(rows, scaleTril.lowerTriangular().transposed()) + shift
        return y.reshaped(to: withoutDerivative(at: x.shape))
    }

    @differentiable(reverse)
    public func inverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        let rows = (y - shift).reshaped(to: withoutDerivative(at: [-1, scaleTril.shape[0]]))
        let x = Tensor.triangularSolve(lower: scaleTril, rows.transposed()).transposed()
        return x.reshaped(to: withoutDerivative(at: y.shape))
    }

    @differentiable(reverse)
    public func forwardLogDetJacobian(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        let logDet = scaleTril.diagonalPart().abs().log().sum()
        let batch = withoutDerivative(at: TensorShape(x.shape.dropLast()))
        return logDet.broadcasted(to: batch)
    }
}

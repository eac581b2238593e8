import _Differentiation

/// The value of a function returning a scalar tensor, and its gradient.
@inlinable
public func valueWithGradient<T: Differentiable, Scalar: TensorScalar>(
    at x: T, of f: @differentiable(reverse) (T) -> Tensor<Scalar>
) -> (value: Tensor<Scalar>, gradient: T.TangentVector) {
    let (value, pullback) = valueWithPullback(at: x, of: f)
    require(value.scalarCount == 1, "gradient: the function must return one element, got shape \(value.shape)")
    return (value, pullback(Tensor(ones: value.shape)))
}

/// The gradient of a function returning a scalar tensor.
@inlinable
public func gradient<T: Differentiable, Scalar: TensorScalar>(
    at x: T, of f: @differentiable(reverse) (T) -> Tensor<Scalar>
) -> T.TangentVector {
    valueWithGradient(at: x, of: f).gradient
}

/// The value of a two-argument function returning a scalar tensor, and its gradients.
@inlinable
public func valueWithGradient<T: Differentiable, U: Differentiable, Scalar: TensorScalar>(
    at x: T, _ y: U, of f: @differentiable(reverse) (T, U) -> Tensor<Scalar>
) -> (value: Tensor<Scalar>, gradient: (T.TangentVector, U.TangentVector)) {
    let (value, pullback) = valueWithPullback(at: x, y, of: f)
    require(value.scalarCount == 1, "gradient: the function must return one element, got shape \(value.shape)")
    return (value, pullback(Tensor(ones: value.shape)))
}

/// The gradients of a two-argument function returning a scalar tensor.
@inlinable
public func gradient<T: Differentiable, U: Differentiable, Scalar: TensorScalar>(
    at x: T, _ y: U, of f: @differentiable(reverse) (T, U) -> Tensor<Scalar>
) -> (T.TangentVector, U.TangentVector) {
    valueWithGradient(at: x, y, of: f).gradient
}

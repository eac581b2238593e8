import CVariationalKernels
import _Differentiation

/// Two tensors as one differentiable value: the two outputs of `linearPair`.
public struct TensorPair<Scalar: TensorScalar>: Differentiable, AdditiveArithmetic {
    public var first: Tensor<Scalar>
    public var second: Tensor<Scalar>

    @differentiable(reverse)
    public init(first: Tensor<Scalar>, second: Tensor<Scalar>) {
        self.first = first
        self.second = second
    }
}

/// x · W₁ + b₁ and x · W₂ + b₂ for one input x of shape [batch, n] and two weights of one shape [n, m]: the two heads
/// of a Gaussian encoder (μ and log σ²). They run as one product x · [W₁ W₂] of 2m columns, where two products of m
/// columns each copy x into the kernel's panels and fill a narrow m into its blocks of columns (48 wide in the
/// AVX-512 kernel: m = 20 uses 42% of them, 2m = 40 uses 83%). Backward, one product gives the input's gradient
/// (depth 2m, both heads summed in it) and one the stacked weights' gradient. Values and gradients are those of two
/// `linear` calls up to the order of the sums.
@differentiable(reverse)
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func linearPair<Scalar: TensorScalar>(
    _ x: Tensor<Scalar>, _ weight1: Tensor<Scalar>, _ bias1: Tensor<Scalar>, _ weight2: Tensor<Scalar>, _ bias2: Tensor<Scalar>
) -> TensorPair<Scalar> {
    linearPairRaw(x, weight1, bias1, weight2, bias2).value
}

/// The pair's value and the stacked weight [W₁ W₂] the pullback multiplies by.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func linearPairRaw<Scalar: TensorScalar>(
    _ x: Tensor<Scalar>, _ weight1: Tensor<Scalar>, _ bias1: Tensor<Scalar>, _ weight2: Tensor<Scalar>, _ bias2: Tensor<Scalar>
) -> (value: TensorPair<Scalar>, stackedWeight: Tensor<Scalar>) {
    require(
        x.rank == 2 && weight1.rank == 2 && x.shape[1] == weight1.shape[0] && weight2.shape == weight1.shape
            && bias1.shape == [weight1.shape[1]] && bias2.shape == bias1.shape,
        "linearPair: input \(x.shape), weights \(weight1.shape) and \(weight2.shape), biases \(bias1.shape) and \(bias2.shape) do not fit [b, n]·[n, m] + [m] twice")
    let m = weight1.shape[1]
    let stackedWeight = stackingColumns(weight1, weight2, width: m)
    let both = linearRaw(x, stackedWeight, stackingColumns(bias1, bias2, width: m))
    let (first, second) = splittingColumns(both, width: m)
    return (TensorPair(first: first, second: second), stackedWeight)
}

@derivative(of: linearPair)
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func vjpLinearPair<Scalar: TensorScalar>(
    _ x: Tensor<Scalar>, _ weight1: Tensor<Scalar>, _ bias1: Tensor<Scalar>, _ weight2: Tensor<Scalar>, _ bias2: Tensor<Scalar>
) -> (value: TensorPair<Scalar>, pullback: (TensorPair<Scalar>) -> (Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>)) {
    let (value, stackedWeight) = linearPairRaw(x, weight1, bias1, weight2, bias2)
    let shape = value.first.shape
    return (value, { v in
        if v.first.isSymbolicZero && v.second.isSymbolicZero { return (.zero, .zero, .zero, .zero, .zero) }
        func upstream(_ t: Tensor<Scalar>) -> Tensor<Scalar> {
            t.isSymbolicZero ? Tensor(zeros: shape) : t.shape == shape ? t : t.broadcastRaw(to: shape)
        }
        let m = shape[1]
        let delta = stackingColumns(upstream(v.first), upstream(v.second), width: m)
        let (weightGradient1, weightGradient2) = splittingColumns(Tensor.matmulRaw(x, delta, transposeA: true), width: m)
        let (biasGradient1, biasGradient2) = splittingColumns(delta.sumRaw(alongAxes: [0]).reshapedRaw(to: [2 * m]), width: m)
        return (Tensor.matmulRaw(delta, stackedWeight, transposeB: true), weightGradient1, biasGradient1, weightGradient2, biasGradient2)
    })
}

/// [a b]: the rows of a and b, each `width` wide, side by side (a vector is one row). The kernel splits the rows
/// between the cores as the products and the optimiser split them, so each core copies rows it wrote.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func stackingColumns<Scalar: TensorScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>, width: Int) -> Tensor<Scalar> {
    let rows = width == 0 ? 0 : a.scalarCount / width
    let shape: TensorShape = a.rank == 1 ? [2 * width] : [rows, 2 * width]
    return Tensor(shape: shape) { out in
        a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                vk_stack_columns(rows, width * MemoryLayout<Scalar>.stride, pa.baseAddress, pb.baseAddress, out.baseAddress)
            }
        }
    }
}

/// The left and right halves of the rows of t, each `width` wide (a vector is one row), split between the cores as
/// `stackingColumns` is.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func splittingColumns<Scalar: TensorScalar>(_ t: Tensor<Scalar>, width: Int) -> (Tensor<Scalar>, Tensor<Scalar>) {
    let rows = width == 0 ? 0 : t.scalarCount / (2 * width)
    let shape: TensorShape = t.rank == 1 ? [width] : [rows, width]
    if rows == 0 { return (Tensor(zeros: shape), Tensor(zeros: shape)) }
    var right: Tensor<Scalar>?
    let left = Tensor<Scalar>(shape: shape) { pl in
        right = Tensor(shape: shape) { pr in
            t.scalars.withUnsafeBufferPointer { pt in
                vk_split_columns(rows, width * MemoryLayout<Scalar>.stride, pt.baseAddress, pl.baseAddress, pr.baseAddress)
            }
        }
    }
    return (left, right!)
}

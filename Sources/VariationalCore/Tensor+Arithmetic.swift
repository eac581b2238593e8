import _Differentiation

// Broadcasting arithmetic. Each operation's derivative sits beside it; gradients of broadcast operands are summed
// back to the operand's shape. Symbolic zeros pass through `+` and `-` untouched.

extension Tensor {
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func adding(_ other: Tensor) -> Tensor {
        if other.isSymbolicZero { return self }
        if isSymbolicZero { return other }
        if isKernelSized(with: other), let result = combinedByKernel(other, .add) { return result }
        return zipWith(other, +)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func subtracting(_ other: Tensor) -> Tensor {
        if other.isSymbolicZero { return self }
        if isSymbolicZero { return other.map { -$0 } }
        if isKernelSized(with: other), let result = combinedByKernel(other, .subtract) { return result }
        return zipWith(other, -)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func multiplying(_ other: Tensor) -> Tensor {
        if isSymbolicZero || other.isSymbolicZero { return .zero }
        // 1 · x is x, to the bit: a gradient seeded with ones passes through a pullback's product untouched.
        if shape == other.shape {
            if scalars.areOnes { return Tensor(checkedShape: shape, elements: other.scalars) }
            if other.scalars.areOnes { return Tensor(checkedShape: shape, elements: scalars) }
        }
        if isKernelSized(with: other), let result = combinedByKernel(other, .multiply) { return result }
        return zipWith(other, *)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func dividing(_ other: Tensor) -> Tensor {
        if isKernelSized(with: other), let result = combinedByKernel(other, .divide) { return result }
        return zipWith(other, /)
    }

    /// Whether either operand has enough elements (64) for arithmetic to try the vector kernel (`combinedByKernel`),
    /// checked before the call: small tensors would pay for a call that finds nothing to do (eight schools' step,
    /// whose tensors are all smaller, spent about 110 instructions in it with the check inside).
    @inlinable
    func isKernelSized(with other: Tensor) -> Bool { scalars.count >= 64 || other.scalars.count >= 64 }

    /// `zipWith` for the arithmetic `operation`, through the vector kernel, where one pass over contiguous elements
    /// does it (equal shapes, or one number against a tensor of at least its rank); nil otherwise. The same elements,
    /// each one rounded operation. (Apart from `zipWith`, whose callers pass it the operation as a closure it inlines:
    /// passed on through another function, the closure was called for every element.)
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func combinedByKernel(_ other: Tensor, _ operation: ArithmeticOperation) -> Tensor? {
        let (count, otherCount) = (scalars.count, other.scalars.count)
        let (aStride, bStride): (Int, Int)
        if shape == other.shape {
            (aStride, bStride) = (1, 1)
        } else if otherCount == 1 && other.rank <= rank {
            (aStride, bStride) = (1, 0)
        } else if count == 1 && rank <= other.rank {
            (aStride, bStride) = (0, 1)
        } else {
            return nil
        }
        let n = Swift.max(count, otherCount)
        let result = scalars.withUnsafeBufferPointer { a in
            other.scalars.withUnsafeBufferPointer { b in
                TensorElements<Scalar>.filled(count: n) { out in
                    Scalar.combine(operation, count: n, a.baseAddress!, stride: aStride, b.baseAddress!, stride: bStride, result: out.baseAddress!)
                }
            }
        }
        return Tensor(checkedShape: aStride == 1 ? shape : other.shape, elements: result)
    }

    @differentiable(reverse)
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.adding(rhs) }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: +)
    @usableFromInline
    static func vjpAdd(_ lhs: Tensor, _ rhs: Tensor) -> (value: Tensor, pullback: (Tensor) -> (Tensor, Tensor)) {
        let value = lhs.adding(rhs)
        return (value, sumPullback(lhs, rhs, value, negatingRight: false))
    }

    /// The pullback of `lhs ± rhs`. It keeps the operands' shapes only, and one of them when the other is the
    /// result's: a closure that holds a single reference needs no context of its own, so the common cases (equal
    /// shapes, one operand broadcast) allocate nothing beyond the gradients.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    static func sumPullback(_ lhs: Tensor, _ rhs: Tensor, _ value: Tensor, negatingRight: Bool) -> (Tensor) -> (Tensor, Tensor) {
        if lhs.isSymbolicZero || rhs.isSymbolicZero {
            return { v in
                if v.isSymbolicZero { return (.zero, .zero) }
                return (v.unbroadcast(toMatch: lhs), (negatingRight ? v.map { -$0 } : v).unbroadcast(toMatch: rhs))
            }
        }
        let (left, right) = (lhs.shape, rhs.shape)
        if left == value.shape {
            if negatingRight {
                return { v in v.isSymbolicZero ? (.zero, .zero) : (v, v.map { -$0 }.unbroadcast(to: right)) }
            }
            return { v in v.isSymbolicZero ? (.zero, .zero) : (v, v.unbroadcast(to: right)) }
        }
        if right == value.shape {
            if negatingRight {
                return { v in v.isSymbolicZero ? (.zero, .zero) : (v.unbroadcast(to: left), v.map { -$0 }) }
            }
            return { v in v.isSymbolicZero ? (.zero, .zero) : (v.unbroadcast(to: left), v) }
        }
        return { v in
            if v.isSymbolicZero { return (.zero, .zero) }
            let gradient = v.unbroadcast(to: right)
            return (v.unbroadcast(to: left), negatingRight ? gradient.map { -$0 } : gradient)
        }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: +, wrt: lhs)
    @usableFromInline
    static func vjpAddLeft(_ lhs: Tensor, _ rhs: Tensor) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        if lhs.isSymbolicZero { return (lhs.adding(rhs), { _ in .zero }) }
        let shape = lhs.shape
        return (lhs.adding(rhs), { v in v.isSymbolicZero ? .zero : v.unbroadcast(to: shape) })
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: +, wrt: rhs)
    @usableFromInline
    static func vjpAddRight(_ lhs: Tensor, _ rhs: Tensor) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        if rhs.isSymbolicZero { return (lhs.adding(rhs), { _ in .zero }) }
        let shape = rhs.shape
        return (lhs.adding(rhs), { v in v.isSymbolicZero ? .zero : v.unbroadcast(to: shape) })
    }

    @differentiable(reverse)
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.subtracting(rhs) }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: -)
    @usableFromInline
    static func vjpSubtract(_ lhs: Tensor, _ rhs: Tensor) -> (value: Tensor, pullback: (Tensor) -> (Tensor, Tensor)) {
        let value = lhs.subtracting(rhs)
        return (value, sumPullback(lhs, rhs, value, negatingRight: true))
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: -, wrt: lhs)
    @usableFromInline
    static func vjpSubtractLeft(_ lhs: Tensor, _ rhs: Tensor) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        if lhs.isSymbolicZero { return (lhs.subtracting(rhs), { _ in .zero }) }
        let shape = lhs.shape
        return (lhs.subtracting(rhs), { v in v.isSymbolicZero ? .zero : v.unbroadcast(to: shape) })
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: -, wrt: rhs)
    @usableFromInline
    static func vjpSubtractRight(_ lhs: Tensor, _ rhs: Tensor) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        if rhs.isSymbolicZero { return (lhs.subtracting(rhs), { _ in .zero }) }
        let shape = rhs.shape
        return (lhs.subtracting(rhs), { v in v.isSymbolicZero ? .zero : v.map { -$0 }.unbroadcast(to: shape) })
    }

    @differentiable(reverse)
    public static prefix func - (operand: Tensor) -> Tensor { operand.map { -$0 } }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: -)
    @usableFromInline
    static func vjpNegate(_ operand: Tensor) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (operand.map { -$0 }, { v in v.isSymbolicZero ? .zero : v.map { -$0 } })
    }

    @differentiable(reverse)
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.multiplying(rhs) }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: *)
    @usableFromInline
    static func vjpMultiply(_ lhs: Tensor, _ rhs: Tensor) -> (value: Tensor, pullback: (Tensor) -> (Tensor, Tensor)) {
        (lhs.multiplying(rhs), { v in
            if v.isSymbolicZero { return (.zero, .zero) }
            return (productUnbroadcast(v, rhs, toMatch: lhs), productUnbroadcast(v, lhs, toMatch: rhs))
        })
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: *, wrt: lhs)
    @usableFromInline
    static func vjpMultiplyLeft(_ lhs: Tensor, _ rhs: Tensor) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (lhs.multiplying(rhs), { v in v.isSymbolicZero ? .zero : productUnbroadcast(v, rhs, toMatch: lhs) })
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: *, wrt: rhs)
    @usableFromInline
    static func vjpMultiplyRight(_ lhs: Tensor, _ rhs: Tensor) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (lhs.multiplying(rhs), { v in v.isSymbolicZero ? .zero : productUnbroadcast(v, lhs, toMatch: rhs) })
    }

    @differentiable(reverse)
    public static func / (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.dividing(rhs) }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: /)
    @usableFromInline
    static func vjpDivide(_ lhs: Tensor, _ rhs: Tensor) -> (value: Tensor, pullback: (Tensor) -> (Tensor, Tensor)) {
        let value = lhs.dividing(rhs)
        return (value, { v in
            if v.isSymbolicZero { return (.zero, .zero) }
            let dl = v.dividing(rhs)
            let dr = dl.multiplying(value).map { -$0 }
            return (dl.unbroadcast(toMatch: lhs), dr.unbroadcast(toMatch: rhs))
        })
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: /, wrt: lhs)
    @usableFromInline
    static func vjpDivideLeft(_ lhs: Tensor, _ rhs: Tensor) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (lhs.dividing(rhs), { v in v.isSymbolicZero ? .zero : v.dividing(rhs).unbroadcast(toMatch: lhs) })
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: /, wrt: rhs)
    @usableFromInline
    static func vjpDivideRight(_ lhs: Tensor, _ rhs: Tensor) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let value = lhs.dividing(rhs)
        return (value, { v in v.isSymbolicZero ? .zero : v.dividing(rhs).multiplying(value).map { -$0 }.unbroadcast(toMatch: rhs) })
    }

    // Scalar forms: the scalar is a rank-0 tensor broadcast over the other operand. Besides the derivative with
    // respect to both operands, each has one with respect to the tensor alone and one with respect to the scalar
    // alone, so that differentiating through a constant scalar (a prior's mean, a fixed scale) does not also
    // compute the scalar's gradient, a sum over the whole tensor, only to discard it.

    @differentiable(reverse)
    @differentiable(reverse, wrt: lhs)
    @differentiable(reverse, wrt: rhs)
    public static func + (lhs: Tensor, rhs: Scalar) -> Tensor { lhs + Tensor(rhs) }
    @differentiable(reverse)
    @differentiable(reverse, wrt: lhs)
    @differentiable(reverse, wrt: rhs)
    public static func + (lhs: Scalar, rhs: Tensor) -> Tensor { Tensor(lhs) + rhs }
    @differentiable(reverse)
    @differentiable(reverse, wrt: lhs)
    @differentiable(reverse, wrt: rhs)
    public static func - (lhs: Tensor, rhs: Scalar) -> Tensor { lhs - Tensor(rhs) }
    @differentiable(reverse)
    @differentiable(reverse, wrt: lhs)
    @differentiable(reverse, wrt: rhs)
    public static func - (lhs: Scalar, rhs: Tensor) -> Tensor { Tensor(lhs) - rhs }
    @differentiable(reverse)
    @differentiable(reverse, wrt: lhs)
    @differentiable(reverse, wrt: rhs)
    public static func * (lhs: Tensor, rhs: Scalar) -> Tensor { lhs * Tensor(rhs) }
    @differentiable(reverse)
    @differentiable(reverse, wrt: lhs)
    @differentiable(reverse, wrt: rhs)
    public static func * (lhs: Scalar, rhs: Tensor) -> Tensor { Tensor(lhs) * rhs }
    @differentiable(reverse)
    @differentiable(reverse, wrt: lhs)
    @differentiable(reverse, wrt: rhs)
    public static func / (lhs: Tensor, rhs: Scalar) -> Tensor { lhs / Tensor(rhs) }
    @differentiable(reverse)
    @differentiable(reverse, wrt: lhs)
    @differentiable(reverse, wrt: rhs)
    public static func / (lhs: Scalar, rhs: Tensor) -> Tensor { Tensor(lhs) / rhs }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: init(_:))
    @usableFromInline
    static func vjpInitScalar(_ value: Scalar) -> (value: Tensor, pullback: (Tensor) -> Scalar) {
        (Tensor(value), { v in v.isSymbolicZero ? 0 : v.scalars.reduce(0, +) })
    }

    public static func += (lhs: inout Tensor, rhs: Tensor) { lhs = lhs + rhs }
    public static func -= (lhs: inout Tensor, rhs: Tensor) { lhs = lhs - rhs }
    public static func *= (lhs: inout Tensor, rhs: Tensor) { lhs = lhs * rhs }
    public static func /= (lhs: inout Tensor, rhs: Tensor) { lhs = lhs / rhs }
}

import _Differentiation

// Reductions over axes. `alongAxes` keeps the reduced dimensions with size 1; `squeezingAxes` removes them.
// Negative axes count from the end.

extension Tensor {
    /// One axis made non-negative (stops on an axis out of range).
    @usableFromInline
    func normalizedAxis(_ axis: Int) -> Int {
        let a = axis < 0 ? axis + rank : axis
        require(a >= 0 && a < rank, "Tensor: axis \(axis) out of range for shape \(shape)")
        return a
    }

    /// Axes made non-negative, sorted, without repeats.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func normalizedAxes(_ axes: [Int]) -> [Int] {
        if axes.count == 1 && axes[0] >= 0 && axes[0] < rank { return axes }
        var result: [Int] = []
        result.reserveCapacity(axes.count)
        for axis in axes {
            let a = axis < 0 ? axis + rank : axis
            require(a >= 0 && a < rank, "Tensor: axis \(axis) out of range for shape \(shape)")
            if !result.contains(a) { result.append(a) }
        }
        if result.count > 1 { result.sort() }
        return result
    }

    /// Reduces one axis, keeping it with size 1.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @inlinable
    func reduceRaw(axis: Int, initial: Scalar, _ combine: (Scalar, Scalar) -> Scalar) -> Tensor {
        let outer = shape[..<axis].reduce(1, *)
        let n = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        var outShape = shape
        outShape[axis] = 1
        var result = [Scalar](repeating: initial, count: outer * inner)
        result.withUnsafeMutableBufferPointer { out in
            scalars.withUnsafeBufferPointer { x in
                for o in 0..<outer {
                    let base = o * n * inner
                    let target = o * inner
                    for k in 0..<n {
                        let row = base + k * inner
                        for i in 0..<inner { out[target + i] = combine(out[target + i], x[row + i]) }
                    }
                }
            }
        }
        return Tensor(shape: outShape, scalars: result)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func sumRaw(alongAxes axes: [Int]) -> Tensor {
        var result = self
        for axis in normalizedAxes(axes) {
            result = result.shape[(axis + 1)...].reduce(1, *) == 1
                ? result.sumContiguousRows(axis: axis)
                : result.sumAcrossRows(axis: axis)
        }
        return result
    }

    /// Sums an axis that has elements after it (a bias's gradient: the columns of a batch). Each slice along the
    /// axis is added whole into the running sums, in a kernel that gives large ones' columns to several threads.
    @usableFromInline
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func sumAcrossRows(axis: Int) -> Tensor {
        let outer = shape[..<axis].reduce(1, *)
        let n = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        var outShape = shape
        outShape[axis] = 1
        let sums = scalars.withUnsafeBufferPointer { x in
            TensorElements<Scalar>.filled(count: outer * inner) { out in
                for o in 0..<outer {
                    let target = out.baseAddress! + o * inner
                    guard n > 0 else {
                        target.initialize(repeating: 0, count: inner)
                        continue
                    }
                    Scalar.columnSums(rows: n, columns: inner, x.baseAddress! + o * n * inner, result: target)
                }
            }
        }
        return Tensor(checkedShape: outShape, elements: sums)
    }

    /// Sums the last non-unit axis, whose elements are contiguous.
    @usableFromInline
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func sumContiguousRows(axis: Int) -> Tensor {
        var outShape = shape
        outShape[axis] = 1
        // Counted from the result's shape: an empty axis still has one (zero) sum per row.
        return Tensor(checkedShape: outShape, elements: Self.rowSums(scalars, rows: outShape.reduce(1, *), columns: shape[axis]))
    }

    /// The sum of each of `rows` contiguous rows of `columns` elements (`TensorScalar.rowSums`: 16 running sums per
    /// row, in a vector kernel where the processor has one).
    @usableFromInline
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func rowSums(_ elements: TensorElements<Scalar>, rows: Int, columns n: Int) -> TensorElements<Scalar> {
        elements.withUnsafeBufferPointer { x in
            TensorElements<Scalar>.filled(count: rows) { out in
                // Rows of no elements have no storage to point into: their sums are 0.
                guard n > 0, let x = x.baseAddress else { return out.initialize(repeating: 0) }
                if n >= rowSumLanes { return Scalar.rowSums(rows: rows, columns: n, x, result: out.baseAddress!) }
                for r in 0..<rows { out[r] = shortRowSum(x + r * n, count: n) }
            }
        }
    }

    /// The sum of `count` contiguous elements, in the order every row sum uses.
    @usableFromInline
    @inline(__always)
    static func rowSum(_ x: UnsafePointer<Scalar>, count n: Int) -> Scalar {
        if n < rowSumLanes { return shortRowSum(x, count: n) }
        var total = Scalar.zero
        Scalar.rowSums(rows: 1, columns: n, x, result: &total)
        return total
    }

    /// The running sums of `TensorScalar.rowSums`.
    @usableFromInline static var rowSumLanes: Int { 16 }

    /// A row shorter than the running sums, as the kernel adds it: every element into sum 0 in order, from +0 (the
    /// pairwise total then adds zeros, which change nothing).
    @usableFromInline
    @inline(__always)
    static func shortRowSum(_ x: UnsafePointer<Scalar>, count n: Int) -> Scalar {
        var total = Scalar.zero
        for i in 0..<n { total += x[i] }
        return total
    }

    /// One sum per index of the first axis, over all the others: shape [shape[0]] (no derivative; a rank-0 or
    /// rank-1 tensor is returned as it is).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func sumOverTrailingAxes() -> Tensor {
        if rank <= 1 { return self }
        let rows = shape[0]
        // Deferred elements whose row sums were computed with them (a likelihood's) are not computed for this.
        if let sums = scalars.deferredRowSums(rows: rows) { return Tensor(checkedShape: TensorShape(repeating: rows, count: 1), elements: sums) }
        return Tensor(checkedShape: TensorShape(repeating: rows, count: 1), elements: Self.rowSums(scalars, rows: rows, columns: rows == 0 ? 0 : scalarCount / rows))
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func maxRaw(alongAxes axes: [Int]) -> Tensor {
        var result = self
        for axis in normalizedAxes(axes) {
            require(shape[axis] > 0, "Tensor.max: empty axis \(axis) in shape \(shape)")
            result = result.reduceRaw(axis: axis, initial: -.infinity) { Swift.max($0, $1) }
        }
        return result
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func squeezedShape(removing axes: [Int]) -> TensorShape {
        // No set and no arrays in between (a shape has at most four axes): it runs in every reduction that squeezes,
        // and with them it took 21 of the 1,089 samples perf caught outside the kernels in the VAE's step.
        let removed = normalizedAxes(axes)
        var kept = TensorShape()
        for axis in 0..<rank where !removed.contains(axis) { kept.append(shape[axis]) }
        return kept
    }

    // MARK: Sum

    /// The sum over the given axes, keeping them with size 1.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func sum(alongAxes axes: [Int]) -> Tensor { sumRaw(alongAxes: axes) }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: sum(alongAxes:))
    @usableFromInline
    func vjpSum(alongAxes axes: [Int]) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let inputShape = shape
        return (sumRaw(alongAxes: axes), { v in v.isSymbolicZero ? .zero : v.broadcastRaw(to: inputShape) })
    }

    /// The sum over the given axes, keeping them with size 1.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func sum(alongAxes axes: Int...) -> Tensor { sum(alongAxes: axes) }

    /// The sum over the given axes, removing them.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func sum(squeezingAxes axes: [Int]) -> Tensor {
        sum(alongAxes: axes).reshaped(to: withoutDerivative(at: squeezedShape(removing: axes)))
    }

    /// The sum over the given axes, removing them.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func sum(squeezingAxes axes: Int...) -> Tensor { sum(squeezingAxes: axes) }

    /// The sum of all elements, as a rank-0 tensor.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func sum() -> Tensor {
        if scalarCount == 0 { return Tensor(0) }
        return Tensor(shape: [], scalars: reshapedRaw(to: [scalarCount]).sumContiguousRows(axis: 0).scalars)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: sum())
    @usableFromInline
    func vjpSumAll() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let shape = self.shape
        return (sum(), { v in v.isSymbolicZero ? .zero : Tensor(repeating: v.scalar, shape: shape) })
    }

    // MARK: Mean

    /// The mean over the given axes, keeping them with size 1.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func mean(alongAxes axes: [Int]) -> Tensor {
        let count = withoutDerivative(at: normalizedAxes(axes).reduce(1) { $0 * shape[$1] })
        return sum(alongAxes: axes) / Scalar(count)
    }

    /// The mean over the given axes, keeping them with size 1.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func mean(alongAxes axes: Int...) -> Tensor { mean(alongAxes: axes) }

    /// The mean over the given axes, removing them.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func mean(squeezingAxes axes: [Int]) -> Tensor {
        mean(alongAxes: axes).reshaped(to: withoutDerivative(at: squeezedShape(removing: axes)))
    }

    /// The mean over the given axes, removing them.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func mean(squeezingAxes axes: Int...) -> Tensor { mean(squeezingAxes: axes) }

    /// The mean of all elements, as a rank-0 tensor.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func mean() -> Tensor { sum() / Scalar(withoutDerivative(at: scalarCount)) }

    // MARK: Max

    /// The maximum over the given axes, keeping them with size 1. Ties share the gradient equally.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func max(alongAxes axes: [Int]) -> Tensor { maxRaw(alongAxes: axes) }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: max(alongAxes:))
    @usableFromInline
    func vjpMax(alongAxes axes: [Int]) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let value = maxRaw(alongAxes: axes)
        return (value, { v in
            if v.isSymbolicZero { return .zero }
            let mask = self.zipWith(value) { $0 == $1 ? 1 : 0 }
            let ties = mask.sumRaw(alongAxes: axes)
            return mask.multiplying(v.dividing(ties))
        })
    }

    /// The maximum over the given axes, keeping them with size 1.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func max(alongAxes axes: Int...) -> Tensor { max(alongAxes: axes) }

    /// The maximum over the given axes, removing them.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func max(squeezingAxes axes: Int...) -> Tensor {
        max(alongAxes: axes).reshaped(to: withoutDerivative(at: squeezedShape(removing: axes)))
    }

    /// The largest element, as a rank-0 tensor.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func max() -> Tensor {
        max(alongAxes: withoutDerivative(at: Array(0..<rank))).reshaped(to: [])
    }

    // MARK: log-sum-exp, softmax

    /// log Σ exp(x) over the given axes, keeping them with size 1; stable for large and very negative inputs.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func logSumExp(alongAxes axes: [Int]) -> Tensor { logSumExpWithSoftmax(axes).value }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func logSumExpWithSoftmax(_ axes: [Int]) -> (value: Tensor, softmax: Tensor) {
        var peak = maxRaw(alongAxes: axes)
        peak = peak.map { $0.isFinite ? $0 : 0 }
        let shifted = zipWith(peak, -).applying(.exp)
        let total = shifted.sumRaw(alongAxes: axes)
        let value = total.applying(.log).adding(peak)
        return (value, shifted.dividing(total))
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: logSumExp(alongAxes:))
    @usableFromInline
    func vjpLogSumExp(alongAxes axes: [Int]) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let (value, softmax) = logSumExpWithSoftmax(axes)
        return (value, { v in v.isSymbolicZero ? .zero : softmax.multiplying(v) })
    }

    /// log Σ exp(x) over the given axes, keeping them with size 1.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func logSumExp(alongAxes axes: Int...) -> Tensor { logSumExp(alongAxes: axes) }

    /// log Σ exp(x) over the given axes, removing them.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func logSumExp(squeezingAxes axes: Int...) -> Tensor {
        logSumExp(alongAxes: axes).reshaped(to: withoutDerivative(at: squeezedShape(removing: axes)))
    }

    /// log Σ exp(x) over all elements, as a rank-0 tensor.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func logSumExp() -> Tensor {
        logSumExp(alongAxes: withoutDerivative(at: Array(0..<rank))).reshaped(to: [])
    }

    /// log softmax along one axis (the last by default): x − logSumExp(x).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func logSoftmax(alongAxis axis: Int = -1) -> Tensor {
        self - logSumExp(alongAxes: [axis])
    }

    /// softmax along one axis (the last by default).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func softmax(alongAxis axis: Int = -1) -> Tensor {
        logSoftmax(alongAxis: axis).exp()
    }
}

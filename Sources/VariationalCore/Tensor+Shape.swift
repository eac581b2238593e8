import _Differentiation

// Shape manipulation: reshape, permute, slice, concatenate, stack, gather, broadcast.

extension Tensor {
    /// The same elements in a new shape with the same number of elements. One dimension may be −1 (inferred).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func reshaped(to newShape: TensorShape) -> Tensor { reshapedRaw(to: resolvedShape(newShape)) }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func resolvedShape(_ newShape: TensorShape) -> TensorShape {
        var target = newShape
        if let unknown = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != unknown }.map(\.element).reduce(1, *)
            require(known > 0 && scalarCount % known == 0, "Tensor.reshaped: cannot reshape \(shape) to \(newShape)")
            target[unknown] = scalarCount / known
        }
        require(
            target.allSatisfy { $0 >= 0 } && target.reduce(1, *) == scalarCount,
            "Tensor.reshaped: cannot reshape \(shape) to \(newShape)")
        return target
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: reshaped(to:))
    @usableFromInline
    func vjpReshaped(to newShape: TensorShape) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let inputShape = shape
        return (reshapedRaw(to: resolvedShape(newShape)), { v in v.isSymbolicZero ? .zero : v.reshapedRaw(to: inputShape) })
    }

    /// Inserts a dimension of size 1 at `axis`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func expandingShape(at axis: Int) -> Tensor {
        return reshaped(to: withoutDerivative(at: shapeExpanded(at: axis)))
    }

    /// Removes dimensions of size 1 at the given axes.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func squeezingShape(at axes: Int...) -> Tensor {
        let removed = withoutDerivative(at: normalizedAxes(axes))
        for axis in removed {
            require(shape[axis] == 1, "Tensor.squeezingShape: dimension \(axis) of \(shape) is not 1")
        }
        return reshaped(to: withoutDerivative(at: squeezedShape(removing: removed)))
    }

    /// Copies the tensor into a broadcast-compatible larger shape.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func broadcasted(to target: TensorShape) -> Tensor {
        require(broadcastShape(shape, target) == target, "Tensor.broadcasted: cannot broadcast \(shape) to \(target)")
        return broadcastRaw(to: target)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: broadcasted(to:))
    @usableFromInline
    func vjpBroadcasted(to target: TensorShape) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let inputShape = shape
        return (broadcasted(to: target), { v in v.isSymbolicZero ? .zero : v.unbroadcast(to: inputShape) })
    }

    // MARK: Permutation

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func permutedRaw(_ permutation: [Int]) -> Tensor {
        require(
            permutation.sorted() == Array(0..<rank),
            "Tensor.permuted: \(permutation) is not a permutation of the axes of \(shape)")
        if permutation == Array(0..<rank) { return self }
        let outShape = TensorShape(permutation.map { shape[$0] })
        let inStrides = contiguousStrides(shape)
        let strides = permutation.map { inStrides[$0] }
        let count = scalarCount
        var result = TensorElements<Scalar>.zeros(count: count)
        if rank == 2 {
            let (rows, cols) = (outShape[0], outShape[1])
            result.withUnsafeMutableBufferPointer { out in
                scalars.withUnsafeBufferPointer { x in
                    for i in 0..<rows { for j in 0..<cols { out[i * cols + j] = x[j * rows + i] } }
                }
            }
            return Tensor(shape: outShape, scalars: result)
        }
        var index = [Int](repeating: 0, count: rank)
        var source = 0
        result.withUnsafeMutableBufferPointer { out in
            scalars.withUnsafeBufferPointer { x in
                for k in 0..<count {
                    out[k] = x[source]
                    var axis = rank - 1
                    while axis >= 0 {
                        index[axis] += 1
                        source += strides[axis]
                        if index[axis] < outShape[axis] { break }
                        source -= strides[axis] * outShape[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
        return Tensor(shape: outShape, scalars: result)
    }

    /// Reorders the axes: dimension i of the result is dimension `permutation[i]` of this tensor.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func permuted(_ permutation: [Int]) -> Tensor { permutedRaw(permutation) }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: permuted)
    @usableFromInline
    func vjpPermuted(_ permutation: [Int]) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        var inverse = [Int](repeating: 0, count: permutation.count)
        for (i, p) in permutation.enumerated() { inverse[p] = i }
        return (permutedRaw(permutation), { v in v.isSymbolicZero ? .zero : v.permutedRaw(inverse) })
    }

    /// Swaps the last two axes (the matrix transpose, batched).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func transposed() -> Tensor {
        return permuted(withoutDerivative(at: lastAxesSwapped()))
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func lastAxesSwapped() -> [Int] {
        require(rank >= 2, "Tensor.transposed: needs rank ≥ 2, got shape \(shape)")
        var permutation = Array(0..<rank)
        permutation.swapAt(rank - 1, rank - 2)
        return permutation
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func shapeExpanded(at axis: Int) -> TensorShape {
        var newShape = shape
        newShape.insert(1, at: axis < 0 ? axis + rank + 1 : axis)
        return newShape
    }

    // MARK: Slicing

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func sliceRaw(axis: Int, range: Range<Int>) -> Tensor {
        let outer = shape[..<axis].reduce(1, *)
        let n = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        var outShape = shape
        outShape[axis] = range.count
        let block = range.count * inner
        let result = scalars.withUnsafeBufferPointer { x in
            TensorElements<Scalar>.filled(count: outer * block) { out in
                for o in 0..<outer {
                    let start = (o * n + range.lowerBound) * inner
                    (out.baseAddress! + o * block).update(from: x.baseAddress! + start, count: block)
                }
            }
        }
        return Tensor(checkedShape: outShape, elements: result)
    }

    /// The elements with indices in `range` along `axis`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func slice(axis: Int, range: Range<Int>) -> Tensor {
        let a = withoutDerivative(at: normalizedAxis(axis))
        require(
            range.lowerBound >= 0 && range.upperBound <= shape[a],
            "Tensor.slice: range \(range) out of bounds for axis \(axis) of shape \(shape)")
        return sliceRaw(axis: a, range: range)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: slice)
    @usableFromInline
    func vjpSlice(axis: Int, range: Range<Int>) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let a = normalizedAxis(axis)
        let inputShape = shape
        let value = slice(axis: axis, range: range)
        let sliceShape = value.shape
        return (value, { v in
            if v.isSymbolicZero { return .zero }
            // Zeros of the input's shape with the slice's gradient copied into its place, block by block.
            let upstream = v.shape == sliceShape ? v : v.broadcastRaw(to: sliceShape)
            let outer = inputShape[..<a].reduce(1, *)
            let inner = inputShape[(a + 1)...].reduce(1, *)
            let (full, block, offset) = (inputShape[a] * inner, range.count * inner, range.lowerBound * inner)
            return Tensor(shape: inputShape) { out in
                guard let target = out.baseAddress else { return }
                target.initialize(repeating: 0, count: out.count)
                upstream.scalars.withUnsafeBufferPointer { source in
                    guard let source = source.baseAddress, block > 0 else { return }
                    for o in 0..<outer { (target + o * full + offset).update(from: source + o * block, count: block) }
                }
            }
        })
    }

    // MARK: Concatenation and stacking

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    static func concatenateRaw(_ parts: [Tensor], axis: Int) -> Tensor {
        require(!parts.isEmpty, "Tensor.concatenated: no tensors")
        let first = parts[0].shape
        for part in parts {
            require(
                part.rank == first.count
                    && part.shape.enumerated().allSatisfy { $0.offset == axis || $0.element == first[$0.offset] },
                "Tensor.concatenated: shapes \(first) and \(part.shape) differ outside axis \(axis)")
        }
        let outer = first[..<axis].reduce(1, *)
        let inner = first[(axis + 1)...].reduce(1, *)
        var outShape = first
        outShape[axis] = parts.reduce(0) { $0 + $1.shape[axis] }
        return Tensor(shape: outShape) { out in
            var offset = 0
            for o in 0..<outer {
                for part in parts {
                    let block = part.shape[axis] * inner
                    part.scalars.withUnsafeBufferPointer { source in
                        if block > 0 { (out.baseAddress! + offset).update(from: source.baseAddress! + o * block, count: block) }
                    }
                    offset += block
                }
            }
        }
    }

    /// Joins tensors along an existing axis; all other dimensions must agree.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public static func concatenating(_ parts: [Tensor], alongAxis axis: Int = 0) -> Tensor {
        let a = withoutDerivative(at: axis < 0 ? axis + parts[0].rank : axis)
        return concatenateRaw(parts, axis: a)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: concatenating)
    @usableFromInline
    static func vjpConcatenating(_ parts: [Tensor], alongAxis axis: Int)
        -> (value: Tensor, pullback: (Tensor) -> Array<Tensor>.TangentVector)
    {
        let a = axis < 0 ? axis + parts[0].rank : axis
        let sizes = parts.map { $0.shape[a] }
        return (concatenateRaw(parts, axis: a), { v in
            if v.isSymbolicZero { return Array<Tensor>.TangentVector(parts.map { _ in Tensor.zero }) }
            var start = 0
            var grads: [Tensor] = []
            for size in sizes {
                grads.append(v.sliceRaw(axis: a, range: start..<(start + size)))
                start += size
            }
            return Array<Tensor>.TangentVector(grads)
        })
    }

    /// Joins this tensor with others along an existing axis.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func concatenated(with other: Tensor, alongAxis axis: Int = 0) -> Tensor {
        Tensor.concatenating([self, other], alongAxis: axis)
    }

    /// Stacks tensors of equal shape along a new axis.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public static func stacking(_ parts: [Tensor], alongAxis axis: Int = 0) -> Tensor {
        let expanded = parts.differentiableMap { $0.expandingShape(at: axis) }
        return concatenating(expanded, alongAxis: axis)
    }

    // MARK: Gathering

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func gatherRaw(_ indices: [Int], axis: Int) -> Tensor {
        let outer = shape[..<axis].reduce(1, *)
        let n = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        for i in indices {
            require(i >= 0 && i < n, "Tensor.gathering: index \(i) out of range 0..<\(n) for axis \(axis) of shape \(shape)")
        }
        var outShape = shape
        outShape[axis] = indices.count
        var result = [Scalar]()
        result.reserveCapacity(outer * indices.count * inner)
        scalars.withUnsafeBufferPointer { x in
            if inner == 1 {
                // Single elements (a column of a matrix, a vector's entries): a plain loop, not a copy call each.
                for o in 0..<outer {
                    for i in indices { result.append(x[o * n + i]) }
                }
                return
            }
            for o in 0..<outer {
                for i in indices {
                    let start = (o * n + i) * inner
                    result.append(contentsOf: x[start..<(start + inner)])
                }
            }
        }
        return Tensor(shape: outShape, scalars: result)
    }

    /// The rows `indices` of the first axis, a minibatch of observations; the whole tensor when `indices` is nil.
    public func rows(_ indices: [Int]?) -> Tensor {
        guard let indices else { return self }
        return gathering(atIndices: indices)
    }

    /// The slices at integer `indices` along `axis` (indices may repeat; their gradients add up).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func gathering(atIndices indices: [Int], alongAxis axis: Int = 0) -> Tensor {
        gatherRaw(indices, axis: withoutDerivative(at: normalizedAxis(axis)))
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: gathering)
    @usableFromInline
    func vjpGathering(atIndices indices: [Int], alongAxis axis: Int) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let a = normalizedAxis(axis)
        let inputShape = shape
        return (gatherRaw(indices, axis: a), { v in
            if v.isSymbolicZero { return .zero }
            let outer = inputShape[..<a].reduce(1, *)
            let n = inputShape[a]
            let inner = inputShape[(a + 1)...].reduce(1, *)
            var grad = [Scalar](repeating: 0, count: inputShape.reduce(1, *))
            v.scalars.withUnsafeBufferPointer { g in
                var source = 0
                for o in 0..<outer {
                    for i in indices {
                        let start = (o * n + i) * inner
                        for j in 0..<inner { grad[start + j] += g[source + j] }
                        source += inner
                    }
                }
            }
            return Tensor(shape: inputShape, scalars: grad)
        })
    }

    /// One row per index with a 1 at that index and 0 elsewhere: shape `[indices.count, depth]`.
    public init(oneHotAtIndices indices: [Int], depth: Int) {
        var values = [Scalar](repeating: 0, count: indices.count * depth)
        for (row, index) in indices.enumerated() {
            require(index >= 0 && index < depth, "Tensor(oneHot:): index \(index) out of range 0..<\(depth)")
            values[row * depth + index] = 1
        }
        self.init(shape: [indices.count, depth], scalars: values)
    }
}

/// A shape error in a Tensor operation, naming the shapes involved.
public struct TensorShapeError: Error, CustomStringConvertible, Equatable {
    public var description: String
}

/// The NumPy-style broadcast of two shapes: aligned at their trailing dimensions, a dimension of 1 stretches.
/// Throws when a pair of dimensions differs and neither is 1.
public func checkedBroadcastShape(_ a: TensorShape, _ b: TensorShape) throws -> TensorShape {
    if a == b { return a }
    // Most often one shape already is the broadcast (a batch against parameters): hand it back rather than build
    // a new array, whose allocation costs more than the rest of a small operation.
    if stretches(b, into: a) { return a }
    if stretches(a, into: b) { return b }
    let rank = max(a.count, b.count)
    var result = TensorShape(repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        guard da == db || da == 1 || db == 1 else {
            throw TensorShapeError(description: "shapes \(a) and \(b) cannot be broadcast together")
        }
        result[i] = da == 1 ? db : da
    }
    return result
}

/// True when `small` broadcasts to `large` unchanged: no more dimensions, and each either 1 or equal.
/// (Read from the shapes' slots: through the subscript, each read checked its position.)
@inline(__always)
func stretches(_ small: TensorShape, into large: TensorShape) -> Bool {
    let (r, n) = (small.rank, large.rank)
    guard r <= n else { return false }
    for i in 0..<r {
        let dimension = small.slot(i)
        if dimension != 1 && dimension != large.slot(i &+ n &- r) { return false }
    }
    return true
}

/// True when `small` is `large` with its last dimension 1 where `large`'s is not: one value per row of `large`
/// ([…, R, 1] against […, R, C]).
@inlinable
func isColumn(_ small: TensorShape, of large: TensorShape) -> Bool {
    let r = small.rank
    return r >= 1 && large.rank == r && small.slot(r &- 1) == 1 && large.slot(r &- 1) != 1
        && small.emptying(r &- 1) == large.emptying(r &- 1)
}

/// The broadcast of two shapes; stops with a message naming both shapes when they are incompatible.
public func broadcastShape(_ a: TensorShape, _ b: TensorShape) -> TensorShape {
    do {
        return try checkedBroadcastShape(a, b)
    } catch {
        usageFailure("Tensor: \(error)")
    }
}

/// Row-major strides of a shape.
@inlinable
func contiguousStrides(_ shape: TensorShape) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var running = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = running
        running *= shape[i]
    }
    return strides
}

/// Strides that read `shape` as if it had the (larger) shape `target`: 0 along stretched dimensions.
@inlinable
func broadcastStrides(_ shape: TensorShape, to target: TensorShape) -> [Int] {
    let own = contiguousStrides(shape)
    let offset = target.count - shape.count
    var strides = [Int](repeating: 0, count: target.count)
    for i in 0..<shape.count where shape[i] != 1 {
        strides[i + offset] = own[i]
    }
    return strides
}

extension Tensor {
    /// Applies a function to every element (not differentiable: use the Tensor operations in differentiated code).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @inlinable
    public func map(_ transform: (Scalar) -> Scalar) -> Tensor {
        let count = scalars.count
        let result = scalars.withUnsafeBufferPointer { x in
            TensorElements<Scalar>.filled(count: count) { out in
                for i in 0..<count { out[i] = transform(x[i]) }
            }
        }
        return Tensor(shape: shape, scalars: result)
    }

    /// Elementwise vector-math function without derivative.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func applying(_ function: VectorFunction) -> Tensor {
        let count = scalars.count
        let result = scalars.withUnsafeBufferPointer { x in
            TensorElements<Scalar>.filled(count: count) { out in
                if count > 0 { Scalar.apply(function, count: count, x.baseAddress!, out.baseAddress!) }
            }
        }
        return Tensor(shape: shape, scalars: result)
    }

    /// Combines two tensors elementwise with broadcasting, without derivative.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @inlinable
    func zipWith(_ other: Tensor, _ combine: (Scalar, Scalar) -> Scalar) -> Tensor {
        if shape == other.shape {
            let count = scalars.count
            let result = scalars.withUnsafeBufferPointer { a in
                other.scalars.withUnsafeBufferPointer { b in
                    TensorElements<Scalar>.filled(count: count) { out in
                        for i in 0..<count { out[i] = combine(a[i], b[i]) }
                    }
                }
            }
            return Tensor(checkedShape: shape, elements: result)
        }
        let outShape = broadcastShape(shape, other.shape)
        let count = outShape.reduce(1, *)
        // One element against many: a plain loop (through `map` the operation would be a closure within a closure).
        if other.scalars.count == 1 && shape == outShape {
            let b = other.scalars[0]
            let result = scalars.withUnsafeBufferPointer { a in
                TensorElements<Scalar>.filled(count: count) { out in
                    for i in 0..<count { out[i] = combine(a[i], b) }
                }
            }
            return Tensor(checkedShape: outShape, elements: result)
        }
        if scalars.count == 1 && other.shape == outShape {
            let a = scalars[0]
            let result = other.scalars.withUnsafeBufferPointer { b in
                TensorElements<Scalar>.filled(count: count) { out in
                    for i in 0..<count { out[i] = combine(a, b[i]) }
                }
            }
            return Tensor(checkedShape: outShape, elements: result)
        }
        // Every path below writes every element.
        var result = TensorElements<Scalar>.uninitialized(count: count)
        // One value per row against the whole (a number per particle against its row of observations): the
        // commonest broadcast in a model's batch of particles, told from the shapes in a few instructions and taken
        // by the rows × columns loop below without the searches before it.
        let columnOnRight = shape == outShape && isColumn(other.shape, of: outShape)
        let columnOnLeft = !columnOnRight && other.shape == outShape && isColumn(shape, of: outShape)
        // Fast path: one operand repeats along the leading dimensions of the other (bias rows, per-column scales).
        if shape == outShape, !columnOnRight, let inner = Self.suffixLength(of: other.shape, in: outShape) {
            result.withUnsafeMutableBufferPointer { out in
                scalars.withUnsafeBufferPointer { a in
                    other.scalars.withUnsafeBufferPointer { b in
                        var base = 0
                        while base < count {
                            for j in 0..<inner { out[base + j] = combine(a[base + j], b[j]) }
                            base += inner
                        }
                    }
                }
            }
            return Tensor(shape: outShape, scalars: result)
        }
        if other.shape == outShape, !columnOnLeft, let inner = Self.suffixLength(of: shape, in: outShape) {
            result.withUnsafeMutableBufferPointer { out in
                scalars.withUnsafeBufferPointer { a in
                    other.scalars.withUnsafeBufferPointer { b in
                        var base = 0
                        while base < count {
                            for j in 0..<inner { out[base + j] = combine(a[j], b[base + j]) }
                            base += inner
                        }
                    }
                }
            }
            return Tensor(shape: outShape, scalars: result)
        }
        // Rows × columns: an operand that is a column ([…, R, 1], one value per row), a row ([C]) or the whole
        // result, as when particles [S, 1] meet observations [N] or [S, N]. No index arithmetic per element.
        if let columns = outShape.last, columns > 0 {
            let rows = count / columns
            let left: OperandLayout = columnOnLeft ? .column : columnOnRight ? .whole : Self.operandLayout(shape, in: outShape)
            let right: OperandLayout = columnOnRight ? .column : columnOnLeft ? .whole : Self.operandLayout(other.shape, in: outShape)
            if left != .other && right != .other && !(left == .whole && right == .whole) {
                result.withUnsafeMutableBufferPointer { out in
                    scalars.withUnsafeBufferPointer { a in
                        other.scalars.withUnsafeBufferPointer { b in
                            for r in 0..<rows {
                                let base = r * columns
                                let x = left == .column ? a[r] : 0, y = right == .column ? b[r] : 0
                                switch (left, right) {
                                case (.column, .whole): for j in 0..<columns { out[base + j] = combine(x, b[base + j]) }
                                case (.whole, .column): for j in 0..<columns { out[base + j] = combine(a[base + j], y) }
                                case (.column, .row): for j in 0..<columns { out[base + j] = combine(x, b[j]) }
                                case (.row, .column): for j in 0..<columns { out[base + j] = combine(a[j], y) }
                                case (.row, .whole): for j in 0..<columns { out[base + j] = combine(a[j], b[base + j]) }
                                case (.whole, .row): for j in 0..<columns { out[base + j] = combine(a[base + j], b[j]) }
                                case (.column, .column): for j in 0..<columns { out[base + j] = combine(x, y) }
                                default: for j in 0..<columns { out[base + j] = combine(a[j], b[j]) }
                                }
                            }
                        }
                    }
                }
                return Tensor(shape: outShape, scalars: result)
            }
        }
        let sa = broadcastStrides(shape, to: outShape)
        let sb = broadcastStrides(other.shape, to: outShape)
        let rank = outShape.count
        var index = [Int](repeating: 0, count: rank)
        var ia = 0
        var ib = 0
        result.withUnsafeMutableBufferPointer { out in
            scalars.withUnsafeBufferPointer { a in
                other.scalars.withUnsafeBufferPointer { b in
                    for k in 0..<count {
                        out[k] = combine(a[ia], b[ib])
                        var axis = rank - 1
                        while axis >= 0 {
                            index[axis] += 1
                            ia += sa[axis]
                            ib += sb[axis]
                            if index[axis] < outShape[axis] { break }
                            ia -= sa[axis] * outShape[axis]
                            ib -= sb[axis] * outShape[axis]
                            index[axis] = 0
                            axis -= 1
                        }
                    }
                }
            }
        }
        return Tensor(shape: outShape, scalars: result)
    }

    @usableFromInline
    enum OperandLayout { case whole, row, column, other }

    /// How an operand of shape `small` lies in a broadcast result of shape `large` ([…, R, C]), leading 1s aside:
    /// the whole result, one row [C] repeated, one value per row ([…, R, 1]), or anything else.
    @usableFromInline
    static func operandLayout(_ small: TensorShape, in large: TensorShape) -> OperandLayout {
        if small == large { return large.isEmpty ? .other : .whole }
        // Read from the slots (a subscript checks its position at every read).
        let (rank, offset) = (large.rank, large.rank &- small.rank)
        guard offset >= 0, rank > 0 else { return .other }
        let columns = large.slot(rank &- 1)
        var leadingOnes = true
        var whole = true, column = columns != 1
        for axis in 0..<rank {
            let size = axis < offset ? 1 : small.slot(axis &- offset)
            if axis < rank &- 1 {
                if size != 1 { leadingOnes = false }
                if size != large.slot(axis) { whole = false; column = false }
            } else {
                if size != columns { whole = false }
                if size != 1 { column = false }
                if leadingOnes && size == columns { return whole ? .whole : .row }
            }
        }
        return whole ? .whole : (column ? .column : .other)
    }

    /// If `small` (leading 1s dropped) equals the trailing dimensions of `large`, the element count of that suffix.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    static func suffixLength(of small: TensorShape, in large: TensorShape) -> Int? {
        // Read from the slots (a subscript checks its position at every read).
        let (r, n) = (small.rank, large.rank)
        var first = 0
        while first < r && small.slot(first) == 1 { first += 1 }
        guard r &- first <= n else { return nil }
        var product = 1
        for i in first..<r {
            let dimension = small.slot(i)
            guard dimension == large.slot(n &- r &+ i) else { return nil }
            product *= Int(Int32(bitPattern: dimension))
        }
        return product
    }

    /// Copies this tensor into a larger broadcast shape, without derivative.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func broadcastRaw(to target: TensorShape) -> Tensor {
        if shape == target { return self }
        if scalars.areOnes { return Tensor(ones: target) }
        if scalars.count == 1 { return Tensor(repeating: scalars[0], shape: target) }
        return Tensor(zeros: target).zipWith(self) { _, b in b }
    }

    /// Sums a gradient of broadcast shape back down to `target`, without derivative.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func unbroadcast(to target: TensorShape) -> Tensor {
        if shape == target { return self }
        let offset = shape.count - target.count
        require(offset >= 0, "Tensor: cannot reduce shape \(shape) to \(target)")
        // The commonest cases in one pass over contiguous rows: everything to one number (a scalar parameter),
        // and the last axis away (a column per particle, [S, 1], against observations [S, N]).
        if let (rows, columns) = Self.rowsSummedAway(from: shape, to: target) {
            return Tensor(checkedShape: target, elements: Self.rowSums(scalars, rows: rows, columns: columns))
        }
        var axes: [Int] = Array(0..<offset)
        for i in 0..<target.count where target[i] == 1 && shape[i + offset] != 1 {
            axes.append(i + offset)
        }
        return sumRaw(alongAxes: axes).reshapedRaw(to: target)
    }

    /// The gradient for an operand that was broadcast into this shape: symbolic zero for a symbolic-zero operand.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func unbroadcast(toMatch operand: Tensor) -> Tensor {
        operand.isSymbolicZero ? .zero : unbroadcast(to: operand.shape)
    }

    /// `v.multiplying(other).unbroadcast(toMatch: operand)`, the gradient of a product's operand: where `v` and
    /// `other` have one shape and the operand keeps its leading dimensions and had its last one broadcast (a scalar
    /// per particle times a row, [S, 1] · [S, N]) or is one number, each product is added as it is made, in the
    /// order `rowSums` adds: the same bits, without the tensor of products.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    static func productUnbroadcast(_ v: Tensor, _ other: Tensor, toMatch operand: Tensor) -> Tensor {
        if operand.isSymbolicZero { return .zero }
        let target = operand.shape
        // A product with ones is no product (`multiplying` hands back the other operand, no new tensor).
        guard v.shape == other.shape, target != v.shape, target.count <= v.shape.count, !v.isSymbolicZero,
              !other.isSymbolicZero, !v.scalars.areOnes, !other.scalars.areOnes,
              let (rows, columns) = rowsSummedAway(from: v.shape, to: target), columns > 0
        else { return v.multiplying(other).unbroadcast(to: target) }
        let sums = v.scalars.withUnsafeBufferPointer { a in
            other.scalars.withUnsafeBufferPointer { b in
                TensorElements<Scalar>.filled(count: rows) { out in
                    let (a, b, out) = (a.baseAddress!, b.baseAddress!, out.baseAddress!)
                    if columns < rowSumLanes {
                        // As `shortRowSum`: from +0, each product in order.
                        for r in 0..<rows {
                            var total = Scalar.zero
                            for c in (r * columns)..<((r + 1) * columns) { total += a[c] * b[c] }
                            out[r] = total
                        }
                        return
                    }
                    // A row's products at a time, then the row-sum kernel over them.
                    withUnsafeTemporaryAllocation(of: Scalar.self, capacity: columns) { row in
                        let row = row.baseAddress!
                        for r in 0..<rows {
                            let (x, y) = (a + r * columns, b + r * columns)
                            for c in 0..<columns { row[c] = x[c] * y[c] }
                            Scalar.rowSums(rows: 1, columns: columns, UnsafePointer(row), result: out + r)
                        }
                    }
                }
            }
        }
        return Tensor(checkedShape: target, elements: sums)
    }

    /// `unbroadcast(to:)`'s one-pass cases, as contiguous rows each summed to one number: a `target` of one element
    /// (one row of everything), or `shape` with its last dimension made 1 (a row per leading index); nil otherwise.
    @usableFromInline
    static func rowsSummedAway(from shape: TensorShape, to target: TensorShape) -> (rows: Int, columns: Int)? {
        let targetCount = target.elementCount
        if targetCount == 1 { return (1, shape.elementCount) }
        guard isColumn(target, of: shape), let columns = shape.last else { return nil }
        return (targetCount, columns)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func reshapedRaw(to newShape: TensorShape) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }
}

import _Differentiation

// Fused elementwise operations over broadcast operands: one pass over the output computes a value from up to four
// operands, and one pass computes the gradients of the first three, summed into each operand's own shape as the
// pass goes (so a broadcast operand needs no separate reduction). Log densities use them: a likelihood of S
// particles and n observations is one allocation and one loop instead of a dozen tensors.

/// How an operand is read while the output is walked as [rows, columns] (columns: its last dimension): element
/// `row * rowStride + column * columnStride`.
@usableFromInline
struct WalkStride {
    @usableFromInline var row: Int
    @usableFromInline var column: Int
    @inlinable init(row: Int, column: Int) {
        self.row = row
        self.column = column
    }
}

extension Tensor {
    /// The strides that read this tensor broadcast to `shape` along a [rows, columns] walk, or nil when its broadcast
    /// is not of that form (a dimension of 1 between others); such an operand is materialised first.
    @inlinable
    func walkStride(in shape: [Int]) -> WalkStride? {
        let columns = shape.last ?? 1
        if scalars.count == 1 { return WalkStride(row: 0, column: 0) }
        if self.shape == shape { return WalkStride(row: columns, column: 1) }
        // By index rather than through sliced arrays: this runs for every operand of every fused operation.
        let own = self.shape
        let columnStride = (own.last ?? 1) == 1 ? 0 : 1
        let leadingCount = Swift.max(own.count - 1, 0)
        var leadingProduct = 1
        for i in 0..<leadingCount { leadingProduct *= own[i] }
        if leadingProduct == 1 { return WalkStride(row: 0, column: columnStride) }
        // The operand's leading dimensions must be the output's last leading ones, with only 1s before them.
        let outerCount = Swift.max(shape.count - 1, 0)
        guard leadingCount <= outerCount else { return nil }
        let offset = outerCount - leadingCount
        for j in 0..<offset where shape[j] != 1 { return nil }
        for i in 0..<leadingCount where own[i] != shape[offset + i] { return nil }
        return WalkStride(row: columnStride == 1 ? columns : 1, column: columnStride)
    }

    /// This operand ready for a walk of `shape`: itself with its strides, or its broadcast copy read contiguously.
    @inlinable
    func walkOperand(in shape: [Int]) -> (Tensor, WalkStride, materialised: Bool) {
        if isSymbolicZero { return (Tensor(0), WalkStride(row: 0, column: 0), false) }
        if let stride = walkStride(in: shape) { return (self, stride, false) }
        return (broadcastRaw(to: shape), WalkStride(row: shape.last ?? 1, column: 1), true)
    }
}

/// The broadcast shape of four operands, stopping with a message naming them when they do not broadcast.
@usableFromInline
func fusedShape<Scalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>, _ c: Tensor<Scalar>, _ d: Tensor<Scalar>, _ name: String) -> [Int] {
    if a.shape == b.shape && a.shape == c.shape && a.shape == d.shape { return a.shape }
    // Shapes only, pairwise: an array of the tensors themselves, built in generic code, cost a metadata look-up.
    guard let ab = try? checkedBroadcastShape(a.shape, b.shape), let abc = try? checkedBroadcastShape(ab, c.shape),
        let shape = try? checkedBroadcastShape(abc, d.shape)
    else {
        usageFailure("\(name): shapes \(a.shape), \(b.shape), \(c.shape) and \(d.shape) cannot be broadcast together")
    }
    return shape
}

/// `body(a, b, c, d)` for every element of the broadcast of the four operands, in one pass.
@inlinable
public func fusedElementwise<Scalar: TensorScalar>(
    _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, _ c: Tensor<Scalar>, _ d: Tensor<Scalar>, name: String,
    _ body: (Scalar, Scalar, Scalar, Scalar) -> Scalar
) -> Tensor<Scalar> {
    let shape = fusedShape(a, b, c, d, name)
    let columns = shape.last ?? 1
    let count = shape.reduce(1, *)
    let rows = columns == 0 ? 0 : count / columns
    let (ta, sa, _) = a.walkOperand(in: shape), (tb, sb, _) = b.walkOperand(in: shape)
    let (tc, sc, _) = c.walkOperand(in: shape), (td, sd, _) = d.walkOperand(in: shape)
    let result = ta.scalars.withUnsafeBufferPointer { pa in
        tb.scalars.withUnsafeBufferPointer { pb in
            tc.scalars.withUnsafeBufferPointer { pc in
                td.scalars.withUnsafeBufferPointer { pd in
                    TensorElements<Scalar>.filled(count: count) { out in
                        var o = 0
                        for r in 0..<rows {
                            var (ia, ib, ic, id) = (r * sa.row, r * sb.row, r * sc.row, r * sd.row)
                            for _ in 0..<columns {
                                out[o] = body(pa[ia], pb[ib], pc[ic], pd[id])
                                o += 1
                                ia += sa.column
                                ib += sb.column
                                ic += sc.column
                                id += sd.column
                            }
                        }
                    }
                }
            }
        }
    }
    return Tensor(shape: shape, scalars: result)
}

/// Which operands of a fused elementwise operation need a gradient.
public struct FusedOperands: OptionSet, Sendable {
    public let rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let a = FusedOperands(rawValue: 1)
    public static let b = FusedOperands(rawValue: 2)
    public static let c = FusedOperands(rawValue: 4)
    public static let d = FusedOperands(rawValue: 8)
    public static let all: FusedOperands = [.a, .b, .c, .d]
}

/// The gradients of a fused elementwise operation with respect to its four operands: each element of the
/// upstream gradient `v` (the output's shape) times the partial derivatives `partials(a, b, c, d)`, summed into the
/// operand's own shape. A symbolic-zero `v` gives symbolic zeros. (The fourth operand is usually a term computed
/// from the parameters alone; its gradient goes back to them by the chain rule, once per parameter element.)
/// Operands left out of `wanted` get a symbolic zero and no storage of their own (their sums go to scratch space).
@inlinable
public func fusedElementwiseGradient<Scalar: TensorScalar>(
    _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, _ c: Tensor<Scalar>, _ d: Tensor<Scalar>, upstream v: Tensor<Scalar>,
    name: String, wanted: FusedOperands = .all, _ partials: (Scalar, Scalar, Scalar, Scalar) -> (Scalar, Scalar, Scalar, Scalar)
) -> (Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>) {
    if v.isSymbolicZero { return (.zero, .zero, .zero, .zero) }
    let shape = fusedShape(a, b, c, d, name)
    let columns = shape.last ?? 1
    let count = shape.reduce(1, *)
    let rows = columns == 0 ? 0 : count / columns
    let upstream = v.broadcastRaw(to: shape)
    let (ta, sa, ma) = a.walkOperand(in: shape), (tb, sb, mb) = b.walkOperand(in: shape)
    let (tc, sc, mc) = c.walkOperand(in: shape), (td, sd, md) = d.walkOperand(in: shape)
    // Sums for the operands nobody wants go to one scratch block as long as the longest of them.
    let scratchCount = Swift.max(
        wanted.contains(.a) ? 0 : ta.scalarCount, wanted.contains(.b) ? 0 : tb.scalarCount,
        wanted.contains(.c) ? 0 : tc.scalarCount, wanted.contains(.d) ? 0 : td.scalarCount, 1)
    func sums(_ operand: FusedOperands, _ walked: Tensor<Scalar>) -> TensorElements<Scalar>? {
        wanted.contains(operand) ? TensorElements<Scalar>.zeros(count: walked.scalarCount) : nil
    }
    var (ga, gb, gc, gd) = (sums(.a, ta), sums(.b, tb), sums(.c, tc), sums(.d, td))
    withUnsafeTemporaryAllocation(of: Scalar.self, capacity: scratchCount) { scratch in
        scratch.initialize(repeating: 0)
        /// `body` with the sums' storage, or the scratch block for an operand nobody wants.
        func withSums(_ g: inout TensorElements<Scalar>?, _ body: (UnsafeMutablePointer<Scalar>) -> Void) {
            if g == nil { return body(scratch.baseAddress!) }
            g!.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
        }
        withSums(&ga) { qa in withSums(&gb) { qb in withSums(&gc) { qc in withSums(&gd) { qd in
            ta.scalars.withUnsafeBufferPointer { pa in
                tb.scalars.withUnsafeBufferPointer { pb in
                    tc.scalars.withUnsafeBufferPointer { pc in
                        td.scalars.withUnsafeBufferPointer { pd in
                            upstream.scalars.withUnsafeBufferPointer { pv in
                                var o = 0
                                for r in 0..<rows {
                                    var (ia, ib, ic, id) = (r * sa.row, r * sb.row, r * sc.row, r * sd.row)
                                    for _ in 0..<columns {
                                        let (da, db, dc, dd) = partials(pa[ia], pb[ib], pc[ic], pd[id])
                                        let g = pv[o]
                                        qa[ia] += g * da
                                        qb[ib] += g * db
                                        qc[ic] += g * dc
                                        qd[id] += g * dd
                                        o += 1
                                        ia += sa.column
                                        ib += sb.column
                                        ic += sc.column
                                        id += sd.column
                                    }
                                }
                            }
                        }
                    }
                }
            }
        } } } }
    }
    func back(_ g: TensorElements<Scalar>?, _ walked: Tensor<Scalar>, _ materialised: Bool, _ original: Tensor<Scalar>) -> Tensor<Scalar> {
        guard let g, !original.isSymbolicZero else { return .zero }
        let gradient = Tensor(shape: walked.shape, scalars: g)
        return materialised ? gradient.unbroadcast(to: original.shape) : gradient
    }
    return (back(ga, ta, ma, a), back(gb, tb, mb, b), back(gc, tc, mc, c), back(gd, td, md, d))
}

extension Tensor {
    /// A gradient of a broadcast shape summed back to `shape`, the shape of the operand that was broadcast (no
    /// derivative): for the chain rule through terms that fused operations compute from parameters.
    public func summed(toShape shape: [Int]) -> Tensor { isSymbolicZero ? self : unbroadcast(to: shape) }
}

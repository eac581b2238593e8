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
    func walkStride(in shape: TensorShape) -> WalkStride? {
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

    /// How this operand is walked over `shape`: its strides (one element for a symbolic zero), or nil when it is
    /// read through a broadcast copy.
    @inlinable
    func walkPlan(in shape: TensorShape) -> WalkStride? {
        isSymbolicZero ? WalkStride(row: 0, column: 0) : walkStride(in: shape)
    }

    /// Where a walk of `shape` reads this operand, by the plan `walkPlan(in:)` gave: its own elements with their
    /// strides, `zero` for a symbolic zero, or a broadcast copy read contiguously, returned as `held` for the caller
    /// to keep alive until the walk ends. No closure and no copy of the tensor on the way: a copy cost a retain and a
    /// release of its storage and of its shape, and nested closures kept the walk's loop from being inlined.
    @inlinable @inline(__always)
    func walkSource(in shape: TensorShape, plan: WalkStride?, zero: UnsafePointer<Scalar>)
        -> (address: UnsafePointer<Scalar>, stride: WalkStride, held: TensorElements<Scalar>?)
    {
        guard let plan else {
            let copy = broadcastRaw(to: shape).scalars
            return (copy.addressWhileAlive ?? zero, WalkStride(row: shape.last ?? 1, column: 1), copy)
        }
        if isSymbolicZero { return (zero, plan, nil) }
        return (scalars.addressWhileAlive ?? zero, plan, nil)
    }
}

/// The length of the runs a fused operation walks its output in: every operand is read as a contiguous run of up to
/// this many elements, so that the loop over a run has no strides and can be vectorised.
@usableFromInline let fusedRun = 32

/// An operand of a fused operation read run by run along a [rows, columns] walk: its own elements where its column
/// stride is 1, otherwise a run of copies of its one element for that row, filled only when that element changes.
@usableFromInline
struct FusedReader<Scalar> {
    @usableFromInline let base: UnsafePointer<Scalar>
    @usableFromInline let stride: WalkStride
    @usableFromInline let splat: UnsafeMutablePointer<Scalar>
    @usableFromInline var splatIndex = -1
    @usableFromInline var splatCount = 0

    @inlinable @inline(__always)
    init(_ base: UnsafePointer<Scalar>, _ stride: WalkStride, _ splat: UnsafeMutablePointer<Scalar>) {
        self.base = base
        self.stride = stride
        self.splat = splat
    }

    /// The `count` elements from `column` on in `row`, contiguous.
    @inlinable @inline(__always)
    mutating func run(_ row: Int, _ column: Int, _ count: Int) -> UnsafePointer<Scalar> {
        let index = row * stride.row + column * stride.column
        if stride.column != 0 { return base + index }
        if index != splatIndex || count > splatCount {
            splat.update(repeating: base[index], count: count)
            (splatIndex, splatCount) = (index, count)
        }
        return UnsafePointer(splat)
    }
}

/// Where a run lies: its row, its first column, and its first element and length in the output.
@usableFromInline
struct FusedRun {
    @usableFromInline let row: Int, column: Int, offset: Int, count: Int
    @inlinable @inline(__always)
    init(row: Int, column: Int, offset: Int, count: Int) {
        (self.row, self.column, self.offset, self.count) = (row, column, offset, count)
    }
}

/// Walks an output of [rows, columns] in runs of up to `fusedRun` elements, calling `body` with each run and the four
/// operands (their elements and strides) read as contiguous runs of the same length.
@inlinable @inline(__always)
func fusedRuns<Scalar>(
    rows: Int, columns: Int, _ a: (UnsafePointer<Scalar>, WalkStride), _ b: (UnsafePointer<Scalar>, WalkStride),
    _ c: (UnsafePointer<Scalar>, WalkStride), _ d: (UnsafePointer<Scalar>, WalkStride),
    _ body: (FusedRun, UnsafePointer<Scalar>, UnsafePointer<Scalar>, UnsafePointer<Scalar>, UnsafePointer<Scalar>) -> Void
) {
    withUnsafeTemporaryAllocation(of: Scalar.self, capacity: 4 * fusedRun) { splats in
        let splat = splats.baseAddress!
        var (ra, rb) = (FusedReader(a.0, a.1, splat), FusedReader(b.0, b.1, splat + fusedRun))
        var (rc, rd) = (FusedReader(c.0, c.1, splat + 2 * fusedRun), FusedReader(d.0, d.1, splat + 3 * fusedRun))
        var offset = 0
        for row in 0..<rows {
            var column = 0
            while column < columns {
                let n = Swift.min(fusedRun, columns - column)
                let run = FusedRun(row: row, column: column, offset: offset, count: n)
                body(run, ra.run(row, column, n), rb.run(row, column, n), rc.run(row, column, n), rd.run(row, column, n))
                offset += n
                column += n
            }
        }
    }
}

/// The broadcast shape of four operands, stopping with a message naming them when they do not broadcast.
@usableFromInline
func fusedShape<Scalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>, _ c: Tensor<Scalar>, _ d: Tensor<Scalar>, _ name: String) -> TensorShape {
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
    let count = shape.elementCount
    let rows = columns == 0 ? 0 : count / columns
    var zero = Scalar.zero
    let result = withUnsafePointer(to: &zero) { zero in
        let (pa, sa, ha) = a.walkSource(in: shape, plan: a.walkPlan(in: shape), zero: zero)
        let (pb, sb, hb) = b.walkSource(in: shape, plan: b.walkPlan(in: shape), zero: zero)
        let (pc, sc, hc) = c.walkSource(in: shape, plan: c.walkPlan(in: shape), zero: zero)
        let (pd, sd, hd) = d.walkSource(in: shape, plan: d.walkPlan(in: shape), zero: zero)
        return withExtendedLifetime((ha, hb, hc, hd)) {
            TensorElements<Scalar>.filled(count: count) { out in
                fusedRuns(rows: rows, columns: columns, (pa, sa), (pb, sb), (pc, sc), (pd, sd)) { run, xa, xb, xc, xd in
                    let y = out.baseAddress! + run.offset
                    for i in 0..<run.count { y[i] = body(xa[i], xb[i], xc[i], xd[i]) }
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
/// Operands left out of `wanted` get a symbolic zero and no storage of their own.
@inlinable
public func fusedElementwiseGradient<Scalar: TensorScalar>(
    _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, _ c: Tensor<Scalar>, _ d: Tensor<Scalar>, upstream v: Tensor<Scalar>,
    name: String, wanted: FusedOperands = .all, _ partials: (Scalar, Scalar, Scalar, Scalar) -> (Scalar, Scalar, Scalar, Scalar)
) -> (Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>) {
    if v.isSymbolicZero { return (.zero, .zero, .zero, .zero) }
    let shape = fusedShape(a, b, c, d, name)
    let columns = shape.last ?? 1
    let count = shape.elementCount
    let rows = columns == 0 ? 0 : count / columns
    let upstream = v.broadcastRaw(to: shape)
    let (pa, pb, pc, pd) = (a.walkPlan(in: shape), b.walkPlan(in: shape), c.walkPlan(in: shape), d.walkPlan(in: shape))
    /// How many sums an operand gets: one per element it has as walked (its own, or the broadcast copy's).
    func walkedCount(_ operand: Tensor<Scalar>, _ plan: WalkStride?) -> Int {
        operand.isSymbolicZero ? 1 : plan == nil ? count : operand.scalarCount
    }
    let (na, nb, nc, nd) = (walkedCount(a, pa), walkedCount(b, pb), walkedCount(c, pc), walkedCount(d, pd))
    func sums(_ operand: FusedOperands, _ count: Int) -> TensorElements<Scalar>? {
        wanted.contains(operand) ? TensorElements<Scalar>.zeros(count: count) : nil
    }
    var (ga, gb, gc, gd) = (sums(.a, na), sums(.b, nb), sums(.c, nc), sums(.d, nd))
    // Each run's partial products go to blocks on the stack (which nothing else can alias, so the run's loop needs
    // no overlap checks to be vectorised), then into the sums: element by element where an operand has a column
    // stride of 1, summed first where it has one element for the whole run.
    withUnsafeTemporaryAllocation(of: Scalar.self, capacity: fusedRun) { ya in
    withUnsafeTemporaryAllocation(of: Scalar.self, capacity: fusedRun) { yb in
    withUnsafeTemporaryAllocation(of: Scalar.self, capacity: fusedRun) { yc in
    withUnsafeTemporaryAllocation(of: Scalar.self, capacity: fusedRun) { yd in
    withOptionalMutableAddress(&ga) { qa in withOptionalMutableAddress(&gb) { qb in
    withOptionalMutableAddress(&gc) { qc in withOptionalMutableAddress(&gd) { qd in
        var zero = Scalar.zero
        withUnsafePointer(to: &zero) { zero in
            let (ea, sa, ha) = a.walkSource(in: shape, plan: pa, zero: zero)
            let (eb, sb, hb) = b.walkSource(in: shape, plan: pb, zero: zero)
            let (ec, sc, hc) = c.walkSource(in: shape, plan: pc, zero: zero)
            let (ed, sd, hd) = d.walkSource(in: shape, plan: pd, zero: zero)
            let (ya, yb, yc, yd) = (ya.baseAddress!, yb.baseAddress!, yc.baseAddress!, yd.baseAddress!)
            withExtendedLifetime((ha, hb, hc, hd)) {
                upstream.scalars.withUnsafeBufferPointer { pv in
                    fusedRuns(rows: rows, columns: columns, (ea, sa), (eb, sb), (ec, sc), (ed, sd)) { run, xa, xb, xc, xd in
                        let (v, n) = (pv.baseAddress! + run.offset, run.count)
                        for i in 0..<n {
                            let (da, db, dc, dd) = partials(xa[i], xb[i], xc[i], xd[i])
                            let g = v[i]
                            ya[i] = g * da
                            yb[i] = g * db
                            yc[i] = g * dc
                            yd[i] = g * dd
                        }
                        if let qa { fusedAccumulate(ya, n, into: qa, sa, run) }
                        if let qb { fusedAccumulate(yb, n, into: qb, sb, run) }
                        if let qc { fusedAccumulate(yc, n, into: qc, sc, run) }
                        if let qd { fusedAccumulate(yd, n, into: qd, sd, run) }
                    }
                }
            }
        }
    } } } }
    } } } }
    /// The sums as the operand's gradient: in its own shape, or summed down to it from the broadcast copy's.
    func back(_ g: TensorElements<Scalar>?, _ plan: WalkStride?, _ original: Tensor<Scalar>) -> Tensor<Scalar> {
        guard let g, !original.isSymbolicZero else { return .zero }
        guard plan != nil else { return Tensor(shape: shape, scalars: g).unbroadcast(to: original.shape) }
        return Tensor(shape: original.shape, scalars: g)
    }
    return (back(ga, pa, a), back(gb, pb, b), back(gc, pc, c), back(gd, pd, d))
}

extension Tensor {
    /// A gradient of a broadcast shape summed back to `shape`, the shape of the operand that was broadcast (no
    /// derivative): for the chain rule through terms that fused operations compute from parameters.
    public func summed(toShape shape: TensorShape) -> Tensor { isSymbolicZero ? self : unbroadcast(to: shape) }
}

/// Adds a run's partial products to an operand's sums: each to its own element where the operand's column stride is
/// 1, their total to the row's one element where it is 0.
@inlinable @inline(__always)
func fusedAccumulate<Scalar: TensorScalar>(
    _ products: UnsafeMutablePointer<Scalar>, _ count: Int, into sums: UnsafeMutablePointer<Scalar>, _ stride: WalkStride,
    _ run: FusedRun
) {
    let target = sums + run.row * stride.row + run.column * stride.column
    if stride.column != 0 {
        for i in 0..<count { target[i] += products[i] }
        return
    }
    var total = Scalar.zero
    for i in 0..<count { total += products[i] }
    target[0] += total
}

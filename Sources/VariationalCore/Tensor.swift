import CVariationalKernels
import _Differentiation
import Synchronization

/// An n-dimensional, row-major array of `Float` or `Double` that Swift's automatic differentiation can see through.
///
/// `Tensor` is a value type. Its tangent is a `Tensor` of the same shape; `Tensor.zero` is a *symbolic* zero with
/// no shape that every operation treats as "nothing here", so gradients of unused values cost nothing.
/// Operations broadcast NumPy-style: trailing dimensions are aligned and a dimension of 1 stretches.
public struct Tensor<Scalar: TensorScalar> {
    /// The dimensions, outermost first. A scalar tensor has shape `[]`.
    public internal(set) var shape: TensorShape
    /// The elements in row-major order.
    public internal(set) var scalars: TensorElements<Scalar>
    /// A stable identity the optimisers use to keep per-parameter state (0 until an optimiser first sees it).
    @usableFromInline internal var parameterID: Int = 0

    /// A tensor of the given shape holding `scalars` in row-major order.
    public init(shape: TensorShape, scalars: [Scalar]) {
        self.init(shape: shape, scalars: TensorElements(scalars))
    }

    /// A tensor of the given shape holding `scalars` in row-major order (shared, not copied).
    public init(shape: TensorShape, scalars: TensorElements<Scalar>) {
        Self.checkShape(shape, count: scalars.count)
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of the given shape whose elements `initialize` writes, every one of them.
    @inlinable
    public init(shape: TensorShape, initializingWith initialize: (UnsafeMutableBufferPointer<Scalar>) throws -> Void) rethrows {
        self.init(checkedShape: shape, elements: try TensorElements(uninitializedCount: Self.elementCount(of: shape), initialize))
    }

    /// Stores a shape and elements already known to agree.
    @usableFromInline
    init(checkedShape shape: TensorShape, elements: TensorElements<Scalar>) {
        self.shape = shape
        self.scalars = elements
    }

    /// (Inlined where a tensor is made: the check is a pass over the shape's four slots; only a failure calls out.)
    @inlinable
    static func checkShape(_ shape: TensorShape, count: Int) {
        if shape.checkedElementCount == count { return }
        shapeMismatch(shape, count: count)
    }

    @usableFromInline
    static func shapeMismatch(_ shape: TensorShape, count: Int) -> Never {
        usageFailure("Tensor: shape \(shape) needs \(elementCount(of: shape)) scalars, got \(count)")
    }

    /// The number of elements of a tensor of `shape`, in one pass over its dimensions; stops with a message for a
    /// negative dimension or a count past `Int.max` (the messages are built only then).
    @inlinable
    static func elementCount(of shape: TensorShape) -> Int {
        if let count = shape.checkedElementCount { return count }
        invalidShape(shape)
    }

    @usableFromInline
    static func invalidShape(_ shape: TensorShape) -> Never {
        require(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shape)")
        usageFailure("Tensor: shape \(shape) has more elements than an Int counts")
    }

    /// A tensor filled with one value.
    @inlinable
    public init(repeating value: Scalar, shape: TensorShape) {
        self.init(shape: shape) { $0.initialize(repeating: value) }
    }

    /// A scalar (rank-0) tensor.
    @inlinable
    public init(_ value: Scalar) {
        self.init(checkedShape: TensorShape(), elements: TensorElements(uninitializedCount: 1) { $0[0] = value })
    }

    /// A rank-1 tensor.
    @inlinable
    public init(_ values: [Scalar]) {
        self.init(shape: [values.count], scalars: values)
    }

    /// A rank-2 tensor from rows of equal length.
    public init(_ rows: [[Scalar]]) {
        let width = rows.first?.count ?? 0
        require(rows.allSatisfy { $0.count == width }, "Tensor: rows of unequal length")
        self.init(shape: [rows.count, width], scalars: rows.flatMap { $0 })
    }

    /// The shapeless symbolic zero.
    @inlinable
    init(symbolicZero: ()) {
        self.init(checkedShape: TensorShape(), elements: TensorElements())
    }

    /// A tensor of zeros.
    public init(zeros shape: TensorShape) { self.init(repeating: 0, shape: shape) }
    /// A tensor of ones (marked as ones: see `TensorElements.ones(count:)`).
    public init(ones shape: TensorShape) {
        self.init(checkedShape: shape, elements: .ones(count: Self.elementCount(of: shape)))
    }

    /// The identity matrix of size n×n.
    public init(identity n: Int) {
        var values = [Scalar](repeating: 0, count: n * n)
        for i in 0..<n { values[i * n + i] = 1 }
        self.init(shape: [n, n], scalars: values)
    }

    /// True for the shapeless symbolic zero that `Tensor.zero` returns.
    @inlinable
    public var isSymbolicZero: Bool { scalars.buffer == nil && shape.isEmpty }

    /// The number of dimensions.
    @inlinable public var rank: Int { shape.count }
    /// The number of elements.
    @inlinable public var scalarCount: Int { scalars.count }

    /// The value of a tensor with exactly one element.
    public var scalar: Scalar {
        require(scalars.count == 1, "Tensor.scalar: tensor of shape \(shape) has \(scalars.count) elements")
        return scalars[0]
    }

    /// The element at a multi-index.
    public subscript(index: Int...) -> Scalar {
        require(index.count == rank, "Tensor subscript: \(index.count) indices for shape \(shape)")
        var offset = 0
        for (i, dim) in zip(index, shape) {
            require(i >= 0 && i < dim, "Tensor subscript: index \(index) out of range for shape \(shape)")
            offset = offset * dim + i
        }
        return scalars[offset]
    }

    /// Materialises a symbolic zero as a tensor of zeros with the given shape; other tensors are returned as they are.
    @inlinable
    public func materialized(shape target: TensorShape) -> Tensor {
        isSymbolicZero ? Tensor(zeros: target) : self
    }
}

extension Tensor: Equatable {
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.shape == rhs.shape && lhs.scalars == rhs.scalars
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        if isSymbolicZero { return "Tensor(zero)" }
        if rank == 0 { return "\(scalars[0])" }
        return "Tensor(shape: \(shape), \(scalars.count <= 16 ? "\(scalars.array)" : "\(Array(scalars.prefix(16))) …"))"
    }
}

extension Tensor: @unchecked Sendable {}

// MARK: - Differentiable

/// The source of parameter identities for optimiser state.
let parameterCounter = Atomic<Int>(0)

/// Receives each (parameter, tangent) pair while a `Differentiable` value moves along a tangent; this is how the
/// optimisers update any nesting of parameters without per-model code.
public protocol TensorVisitor: AnyObject, Sendable {
    /// Visits one Float tensor: may change `parameter` in place.
    func visit(_ parameter: inout Tensor<Float>, offset: Tensor<Float>, id: Int)
    /// Visits one Double tensor: may change `parameter` in place.
    func visit(_ parameter: inout Tensor<Double>, offset: Tensor<Double>, id: Int)
}

/// A visitor ready for walks: `visitTensors(of:along:with:)` given one makes no object of its own, which an
/// optimiser that walks its model at every step saves.
public final class TensorWalker {
    let visitor: TensorVisitor
    public init(_ visitor: TensorVisitor) { self.visitor = visitor }
}

/// The walker of the walk running on this thread, kept in a C thread-local slot: every `Tensor.move(by:)` asks
/// for it, and a task-local value costs several times more to read.
enum ActiveVisitor {
    static var current: TensorVisitor? {
        guard let raw = vk_active_visitor() else { return nil }
        return Unmanaged<TensorWalker>.fromOpaque(raw).takeUnretainedValue().visitor
    }

    /// Runs `body` with `walker` active on this thread, then restores the one before (walks can nest).
    static func with(_ walker: TensorWalker, _ body: () -> Void) {
        let previous = vk_active_visitor()
        vk_set_active_visitor(Unmanaged.passUnretained(walker).toOpaque())
        defer { vk_set_active_visitor(previous) }
        withExtendedLifetime(walker, body)
    }
}

/// Walks every Tensor inside a differentiable value together with its tangent.
///
/// Each tensor reached by `value.move(by: offset)` is handed to `visitor` with a stable identity, instead of
/// being moved. Tensors with a symbolic-zero tangent are still visited (their offset is the symbolic zero).
public func visitTensors<Value: Differentiable>(
    of value: inout Value, along offset: Value.TangentVector, with visitor: TensorVisitor
) {
    visitTensors(of: &value, along: offset, with: TensorWalker(visitor))
}

/// `visitTensors(of:along:with:)` with a visitor made ready once.
public func visitTensors<Value: Differentiable>(
    of value: inout Value, along offset: Value.TangentVector, with walker: TensorWalker
) {
    ActiveVisitor.with(walker) {
        value.move(by: offset)
    }
}

extension Tensor: Differentiable {
    public typealias TangentVector = Tensor

    public mutating func move(by offset: Tensor) {
        if let visitor = ActiveVisitor.current {
            if parameterID == 0 {
                parameterID = parameterCounter.wrappingAdd(1, ordering: .relaxed).newValue
            }
            let id = parameterID
            // Hand the visitor this very tensor, in place through its address: its storage stays uniquely
            // referenced (an in-place update does not copy the elements) and is neither retained nor released on
            // the way. (A pointer argument, not a closure over one: this runs unspecialised, where generic closures
            // cost more than the update itself.)
            if Scalar.self == Float.self {
                Self.hand(&self, Float.self, unsafeBitCast(offset, to: Tensor<Float>.self), id, to: visitor)
            } else {
                Self.hand(&self, Double.self, unsafeBitCast(offset, to: Tensor<Double>.self), id, to: visitor)
            }
            return
        }
        if offset.isSymbolicZero { return }
        let id = parameterID
        self = self.adding(offset)
        parameterID = id
    }
}

extension Tensor {
    /// `visitor.visit` on the tensor at `parameter` (a tensor of the type the second argument names).
    private static func hand(
        _ parameter: UnsafeMutablePointer<Tensor>, _: Float.Type, _ offset: Tensor<Float>, _ id: Int, to visitor: TensorVisitor
    ) {
        let tensor = UnsafeMutableRawPointer(parameter).assumingMemoryBound(to: Tensor<Float>.self)
        visitor.visit(&tensor.pointee, offset: offset, id: id)
    }

    private static func hand(
        _ parameter: UnsafeMutablePointer<Tensor>, _: Double.Type, _ offset: Tensor<Double>, _ id: Int, to visitor: TensorVisitor
    ) {
        let tensor = UnsafeMutableRawPointer(parameter).assumingMemoryBound(to: Tensor<Double>.self)
        visitor.visit(&tensor.pointee, offset: offset, id: id)
    }
}

extension Tensor: AdditiveArithmetic {
    /// The symbolic zero: shapeless, and a no-op in every operation.
    public static var zero: Tensor { Tensor(symbolicZero: ()) }
}

extension Tensor {
    /// The elements, made unique to this tensor first (copied if another tensor shares them), with their address:
    /// for writing them in place later, while holding the returned elements keeps the address valid. Writing through
    /// the address changes this tensor (and the returned elements), nothing else.
    @_specialize(exported: true, where Scalar == Float)
    @_specialize(exported: true, where Scalar == Double)
    public mutating func uniqueElementsWithAddress() -> (elements: TensorElements<Scalar>, address: UnsafeMutableBufferPointer<Scalar>) {
        let address = scalars.withUnsafeMutableBufferPointer { $0 }
        return (scalars, address)
    }

    /// Calls `body` with the elements for in-place mutation (the shape stays as it is).
    @_specialize(exported: true, where Scalar == Float, R == Void)
    @_specialize(exported: true, where Scalar == Double, R == Void)
    public mutating func withUnsafeMutableScalars<R>(
        _ body: (UnsafeMutableBufferPointer<Scalar>) throws -> R
    ) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer { try body($0) }
    }
}

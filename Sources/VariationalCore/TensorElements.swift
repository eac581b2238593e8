import CVariationalKernels
import Synchronization

// The elements of a tensor in storage of the project's own.
//
// A Swift array of Double or Float is allocated through the standard library's unspecialised path, which looks up
// the array storage's generic metadata at every allocation (about 400 instructions on Linux, more than the
// arithmetic of a small tensor). A tensor allocates a lot: each operation makes one, its pullback another. The
// buffer below is a `ManagedBuffer` subclass whose metadata specialised code reaches through a cached accessor, and
// an empty tensor (the symbolic zero included) holds no buffer at all.

/// The header of a `TensorBuffer`: the element count and a word of marks, 16 bytes so that the elements start
/// 16-byte aligned, as a Swift array's do (an 8-byte header left them misaligned, and the matrix kernels 15% slower).
@usableFromInline
struct TensorBufferHeader {
    @usableFromInline var count: Int
    /// `TensorBufferHeader.ones` for a buffer of ones that is never written in place (`TensorElements.ones`); for
    /// deferred elements (`TensorElements.deferred`), the address of their retained `DeferredElements` until they
    /// are computed, then its negation (it is released with the buffer); else 0. Deferred elements are computed under
    /// a lock, and their mark written last with release ordering; a reader reads it again with acquire ordering
    /// before reading them (`TensorBuffer.computeIfDeferred`).
    @usableFromInline var marks: Int = 0
    @inlinable init(count: Int) { self.count = count }
    @usableFromInline static let ones = 1
}

/// The buffer behind `TensorElements`: a header with the element count, then the elements.
@usableFromInline
final class TensorBuffer<Scalar: TensorScalar>: ManagedBuffer<TensorBufferHeader, Scalar> {
    /// The header's marks. (A plain load: through the C function that loads with acquire ordering, every caller
    /// retained the buffer around the call, as it may release anything.)
    @inlinable
    var marks: Int { withUnsafeMutablePointerToHeader { $0.pointee.marks } }

    /// True for a buffer made by `TensorElements.ones(count:)`.
    @inlinable
    var holdsMarkedOnes: Bool { marks == TensorBufferHeader.ones }

    /// Computes the elements if they were deferred and nothing has read them yet: every read or write of the
    /// elements comes after this, written out where the header and elements are at hand (a method taking a closure
    /// here kept the optimiser from inlining the closures of the arithmetic that reads them).
    @inlinable
    static func computeIfDeferred(_ header: UnsafeMutablePointer<TensorBufferHeader>, _ elements: UnsafeMutablePointer<Scalar>) {
        if _slowPath(header.pointee.marks | TensorBufferHeader.ones != TensorBufferHeader.ones) { computeDeferredElements(header, elements) }
    }

    /// The deferred elements' computation, once, under a lock that a thread reading them at the same time waits on;
    /// for elements already computed, only the acquiring load of their mark. It releases nothing (the record goes
    /// with the buffer), and says so: otherwise every caller that reads elements retains the buffer around the call
    /// (about 80 retains and releases a step of eight schools). For the same reason the caller's check is a plain
    /// load, and any ordering is here, out of its sight.
    @usableFromInline @inline(never) @_effects(releasenone)
    static func computeDeferredElements(_ header: UnsafeMutablePointer<TensorBufferHeader>, _ elements: UnsafeMutablePointer<Scalar>) {
        if vk_load_acquire(&header.pointee.marks) < 0 { return }
        deferredElementsLock.withLock { _ in
            let marks = vk_load_acquire(&header.pointee.marks)
            guard marks > TensorBufferHeader.ones else { return }
            Unmanaged<DeferredElements<Scalar>>.fromOpaque(UnsafeRawPointer(bitPattern: marks)!)._withUnsafeGuaranteedRef { $0.fill(elements) }
            vk_store_release(&header.pointee.marks, -marks)
        }
    }

    /// The row sums of deferred elements of `rows` rows that nothing has read yet, nil otherwise. (No lock: the
    /// record lives as long as the buffer, and its sums never change.)
    @usableFromInline
    func deferredRowSums(rows: Int) -> TensorElements<Scalar>? {
        let marks = withUnsafeMutablePointerToHeader { vk_load_acquire(&$0.pointee.marks) }
        guard marks > TensorBufferHeader.ones else { return nil }
        let deferred = Unmanaged<DeferredElements<Scalar>>.fromOpaque(UnsafeRawPointer(bitPattern: marks)!).takeUnretainedValue()
        return deferred.rows == rows ? deferred.rowSums : nil
    }

    deinit {
        let marks = self.marks
        if _slowPath(marks != 0 && marks != TensorBufferHeader.ones) {
            Unmanaged<DeferredElements<Scalar>>.fromOpaque(UnsafeRawPointer(bitPattern: abs(marks))!).release()
        }
    }

    /// A buffer of `count` uninitialised elements (plain numbers: nothing needs destroying later).
    @inlinable
    static func allocate(count: Int) -> TensorBuffer {
        let buffer = TensorBuffer.create(minimumCapacity: count) { _ in TensorBufferHeader(count: count) }
        return unsafeDowncast(buffer, to: TensorBuffer.self)
    }
}

/// A tensor's elements in row-major order: a random-access, mutable collection with copy-on-write, used as an
/// array is (`count`, subscripts, `withUnsafeBufferPointer`, `map`, comparison with an array literal).
public struct TensorElements<Scalar: TensorScalar> {
    /// nil for no elements.
    @usableFromInline var buffer: TensorBuffer<Scalar>?

    /// No elements.
    @inlinable public init() { buffer = nil }

    /// True when both hold the same storage (so the same elements, while neither is written to).
    @inlinable
    public func sharesStorage(with other: TensorElements) -> Bool {
        guard let buffer, let theirs = other.buffer else { return false }
        return buffer === theirs
    }

    /// A copy of `array`.
    @inlinable
    public init(_ array: [Scalar]) {
        let count = array.count
        self.init(uninitializedCount: count) { out in
            array.withUnsafeBufferPointer { out.baseAddress!.update(from: $0.baseAddress!, count: count) }
        }
    }

    /// `count` elements written by `initialize`, which must set every one of them (it is not called for 0).
    @inlinable
    public init(uninitializedCount count: Int, _ initialize: (UnsafeMutableBufferPointer<Scalar>) throws -> Void) rethrows {
        guard count > 0 else {
            buffer = nil
            return
        }
        let storage = TensorBuffer<Scalar>.allocate(count: count)
        try storage.withUnsafeMutablePointerToElements { try initialize(UnsafeMutableBufferPointer(start: $0, count: count)) }
        buffer = storage
    }

    /// `count` elements written by `initialize`, which must set every one of them.
    @inlinable
    public static func filled(count: Int, _ initialize: (UnsafeMutableBufferPointer<Scalar>) throws -> Void) rethrows -> TensorElements {
        try TensorElements(uninitializedCount: count, initialize)
    }

    /// `count` elements left uninitialised, for a kernel that writes every one of them before anything reads them.
    @inlinable
    public static func uninitialized(count: Int) -> TensorElements {
        TensorElements(uninitializedCount: count) { _ in }
    }

    /// `count` zeros.
    @inlinable
    public static func zeros(count: Int) -> TensorElements { TensorElements(repeating: 0, count: count) }

    /// `count` ones, marked as such: arithmetic may then skip them (a product with them is the other operand), and
    /// they are never written in place (a write copies them first). Buffers of up to `OnesCache.largestCount`
    /// elements are shared, so that a gradient seed or the pullback of a sum, made at every step, neither allocates
    /// nor fills.
    public static func ones(count: Int) -> TensorElements {
        guard count > 0 else { return TensorElements() }
        return onesCache.ones(count: count)
    }

    /// True when these are elements made by `ones(count:)`: every one of them 1.
    @inlinable
    public var areOnes: Bool {
        buffer?.holdsMarkedOnes ?? false
    }

    /// `count` copies of `value`.
    @inlinable
    public init(repeating value: Scalar, count: Int) {
        self.init(uninitializedCount: count) { $0.initialize(repeating: value) }
    }

    /// The number of elements.
    @inlinable public var count: Int {
        // Through the header's pointer: reading the class's `header` property would check exclusive access at run
        // time on every call.
        buffer?.withUnsafeMutablePointerToHeader { $0.pointee.count } ?? 0
    }
    /// True when there are no elements.
    @inlinable public var isEmpty: Bool { buffer == nil }

    /// Calls `body` with the elements (an empty buffer without a base address when there are none).
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Scalar>) throws -> R) rethrows -> R {
        guard let buffer else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        return try buffer.withUnsafeMutablePointers { header, elements in
            TensorBuffer.computeIfDeferred(header, elements)
            return try body(UnsafeBufferPointer(start: elements, count: header.pointee.count))
        }
    }

    /// The address of the first element, nil for none. It is valid only while these elements are alive (held by the
    /// caller, as an operand is through the call that reads it) and unchanged; read through it, never write.
    @inlinable
    public var addressWhileAlive: UnsafePointer<Scalar>? {
        guard let buffer else { return nil }
        return buffer.withUnsafeMutablePointers { header, elements in
            TensorBuffer.computeIfDeferred(header, elements)
            return UnsafePointer(elements)
        }
    }

    /// Calls `body` with the elements' bytes.
    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { try body(UnsafeRawBufferPointer($0)) }
    }

    /// Calls `body` with the elements for mutation, copying them first if another value shares them.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Scalar>) throws -> R
    ) rethrows -> R {
        guard buffer != nil else {
            var empty = UnsafeMutableBufferPointer<Scalar>(start: nil, count: 0)
            return try body(&empty)
        }
        makeUnique()
        return try buffer!.withUnsafeMutablePointers { header, elements in
            var pointer = UnsafeMutableBufferPointer(start: elements, count: header.pointee.count)
            return try body(&pointer)
        }
    }

    /// Gives this value its own copy of the elements if it shares them, or if they are ones that others may take
    /// for ones without looking (`ones(count:)`).
    @inlinable
    mutating func makeUnique() {
        let marks = buffer!.marks
        if _slowPath(marks | TensorBufferHeader.ones != TensorBufferHeader.ones) {
            buffer!.withUnsafeMutablePointers { TensorBuffer.computeIfDeferred($0, $1) }  // deferred elements
        }
        if !isKnownUniquelyReferenced(&buffer!) || marks == TensorBufferHeader.ones {
            let old = buffer!
            let count = old.withUnsafeMutablePointerToHeader { $0.pointee.count }
            let copy = TensorBuffer<Scalar>.allocate(count: count)
            copy.withUnsafeMutablePointerToElements { target in
                old.withUnsafeMutablePointerToElements { target.update(from: $0, count: count) }
            }
            buffer = copy
        }
    }

    /// A plain array of the elements.
    @inlinable public var array: [Scalar] { withUnsafeBufferPointer { Array($0) } }

    /// `count` (> 0) elements that `fill` writes the first time anything reads or writes them (never, if nothing
    /// does), and the sums of their `rows` equal rows, known now: a model's log likelihood, which the inference layer reads
    /// only as one sum per particle, need not have its elements computed. `fill` must write every element, and what
    /// it writes must not depend on when it runs (it holds its own copies of its inputs).
    /// (Inlinable, so that the record's class is known where the element type is: made in generic code, its metadata
    /// was looked up at run time, about 300 instructions.)
    @inlinable
    public static func deferred(
        count: Int, rows: Int, rowSums: TensorElements, fill: @escaping (UnsafeMutablePointer<Scalar>) -> Void
    ) -> TensorElements {
        require(count > 0 && rows > 0 && count % rows == 0 && rowSums.count == rows,
                "TensorElements.deferred: \(rowSums.count) sums for \(rows) rows of \(count) elements")
        let storage = TensorBuffer<Scalar>.allocate(count: count)
        let deferred = DeferredElements(rows: rows, rowSums: rowSums, fill: fill)
        storage.withUnsafeMutablePointerToHeader { $0.pointee.marks = Int(bitPattern: Unmanaged.passRetained(deferred).toOpaque()) }
        var result = TensorElements()
        result.buffer = storage
        return result
    }

    /// The sums of the rows given to `deferred`, when these are deferred elements of `rows` rows that nothing has
    /// read yet; nil otherwise.
    public func deferredRowSums(rows: Int) -> TensorElements? {
        buffer?.deferredRowSums(rows: rows)
    }
}

/// What `TensorElements.deferred` knows of elements not yet computed.
@usableFromInline
final class DeferredElements<Scalar: TensorScalar> {
    let rows: Int
    let rowSums: TensorElements<Scalar>
    let fill: (UnsafeMutablePointer<Scalar>) -> Void

    @usableFromInline
    init(rows: Int, rowSums: TensorElements<Scalar>, fill: @escaping (UnsafeMutablePointer<Scalar>) -> Void) {
        (self.rows, self.rowSums, self.fill) = (rows, rowSums, fill)
    }
}

/// Held while deferred elements are computed.
let deferredElementsLock = Mutex<Void>(())

extension TensorElements: RandomAccessCollection, MutableCollection {
    public typealias Index = Int
    public typealias Indices = Range<Int>

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { count }
    @inlinable public var indices: Range<Int> { 0..<count }
    @inlinable public func index(after i: Int) -> Int { i + 1 }
    @inlinable public func index(before i: Int) -> Int { i - 1 }

    @inlinable
    public subscript(position: Int) -> Scalar {
        get {
            require(position >= 0 && position < count, "Tensor elements: index \(position) out of range for \(count) elements")
            return buffer!.withUnsafeMutablePointers { header, elements in
                TensorBuffer.computeIfDeferred(header, elements)
                return elements[position]
            }
        }
        set {
            require(position >= 0 && position < count, "Tensor elements: index \(position) out of range for \(count) elements")
            makeUnique()
            buffer!.withUnsafeMutablePointerToElements { $0[position] = newValue }
        }
    }

    @inlinable
    public func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<Scalar>) throws -> R) rethrows -> R? {
        try withUnsafeBufferPointer(body)
    }
}

extension TensorElements: Equatable {
    @inlinable
    public static func == (lhs: TensorElements, rhs: TensorElements) -> Bool {
        lhs.withUnsafeBufferPointer { a in rhs.withUnsafeBufferPointer { b in a.elementsEqual(b) } }
    }
}

extension TensorElements: ExpressibleByArrayLiteral {
    @inlinable public init(arrayLiteral elements: Scalar...) { self.init(elements) }
}

extension TensorElements: CustomStringConvertible {
    public var description: String { array.description }
}

extension TensorElements: @unchecked Sendable {}

/// `body` with the address of `elements`, or nil where there are none (an output nobody wants, for a kernel that
/// takes a null pointer for it).
@inlinable
public func withOptionalMutableAddress<Scalar: TensorScalar, R>(
    _ elements: inout TensorElements<Scalar>?, _ body: (UnsafeMutablePointer<Scalar>?) -> R
) -> R {
    guard elements != nil else { return body(nil) }
    return elements!.withUnsafeMutableBufferPointer { body($0.baseAddress) }
}

/// The shared buffers of ones behind `TensorElements.ones(count:)`: the few sizes made last, of either element type.
final class OnesCache: Sendable {
    /// Larger buffers of ones are made afresh each time (and marked), not kept.
    static let largestCount = 1 << 16

    /// A buffer with what identifies it: its element count and element type.
    private struct Entry {
        let count: Int
        let scalar: ObjectIdentifier
        let buffer: AnyObject
    }

    private let entries = Mutex<[Entry]>([])
    private let capacity = 8

    func ones<Scalar: TensorScalar>(count: Int) -> TensorElements<Scalar> {
        var result = TensorElements<Scalar>()
        let scalar = ObjectIdentifier(Scalar.self)
        if count <= Self.largestCount {
            let found: AnyObject? = entries.withLock { entries in
                entries.first(where: { $0.count == count && $0.scalar == scalar })?.buffer
            }
            if let found {
                // An entry of this element type holds a buffer of it.
                result.buffer = unsafeDowncast(found, to: TensorBuffer<Scalar>.self)
                return result
            }
        }
        let buffer = TensorBuffer<Scalar>.allocate(count: count)
        buffer.withUnsafeMutablePointers { header, elements in
            elements.initialize(repeating: 1, count: count)
            header.pointee.marks = TensorBufferHeader.ones
        }
        if count <= Self.largestCount {
            // The oldest entry makes way: a fit asks for the same few sizes at every step, and finds them.
            entries.withLock { entries in
                if entries.count == capacity { entries.removeFirst() }
                entries.append(Entry(count: count, scalar: scalar, buffer: buffer))
            }
        }
        result.buffer = buffer
        return result
    }
}

let onesCache = OnesCache()

/// Elements compared with an array.
@inlinable
public func == <Scalar>(lhs: TensorElements<Scalar>, rhs: [Scalar]) -> Bool {
    lhs.withUnsafeBufferPointer { a in rhs.withUnsafeBufferPointer { b in a.elementsEqual(b) } }
}

/// An array compared with elements.
@inlinable
public func == <Scalar>(lhs: [Scalar], rhs: TensorElements<Scalar>) -> Bool { rhs == lhs }

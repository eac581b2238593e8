/// A tensor's dimensions, outermost first, held inside the value rather than in an array of their own.
///
/// Reads as an array of `Int` does (`count`, subscripts, iteration, `==`, array literals, `append`), and prints as
/// one. A tensor's shape used to be an `[Int]`: every copy of a tensor then retained the array and every new shape
/// allocated one; in the SVI step of a small model the shapes' reference counting was two fifths of all of it.
/// Up to `maximumRank` dimensions, each at most `Int32.max`.
public struct TensorShape: Sendable {
    /// The most dimensions a shape holds.
    public static let maximumRank = 4

    /// Four 32-bit slots, two to a word: the dimensions, then `Int32.min` in each slot past the last (a dimension
    /// may be negative: −1 stands for "the rest" in `reshaped(to:)`, and a tensor refuses the others). Two words:
    /// with a tensor larger than four words (storage, shape, parameter identity), the release compiler (Swift 6.3.1)
    /// crashed lowering generic code that calls a pullback over tensors.
    @usableFromInline var low: UInt64 = TensorShape.noDimensions
    @usableFromInline var high: UInt64 = TensorShape.noDimensions

    /// Two empty slots.
    @usableFromInline static let noDimensions: UInt64 = 0x8000_0000_8000_0000
    @usableFromInline static let noDimension: UInt32 = 0x8000_0000

    /// The shape of a scalar: no dimensions.
    @inlinable public init() {}

    /// The dimensions of `sequence`, in order.
    @inlinable
    public init<S: Sequence>(_ sequence: S) where S.Element == Int {
        var position = 0
        for dimension in sequence {
            // One check of the count per dimension, not a count of the slots filled so far (as `append` makes).
            require(position < 4, "TensorShape: at most \(Self.maximumRank) dimensions")
            store(Self.checked(dimension), at: position)
            position += 1
        }
    }

    /// `count` dimensions, each `dimension`.
    @inlinable
    public init(repeating dimension: Int, count: Int) {
        require(count >= 0 && count <= Self.maximumRank, "TensorShape: \(count) dimensions; a shape has 0 to \(Self.maximumRank)")
        // Each slot chosen without a branch, the words written once: a loop storing slot by slot cost about 60
        // instructions a shape, and the fits make several at every step.
        let filled = count > 0 ? UInt64(UInt32(bitPattern: Self.checked(dimension))) : 0, empty = UInt64(Self.noDimension)
        let slot = { (position: Int) in count > position ? filled : empty }
        low = slot(0) | slot(1) &<< 32
        high = slot(2) | slot(3) &<< 32
    }

    /// The 32 bits of slot `position` (0 to 3): a dimension, or `noDimension` past the last.
    @inlinable
    func slot(_ position: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: (position < 2 ? low : high) &>> (32 &* (position & 1)))
    }

    @inlinable
    mutating func store(_ dimension: Int32, at position: Int) {
        let shift = UInt64(32 &* (position & 1))
        let bits = UInt64(UInt32(bitPattern: dimension)) &<< shift, mask = ~(UInt64(UInt32.max) &<< shift)
        if position < 2 { low = low & mask | bits } else { high = high & mask | bits }
    }

    /// The number of dimensions: the slots before the first empty one.
    @inlinable
    public var rank: Int {
        if high != Self.noDimensions { return UInt32(truncatingIfNeeded: high &>> 32) != Self.noDimension ? 4 : 3 }
        if low != Self.noDimensions { return UInt32(truncatingIfNeeded: low &>> 32) != Self.noDimension ? 2 : 1 }
        return 0
    }

    /// The number of elements of a tensor of this shape: the product of the dimensions (1 for a scalar).
    @inlinable
    public var elementCount: Int {
        // Straight from the slots: through the subscript, each dimension checked its position against the rank.
        var product = 1
        for position in 0..<4 {
            let bits = slot(position)
            if bits == Self.noDimension { break }
            product *= Int(Int32(bitPattern: bits))
        }
        return product
    }

    /// The number of elements, nil when a dimension is negative or the product overflows an `Int`: the check a
    /// tensor makes of a shape against its elements, in one pass over the slots.
    @inlinable
    public var checkedElementCount: Int? {
        var product = 1
        for position in 0..<4 {
            let bits = slot(position)
            if bits == Self.noDimension { break }
            let dimension = Int(Int32(bitPattern: bits))
            guard dimension >= 0 else { return nil }
            let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            product = next
        }
        return product
    }

    /// The shape without its last `k` dimensions (without any when it has `k` or fewer): a shape in its turn, where
    /// the sequence's `dropLast` made an array (an allocation at every call, in pullbacks that ran at every step).
    @inlinable
    public func dropLast(_ k: Int = 1) -> TensorShape {
        precondition(k >= 0, "TensorShape: cannot drop a negative number of dimensions")
        var result = self
        for position in Swift.max(rank - k, 0)..<rank { result.store(Int32.min, at: position) }
        return result
    }

    /// True when the last dimensions are `suffix`'s, in order (always for an empty suffix): the check that the
    /// sequence's `suffix` and `elementsEqual` made through slices, at several hundred instructions a call.
    @inlinable
    public func endsWith(_ suffix: TensorShape) -> Bool {
        let (r, k) = (rank, suffix.rank)
        guard k <= r else { return false }
        for i in 0..<k where slot(r &- k &+ i) != suffix.slot(i) { return false }
        return true
    }

    /// The dimensions as an array.
    public var array: [Int] { Array(self) }

    /// True when a shape can hold `dimension`: it fits in 32 bits and is not `Int32.min`, which marks an empty slot.
    @inlinable
    public static func holds(_ dimension: Int) -> Bool {
        dimension > Int(Int32.min) && dimension <= Int(Int32.max)
    }

    @inlinable
    static func checked(_ dimension: Int) -> Int32 {
        guard holds(dimension) else { outOfRange(dimension) }
        return Int32(truncatingIfNeeded: dimension)
    }

    @usableFromInline
    static func outOfRange(_ dimension: Int) -> Never {
        usageFailure("TensorShape: dimension \(dimension) is outside ±\(Int32.max)")
    }
}

extension TensorShape: RandomAccessCollection, MutableCollection {
    public typealias Index = Int
    public typealias Indices = Range<Int>

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { rank }
    @inlinable public var count: Int { rank }
    @inlinable public var isEmpty: Bool { low == Self.noDimensions }
    @inlinable public var indices: Range<Int> { 0..<rank }
    /// The last dimension, nil for a scalar's shape.
    @inlinable public var last: Int? {
        let r = rank
        return r == 0 ? nil : Int(Int32(bitPattern: slot(r &- 1)))
    }
    @inlinable public func index(after i: Int) -> Int { i + 1 }
    @inlinable public func index(before i: Int) -> Int { i - 1 }

    @inlinable
    public subscript(position: Int) -> Int {
        get {
            // A position is in range when it names one of the four slots and that slot holds a dimension (the slots
            // fill from the first): no count of the dimensions on every read.
            precondition(UInt(bitPattern: position) < 4, "TensorShape: index out of range")
            let bits = slot(position)
            precondition(bits != Self.noDimension, "TensorShape: index out of range")
            return Int(Int32(bitPattern: bits))
        }
        set {
            precondition(position >= 0 && position < rank, "TensorShape: index out of range")
            store(Self.checked(newValue), at: position)
        }
    }
}

extension TensorShape: RangeReplaceableCollection {
    /// Appends a dimension; stops with a message past `maximumRank`.
    @inlinable
    public mutating func append(_ dimension: Int) {
        require(rank < Self.maximumRank, "TensorShape: at most \(Self.maximumRank) dimensions")
        store(Self.checked(dimension), at: rank)
    }

    @inlinable
    public mutating func replaceSubrange<C: Collection>(_ subrange: Range<Int>, with newElements: C) where C.Element == Int {
        precondition(subrange.lowerBound >= 0 && subrange.upperBound <= rank, "TensorShape: range out of bounds")
        var result = TensorShape()
        for i in 0..<subrange.lowerBound { result.append(self[i]) }
        for dimension in newElements { result.append(dimension) }
        for i in subrange.upperBound..<rank { result.append(self[i]) }
        self = result
    }
}

extension TensorShape {
    /// `dimension` followed by these dimensions (`[dimension] + shape` without the arrays); stops with a message
    /// past `maximumRank`.
    @inlinable
    public func prepending(_ dimension: Int) -> TensorShape {
        require(slot(3) == Self.noDimension, "TensorShape: at most \(Self.maximumRank) dimensions")
        // Every slot moves up one place: the first word's upper slot into the second word's lower one.
        var result = TensorShape()
        result.low = UInt64(UInt32(bitPattern: Self.checked(dimension))) | low &<< 32
        result.high = low &>> 32 | high &<< 32
        return result
    }

    /// These dimensions with slot `position` emptied (and the ones after it as they were): a shape without its
    /// last dimension when `position` is the last, made in a few instructions.
    @inlinable
    func emptying(_ position: Int) -> TensorShape {
        var result = self
        result.store(Int32.min, at: position)
        return result
    }
}

extension TensorShape: ExpressibleByArrayLiteral {
    /// (Straight into the slots: through the sequence initialiser, a literal cost a generic call and a check of the
    /// count at every dimension. Always inlined: called, it took an array made for the call, about 50 instructions
    /// even for `[]`; inlined, the optimiser folds the literal into the two words.)
    @inlinable @inline(__always)
    public init(arrayLiteral dimensions: Int...) {
        require(dimensions.count <= Self.maximumRank, "TensorShape: at most \(Self.maximumRank) dimensions")
        for position in dimensions.indices { store(Self.checked(dimensions[position]), at: position) }
    }
}

extension TensorShape: Hashable {
    @inlinable
    public static func == (lhs: TensorShape, rhs: TensorShape) -> Bool {
        lhs.low == rhs.low && lhs.high == rhs.high
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(low)
        hasher.combine(high)
    }

    /// A shape against the same dimensions in an array.
    @inlinable public static func == (lhs: TensorShape, rhs: [Int]) -> Bool { lhs.elementsEqual(rhs) }
    @inlinable public static func == (lhs: [Int], rhs: TensorShape) -> Bool { lhs.elementsEqual(rhs) }
    @inlinable public static func != (lhs: TensorShape, rhs: [Int]) -> Bool { !lhs.elementsEqual(rhs) }
    @inlinable public static func != (lhs: [Int], rhs: TensorShape) -> Bool { !lhs.elementsEqual(rhs) }
}

extension TensorShape: CustomStringConvertible, CustomDebugStringConvertible {
    /// As an array prints: `[2, 3]`.
    public var description: String { "[" + map(String.init).joined(separator: ", ") + "]" }
    public var debugDescription: String { description }
}

extension TensorShape: Codable {
    public init(from decoder: Decoder) throws {
        let dimensions = try [Int](from: decoder)
        guard dimensions.count <= Self.maximumRank, dimensions.allSatisfy(Self.holds) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "shape \(dimensions) has too many or too large dimensions"))
        }
        self.init(dimensions)
    }

    public func encode(to encoder: Encoder) throws { try array.encode(to: encoder) }
}

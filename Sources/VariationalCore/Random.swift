import CVariationalKernels
import _Differentiation
import Foundation

/// Draws from the basic distributions every sampler in the library builds on. All take the generator explicitly.
public enum Random {
    /// A uniform draw from the open interval (0, 1): never exactly 0 or 1, so logarithms stay finite.
    @inlinable
    public static func openUnit<G: RandomNumberGenerator>(using generator: inout G) -> Double {
        (Double(generator.next() >> 11) + 0.5) * 0x1.0p-53
    }

    /// A uniform draw from [low, high).
    @inlinable
    public static func uniform<G: RandomNumberGenerator>(
        _ low: Double = 0, _ high: Double = 1, using generator: inout G
    ) -> Double {
        low + (high - low) * Double(generator.next() >> 11) * 0x1.0p-53
    }

    /// `count` standard normal draws by the Box–Muller transform, two per pair of uniforms, each handed to `store`
    /// with its index (0, 1, …): callers write them where they are needed. The uniforms are drawn 256 at a time into
    /// a buffer on the stack and transformed there by one vectorised kernel call (`vk_standard_normals`); an odd
    /// count draws the last pair whole and uses its first normal.
    @inlinable @inline(__always)
    public static func standardNormals<G: RandomNumberGenerator>(
        count: Int, using generator: inout G, into store: (Int, Double) -> Void
    ) {
        let chunk = 256  // even: only the last chunk can hold half a pair
        withUnsafeTemporaryAllocation(of: Double.self, capacity: Swift.max(2, Swift.min(count + 1, chunk))) { buffer in
            var start = 0
            while start < count {
                let values = Swift.min(chunk, count - start)
                let pairs = (values + 1) / 2
                fillOpenUnits(buffer.baseAddress!, count: 2 * pairs, using: &generator)
                vk_standard_normals(pairs, buffer.baseAddress!)
                for j in 0..<values { store(start + j, buffer[j]) }
                start += values
            }
        }
    }

    /// `count` draws of `openUnit` into `buffer`. Called from code that is generic in the generator (a training step
    /// draws its noise through the generic `Trainer`), each draw would go through the generator's protocol witness:
    /// the project's own generator is called directly instead, with the same draws in the same order.
    @inlinable @inline(__always)
    static func fillOpenUnits<G: RandomNumberGenerator>(_ buffer: UnsafeMutablePointer<Double>, count: Int, using generator: inout G) {
        if G.self == SeededGenerator.self {
            withUnsafeMutablePointer(to: &generator) { pointer in
                pointer.withMemoryRebound(to: SeededGenerator.self, capacity: 1) { seeded in
                    for j in 0..<count { buffer[j] = openUnit(using: &seeded.pointee) }
                }
            }
        } else {
            for j in 0..<count { buffer[j] = openUnit(using: &generator) }
        }
    }

    /// `count` standard normal draws by the Box–Muller transform.
    @inlinable
    public static func standardNormals<G: RandomNumberGenerator>(count: Int, using generator: inout G) -> [Double] {
        [Double].filled(count: count) { buffer in
            standardNormals(count: count, using: &generator) { buffer[$0] = $1 }
        }
    }

    /// One standard normal draw (the first of a Box–Muller pair).
    @inlinable
    public static func standardNormal<G: RandomNumberGenerator>(using generator: inout G) -> Double {
        var draw = 0.0
        standardNormals(count: 1, using: &generator) { draw = $1 }
        return draw
    }

    /// A Gamma(shape, 1) draw by Marsaglia and Tsang's method; shapes below 1 use Gamma(shape + 1) · U^(1/shape).
    @inlinable
    public static func gamma<G: RandomNumberGenerator>(shape: Double, using generator: inout G) -> Double {
        require(shape > 0 && shape.isFinite, "Random.gamma: shape must be positive and finite, got \(shape)")
        if shape < 1 {
            let boosted = gamma(shape: shape + 1, using: &generator)
            // Work in logs so tiny shapes underflow gracefully to the smallest positive value.
            let logValue = Foundation.log(boosted) + Foundation.log(openUnit(using: &generator)) / shape
            return Swift.max(Foundation.exp(logValue), Double.leastNonzeroMagnitude)
        }
        let d = shape - 1.0 / 3
        let c = 1 / (9 * d).squareRoot()
        while true {
            var x: Double
            var v: Double
            repeat {
                x = standardNormal(using: &generator)
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = openUnit(using: &generator)
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if Foundation.log(u) < 0.5 * x * x + d * (1 - v + Foundation.log(v)) { return d * v }
        }
    }

    /// A Binomial(n, p) draw, exact for any n below 2^53: while n is large, a Beta(a, n + 1 − a) draw with
    /// a = 1 + ⌊n/2⌋ (the a-th smallest of n uniforms) decides on which side of it the successes fall, halving n;
    /// the last few trials are drawn one by one (Knuth, TAOCP vol. 2, 3.4.1). O(log n) draws in place of n.
    public static func binomial<G: RandomNumberGenerator>(count n: Double, probability p: Double, using generator: inout G) -> Double {
        require(n >= 0 && n <= 0x1p53 && n == n.rounded(), "Random.binomial: count must be an integer in 0…2^53, got \(n)")
        require(p >= 0 && p <= 1, "Random.binomial: probability must be in [0, 1], got \(p)")
        var (n, p, successes) = (n, p, 0.0)
        while n > 64 {
            let a = 1 + (n / 2).rounded(.down)
            let b = n + 1 - a
            let x = gamma(shape: a, using: &generator)
            let order = x / (x + gamma(shape: b, using: &generator))
            if order >= p {
                n = a - 1
                p = order > 0 ? p / order : 0
            } else {
                successes += a
                n = b - 1
                p = order < 1 ? (p - order) / (1 - order) : 1
            }
            p = Swift.min(1, Swift.max(0, p))
        }
        for _ in 0..<Int(n) where bernoulli(probability: p, using: &generator) { successes += 1 }
        return successes
    }

    /// True with probability p.
    @inlinable
    public static func bernoulli<G: RandomNumberGenerator>(probability p: Double, using generator: inout G) -> Bool {
        require(p >= 0 && p <= 1, "Random.bernoulli: probability must be in [0, 1], got \(p)")
        return Double(generator.next() >> 11) * 0x1.0p-53 < p
    }

    /// An index drawn with probability proportional to `weights` (non-negative, not all zero).
    @inlinable
    public static func categorical<G: RandomNumberGenerator>(weights: [Double], using generator: inout G) -> Int {
        let total = weights.reduce(0, +)
        require(
            total > 0 && total.isFinite && weights.allSatisfy { $0 >= 0 },
            "Random.categorical: weights must be non-negative with a positive finite sum")
        var target = uniform(0, total, using: &generator)
        for (i, w) in weights.enumerated() {
            target -= w
            if target < 0 { return i }
        }
        return weights.lastIndex { $0 > 0 }!
    }

    /// An index drawn with probability softmax(logits), by the Gumbel-max trick.
    @inlinable
    public static func categorical<G: RandomNumberGenerator>(logits: [Double], using generator: inout G) -> Int {
        require(!logits.isEmpty, "Random.categorical: no logits")
        var best = 0
        var bestValue = -Double.infinity
        for (i, logit) in logits.enumerated() {
            let value = logit + gumbel(using: &generator)
            if value > bestValue {
                best = i
                bestValue = value
            }
        }
        return best
    }

    /// A standard Gumbel draw, −log(−log U).
    @inlinable
    public static func gumbel<G: RandomNumberGenerator>(using generator: inout G) -> Double {
        -Foundation.log(-Foundation.log(openUnit(using: &generator)))
    }
}

extension Tensor {
    /// Independent normal draws with the given mean and standard deviation.
    // Specialised for the library's generator: a fit draws its noise here at every step from generic code, where
    // the generic conversion from Double and the generator's witness calls cost ten times the arithmetic.
    @_specialize(where Scalar == Double, G == SeededGenerator)
    @_specialize(where Scalar == Float, G == SeededGenerator)
    @inlinable
    public init<G: RandomNumberGenerator>(
        randomNormal shape: TensorShape, mean: Scalar = 0, standardDeviation: Scalar = 1, using generator: inout G
    ) {
        let count = shape.elementCount
        let scalars = TensorElements<Scalar>.filled(count: count) { buffer in
            Random.standardNormals(count: count, using: &generator) { buffer[$0] = mean + standardDeviation * Scalar($1) }
        }
        self.init(shape: shape, scalars: scalars)
    }

    /// Independent uniform draws from [low, high).
    @inlinable
    public init<G: RandomNumberGenerator>(
        randomUniform shape: TensorShape, low: Scalar = 0, high: Scalar = 1, using generator: inout G
    ) {
        let count = shape.elementCount
        var values = [Scalar]()
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(Scalar(Random.uniform(Double(low), Double(high), using: &generator))) }
        self.init(shape: shape, scalars: values)
    }

    /// Independent Gamma(shape, 1) draws, one per element of `shapes`.
    @inlinable
    public init<G: RandomNumberGenerator>(randomGammaWithShapes shapes: Tensor, using generator: inout G) {
        self.init(shape: shapes.shape, scalars: shapes.scalars.map { Scalar(Random.gamma(shape: Double($0), using: &generator)) })
    }

    /// Independent Bernoulli draws (0 or 1), one per element of `probabilities`.
    @inlinable
    public init<G: RandomNumberGenerator>(randomBernoulliWithProbabilities probabilities: Tensor, using generator: inout G) {
        self.init(
            shape: probabilities.shape,
            scalars: probabilities.scalars.map { Random.bernoulli(probability: Double($0), using: &generator) ? 1 : 0 })
    }

    /// Independent standard Gumbel draws.
    @inlinable
    public init<G: RandomNumberGenerator>(randomGumbel shape: TensorShape, using generator: inout G) {
        let count = shape.elementCount
        var values = [Scalar]()
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(Scalar(Random.gumbel(using: &generator))) }
        self.init(shape: shape, scalars: values)
    }
}

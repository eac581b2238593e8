import Foundation
import VariationalCore
import XCTest

/// Seeded sampler checks. Moment tolerances are 5 standard errors of the sample mean (or variance), so a correct
/// sampler fails with probability below 1e-6 per check; the seeds are fixed, so the outcome is reproducible.
final class RandomTests: XCTestCase {
    let n = 200_000

    func assertMoments(
        _ draws: [Double], mean: Double, variance: Double, _ name: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        let count = Double(draws.count)
        let sampleMean = draws.reduce(0, +) / count
        let sampleVariance = draws.reduce(0) { $0 + ($1 - sampleMean) * ($1 - sampleMean) } / (count - 1)
        let fourth = draws.reduce(0) { $0 + pow($1 - sampleMean, 4) } / count
        let meanError = (variance / count).squareRoot()
        let varianceError = ((fourth - sampleVariance * sampleVariance) / count).squareRoot()
        XCTAssertEqual(sampleMean, mean, accuracy: 5 * meanError, "\(name) mean", file: file, line: line)
        XCTAssertEqual(sampleVariance, variance, accuracy: 5 * varianceError, "\(name) variance", file: file, line: line)
    }

    func testSameSeedSameStream() {
        var a = SeededGenerator(seed: 99)
        var b = SeededGenerator(seed: 99)
        var c = SeededGenerator(seed: 100)
        let first = (0..<100).map { _ in a.next() }
        XCTAssertEqual(first, (0..<100).map { _ in b.next() })
        XCTAssertNotEqual(first, (0..<100).map { _ in c.next() })
        // The stream is pinned: a change to the generator would silently change every seeded result.
        var pinned = SeededGenerator(seed: 0)
        XCTAssertEqual(pinned.next(), 0x99EC_5F36_CB75_F2B4)
    }

    /// The project's generator, called directly where normals are drawn, gives the draws it gives through its
    /// protocol (a generator of another type wrapping it), and leaves its stream at the same place.
    func testNormalsFromTheSeededGeneratorMatchTheGenericPath() {
        struct Wrapped: RandomNumberGenerator {
            var inner: SeededGenerator
            mutating func next() -> UInt64 { inner.next() }
        }
        var direct = SeededGenerator(seed: 17)
        var wrapped = Wrapped(inner: SeededGenerator(seed: 17))
        for count in [1, 2, 255, 256, 257, 1001] {
            XCTAssertEqual(Random.standardNormals(count: count, using: &direct), Random.standardNormals(count: count, using: &wrapped))
            XCTAssertEqual(direct.next(), wrapped.next())
        }
    }

    func testNormal() {
        var generator = SeededGenerator(seed: 1)
        assertMoments(Random.standardNormals(count: n, using: &generator), mean: 0, variance: 1, "normal")
        let t = Tensor<Double>(randomNormal: [n], mean: 2, standardDeviation: 3, using: &generator)
        assertMoments(t.scalars.array, mean: 2, variance: 9, "normal(2, 3)")
    }

    /// The vectorised Box–Muller transform against its scalar formula, draw by draw: the pairs come from the same
    /// uniforms in the same order (an odd count uses its last pair's first normal and still draws the pair), a
    /// pair's normals do not depend on where it sits (the padded tail gives the bits of a full vector), and the
    /// stream is consumed two uniforms per pair whatever the count.
    func testNormalsFollowTheScalarFormula() {
        for count in [1, 2, 7, 15, 16, 17, 31, 255, 256, 257, 1001] {
            var generator = SeededGenerator(seed: UInt64(count))
            var replay = generator
            let draws = Random.standardNormals(count: count, using: &generator)
            var expected: [Double] = []
            while expected.count < count {
                let u1 = Random.openUnit(using: &replay), u2 = Random.openUnit(using: &replay)
                let r = (-2 * log(u1)).squareRoot()
                expected += [r * cos(2 * Double.pi * u2), r * sin(2 * Double.pi * u2)]
            }
            XCTAssertEqual(generator.next(), replay.next(), "count \(count): the stream moved on by two uniforms a pair")
            for i in 0..<count {
                XCTAssertEqual(draws[i], expected[i], accuracy: 1e-13 * Swift.max(1, abs(expected[i])), "count \(count), draw \(i)")
            }
        }
        // The first 17 draws of a longer call have the bits of a call for 17 (whose last pairs go through the padded tail).
        var a = SeededGenerator(seed: 5), b = SeededGenerator(seed: 5)
        let short = Random.standardNormals(count: 17, using: &a)
        let long = Random.standardNormals(count: 64, using: &b)
        XCTAssertEqual(short, Array(long.prefix(17)))
    }

    /// Binomial draws by halving (Knuth) have the binomial's mean and variance for small counts, where the last
    /// trials are drawn one by one, and for counts far too large to draw trial by trial.
    func testBinomial() {
        var generator = SeededGenerator(seed: 12)
        for (count, p) in [(10.0, 0.3), (1000.0, 0.02), (1e9, 0.5), (1e15, 0.001)] {
            let draws = (0..<20_000).map { _ in Random.binomial(count: count, probability: p, using: &generator) }
            XCTAssertTrue(draws.allSatisfy { $0 >= 0 && $0 <= count && $0 == $0.rounded() })
            assertMoments(draws, mean: count * p, variance: count * p * (1 - p), "binomial(\(count), \(p))")
        }
    }

    func testGamma() {
        var generator = SeededGenerator(seed: 2)
        for shape in [0.3, 1, 3.7] {
            let draws = (0..<n).map { _ in Random.gamma(shape: shape, using: &generator) }
            XCTAssertTrue(draws.allSatisfy { $0 > 0 })
            assertMoments(draws, mean: shape, variance: shape, "gamma(\(shape))")
        }
    }

    func testUniformBernoulliGumbelCategorical() {
        var generator = SeededGenerator(seed: 3)
        assertMoments((0..<n).map { _ in Random.uniform(using: &generator) }, mean: 0.5, variance: 1.0 / 12, "uniform")
        let bits = (0..<n).map { _ in Random.bernoulli(probability: 0.3, using: &generator) ? 1.0 : 0.0 }
        assertMoments(bits, mean: 0.3, variance: 0.21, "bernoulli")
        let eulerGamma = 0.57721566490153286
        assertMoments((0..<n).map { _ in Random.gumbel(using: &generator) }, mean: eulerGamma, variance: Double.pi * Double.pi / 6, "gumbel")
        let weights = [0.1, 0.6, 0.3]
        for useLogits in [false, true] {
            var counts = [0.0, 0.0, 0.0]
            for _ in 0..<n {
                let i = useLogits
                    ? Random.categorical(logits: weights.map { Foundation.log($0) + 5 }, using: &generator)
                    : Random.categorical(weights: weights, using: &generator)
                counts[i] += 1
            }
            for (count, p) in zip(counts, weights) {
                XCTAssertEqual(count / Double(n), p, accuracy: 5 * (p * (1 - p) / Double(n)).squareRoot())
            }
        }
    }
}

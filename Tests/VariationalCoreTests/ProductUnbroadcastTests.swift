import XCTest
@testable import VariationalCore

/// A product's pullback sums v · (the other operand) back to a broadcast operand's shape in one pass: it must give
/// the bits of the tensor of products summed by `unbroadcast(to:)`, for every layout, and the usual path elsewhere.
final class ProductUnbroadcastTests: XCTestCase {
    func testGradientOfABroadcastFactorHasTheBitsOfProductsThenSums() {
        checkEveryLayout(Double.self)
        checkEveryLayout(Float.self)
    }

    private func checkEveryLayout<Scalar: TensorScalar>(_: Scalar.Type) {
        var generator = SeededGenerator(seed: 41)
        var pairs: [(TensorShape, TensorShape)] = []
        // A column per particle against rows of every length: both sides of the row sums' 16 running sums.
        for rows in [1, 3, 4] {
            for columns in Array(1...40) + [100, 1000] { pairs.append(([rows, 1], [rows, columns])) }
        }
        // One number against everything; higher rank; the layouts that take the general sums.
        pairs += [
            ([], [4, 8]), ([1], [20]), ([1, 1], [3, 17]), ([2, 3, 1], [2, 3, 5]), ([2, 3, 1], [2, 3, 33]),
            ([1, 8], [4, 8]), ([8], [4, 8]), ([2, 1, 5], [2, 3, 5]), ([4, 8], [4, 8]), ([0, 1], [0, 5]),
        ]
        for (small, large) in pairs {
            let factor = Tensor<Scalar>(randomNormal: small, using: &generator)
            let other = Tensor<Scalar>(shape: large, scalars: values(large.elementCount, &generator))
            let upstream = Tensor<Scalar>(shape: large, scalars: values(large.elementCount, &generator))
            let (_, pullback) = Tensor.vjpMultiply(factor, other)
            let (toFactor, toOther) = pullback(upstream)
            let expected = upstream.multiplying(other).unbroadcast(to: small)
            XCTAssertEqual(toFactor.shape, small, "\(small) · \(large)")
            XCTAssertEqual(bits(toFactor), bits(expected), "\(Scalar.self) \(small) · \(large)")
            XCTAssertEqual(bits(toOther), bits(upstream.multiplying(factor.broadcasted(to: large))), "\(small) · \(large)")
            // Each side alone, as differentiating with respect to one operand asks.
            XCTAssertEqual(bits(Tensor.vjpMultiplyLeft(factor, other).pullback(upstream)), bits(expected))
            XCTAssertEqual(bits(Tensor.vjpMultiplyRight(other, factor).pullback(upstream)), bits(expected))
        }
        // Upstream ones take the path that skips the products, with the same sums.
        let factor = Tensor<Scalar>(randomNormal: [3, 1], using: &generator)
        let other = Tensor<Scalar>(shape: [3, 20], scalars: values(60, &generator))
        let fromOnes = Tensor.vjpMultiplyLeft(factor, other).pullback(Tensor(ones: [3, 20]))
        XCTAssertEqual(bits(fromOnes), bits(other.unbroadcast(to: [3, 1])))
    }

    /// Normal draws over several magnitudes, with a NaN, an infinity and a −0 among them.
    private func values<Scalar: TensorScalar>(_ count: Int, _ generator: inout SeededGenerator) -> [Scalar] {
        var result = Tensor<Scalar>(randomNormal: [count], using: &generator).scalars.array
        for i in result.indices { result[i] *= Scalar([1, 1e3, 1e-3, 1e6][i % 4]) }
        if count > 50 { (result[7], result[23], result[41]) = (.nan, .infinity, -0.0) }
        return result
    }

    /// Exact in Double, −0 and NaN kept.
    private func bits<Scalar: TensorScalar>(_ tensor: Tensor<Scalar>) -> [UInt64] {
        tensor.scalars.array.map { Double($0).bitPattern }
    }
}

import _Differentiation
import Foundation
import VariationalCore

/// Maps ℝ^(K−1) onto the open simplex of K probabilities by breaking a stick (Stan's construction):
/// zₖ = σ(xₖ − log(K − 1 − k)), yₖ = zₖ (1 − Σⱼ₍ⱼ<ₖ₎ yⱼ), and the last probability takes what remains.
/// The offset makes x = 0 the uniform point. The log-determinant is that of x ↦ (y₁ … y_(K−1)).
public struct StickBreaking<Scalar: TensorScalar>: Bijector {
    public init() {}
    public var inputEventRank: Int { 1 }

    @differentiable(reverse)
    public func forward(_ x: Tensor<Scalar>) -> Tensor<Scalar> { breaking(x).y }

    @differentiable(reverse)
    public func forwardLogDetJacobian(_ x: Tensor<Scalar>) -> Tensor<Scalar> { breaking(x).logDet }

    /// The probabilities and the log-determinant, as a struct: differentiating a tuple result of which only the
    /// second element is used handed the first element's pullback the second's cotangent (a wrong gradient of the
    /// log-determinant, or a stop on mismatched shapes).
    struct Broken: Differentiable {
        var y: Tensor<Scalar>
        var logDet: Tensor<Scalar>

        @differentiable(reverse)
        init(y: Tensor<Scalar>, logDet: Tensor<Scalar>) {
            self.y = y
            self.logDet = logDet
        }
    }

    @differentiable(reverse)
    func breaking(_ x: Tensor<Scalar>) -> Broken {
        let k = withoutDerivative(at: x.shape[x.rank - 1])
        var remainder = x.slice(axis: -1, range: 0..<1) * 0 + 1
        var logDet = remainder.squeezingShape(at: -1) * 0
        var pieces: [Tensor<Scalar>] = []
        for i in 0..<k {
            let u = x.slice(axis: -1, range: i..<(i + 1)) - Scalar(Foundation.log(Double(k - i)))
            let piece = remainder * u.sigmoid()
            logDet = logDet + (u.logSigmoid() + (-u).logSigmoid() + remainder.log()).squeezingShape(at: -1)
            pieces.append(piece)
            remainder = remainder - piece
        }
        pieces.append(remainder)
        return Broken(y: Tensor.concatenating(pieces, alongAxis: -1), logDet: logDet)
    }

    @differentiable(reverse)
    public func inverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        let k = withoutDerivative(at: y.shape[y.rank - 1] - 1)
        var remainder = y.slice(axis: -1, range: 0..<1) * 0 + 1
        var pieces: [Tensor<Scalar>] = []
        for i in 0..<k {
            let piece = y.slice(axis: -1, range: i..<(i + 1))
            let z = piece / remainder
            pieces.append(z.log() - (-z).log1p() + Scalar(Foundation.log(Double(k - i))))
            remainder = remainder - piece
        }
        return Tensor.concatenating(pieces, alongAxis: -1)
    }
}

/// Maps ℝ^K onto increasing vectors: y₁ = x₁, yₖ = yₖ₋₁ + exp(xₖ).
public struct Ordered<Scalar: TensorScalar>: Bijector {
    public init() {}
    public var inputEventRank: Int { 1 }

    @differentiable(reverse)
    public func forward(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        let k = withoutDerivative(at: x.shape[x.rank - 1])
        var current = x.slice(axis: -1, range: 0..<1)
        var pieces = [current]
        for i in 1..<Swift.max(k, 1) {
            current = current + x.slice(axis: -1, range: i..<(i + 1)).exp()
            pieces.append(current)
        }
        return Tensor.concatenating(pieces, alongAxis: -1)
    }

    @differentiable(reverse)
    public func inverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        let k = withoutDerivative(at: y.shape[y.rank - 1])
        if k == 1 { return y }
        let rest = (y.slice(axis: -1, range: 1..<k) - y.slice(axis: -1, range: 0..<(k - 1))).log()
        return y.slice(axis: -1, range: 0..<1).concatenated(with: rest, alongAxis: -1)
    }

    @differentiable(reverse)
    public func forwardLogDetJacobian(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        let k = withoutDerivative(at: x.shape[x.rank - 1])
        if k == 1 { return x.sum(squeezingAxes: -1) * 0 }
        return x.slice(axis: -1, range: 1..<k).sum(squeezingAxes: -1)
    }
}

/// Maps ℝ^(K(K−1)/2) onto lower Cholesky factors of K×K correlation matrices (Stan's construction through
/// canonical partial correlations zᵢⱼ = tanh(xᵢⱼ)). Input events are vectors, outputs K×K matrices; the
/// log-determinant is that of x ↦ the strictly lower entries of L. Single events (rank-1 input) only.
public struct CorrCholesky<Scalar: TensorScalar>: Bijector {
    public init() {}
    public var inputEventRank: Int { 1 }

    /// K from the length K(K−1)/2 of an input vector.
    static func dimension(forLength length: Int) -> Int {
        var k = 1
        while k * (k - 1) / 2 < length { k += 1 }
        require(k * (k - 1) / 2 == length, "CorrCholesky: length \(length) is not K(K−1)/2 for any K")
        return k
    }

    @differentiable(reverse)
    public func forward(_ x: Tensor<Scalar>) -> Tensor<Scalar> { build(x).l }

    @differentiable(reverse)
    public func forwardLogDetJacobian(_ x: Tensor<Scalar>) -> Tensor<Scalar> { build(x).logDet }

    @differentiable(reverse)
    func build(_ x: Tensor<Scalar>) -> (l: Tensor<Scalar>, logDet: Tensor<Scalar>) {
        require(x.rank == 1, "CorrCholesky: needs a single vector, got shape \(x.shape)")
        let k = withoutDerivative(at: CorrCholesky.dimension(forLength: x.shape[0]))
        let z = x.tanh()
        var logDet = Tanh<Scalar>().forwardLogDetJacobian(x).sum()
        let zero = x.sum() * 0
        var rows: [Tensor<Scalar>] = []
        var index = 0
        for i in 0..<k {
            var entries: [Tensor<Scalar>] = []
            var remaining = zero + 1  // 1 − Σ of the squares so far in this row
            for _ in 0..<i {
                let zij = z.slice(axis: 0, range: index..<(index + 1)).reshaped(to: [])
                index += 1
                let entry = zij * remaining.sqrt()
                entries.append(entry)
                logDet = logDet + remaining.log() * 0.5
                remaining = remaining - entry.squared()
            }
            entries.append(remaining.sqrt())
            for _ in (i + 1)..<Swift.max(i + 1, k) { entries.append(zero) }
            rows.append(Tensor.stacking(entries))
        }
        return (Tensor.stacking(rows), logDet)
    }

    @differentiable(reverse)
    public func inverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        require(y.rank == 2 && y.shape[0] == y.shape[1], "CorrCholesky.inverse: needs a square matrix, got \(y.shape)")
        let k = withoutDerivative(at: y.shape[0])
        var pieces: [Tensor<Scalar>] = []
        for i in 1..<Swift.max(k, 1) {
            let row = y.slice(axis: 0, range: i..<(i + 1)).reshaped(to: [k])
            var remaining = row.sum() * 0 + 1
            for j in 0..<i {
                let lij = row.slice(axis: 0, range: j..<(j + 1)).reshaped(to: [])
                let zij = lij / remaining.sqrt()
                pieces.append(((zij.log1p() - (-zij).log1p()) * 0.5).reshaped(to: [1]))
                remaining = remaining - lij.squared()
            }
        }
        if pieces.isEmpty { return y.reshaped(to: [-1]).slice(axis: 0, range: 0..<0) }
        return Tensor.concatenating(pieces)
    }
}

/// Two bijectors applied in turn: `second(first(x))`.
public struct Chain<First: Bijector, Second: Bijector>: Bijector where First.Scalar == Second.Scalar {
    public typealias Scalar = First.Scalar
    public var first: First
    public var second: Second

    public init(_ first: First, _ second: Second) {
        self.first = first
        self.second = second
    }

    public var inputEventRank: Int { Swift.max(first.inputEventRank, second.inputEventRank) }

    @differentiable(reverse)
    public func forward(_ x: Tensor<Scalar>) -> Tensor<Scalar> { second.forward(first.forward(x)) }

    @differentiable(reverse)
    public func inverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> { first.inverse(second.inverse(y)) }

    @differentiable(reverse)
    public func forwardLogDetJacobian(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        let rank = withoutDerivative(at: inputEventRank)
        let a = sumTrailing(first.forwardLogDetJacobian(x), rank - withoutDerivative(at: first.inputEventRank))
        let b = sumTrailing(second.forwardLogDetJacobian(first.forward(x)), rank - withoutDerivative(at: second.inputEventRank))
        return a + b
    }
}

/// The inverse of a bijector: forward is its inverse and vice versa.
public struct Inverse<Base: Bijector>: Bijector {
    public typealias Scalar = Base.Scalar
    public var base: Base

    public init(_ base: Base) { self.base = base }

    public var inputEventRank: Int { base.inputEventRank }
    @differentiable(reverse) public func forward(_ x: Tensor<Scalar>) -> Tensor<Scalar> { base.inverse(x) }
    @differentiable(reverse) public func inverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> { base.forward(y) }
    @differentiable(reverse) public func forwardLogDetJacobian(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        base.inverseLogDetJacobian(x)
    }
}

import _Differentiation
import Foundation
import VariationalCore

/// KL(Dirichlet(a) ‖ Dirichlet(b)) (and so the Beta divergence, K = 2) to full precision across the parameter range.
///
/// The textbook form, log Γ(a₀) − Σ log Γ(aₖ) − log Γ(b₀) + Σ log Γ(bₖ) + Σ (aₖ − bₖ)(ψ(aₖ) − ψ(a₀)), subtracts
/// numbers of size a log a: at a = 10²⁰ nothing of the answer survives. Write log Γ(x) = (x − ½) log x − x + ½ log 2π
/// + r(x) and ψ(x) = log x − 1/(2x) − s(x) (r and s are small: `SpecialFunctions.logGammaRemainder`,
/// `digammaRemainder`), and the large parts cancel algebraically. Two rearrangements are then computed, and the one
/// whose terms are smaller in magnitude (and so whose rounding error is smaller) is returned:
///
/// - the *cross-entropy form* KL = CE − H(q), with the entropy H(q) in its Stirling form and
///   CE = −E_q[log p] = log B(b) − Σ (bₖ − 1)(ψ(aₖ) − ψ(a₀)), each digamma difference and each log(bₖ/b₀) computed from
///   the mass outside component k, so that a component holding nearly all the mass loses nothing;
/// - the *near form*, for b close to a, where the terms of first order in d = b − a cancel as well:
///   KL = Σ h(aₖ, bₖ) − h(a₀, b₀) with h = −g + d log(b/a) + g/(2a) + r(b) − r(a) + d s(a) and g = a log(a/b) − a + b.
///
/// The gradient is the textbook one: ∂/∂aₖ = (aₖ − bₖ) ψ′(aₖ) − (a₀ − b₀) ψ′(a₀), ∂/∂bₖ = ψ(bₖ) − ψ(b₀) − ψ(aₖ) + ψ(a₀).
enum DirichletDivergence {
    /// The divergence for one pair of concentration vectors.
    static func value(_ a: [Double], _ b: [Double]) -> Double {
        let crossEntropy = crossEntropyForm(a, b)
        let near = nearForm(a, b)
        return near.magnitude < crossEntropy.magnitude ? near.value : crossEntropy.value
    }

    /// A sum that remembers the sum of its terms' magnitudes (its rounding error is about ε times that).
    struct Sum {
        var value = 0.0
        var magnitude = 0.0
        mutating func add(_ term: Double) {
            value += term
            magnitude += abs(term)
        }
    }

    /// The mass outside component k, summed directly when component k holds most of it (a₀ − aₖ would cancel).
    static func rest(_ x: [Double], _ total: Double, excluding k: Int) -> Double {
        if x[k] < 0.5 * total { return total - x[k] }
        var sum = 0.0
        for i in x.indices where i != k { sum += x[i] }
        return sum
    }

    /// log(xₖ/x₀) given the mass outside component k.
    static func logShare(_ xk: Double, rest: Double) -> Double {
        rest < xk ? -log1p(rest / xk) : log(xk) - log(xk + rest)
    }

    /// ψ(aₖ) − ψ(a₀) given the mass outside component k, in Stirling's form.
    static func digammaShare(_ ak: Double, _ a0: Double, rest: Double) -> Double {
        logShare(ak, rest: rest) - digammaShareCorrection(ak, a0, rest: rest)
    }

    /// log(aₖ/a₀) − (ψ(aₖ) − ψ(a₀)) = (a₀ − aₖ)/(2aₖa₀) + s(aₖ) − s(a₀).
    static func digammaShareCorrection(_ ak: Double, _ a0: Double, rest: Double) -> Double {
        rest / (2 * ak) / a0 + SpecialFunctions.digammaRemainder(ak) - SpecialFunctions.digammaRemainder(a0)
    }

    /// log(bₖ/b₀) − log(aₖ/a₀) given the masses outside component k: from bₖ(a₀ − aₖ) − aₖ(b₀ − bₖ) where the two
    /// shares are close, so that equal shares give exactly 0.
    static func shareDifference(_ ak: Double, restA: Double, _ bk: Double, restB: Double) -> Double {
        let numerator = bk * restA - ak * restB
        let denominator = ak * (bk + restB)
        let t = numerator / denominator
        if t.isFinite && abs(t) < 0.5 { return log1p(t) }
        return logShare(bk, rest: restB) - logShare(ak, rest: restA)
    }

    static func crossEntropyForm(_ a: [Double], _ b: [Double]) -> Sum {
        let k = Double(a.count)
        let a0 = a.reduce(0, +)
        let b0 = b.reduce(0, +)
        let r = SpecialFunctions.logGammaRemainder
        let s = SpecialFunctions.digammaRemainder
        var sum = Sum()
        // −H(q) = −[½ Σ log aₖ + (½ − K) log a₀ + (K − 1)(½ log 2π + ½) + K/(2a₀) − Σ 1/(2aₖ) + Σ r(aₖ) − r(a₀)
        //          − (a₀ − K) s(a₀) + Σ (aₖ − 1) s(aₖ)]
        sum.add(-(0.5 - k) * log(a0))
        sum.add(-(k - 1) * (SpecialFunctions.halfLogTwoPi + 0.5))
        sum.add(-k * 0.5 / a0)
        sum.add(r(a0))
        sum.add((a0 - k) * s(a0))
        // log B(b) = Σ (bₖ − ½) log(bₖ/b₀) − (K − 1)/2 log b₀ + (K − 1) ½ log 2π + Σ r(bₖ) − r(b₀)
        sum.add(-(k - 1) * 0.5 * log(b0))
        sum.add((k - 1) * SpecialFunctions.halfLogTwoPi)
        sum.add(-r(b0))
        for i in a.indices {
            sum.add(-0.5 * log(a[i]))
            sum.add(0.5 / a[i])
            sum.add(-r(a[i]))
            sum.add(-(a[i] - 1) * s(a[i]))
            // (bₖ − ½) log(bₖ/b₀) − (bₖ − 1)(ψ(aₖ) − ψ(a₀)), its parts of size b log(share) cancelled algebraically
            let (restA, restB) = (rest(a, a0, excluding: i), rest(b, b0, excluding: i))
            sum.add((b[i] - 1) * shareDifference(a[i], restA: restA, b[i], restB: restB))
            sum.add(0.5 * logShare(b[i], rest: restB))
            sum.add((b[i] - 1) * digammaShareCorrection(a[i], a0, rest: restA))
            sum.add(r(b[i]))
        }
        return sum
    }

    static func nearForm(_ a: [Double], _ b: [Double]) -> Sum {
        var sum = Sum()
        var d0 = 0.0
        for i in a.indices {
            let d = b[i] - a[i]
            d0 += d
            addNearTerm(a[i], b[i], d, sign: 1, to: &sum)
        }
        addNearTerm(a.reduce(0, +), b.reduce(0, +), d0, sign: -1, to: &sum)
        return sum
    }

    static func addNearTerm(_ a: Double, _ b: Double, _ d: Double, sign: Double, to sum: inout Sum) {
        let g = SpecialFunctions.generalizedKL(a, b, difference: d)
        sum.add(sign * (g / (2 * a) - g))
        sum.add(sign * d * SpecialFunctions.logRatio(b, a, difference: d))
        sum.add(sign * (SpecialFunctions.logGammaRemainder(b) - SpecialFunctions.logGammaRemainder(a)))
        sum.add(sign * d * SpecialFunctions.digammaRemainder(a))
    }

    /// ∂KL/∂a and ∂KL/∂b for one pair.
    static func gradient(_ a: [Double], _ b: [Double]) -> (a: [Double], b: [Double]) {
        let a0 = a.reduce(0, +)
        let b0 = b.reduce(0, +)
        let totalCurvature = (a0 - b0) * SpecialFunctions.trigamma(a0)
        let da = a.indices.map { (a[$0] - b[$0]) * SpecialFunctions.trigamma(a[$0]) - totalCurvature }
        let db = a.indices.map {
            digammaShare(b[$0], b0, rest: rest(b, b0, excluding: $0)) - digammaShare(a[$0], a0, rest: rest(a, a0, excluding: $0))
        }
        return (da, db)
    }
}

/// KL(Dirichlet(a) ‖ Dirichlet(b)) from the components aₖ, bₖ (tensors of one batch shape), by `DirichletDivergence`.
@differentiable(reverse)
func dirichletKL<Scalar: TensorScalar>(q a: [Tensor<Scalar>], p b: [Tensor<Scalar>]) -> Tensor<Scalar> {
    dirichletKLWithGradient(a, b).value
}

private func dirichletKLWithGradient<Scalar: TensorScalar>(_ a: [Tensor<Scalar>], _ b: [Tensor<Scalar>])
    -> (value: Tensor<Scalar>, gradientA: [[Scalar]], gradientB: [[Scalar]])
{
    let shape = a[0].shape
    let count = a[0].scalarCount
    var values = [Scalar](repeating: 0, count: count)
    var gradientA = [[Scalar]](repeating: [Scalar](repeating: 0, count: count), count: a.count)
    var gradientB = gradientA
    for j in 0..<count {
        let aj = a.map { Double($0.scalars[j]) }
        let bj = b.map { Double($0.scalars[j]) }
        values[j] = Scalar(DirichletDivergence.value(aj, bj))
        let (da, db) = DirichletDivergence.gradient(aj, bj)
        for k in a.indices {
            gradientA[k][j] = Scalar(da[k])
            gradientB[k][j] = Scalar(db[k])
        }
    }
    return (Tensor(shape: shape, scalars: values), gradientA, gradientB)
}

@derivative(of: dirichletKL)
func vjpDirichletKL<Scalar: TensorScalar>(q a: [Tensor<Scalar>], p b: [Tensor<Scalar>])
    -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> ([Tensor<Scalar>].TangentVector, [Tensor<Scalar>].TangentVector))
{
    let (value, gradientA, gradientB) = dirichletKLWithGradient(a, b)
    let shape = value.shape
    return (value, { v in
        let upstream = v.broadcasted(to: shape)
        let da = gradientA.map { upstream * Tensor(shape: shape, scalars: $0) }
        let db = gradientB.map { upstream * Tensor(shape: shape, scalars: $0) }
        return (.init(da), .init(db))
    })
}

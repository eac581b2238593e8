import _Differentiation
import Foundation
import VariationalCore

/// True when `Q` has a closed-form KL divergence to `P` (its `KLPartner` is `P`).
public func hasClosedFormKL<Q: Distribution, P: Distribution>(from _: Q.Type, to _: P.Type) -> Bool {
    Q.KLPartner.self == P.self && P.self != NoClosedForm<Q.Scalar>.self
}

/// KL(q ‖ p) in closed form, for generic code: reaches `q.klDivergence(to:)` whenever `P` is `Q.KLPartner`,
/// differentiably in both q and p. Check `hasClosedFormKL(from:to:)` first; other pairs stop with a message.
@differentiable(reverse)
public func closedFormKL<Q: Distribution, P: Distribution>(from q: Q, to p: P) -> Tensor<Q.Scalar> {
    require(hasClosedFormKL(from: Q.self, to: P.self), "closedFormKL: no closed form from \(Q.self) to \(P.self)")
    return q.klDivergence(to: reinterpret(p, as: Q.KLPartner.self))
}

/// The same value seen as another type that is, at run time, the same type (used where generic code has
/// established P == Q.KLPartner dynamically). Tangents are reinterpreted the same way.
@differentiable(reverse)
func reinterpret<A: Differentiable, B: Differentiable>(_ a: A, as _: B.Type) -> B {
    require(A.self == B.self, "reinterpret: \(A.self) is not \(B.self)")
    return unsafeBitCast(a, to: B.self)
}

@derivative(of: reinterpret)
func vjpReinterpret<A: Differentiable, B: Differentiable>(_ a: A, as type: B.Type)
    -> (value: B, pullback: (B.TangentVector) -> A.TangentVector)
{
    (reinterpret(a, as: type), { v in unsafeBitCast(v, to: A.TangentVector.self) })
}

/// A KL divergence with how it was obtained.
public struct KLEstimate: Sendable, Equatable {
    public enum Method: String, Sendable {
        case closedForm = "closed-form", monteCarlo = "monte-carlo"
        /// One distribution is discrete and the other continuous: each puts mass where the other has none, and the
        /// divergence is +∞ exactly.
        case supportMismatch = "support-mismatch"
    }
    /// The value (the sum over the batch).
    public var value: Double
    public var method: Method
    /// The Monte-Carlo standard error; 0 for a closed form.
    public var standardError: Double
}

/// KL(q ‖ p) = E_q[log q(x) − log p(x)]: the closed form when one exists, +∞ when one of q and p is discrete and
/// the other continuous (a probability mass against a density is no ratio of densities: q is not absolutely
/// continuous with respect to p), otherwise a Monte-Carlo estimate from `sampleCount` draws of q with its standard
/// error. Batches are summed. The estimate is NaN when q's draws overflow double precision.
public func klDivergence<Q: Distribution, P: Distribution, G: RandomNumberGenerator>(
    from q: Q, to p: P, sampleCount: Int = 100_000, using generator: inout G
) -> KLEstimate where Q.Scalar == P.Scalar {
    if Q.isDiscrete != P.isDiscrete { return KLEstimate(value: .infinity, method: .supportMismatch, standardError: 0) }
    if hasClosedFormKL(from: Q.self, to: P.self) {
        return KLEstimate(value: Double(closedFormKL(from: q, to: p).sum().scalar), method: .closedForm, standardError: 0)
    }
    let (mean, error) = monteCarloKL(from: q, to: p, sampleCount: sampleCount, using: &generator)
    return KLEstimate(value: mean, method: .monteCarlo, standardError: error)
}

/// The Monte-Carlo estimate of KL(q ‖ p) (summed over the batch) and its standard error.
public func monteCarloKL<Q: Distribution, P: Distribution, G: RandomNumberGenerator>(
    from q: Q, to p: P, sampleCount: Int, using generator: inout G
) -> (estimate: Double, standardError: Double) where Q.Scalar == P.Scalar {
    require(sampleCount >= 2, "monteCarloKL: needs at least 2 samples, got \(sampleCount)")
    let x = q.sample(sampleShape: [sampleCount], using: &generator)
    let ratios = q.logProbability(of: x) - p.logProbability(of: x)
    let perSample = ratios.reshaped(to: [sampleCount, -1]).sum(squeezingAxes: 1).scalars.map(Double.init)
    // A draw of q where p has no mass proves the divergence infinite; no standard error qualifies that.
    if perSample.contains(.infinity) { return (.infinity, 0) }
    // A NaN (an infinite draw, ∞ − ∞) or −∞ (a draw where q's own density is zero) says q's draws overflowed.
    if perSample.contains(where: { $0.isNaN || $0 == -.infinity }) { return (.nan, .nan) }
    let (mean, error) = meanAndStandardError(perSample)
    // Finite terms whose sum overflows: the divergence is beyond double precision.
    return mean == .infinity ? (.infinity, 0) : (mean, error)
}

/// The mean of the values and the standard error of that mean.
public func meanAndStandardError(_ values: [Double]) -> (estimate: Double, standardError: Double) {
    let n = Double(values.count)
    let mean = values.reduce(0, +) / n
    let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
    return (mean, (variance / n).squareRoot())
}

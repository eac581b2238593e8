import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// The gamma distribution with shape (concentration) α and rate β:
/// p(x) = β^α x^(α−1) e^(−βx) / Γ(α) for x > 0. Samples are implicitly reparameterised in α and β.
public struct Gamma<Scalar: TensorScalar>: ReparameterizedDistribution {
    public typealias KLPartner = Gamma
    public var concentration: Tensor<Scalar>
    public var rate: Tensor<Scalar>
    @noDerivative public let batchShape: [Int]

    public init(concentration: Tensor<Scalar>, rate: Tensor<Scalar>) throws {
        try Check.positive(concentration, "Gamma", "concentration")
        try Check.positive(rate, "Gamma", "rate")
        _ = try Check.broadcastable(concentration.shape, rate.shape, "Gamma", "concentration and rate")
        self.init(uncheckedConcentration: concentration, rate: rate)
    }

    @differentiable(reverse)
    public init(uncheckedConcentration concentration: Tensor<Scalar>, rate: Tensor<Scalar>) {
        self.concentration = concentration
        self.rate = rate
        self.batchShape = withoutDerivative(at: broadcastShape(concentration.shape, rate.shape))
    }

    public var eventShape: [Int] { [] }
    public var support: Support { .positive }
    public var supportBijector: Exp<Scalar> { Exp() }

    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let mask = withoutDerivative(at: outside(.positive, value))
        let x = value.replacing(with: 1, where: mask)
        let alpha = concentration
        let result = alpha * rate.log() - alpha.logGamma() + (alpha - 1) * x.log() - rate * x
        return result.replacing(with: -.infinity, where: mask)
    }

    /// Standard Gamma(α, 1) draws with this α.
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        standardGammaDraws(concentration, shape: sampleShape + batchShape, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> {
        implicitStandardGamma(concentration: concentration, draws: noise) / rate
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { (concentration / rate).broadcasted(to: batchShape) }
    public var variance: Tensor<Scalar> { (concentration / rate.squared()).broadcasted(to: batchShape) }
    public static var hasClosedFormEntropy: Bool { true }

    /// α − log β + log Γ(α) + (1 − α) ψ(α).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        let alpha = concentration
        return (alpha - rate.log() + alpha.logGamma() + (1 - alpha) * alpha.digamma()).broadcasted(to: withoutDerivative(at: batchShape))
    }

    /// (α₁ − α₂) ψ(α₁) − log Γ(α₁) + log Γ(α₂) + α₂ (log β₁ − log β₂) + α₁ (β₂ − β₁) / β₁.
    @differentiable(reverse)
    public func klDivergence(to other: Gamma) -> Tensor<Scalar> {
        let (a1, b1, a2, b2) = (concentration, rate, other.concentration, other.rate)
        return (a1 - a2) * a1.digamma() - a1.logGamma() + a2.logGamma() + a2 * (b1.log() - b2.log()) + a1 * (b2 - b1) / b1
    }
}

/// The inverse-gamma distribution with shape α and scale β: p(x) = β^α x^(−α−1) e^(−β/x) / Γ(α) for x > 0.
public struct InverseGamma<Scalar: TensorScalar>: ReparameterizedDistribution {
    public var concentration: Tensor<Scalar>
    public var scale: Tensor<Scalar>
    @noDerivative public let batchShape: [Int]

    public init(concentration: Tensor<Scalar>, scale: Tensor<Scalar>) throws {
        try Check.positive(concentration, "InverseGamma", "concentration")
        try Check.positive(scale, "InverseGamma", "scale")
        _ = try Check.broadcastable(concentration.shape, scale.shape, "InverseGamma", "concentration and scale")
        self.init(uncheckedConcentration: concentration, scale: scale)
    }

    @differentiable(reverse)
    public init(uncheckedConcentration concentration: Tensor<Scalar>, scale: Tensor<Scalar>) {
        self.concentration = concentration
        self.scale = scale
        self.batchShape = withoutDerivative(at: broadcastShape(concentration.shape, scale.shape))
    }

    public var eventShape: [Int] { [] }
    public var support: Support { .positive }
    public var supportBijector: Exp<Scalar> { Exp() }

    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let mask = withoutDerivative(at: outside(.positive, value))
        let x = value.replacing(with: 1, where: mask)
        let alpha = concentration
        let result = alpha * scale.log() - alpha.logGamma() - (alpha + 1) * x.log() - scale / x
        return result.replacing(with: -.infinity, where: mask)
    }

    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        standardGammaDraws(concentration, shape: sampleShape + batchShape, using: &generator)
    }

    /// β / g with g ~ Gamma(α, 1), implicitly reparameterised in α.
    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> {
        scale / implicitStandardGamma(concentration: concentration, draws: noise)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    /// β / (α − 1) for α > 1, ∞ otherwise.
    public var mean: Tensor<Scalar> {
        let a = concentration.broadcasted(to: batchShape)
        return scale.broadcasted(to: batchShape).zipWithIndex(a) { b, a in a > 1 ? b / (a - 1) : .infinity }
    }

    /// β² / ((α − 1)² (α − 2)) for α > 2, ∞ otherwise.
    public var variance: Tensor<Scalar> {
        let a = concentration.broadcasted(to: batchShape)
        return scale.broadcasted(to: batchShape).zipWithIndex(a) { b, a in a > 2 ? b * b / ((a - 1) * (a - 1) * (a - 2)) : .infinity }
    }

    public static var hasClosedFormEntropy: Bool { true }

    /// α + log β + log Γ(α) − (1 + α) ψ(α).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        let alpha = concentration
        return (alpha + scale.log() + alpha.logGamma() - (1 + alpha) * alpha.digamma()).broadcasted(to: withoutDerivative(at: batchShape))
    }
}

/// log B(a, b) = log Γ(a) + log Γ(b) − log Γ(a + b).
@differentiable(reverse)
func logBeta<Scalar: TensorScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) -> Tensor<Scalar> {
    a.logGamma() + b.logGamma() - (a + b).logGamma()
}

/// The beta distribution: p(x) = x^(a−1) (1 − x)^(b−1) / B(a, b) on (0, 1). Samples are G₁ / (G₁ + G₂) with
/// G₁ ~ Gamma(a), G₂ ~ Gamma(b), implicitly reparameterised.
public struct Beta<Scalar: TensorScalar>: ReparameterizedDistribution {
    public typealias KLPartner = Beta
    public var alpha: Tensor<Scalar>
    public var beta: Tensor<Scalar>
    @noDerivative public let batchShape: [Int]

    public init(alpha: Tensor<Scalar>, beta: Tensor<Scalar>) throws {
        try Check.positive(alpha, "Beta", "alpha")
        try Check.positive(beta, "Beta", "beta")
        _ = try Check.broadcastable(alpha.shape, beta.shape, "Beta", "alpha and beta")
        self.init(uncheckedAlpha: alpha, beta: beta)
    }

    @differentiable(reverse)
    public init(uncheckedAlpha alpha: Tensor<Scalar>, beta: Tensor<Scalar>) {
        self.alpha = alpha
        self.beta = beta
        self.batchShape = withoutDerivative(at: broadcastShape(alpha.shape, beta.shape))
    }

    public var eventShape: [Int] { [] }
    public var support: Support { .unitInterval }
    public var supportBijector: Sigmoid<Scalar> { Sigmoid() }

    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let mask = withoutDerivative(at: outside(.unitInterval, value))
        let x = value.replacing(with: 0.5, where: mask)
        let result = (alpha - 1) * x.log() + (beta - 1) * (-x).log1p() - logBeta(alpha, beta)
        return result.replacing(with: -.infinity, where: mask)
    }

    /// Two standard gamma draws per sample, stacked on a trailing axis of size 2.
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        let g1 = standardGammaDraws(alpha, shape: shape, using: &generator)
        let g2 = standardGammaDraws(beta, shape: shape, using: &generator)
        return Tensor.stacking([g1, g2], alongAxis: -1)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> {
        let last = withoutDerivative(at: noise.rank - 1)
        let g1 = implicitStandardGamma(concentration: alpha, draws: noise.slice(axis: last, range: 0..<1).squeezingShape(at: last))
        let g2 = implicitStandardGamma(concentration: beta, draws: noise.slice(axis: last, range: 1..<2).squeezingShape(at: last))
        // Keep draws inside the open interval: a ratio that rounds to exactly 0 or 1 would have −∞ log density.
        let largestBelowOne = 1 - Scalar.ulpOfOne / 2
        return (g1 / (g1 + g2)).clamped(to: Scalar.leastNormalMagnitude...largestBelowOne)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { (alpha / (alpha + beta)).broadcasted(to: batchShape) }
    public var variance: Tensor<Scalar> {
        let total = alpha + beta
        return (alpha * beta / (total.squared() * (total + 1))).broadcasted(to: batchShape)
    }

    public static var hasClosedFormEntropy: Bool { true }

    /// log B(a, b) − (a − 1) ψ(a) − (b − 1) ψ(b) + (a + b − 2) ψ(a + b).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        let value = logBeta(alpha, beta) - (alpha - 1) * alpha.digamma() - (beta - 1) * beta.digamma()
            + (alpha + beta - 2) * (alpha + beta).digamma()
        return value.broadcasted(to: withoutDerivative(at: batchShape))
    }

    /// log B(a₂, b₂) − log B(a₁, b₁) + (a₁ − a₂) ψ(a₁) + (b₁ − b₂) ψ(b₁) + (a₂ − a₁ + b₂ − b₁) ψ(a₁ + b₁).
    @differentiable(reverse)
    public func klDivergence(to other: Beta) -> Tensor<Scalar> {
        let (a1, b1, a2, b2) = (alpha, beta, other.alpha, other.beta)
        return logBeta(a2, b2) - logBeta(a1, b1) + (a1 - a2) * a1.digamma() + (b1 - b2) * b1.digamma()
            + (a2 - a1 + b2 - b1) * (a1 + b1).digamma()
    }
}

/// The Dirichlet distribution on the simplex: p(x) = Π xₖ^(αₖ−1) / B(α), event shape [K].
/// Samples are normalised gamma draws, implicitly reparameterised.
public struct Dirichlet<Scalar: TensorScalar>: ReparameterizedDistribution {
    public typealias KLPartner = Dirichlet
    /// α, shape batchShape + [K].
    public var concentration: Tensor<Scalar>

    public init(concentration: Tensor<Scalar>) throws {
        guard concentration.rank >= 1, concentration.shape.last! >= 2 else {
            throw DistributionError("Dirichlet: concentration needs a last axis of at least 2 categories, got shape \(concentration.shape)")
        }
        try Check.positive(concentration, "Dirichlet", "concentration")
        self.init(uncheckedConcentration: concentration)
    }

    @differentiable(reverse)
    public init(uncheckedConcentration concentration: Tensor<Scalar>) { self.concentration = concentration }

    public var batchShape: [Int] { Array(concentration.shape.dropLast()) }
    public var eventShape: [Int] { [concentration.shape.last!] }
    public var support: Support { .simplex }
    public var supportBijector: StickBreaking<Scalar> { StickBreaking() }

    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let k = withoutDerivative(at: eventShape[0])
        // Outside the simplex: a negative or non-finite coordinate, or coordinates not summing to 1.
        let sums = withoutDerivative(at: value.sum(squeezingAxes: -1))
        let badCoordinate = withoutDerivative(at: value.scalars.map { !($0 >= 0 && $0.isFinite) })
        let mask = withoutDerivative(at: sums.scalars.indices.map { i in
            Swift.abs(Double(sums.scalars[i]) - 1) > 1e-4 || badCoordinate[(i * k)..<((i + 1) * k)].contains(true)
        })
        let alpha = concentration
        let normalizer = alpha.logGamma().sum(squeezingAxes: -1) - alpha.sum(squeezingAxes: -1).logGamma()
        let x = value.replacing(with: 1, where: badCoordinate)
        let result = ((alpha - 1) * x.log()).sum(squeezingAxes: -1) - normalizer
        return result.replacing(with: -.infinity, where: mask)
    }

    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        standardGammaDraws(concentration, shape: sampleShape + batchShape + eventShape, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> {
        let g = implicitStandardGamma(concentration: concentration, draws: noise)
        return g / g.sum(alongAxes: -1)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { concentration / concentration.sum(alongAxes: -1) }
    public var variance: Tensor<Scalar> {
        let total = concentration.sum(alongAxes: -1)
        return concentration * (total - concentration) / (total.squared() * (total + 1))
    }

    public static var hasClosedFormEntropy: Bool { true }

    /// log B(α) + (α₀ − K) ψ(α₀) − Σ (αₖ − 1) ψ(αₖ).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        let alpha = concentration
        let total = alpha.sum(squeezingAxes: -1)
        let k = Scalar(withoutDerivative(at: alpha.shape[alpha.rank - 1]))
        let logB = alpha.logGamma().sum(squeezingAxes: -1) - total.logGamma()
        return logB + (total - k) * total.digamma() - ((alpha - 1) * alpha.digamma()).sum(squeezingAxes: -1)
    }

    /// log Γ(α₀) − Σ log Γ(αₖ) − log Γ(β₀) + Σ log Γ(βₖ) + Σ (αₖ − βₖ)(ψ(αₖ) − ψ(α₀)).
    @differentiable(reverse)
    public func klDivergence(to other: Dirichlet) -> Tensor<Scalar> {
        let (a, b) = (concentration, other.concentration)
        let a0 = a.sum(alongAxes: -1)
        let b0 = b.sum(squeezingAxes: -1)
        return a0.squeezingShape(at: -1).logGamma() - a.logGamma().sum(squeezingAxes: -1) - b0.logGamma()
            + b.logGamma().sum(squeezingAxes: -1) + ((a - b) * (a.digamma() - a0.digamma())).sum(squeezingAxes: -1)
    }
}

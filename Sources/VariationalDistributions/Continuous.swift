import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

// Scalar-event continuous families on the real line and the half-line.

/// Laplace(μ, b): p(x) = exp(−|x − μ| / b) / (2b).
public struct Laplace<Scalar: TensorScalar>: ReparameterizedDistribution {
    public typealias KLPartner = Laplace
    public var location: Tensor<Scalar>
    public var scale: Tensor<Scalar>
    @noDerivative public let batchShape: [Int]

    public init(location: Tensor<Scalar>, scale: Tensor<Scalar>) throws {
        try Check.finite(location, "Laplace", "location")
        try Check.positive(scale, "Laplace", "scale")
        _ = try Check.broadcastable(location.shape, scale.shape, "Laplace", "location and scale")
        self.init(uncheckedLocation: location, scale: scale)
    }

    @differentiable(reverse)
    public init(uncheckedLocation location: Tensor<Scalar>, scale: Tensor<Scalar>) {
        self.location = location
        self.scale = scale
        self.batchShape = withoutDerivative(at: broadcastShape(location.shape, scale.shape))
    }

    public var eventShape: [Int] { [] }
    public var support: Support { .real }

    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        return -(value - location).abs() / scale - (scale * 2).log()
    }

    /// Uniform noise on (−½, ½).
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Scalar(Random.openUnit(using: &generator) - 0.5) })
    }

    /// μ − b sign(u) log(1 − 2|u|).
    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> {
        let standard = noise.map { u in -(u > 0 ? 1 : -1) * Scalar.log(1 - 2 * Swift.abs(u)) }
        return location + scale * standard
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { location.broadcasted(to: batchShape) }
    public var variance: Tensor<Scalar> { (scale.squared() * 2).broadcasted(to: batchShape) }
    public static var hasClosedFormEntropy: Bool { true }

    /// 1 + log(2b).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> { ((scale * 2).log() + 1).broadcasted(to: withoutDerivative(at: batchShape)) }

    /// log(b₂/b₁) + |μ₁ − μ₂| / b₂ + (b₁/b₂) exp(−|μ₁ − μ₂| / b₁) − 1.
    @differentiable(reverse)
    public func klDivergence(to other: Laplace) -> Tensor<Scalar> {
        let distance = (location - other.location).abs()
        let ratio = scale / other.scale
        return -ratio.log() + distance / other.scale + ratio * (-distance / scale).exp() - 1
    }
}

/// Cauchy(x₀, γ): p(x) = 1 / (πγ (1 + ((x − x₀)/γ)²)). Its mean and variance do not exist (NaN).
public struct Cauchy<Scalar: TensorScalar>: ReparameterizedDistribution {
    public var location: Tensor<Scalar>
    public var scale: Tensor<Scalar>
    @noDerivative public let batchShape: [Int]

    public init(location: Tensor<Scalar>, scale: Tensor<Scalar>) throws {
        try Check.finite(location, "Cauchy", "location")
        try Check.positive(scale, "Cauchy", "scale")
        _ = try Check.broadcastable(location.shape, scale.shape, "Cauchy", "location and scale")
        self.init(uncheckedLocation: location, scale: scale)
    }

    @differentiable(reverse)
    public init(uncheckedLocation location: Tensor<Scalar>, scale: Tensor<Scalar>) {
        self.location = location
        self.scale = scale
        self.batchShape = withoutDerivative(at: broadcastShape(location.shape, scale.shape))
    }

    public var eventShape: [Int] { [] }
    public var support: Support { .real }

    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let z = (value - location) / scale
        return -z.squared().log1p() - scale.log() - Scalar(Foundation.log(Double.pi))
    }

    /// Standard Cauchy noise, tan(π(u − ½)).
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in
            Scalar(Foundation.tan(Double.pi * (Random.openUnit(using: &generator) - 0.5)))
        })
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { location + scale * noise }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { Tensor(repeating: .nan, shape: batchShape) }
    public var variance: Tensor<Scalar> { Tensor(repeating: .nan, shape: batchShape) }
    public static var hasClosedFormEntropy: Bool { true }

    /// log(4πγ).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        (scale.log() + Scalar(Foundation.log(4 * Double.pi))).broadcasted(to: withoutDerivative(at: batchShape))
    }
}

/// Student's t with ν degrees of freedom, location μ and scale σ:
/// p(x) = Γ((ν+1)/2) / (Γ(ν/2) √(νπ) σ) · (1 + z²/ν)^(−(ν+1)/2), z = (x − μ)/σ.
public struct StudentT<Scalar: TensorScalar>: ReparameterizedDistribution {
    public var degreesOfFreedom: Tensor<Scalar>
    public var location: Tensor<Scalar>
    public var scale: Tensor<Scalar>
    @noDerivative public let batchShape: [Int]

    public init(degreesOfFreedom: Tensor<Scalar>, location: Tensor<Scalar>, scale: Tensor<Scalar>) throws {
        try Check.positive(degreesOfFreedom, "StudentT", "degreesOfFreedom")
        try Check.finite(location, "StudentT", "location")
        try Check.positive(scale, "StudentT", "scale")
        let shape = try Check.broadcastable(location.shape, scale.shape, "StudentT", "location and scale")
        _ = try Check.broadcastable(shape, degreesOfFreedom.shape, "StudentT", "parameters")
        self.init(uncheckedDegreesOfFreedom: degreesOfFreedom, location: location, scale: scale)
    }

    @differentiable(reverse)
    public init(uncheckedDegreesOfFreedom nu: Tensor<Scalar>, location: Tensor<Scalar>, scale: Tensor<Scalar>) {
        self.degreesOfFreedom = nu
        self.location = location
        self.scale = scale
        self.batchShape = withoutDerivative(at: broadcastShape(broadcastShape(location.shape, scale.shape), nu.shape))
    }

    public var eventShape: [Int] { [] }
    public var support: Support { .real }

    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let nu = degreesOfFreedom
        let z = (value - location) / scale
        let normalizer = ((nu + 1) * 0.5).logGamma() - (nu * 0.5).logGamma() - (nu * Scalar.pi).log() * 0.5 - scale.log()
        return normalizer - (nu + 1) * 0.5 * (z.squared() / nu).log1p()
    }

    /// Standard t noise with this ν: N(0, 1) / √(χ²_ν / ν), χ²_ν = 2 Gamma(ν/2).
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        let nu = degreesOfFreedom.broadcasted(to: shape)
        let normals = Random.standardNormals(count: nu.scalarCount, using: &generator)
        return Tensor(shape: shape, scalars: nu.scalars.indices.map { i in
            let v = Double(nu.scalars[i])
            let chiSquare = 2 * Random.gamma(shape: v / 2, using: &generator)
            return Scalar(normals[i] / (chiSquare / v).squareRoot())
        })
    }

    /// μ + σ t (the gradient reaches μ and σ; ν is not reparameterised).
    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { location + scale * noise }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    /// μ for ν > 1, NaN otherwise.
    public var mean: Tensor<Scalar> {
        location.broadcasted(to: batchShape).zipWithIndex(degreesOfFreedom.broadcasted(to: batchShape)) { m, nu in nu > 1 ? m : .nan }
    }

    /// σ² ν/(ν − 2) for ν > 2, ∞ for 1 < ν ≤ 2, NaN otherwise.
    public var variance: Tensor<Scalar> {
        let s2 = scale.squared().broadcasted(to: batchShape)
        return s2.zipWithIndex(degreesOfFreedom.broadcasted(to: batchShape)) { s, nu in
            nu > 2 ? s * nu / (nu - 2) : (nu > 1 ? .infinity : .nan)
        }
    }

    public static var hasClosedFormEntropy: Bool { true }

    /// (ν+1)/2 (ψ((ν+1)/2) − ψ(ν/2)) + ½ log ν + log B(ν/2, ½) + log σ.
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        let nu = degreesOfFreedom
        let half = nu * 0.5
        let logBeta = half.logGamma() + Scalar(0.5 * Foundation.log(Double.pi)) - (half + 0.5).logGamma()
        let value = (nu + 1) * 0.5 * ((half + 0.5).digamma() - half.digamma()) + nu.log() * 0.5 + logBeta + scale.log()
        return value.broadcasted(to: withoutDerivative(at: batchShape))
    }
}

extension Tensor {
    /// Elementwise combination of two tensors of the same shape (no derivative).
    func zipWithIndex(_ other: Tensor, _ combine: (Scalar, Scalar) -> Scalar) -> Tensor {
        Tensor(shape: shape, scalars: zip(scalars, other.scalars).map(combine))
    }
}

/// The half-normal distribution: |N(0, σ²)|, p(x) = √(2/π) / σ · exp(−x²/(2σ²)) for x ≥ 0.
public struct HalfNormal<Scalar: TensorScalar>: ReparameterizedDistribution {
    public var scale: Tensor<Scalar>

    public init(scale: Tensor<Scalar>) throws {
        try Check.positive(scale, "HalfNormal", "scale")
        self.init(uncheckedScale: scale)
    }

    @differentiable(reverse)
    public init(uncheckedScale scale: Tensor<Scalar>) { self.scale = scale }

    public var batchShape: [Int] { scale.shape }
    public var eventShape: [Int] { [] }
    public var support: Support { .nonNegative }
    public var supportBijector: Exp<Scalar> { Exp() }

    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let mask = withoutDerivative(at: outside(.nonNegative, value))
        let value = (value / scale).squared() * -0.5 - scale.log() + Scalar(0.5 * Foundation.log(2 / Double.pi))
        return value.replacing(with: -.infinity, where: mask)
    }

    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        Tensor(randomNormal: sampleShape + batchShape, using: &generator).map { Swift.abs($0) }
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { scale * noise }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    /// σ √(2/π).
    public var mean: Tensor<Scalar> { scale * Scalar((2 / Double.pi).squareRoot()) }
    /// σ² (1 − 2/π).
    public var variance: Tensor<Scalar> { scale.squared() * Scalar(1 - 2 / Double.pi) }
    public static var hasClosedFormEntropy: Bool { true }

    /// ½ log(πσ²/2) + ½.
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> { scale.log() + Scalar(0.5 * Foundation.log(Double.pi / 2) + 0.5) }
}

/// The half-Cauchy distribution: |Cauchy(0, γ)|, p(x) = 2 / (πγ (1 + (x/γ)²)) for x ≥ 0. No mean or variance.
public struct HalfCauchy<Scalar: TensorScalar>: ReparameterizedDistribution {
    public var scale: Tensor<Scalar>

    public init(scale: Tensor<Scalar>) throws {
        try Check.positive(scale, "HalfCauchy", "scale")
        self.init(uncheckedScale: scale)
    }

    @differentiable(reverse)
    public init(uncheckedScale scale: Tensor<Scalar>) { self.scale = scale }

    public var batchShape: [Int] { scale.shape }
    public var eventShape: [Int] { [] }
    public var support: Support { .nonNegative }
    public var supportBijector: Exp<Scalar> { Exp() }

    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let mask = withoutDerivative(at: outside(.nonNegative, value))
        let value = -(value / scale).squared().log1p() - scale.log() + Scalar(Foundation.log(2 / Double.pi))
        return value.replacing(with: -.infinity, where: mask)
    }

    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in
            Scalar(Foundation.tan(Double.pi / 2 * Random.openUnit(using: &generator)))
        })
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { scale * noise }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { Tensor(repeating: .infinity, shape: batchShape) }
    public var variance: Tensor<Scalar> { Tensor(repeating: .infinity, shape: batchShape) }
    public static var hasClosedFormEntropy: Bool { true }

    /// log(2πγ).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> { scale.log() + Scalar(Foundation.log(2 * Double.pi)) }
}

/// The exponential distribution with rate λ: p(x) = λ e^(−λx) for x ≥ 0.
public struct Exponential<Scalar: TensorScalar>: ReparameterizedDistribution {
    public typealias KLPartner = Exponential
    public var rate: Tensor<Scalar>

    public init(rate: Tensor<Scalar>) throws {
        try Check.positive(rate, "Exponential", "rate")
        self.init(uncheckedRate: rate)
    }

    @differentiable(reverse)
    public init(uncheckedRate rate: Tensor<Scalar>) { self.rate = rate }

    public var batchShape: [Int] { rate.shape }
    public var eventShape: [Int] { [] }
    public var support: Support { .nonNegative }
    public var supportBijector: Exp<Scalar> { Exp() }

    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let mask = withoutDerivative(at: outside(.nonNegative, value))
        return (rate.log() - rate * value).replacing(with: -.infinity, where: mask)
    }

    /// Standard exponential noise, −log U.
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Scalar(-Foundation.log(Random.openUnit(using: &generator))) })
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { noise / rate }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { 1 / rate }
    public var variance: Tensor<Scalar> { 1 / rate.squared() }
    public static var hasClosedFormEntropy: Bool { true }

    /// 1 − log λ.
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> { 1 - rate.log() }

    /// log(λ₁/λ₂) + λ₂/λ₁ − 1.
    @differentiable(reverse)
    public func klDivergence(to other: Exponential) -> Tensor<Scalar> {
        let ratio = other.rate / rate
        return ratio - ratio.log() - 1
    }
}

/// The continuous uniform distribution on (low, high): p(x) = 1 / (high − low).
public struct Uniform<Scalar: TensorScalar>: ReparameterizedDistribution {
    public typealias KLPartner = Uniform
    public var low: Tensor<Scalar>
    public var high: Tensor<Scalar>
    @noDerivative public let batchShape: [Int]

    public init(low: Tensor<Scalar>, high: Tensor<Scalar>) throws {
        try Check.finite(low, "Uniform", "low")
        try Check.finite(high, "Uniform", "high")
        let shape = try Check.broadcastable(low.shape, high.shape, "Uniform", "low and high")
        let l = low.broadcasted(to: shape)
        let h = high.broadcasted(to: shape)
        if let i = l.scalars.indices.first(where: { !(l.scalars[$0] < h.scalars[$0]) }) {
            throw DistributionError("Uniform: low must be below high, got low \(l.scalars[i]) and high \(h.scalars[i])")
        }
        self.init(uncheckedLow: low, high: high)
    }

    @differentiable(reverse)
    public init(uncheckedLow low: Tensor<Scalar>, high: Tensor<Scalar>) {
        self.low = low
        self.high = high
        self.batchShape = withoutDerivative(at: broadcastShape(low.shape, high.shape))
    }

    public var eventShape: [Int] { [] }
    public var support: Support {
        low.scalarCount == 1 && high.scalarCount == 1 ? .interval(Double(low.scalars[0]), Double(high.scalars[0])) : .real
    }

    /// Affine(low, high − low) ∘ Sigmoid: the real line onto (low, high).
    public var supportBijector: VariationalBijectors.Chain<Sigmoid<Scalar>, Affine<Scalar>> {
        VariationalBijectors.Chain(Sigmoid(), Affine(shift: low, scale: high - low))
    }

    @differentiable(reverse)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueShape(value)
        let l = withoutDerivative(at: low.broadcasted(to: value.shape))
        let h = withoutDerivative(at: high.broadcasted(to: value.shape))
        let mask = withoutDerivative(at: value.scalars.indices.map { !(value.scalars[$0] >= l.scalars[$0] && value.scalars[$0] <= h.scalars[$0]) })
        return (value * 0 - (high - low).log()).replacing(with: -.infinity, where: mask)
    }

    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        Tensor(randomUniform: sampleShape + batchShape, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> { low + (high - low) * noise }

    public func sample<G: RandomNumberGenerator>(sampleShape: [Int], using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { ((low + high) * 0.5).broadcasted(to: batchShape) }
    public var variance: Tensor<Scalar> { ((high - low).squared() / 12).broadcasted(to: batchShape) }
    public static var hasClosedFormEntropy: Bool { true }

    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> { (high - low).log().broadcasted(to: withoutDerivative(at: batchShape)) }

    /// log((h₂ − l₂) / (h₁ − l₁)) when (l₁, h₁) ⊂ (l₂, h₂), +∞ otherwise.
    @differentiable(reverse)
    public func klDivergence(to other: Uniform) -> Tensor<Scalar> {
        let value = (other.high - other.low).log() - (high - low).log()
        let shape = withoutDerivative(at: value.shape)
        let (l1, h1) = (withoutDerivative(at: low.broadcasted(to: shape)), withoutDerivative(at: high.broadcasted(to: shape)))
        let (l2, h2) = (withoutDerivative(at: other.low.broadcasted(to: shape)), withoutDerivative(at: other.high.broadcasted(to: shape)))
        let mask = withoutDerivative(at: l1.scalars.indices.map { !(l2.scalars[$0] <= l1.scalars[$0] && h1.scalars[$0] <= h2.scalars[$0]) })
        return value.replacing(with: .infinity, where: mask)
    }
}

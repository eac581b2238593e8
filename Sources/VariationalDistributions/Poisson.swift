import _Differentiation
import Foundation
import VariationalCore

/// The Poisson distribution with rate λ: P(k) = λᵏ e^(−λ) / k!.
///
/// Made from its log rate η = log λ (``init(logRate:)``, the log link of a Poisson regression), it keeps η: the log
/// density is then kη − e^η − log k!, with gradient k − e^η, without the round trip through λ and log λ, and exact
/// where e^η underflows.
public struct Poisson<Scalar: TensorScalar>: Distribution {
    public typealias KLPartner = Poisson
    /// λ, or η = log λ when `isLogRate`.
    @usableFromInline var parameter: Tensor<Scalar>
    @noDerivative @usableFromInline var isLogRate: Bool

    /// λ.
    @differentiable(reverse)
    public var rate: Tensor<Scalar> {
        get { isLogRate ? parameter.exp() : parameter }
        set { (parameter, isLogRate) = (newValue, false) }
    }

    @differentiable(reverse)
    init(parameter: Tensor<Scalar>, isLogRate: Bool) {
        self.parameter = parameter
        self.isLogRate = isLogRate
    }

    public init(rate: Tensor<Scalar>) throws {
        try Check.positive(rate, "Poisson", "rate")
        self.init(uncheckedRate: rate)
    }

    @differentiable(reverse)
    public init(uncheckedRate rate: Tensor<Scalar>) { self.init(parameter: rate, isLogRate: false) }

    /// Poisson(e^η), keeping η.
    @differentiable(reverse)
    public init(uncheckedLogRate logRate: Tensor<Scalar>) { self.init(parameter: logRate, isLogRate: true) }

    // The initialiser's and the log density's derivatives written out and specialised, as Normal's are (the ones
    // differentiation derives are generic code that a model in another module runs unspecialised).
    @derivative(of: init(parameter:isLogRate:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpInit(parameter: Tensor<Scalar>, isLogRate: Bool) -> (value: Poisson, pullback: (TangentVector) -> Tensor<Scalar>) {
        (Poisson(parameter: parameter, isLogRate: isLogRate), { v in v.parameter })
    }

    @derivative(of: logProbability, wrt: self)
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    func vjpLogProbabilityInParameters(of value: Tensor<Scalar>) -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> TangentVector) {
        checkValueBroadcasts(value.shape, batchShape, eventShape, Self.self)
        // A likelihood's gradient comes with its value, and the pullback is made here of it: a pullback calling the
        // density's own would be a second closure, a second context to allocate at every step.
        if isLogRate, let (result, g) = poissonLogDensityWithLogRateGradient(value, logRate: parameter) {
            return (result, { v in TangentVector(parameter: upstreamTimes(v, g)) })
        }
        let (result, pullback) = isLogRate ? vjpPoissonLogDensityInLogRate(value, logRate: parameter) : vjpPoissonLogDensityInRate(value, parameter)
        return (result, { v in TangentVector(parameter: pullback(v)) })
    }

    public var batchShape: TensorShape { parameter.shape }
    public var eventShape: TensorShape { [] }
    public var support: Support { .nonNegativeIntegers }
    public static var fixedSupport: Support? { .nonNegativeIntegers }
    public static var isDiscrete: Bool { true }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueBroadcasts(withoutDerivative(at: value.shape), withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        return isLogRate ? poissonLogDensity(value, logRate: parameter) : poissonLogDensity(value, parameter)
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        let shape = sampleShape + batchShape
        return Tensor(shape: shape, scalars: rate.broadcasted(to: shape).scalars.map {
            Scalar(PoissonSampler.draw(rate: Double($0), using: &generator))
        })
    }

    public var mean: Tensor<Scalar> { rate }
    public var variance: Tensor<Scalar> { rate }

    /// λ₁ log(λ₁/λ₂) − λ₁ + λ₂.
    @differentiable(reverse)
    public func klDivergence(to other: Poisson) -> Tensor<Scalar> {
        Tensor.generalizedKL(rate, other.rate)
    }
}

/// Poisson draws: multiplication of uniforms for small rates, Hörmann's transformed rejection (PTRS) above 10.
enum PoissonSampler {
    /// A draw as a Double: rates beyond Int's range (1e20) have draws beyond it too.
    static func draw<G: RandomNumberGenerator>(rate: Double, using generator: inout G) -> Double {
        if rate < 10 {
            let limit = exp(-rate)
            var product = Random.openUnit(using: &generator)
            var count = 0
            while product > limit {
                product *= Random.openUnit(using: &generator)
                count += 1
            }
            return Double(count)
        }
        let root = rate.squareRoot()
        let logRate = log(rate)
        let b = 0.931 + 2.53 * root
        let a = -0.059 + 0.02483 * b
        let inverseAlpha = 1.1239 + 1.1328 / (b - 3.4)
        let vr = 0.9277 - 3.6224 / (b - 2)
        while true {
            let u = Random.openUnit(using: &generator) - 0.5
            let v = Random.openUnit(using: &generator)
            let us = 0.5 - abs(u)
            let k = floor((2 * a / us + b) * u + rate + 0.43)
            if us >= 0.07 && v <= vr { return k }
            if k < 0 || (us < 0.013 && v > us) { continue }
            if log(v) + log(inverseAlpha) - log(a / (us * us) + b) <= -rate + k * logRate - lgamma(k + 1) {
                return k
            }
        }
    }
}

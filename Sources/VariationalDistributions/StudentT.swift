import _Differentiation
import Foundation
import VariationalBijectors
import VariationalCore

/// Student's t with ν degrees of freedom, location μ and scale σ:
/// p(x) = Γ((ν+1)/2) / (Γ(ν/2) √(νπ) σ) · (1 + z²/ν)^(−(ν+1)/2), z = (x − μ)/σ.
public struct StudentT<Scalar: TensorScalar>: ReparameterizedDistribution {
    public var degreesOfFreedom: Tensor<Scalar>
    public var location: Tensor<Scalar>
    public var scale: Tensor<Scalar>
    @noDerivative public let batchShape: TensorShape

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

    // The initialiser's and the log density's derivatives written out and specialised, as Normal's are (the ones
    // differentiation derives are generic code that a model in another module runs unspecialised).
    @derivative(of: init(uncheckedDegreesOfFreedom:location:scale:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpInit(uncheckedDegreesOfFreedom nu: Tensor<Scalar>, location: Tensor<Scalar>, scale: Tensor<Scalar>)
        -> (value: StudentT, pullback: (TangentVector) -> (Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>))
    {
        (StudentT(uncheckedDegreesOfFreedom: nu, location: location, scale: scale), { v in (v.degreesOfFreedom, v.location, v.scale) })
    }

    @derivative(of: logProbability, wrt: self)
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    func vjpLogProbabilityInParameters(of value: Tensor<Scalar>) -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> TangentVector) {
        checkValueBroadcasts(value.shape, batchShape, eventShape, Self.self)
        let (nu, location, scale) = (degreesOfFreedom, self.location, self.scale)
        let normalizer = studentTNormalizerValue(nu, scale)
        let (result, z, logs) = studentTLogDensityParts(value, location, scale, nu, normalizer: normalizer)
        let normalizerShape = normalizer.shape
        return (result, { v in
            if v.isSymbolicZero { return .zero }
            let g = studentTParameterGradients(
                standardized: z, logs: logs, location: location, scale: scale, nu: nu, normalizerShape: normalizerShape,
                v.summed(toShape: logs.shape))
            return TangentVector(degreesOfFreedom: g.nu, location: g.location, scale: g.scale)
        })
    }

    public var eventShape: TensorShape { [] }
    public var support: Support { .real }
    public static var fixedSupport: Support? { .real }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        checkValueBroadcasts(withoutDerivative(at: value.shape), withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        return studentTNormalizer(degreesOfFreedom, scale) + studentTKernel(value, location, scale, degreesOfFreedom)
    }

    /// Standard t noise with this ν: N(0, 1) / √(χ²_ν / ν), χ²_ν = 2 Gamma(ν/2).
    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
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

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    /// μ for ν > 1, NaN otherwise.
    public var mean: Tensor<Scalar> {
        location.broadcasted(to: batchShape).combinedElementwise(degreesOfFreedom.broadcasted(to: batchShape)) { m, nu in nu > 1 ? m : .nan }
    }

    /// σ² ν/(ν − 2) for ν > 2, ∞ for 1 < ν ≤ 2, NaN otherwise.
    public var variance: Tensor<Scalar> {
        let s2 = scale.squared().broadcasted(to: batchShape)
        return s2.combinedElementwise(degreesOfFreedom.broadcasted(to: batchShape)) { s, nu in
            nu > 2 ? s * nu / (nu - 2) : (nu > 1 ? .infinity : .nan)
        }
    }

    public static var hasClosedFormEntropy: Bool { true }

    /// (ν+1)/2 (ψ((ν+1)/2) − ψ(ν/2)) + ½ log ν + log B(ν/2, ½) + log σ, computed with Stirling's remainders r and s
    /// (x = ν/2) so that it tends to the normal's ½ log 2πe + log σ as ν grows, instead of cancelling:
    /// (x + ½) D − x log(1 + 1/(2x)) + ½ + ½ log 2π + r(x) − r(x + ½) + log σ,
    /// D = ψ(x + ½) − ψ(x) = log(1 + 1/(2x)) + 1/(2x(2x + 1)) + s(x) − s(x + ½).
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        let half = degreesOfFreedom * 0.5
        let logStep = (0.5 / half).log1p()
        let digammaStep = logStep + 0.5 / (half * (half * 2 + 1)) + half.digammaRemainder() - (half + 0.5).digammaRemainder()
        let value = (half + 0.5) * digammaStep - half * logStep + Scalar(0.5 + SpecialFunctions.halfLogTwoPi)
            + half.logGammaRemainder() - (half + 0.5).logGammaRemainder() + scale.log()
        return value.broadcasted(to: withoutDerivative(at: batchShape))
    }
}

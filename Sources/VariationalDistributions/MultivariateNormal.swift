import _Differentiation
import Foundation
import VariationalCore

/// The multivariate normal distribution N(μ, Σ) over vectors of dimension d, stored through the lower Cholesky
/// factor L of Σ = L Lᵀ: p(x) = exp(−½ ‖L⁻¹(x − μ)‖²) / ((2π)^(d/2) |det L|).
///
/// Built from a full covariance, a lower-triangular scale, a diagonal scale, or a low-rank-plus-diagonal
/// covariance W Wᵀ + diag(D); every form shares the closed-form KL divergence. The batch shape is [].
public struct MultivariateNormal<Scalar: TensorScalar>: ReparameterizedDistribution {
    public typealias KLPartner = MultivariateNormal
    /// μ, shape [d].
    public var location: Tensor<Scalar>
    /// L, lower-triangular with positive diagonal, shape [d, d].
    public var scaleTril: Tensor<Scalar>

    /// From a lower-triangular scale L with positive diagonal (Σ = L Lᵀ).
    public init(location: Tensor<Scalar>, scaleTril: Tensor<Scalar>) throws {
        try Self.checkLocation(location)
        let d = location.shape[0]
        guard scaleTril.shape == [d, d] else {
            throw DistributionError("MultivariateNormal: scaleTril of shape \(scaleTril.shape) does not match location of shape \(location.shape)")
        }
        try Check.finite(scaleTril, "MultivariateNormal", "scaleTril")
        for i in 0..<d where !(scaleTril[i, i] > 0) {
            throw DistributionError("MultivariateNormal: scaleTril diagonal must be positive, got \(scaleTril[i, i]) at [\(i), \(i)]")
        }
        self.init(uncheckedLocation: location, scaleTril: scaleTril)
    }

    /// From a symmetric positive-definite covariance Σ.
    public init(location: Tensor<Scalar>, covariance: Tensor<Scalar>) throws {
        try Self.checkLocation(location)
        let d = location.shape[0]
        guard covariance.shape == [d, d] else {
            throw DistributionError("MultivariateNormal: covariance of shape \(covariance.shape) does not match location of shape \(location.shape)")
        }
        try Check.finite(covariance, "MultivariateNormal", "covariance")
        for i in 0..<d {
            for j in 0..<i where Swift.abs(covariance[i, j] - covariance[j, i]) > 1e-8 * Swift.max(1, Swift.abs(covariance[i, j])) {
                throw DistributionError("MultivariateNormal: covariance is not symmetric: [\(i), \(j)] = \(covariance[i, j]), [\(j), \(i)] = \(covariance[j, i])")
            }
        }
        guard let factor = covariance.choleskyFactor() else {
            throw DistributionError("MultivariateNormal: covariance is not positive definite")
        }
        self.init(uncheckedLocation: location, scaleTril: factor)
    }

    /// Independent coordinates with standard deviations `scaleDiagonal` (Σ = diag(s²)).
    public init(location: Tensor<Scalar>, scaleDiagonal: Tensor<Scalar>) throws {
        try Self.checkLocation(location)
        guard scaleDiagonal.shape == location.shape else {
            throw DistributionError("MultivariateNormal: scaleDiagonal of shape \(scaleDiagonal.shape) does not match location of shape \(location.shape)")
        }
        try Check.positive(scaleDiagonal, "MultivariateNormal", "scaleDiagonal")
        self.init(uncheckedLocation: location, scaleDiagonal: scaleDiagonal)
    }

    /// Σ = W Wᵀ + diag(D), with W of shape [d, r] and D positive of shape [d].
    public init(location: Tensor<Scalar>, covarianceFactor: Tensor<Scalar>, covarianceDiagonal: Tensor<Scalar>) throws {
        try Self.checkLocation(location)
        let d = location.shape[0]
        guard covarianceFactor.rank == 2, covarianceFactor.shape[0] == d else {
            throw DistributionError("MultivariateNormal: covarianceFactor of shape \(covarianceFactor.shape) does not match location of shape \(location.shape)")
        }
        guard covarianceDiagonal.shape == [d] else {
            throw DistributionError("MultivariateNormal: covarianceDiagonal of shape \(covarianceDiagonal.shape) does not match location of shape \(location.shape)")
        }
        try Check.finite(covarianceFactor, "MultivariateNormal", "covarianceFactor")
        try Check.positive(covarianceDiagonal, "MultivariateNormal", "covarianceDiagonal")
        self.init(uncheckedLocation: location, covarianceFactor: covarianceFactor, covarianceDiagonal: covarianceDiagonal)
    }

    static func checkLocation(_ location: Tensor<Scalar>) throws {
        guard location.rank == 1, location.shape[0] >= 1 else {
            throw DistributionError("MultivariateNormal: location must be a non-empty vector, got shape \(location.shape)")
        }
        try Check.finite(location, "MultivariateNormal", "location")
    }

    @differentiable(reverse)
    public init(uncheckedLocation location: Tensor<Scalar>, scaleTril: Tensor<Scalar>) {
        self.location = location
        self.scaleTril = scaleTril
    }

    @differentiable(reverse)
    public init(uncheckedLocation location: Tensor<Scalar>, scaleDiagonal: Tensor<Scalar>) {
        self.init(uncheckedLocation: location, scaleTril: scaleDiagonal.diagonalMatrix())
    }

    @differentiable(reverse)
    public init(uncheckedLocation location: Tensor<Scalar>, covarianceFactor w: Tensor<Scalar>, covarianceDiagonal d: Tensor<Scalar>) {
        self.init(uncheckedLocation: location, scaleTril: (matmul(w, w.transposed()) + d.diagonalMatrix()).cholesky())
    }

    public var dimension: Int { location.shape[0] }
    public var batchShape: TensorShape { [] }
    public var eventShape: TensorShape { [dimension] }
    public var support: Support { .realVector }
    public static var fixedSupport: Support? { .realVector }

    /// The covariance L Lᵀ.
    public var covariance: Tensor<Scalar> { matmul(scaleTril, scaleTril.transposed()) }

    @differentiable(reverse)
    @differentiable(reverse, wrt: self)
    public func logProbability(of value: Tensor<Scalar>) -> Tensor<Scalar> {
        let value = broadcastValue(value, withoutDerivative(at: batchShape), withoutDerivative(at: eventShape), Self.self)
        let d = withoutDerivative(at: dimension)
        let sampleShape = withoutDerivative(at: TensorShape(value.shape.dropLast()))
        let centered = (value - location).reshaped(to: [-1, d])
        let whitened = Tensor.triangularSolve(lower: scaleTril, centered.transposed())
        let quadratic = whitened.squared().sum(squeezingAxes: 0)
        let logDet = scaleTril.diagonalPart().log().sum()
        let result = quadratic * -0.5 - logDet - Scalar(Double(d) * 0.5 * Foundation.log(2 * Double.pi))
        return result.reshaped(to: sampleShape)
    }

    public func sampleNoise<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        Tensor(randomNormal: sampleShape + [dimension], using: &generator)
    }

    /// μ + L ε.
    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Scalar>) -> Tensor<Scalar> {
        let d = withoutDerivative(at: dimension)
        let rows = noise.reshaped(to: [-1, d])
        return (matmul(rows, scaleTril.lowerTriangular().transposed()) + location).reshaped(to: withoutDerivative(at: noise.shape))
    }

    public func sample<G: RandomNumberGenerator>(sampleShape: TensorShape, using generator: inout G) -> Tensor<Scalar> {
        reparameterizedSample(sampleShape: sampleShape, using: &generator)
    }

    public var mean: Tensor<Scalar> { location }
    /// The diagonal of Σ.
    public var variance: Tensor<Scalar> { scaleTril.lowerTriangular().squared().sum(squeezingAxes: 1) }
    public static var hasClosedFormEntropy: Bool { true }

    /// d/2 (1 + log 2π) + Σ log Lᵢᵢ.
    @differentiable(reverse, wrt: self)
    public func entropy() -> Tensor<Scalar> {
        let d = Double(withoutDerivative(at: dimension))
        return scaleTril.diagonalPart().log().sum() + Scalar(d * 0.5 * (1 + Foundation.log(2 * Double.pi)))
    }

    /// ½ (‖L₂⁻¹L₁‖²_F + ‖L₂⁻¹(μ₂ − μ₁)‖² − d) + Σ log L₂ᵢᵢ − Σ log L₁ᵢᵢ.
    @differentiable(reverse)
    public func klDivergence(to other: MultivariateNormal) -> Tensor<Scalar> {
        let d = Scalar(withoutDerivative(at: dimension))
        let m = Tensor.triangularSolve(lower: other.scaleTril, scaleTril.lowerTriangular())
        let shift = Tensor.triangularSolve(lower: other.scaleTril, other.location - location)
        let logDets = other.scaleTril.diagonalPart().log().sum() - scaleTril.diagonalPart().log().sum()
        return (m.squared().sum() + shift.squared().sum() - d) * 0.5 + logDets
    }
}

import _Differentiation
import Foundation
import VariationalCore

/// Returns the standard Gamma(α, 1) draws `draws` unchanged, with the implicit reparameterisation gradient
/// (Figurnov et al. 2018) with respect to α: dz/dα = −(∂F(z; α)/∂α) / p(z; α), F the Gamma CDF.
///
/// `draws` must have been drawn from Gamma(α, 1) with this α (broadcast to the draws' shape).
@differentiable(reverse, wrt: concentration)
public func implicitStandardGamma<Scalar: TensorScalar>(
    concentration: Tensor<Scalar>, draws: Tensor<Scalar>
) -> Tensor<Scalar> {
    draws
}

@derivative(of: implicitStandardGamma, wrt: concentration)
@usableFromInline
func vjpImplicitStandardGamma<Scalar: TensorScalar>(concentration: Tensor<Scalar>, draws: Tensor<Scalar>)
    -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> Tensor<Scalar>)
{
    let alpha = concentration.broadcasted(to: draws.shape)
    let slopes = Tensor<Scalar>(shape: draws.shape, scalars: draws.scalars.indices.map { i in
        Scalar(standardGammaSampleDerivative(alpha: Double(alpha.scalars[i]), z: Double(draws.scalars[i])))
    })
    return (draws, { v in
        if v.isSymbolicZero { return .zero }
        return (v.broadcasted(to: draws.shape) * slopes).sumToShape(concentration.shape)
    })
}

/// dz/dα for z ~ Gamma(α, 1): −(∂P(α, z)/∂α) / p(z; α).
public func standardGammaSampleDerivative(alpha: Double, z: Double) -> Double {
    guard z > 0 else { return 0 }
    let logDensity = (alpha - 1) * log(z) - z - lgamma(alpha)
    let dCDF = SpecialFunctions.regularizedLowerIncompleteGammaDerivativeWithRespectToShape(alpha, z)
    return -dCDF / exp(logDensity)
}

extension Tensor {
    /// Sums a tensor down to a broadcast-compatible smaller shape (no derivative).
    func sumToShape(_ target: TensorShape) -> Tensor {
        var result = self
        while result.rank > target.count { result = result.sum(squeezingAxes: 0) }
        for axis in 0..<target.count where target[axis] == 1 && result.shape[axis] != 1 {
            result = result.sum(alongAxes: axis)
        }
        return result
    }
}

/// Independent standard Gamma(α, 1) draws for each element of α broadcast to `shape`.
func standardGammaDraws<Scalar: TensorScalar, G: RandomNumberGenerator>(
    _ concentration: Tensor<Scalar>, shape: TensorShape, using generator: inout G
) -> Tensor<Scalar> {
    let alpha = concentration.broadcasted(to: shape)
    return Tensor(shape: shape, scalars: alpha.scalars.map { a in
        Scalar(Swift.max(Random.gamma(shape: Double(a), using: &generator), Double(Scalar.leastNonzeroMagnitude)))
    })
}

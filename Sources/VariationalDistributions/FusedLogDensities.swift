import _Differentiation
import Foundation
import VariationalCore

// Log densities as single fused passes over the broadcast of value and parameters, with their gradients in one
// more pass: the path every likelihood and prior of a user's model takes. Terms that depend on the parameters
// alone (log σ) are computed once per parameter element, not once per observation. Each is tested against the
// density composed from tensor operations and its gradient against finite differences.

/// log N(x; μ, σ²).
@differentiable(reverse)
func normalLogDensity<S: TensorScalar>(_ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>) -> Tensor<S> {
    normalLogDensityValue(x, location, scale)
}

@_specialize(where S == Double)
@_specialize(where S == Float)
func normalLogDensityValue<S: TensorScalar>(_ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>) -> Tensor<S> {
    let constant = S(0.5 * Foundation.log(2 * Double.pi))
    return fusedElementwise(x, location, scale, scale.map { .log($0) }, name: "Normal.logProbability") { x, m, s, logS in
        let z = (x - m) / s
        return -0.5 * z * z - logS - constant
    }
}

@derivative(of: normalLogDensity)
@_specialize(where S == Double)
@_specialize(where S == Float)
func vjpNormalLogDensity<S: TensorScalar>(_ x: Tensor<S>, _ location: Tensor<S>, _ scale: Tensor<S>)
    -> (value: Tensor<S>, pullback: (Tensor<S>) -> (Tensor<S>, Tensor<S>, Tensor<S>))
{
    (normalLogDensityValue(x, location, scale), { v in
        fusedElementwiseGradient(x, location, scale, scale, upstream: v, name: "Normal.logProbability") { x, m, s, _ in
            let z = (x - m) / s
            let dz = z / s
            return (-dz, dz, (z * z - 1) / s)
        }
    })
}

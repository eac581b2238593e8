import _Differentiation

/// The outcome of comparing a reverse-mode gradient with central finite differences.
public struct GradientCheckResult: CustomStringConvertible {
    /// The largest relative difference |analytic − numerical| / max(1, |analytic|, |numerical|) over all inputs.
    public var maximumError: Double
    /// Where the largest difference was: argument and flat element index.
    public var worstArgument: Int
    public var worstIndex: Int
    public var analytic: Double
    public var numerical: Double

    public var description: String {
        "max relative error \(maximumError) at argument \(worstArgument), element \(worstIndex) "
            + "(analytic \(analytic), numerical \(numerical))"
    }
}

/// Compares reverse-mode gradients with central finite differences, in Double.
///
/// The function's output is reduced to a scalar by a fixed random weighting Σ wᵢ fᵢ(x), so every output
/// element's derivative is exercised, not only their sum.
public enum GradientChecker {
    /// Checks a function of several tensors.
    public static func check(
        _ f: @escaping @differentiable(reverse) ([Tensor<Double>]) -> Tensor<Double>,
        at inputs: [Tensor<Double>], step: Double = 1e-5, seed: UInt64 = 7
    ) -> GradientCheckResult {
        let output = f(inputs)
        var generator = SeededGenerator(seed: seed)
        let weights = Tensor<Double>(randomUniform: output.shape, low: 0.5, high: 1.5, using: &generator)
        let loss: @differentiable(reverse) ([Tensor<Double>]) -> Tensor<Double> = { xs in (f(xs) * weights).sum() }
        let analytic = gradient(at: inputs, of: { xs in loss(xs) })
        var result = GradientCheckResult(maximumError: 0, worstArgument: 0, worstIndex: 0, analytic: 0, numerical: 0)
        for argument in inputs.indices {
            let grad = analytic.base[argument].materialized(shape: inputs[argument].shape)
            require(grad.shape == inputs[argument].shape, "gradient shape \(grad.shape) ≠ input shape \(inputs[argument].shape)")
            for index in 0..<inputs[argument].scalarCount {
                var plus = inputs
                var minus = inputs
                plus[argument] = inputs[argument].replacing(index: index, with: inputs[argument].scalars[index] + step)
                minus[argument] = inputs[argument].replacing(index: index, with: inputs[argument].scalars[index] - step)
                let numerical = (loss(plus).scalar - loss(minus).scalar) / (2 * step)
                let a = grad.scalars[index]
                let error = Swift.abs(a - numerical) / Swift.max(1, Swift.abs(a), Swift.abs(numerical))
                if !(error <= result.maximumError) {
                    result = GradientCheckResult(
                        maximumError: error.isNaN ? .infinity : error, worstArgument: argument, worstIndex: index,
                        analytic: a, numerical: numerical)
                }
            }
        }
        return result
    }
}

extension Tensor {
    /// A copy with one flat element replaced.
    public func replacing(index: Int, with value: Scalar) -> Tensor {
        var values = scalars
        values[index] = value
        return Tensor(shape: shape, scalars: values)
    }
}


import _Differentiation
import Foundation
import VariationalCore
import VariationalDistributions

/// Checks a design matrix and responses, naming the row and column of a bad value.
func checkRegressionData(_ x: Tensor<Double>, _ y: [Double], _ model: String) throws {
    guard x.rank == 2, x.shape[0] == y.count, !y.isEmpty, x.shape[1] >= 1 else {
        throw ModelError("\(model): needs a design matrix of n rows and at least one feature for n responses, got \(x.shape) and \(y.count)")
    }
    if let i = x.scalars.firstIndex(where: { !$0.isFinite }) {
        throw ModelError("\(model): feature value \(x.scalars[i]) in row \(i / x.shape[1] + 1), feature \(i % x.shape[1] + 1) is not finite")
    }
    try ModelError.checkFinite(y, model, "y")
}

/// Solves A X = B for symmetric positive-definite A through its Cholesky factor; also returns log det A.
func solveSymmetric(_ a: Tensor<Double>, _ b: Tensor<Double>) throws -> (solution: Tensor<Double>, logDeterminant: Double) {
    guard let l = a.choleskyFactor() else { throw ModelError("a matrix that should be positive definite is not (collinear features?)") }
    let x = Tensor.triangularSolve(lower: l, Tensor.triangularSolve(lower: l, b), transposed: true)
    return (x, l.logDeterminantFromCholesky().scalar)
}

/// Bayesian linear regression with known noise: w ~ N(m₀, s₀² I), y ~ N(X w, σ² I).
public struct LinearRegressionModel: ConjugateModel {
    public let features: Tensor<Double>
    public let responses: Tensor<Double>
    public let priorMean: Double
    public let priorStandardDeviation: Double
    public let noiseStandardDeviation: Double

    public init(features: Tensor<Double>, responses: [Double], priorMean: Double = 0, priorStandardDeviation: Double = 10,
                noiseStandardDeviation: Double = 1) throws {
        try checkRegressionData(features, responses, "linear-regression")
        try ModelError.checkScale(priorStandardDeviation, "linear-regression", "prior-sd")
        try ModelError.checkScale(noiseStandardDeviation, "linear-regression", "noise-sd")
        try ModelError.checkFinite([priorMean], "linear-regression", "prior-mean")
        self.features = features
        self.responses = Tensor(responses)
        self.priorMean = priorMean
        self.priorStandardDeviation = priorStandardDeviation
        self.noiseStandardDeviation = noiseStandardDeviation
        guard let p = posterior, p.mean.scalars.allSatisfy(\.isFinite), p.covariance.scalars.allSatisfy(\.isFinite),
              p.logDetPrecision.isFinite, exactLogEvidence.isFinite else {
            throw ModelError(
                "linear-regression: the posterior precision XᵀX/σ² + I/s₀² cannot be formed in double precision with "
                    + "prior-sd \(priorStandardDeviation), noise-sd \(noiseStandardDeviation) and features up to "
                    + "\(features.scalars.map(abs).max() ?? 0) (an overflow, or collinear features); rescale the data or the prior")
        }
    }

    public var featureCount: Int { features.shape[1] }
    public var latents: [Latent] { [Latent("w", Normal(priorMean, priorStandardDeviation), shape: [featureCount])] }
    public var observationCount: Int { responses.scalarCount }

    @differentiable(reverse)
    public func logLikelihood(_ z: Latents, observations indices: [Int]?) -> Tensor<Double> {
        let x = withoutDerivative(at: features.rows(indices))
        return Normal(matmul(z["w"], x.transposed()), Tensor(noiseStandardDeviation)).logProbability(of: responses.rows(indices))
    }

    public func posteriorPredictive<G: RandomNumberGenerator>(_ z: Latents, using generator: inout G) -> Tensor<Double>? {
        let mean = matmul(z["w"], features.transposed())
        return mean + Tensor(randomNormal: mean.shape, standardDeviation: noiseStandardDeviation, using: &generator)
    }

    /// The posterior precision Λ = XᵀX/σ² + I/s₀² and Λ⁻¹ (XᵀY/σ² + m₀/s₀²).
    var posterior: (mean: Tensor<Double>, covariance: Tensor<Double>, logDetPrecision: Double)? {
        let d = featureCount
        let (s2, t2) = (noiseStandardDeviation * noiseStandardDeviation, priorStandardDeviation * priorStandardDeviation)
        let precision = matmul(features.transposed(), features) / s2 + Tensor(identity: d) / t2
        let rhs = matmul(features.transposed(), responses.reshaped(to: [-1, 1])) / s2 + priorMean / t2
        guard let (mean, logDet) = try? solveSymmetric(precision, rhs),
              let (covariance, _) = try? solveSymmetric(precision, Tensor(identity: d)) else { return nil }
        return (mean.reshaped(to: [d]), covariance, logDet)
    }

    public var exactPosterior: [String: (mean: [Double], standardDeviation: [Double])] {
        guard let p = posterior else { return [:] }
        return ["w": (p.mean.scalars.array, p.covariance.diagonalPart().scalars.array.map { $0.squareRoot() })]
    }

    public var exactGaussianPosterior: MultivariateNormal<Double>? {
        guard let p = posterior else { return nil }
        return try? MultivariateNormal(location: p.mean, covariance: (p.covariance + p.covariance.transposed()) / 2)
    }

    /// log N(y; X m₀, σ² I + s₀² X Xᵀ), through the d×d posterior precision (matrix determinant lemma and Woodbury).
    public var exactLogEvidence: Double {
        guard let p = posterior else { return .nan }
        let n = Double(observationCount)
        let d = Double(featureCount)
        let (s2, t2) = (noiseStandardDeviation * noiseStandardDeviation, priorStandardDeviation * priorStandardDeviation)
        let r = responses - matmul(features, Tensor(repeating: priorMean, shape: [featureCount, 1])).reshaped(to: [-1])
        // With r = y − X m₀ and b = Xᵀ r / σ²: quadratic = rᵀr/σ² − bᵀ Λ⁻¹ b; log det = n log σ² + d log s₀² + log det Λ.
        let b = matmul(features.transposed(), r.reshaped(to: [-1, 1])) / s2
        let inner = matmul(b.transposed(), matmul(p.covariance, b)).scalar
        let quadratic = r.squared().sum().scalar / s2 - inner
        let logDet = n * Foundation.log(s2) + d * Foundation.log(t2) + p.logDetPrecision
        return -0.5 * (n * Foundation.log(2 * Double.pi) + logDet + quadratic)
    }
}

/// Bayesian linear regression with unknown noise, the conjugate normal–inverse-gamma model:
/// σ² ~ InverseGamma(a₀, b₀), w | σ² ~ N(m₀, σ² s₀² I), y ~ N(X w, σ² I).
public struct LinearRegressionUnknownNoiseModel: ConjugateModel {
    public let features: Tensor<Double>
    public let responses: Tensor<Double>
    public let priorMean: Double
    public let priorStandardDeviation: Double
    public let priorAlpha: Double
    public let priorBeta: Double

    public init(features: Tensor<Double>, responses: [Double], priorMean: Double = 0, priorStandardDeviation: Double = 10,
                priorAlpha: Double = 2, priorBeta: Double = 2) throws {
        try checkRegressionData(features, responses, "linear-regression-unknown-noise")
        try ModelError.checkScale(priorStandardDeviation, "linear-regression-unknown-noise", "prior-sd")
        try ModelError.checkPositive(priorAlpha, "linear-regression-unknown-noise", "prior-alpha")
        try ModelError.checkPositive(priorBeta, "linear-regression-unknown-noise", "prior-beta")
        try ModelError.checkFinite([priorMean], "linear-regression-unknown-noise", "prior-mean")
        self.features = features
        self.responses = Tensor(responses)
        self.priorMean = priorMean
        self.priorStandardDeviation = priorStandardDeviation
        self.priorAlpha = priorAlpha
        self.priorBeta = priorBeta
    }

    public var featureCount: Int { features.shape[1] }
    /// w's prior depends on σ², so its marginal (a Student t) is not drawn in plots.
    public var latents: [Latent] {
        let (mean, s0) = (Tensor(priorMean), priorStandardDeviation)
        return [
            Latent("w", shape: [featureCount]) { z in Normal(mean, z["sigma2"].sqrt() * s0) },
            Latent("sigma2", InverseGamma(priorAlpha, priorBeta)),
        ]
    }
    public var observationCount: Int { responses.scalarCount }

    @differentiable(reverse)
    public func logLikelihood(_ z: Latents, observations indices: [Int]?) -> Tensor<Double> {
        let x = withoutDerivative(at: features.rows(indices))
        return Normal(matmul(z["w"], x.transposed()), z["sigma2"].sqrt()).logProbability(of: responses.rows(indices))
    }

    public func posteriorPredictive<G: RandomNumberGenerator>(_ z: Latents, using generator: inout G) -> Tensor<Double>? {
        let mean = matmul(z["w"], features.transposed())
        return mean + Tensor(randomNormal: mean.shape, using: &generator) * z["sigma2"].sqrt()
    }

    /// Vₙ = (XᵀX + I/s₀²)⁻¹, mₙ = Vₙ (m₀/s₀² + Xᵀy), aₙ = a₀ + n/2, bₙ = b₀ + ½ (yᵀy + m₀ᵀm₀/s₀² − mₙᵀ Vₙ⁻¹ mₙ).
    var posterior: (mean: Tensor<Double>, covariance: Tensor<Double>, alpha: Double, beta: Double, logDetPrecision: Double)? {
        let d = featureCount
        let t2 = priorStandardDeviation * priorStandardDeviation
        let precision = matmul(features.transposed(), features) + Tensor(identity: d) / t2
        let rhs = matmul(features.transposed(), responses.reshaped(to: [-1, 1])) + priorMean / t2
        guard let (mean, logDet) = try? solveSymmetric(precision, rhs),
              let (covariance, _) = try? solveSymmetric(precision, Tensor(identity: d)) else { return nil }
        let n = Double(observationCount)
        let alpha = priorAlpha + n / 2
        let quadratic = responses.squared().sum().scalar + Double(d) * priorMean * priorMean / t2
            - matmul(mean.transposed(), matmul(precision, mean)).scalar
        return (mean.reshaped(to: [d]), covariance, alpha, priorBeta + 0.5 * quadratic, logDet)
    }

    /// w is multivariate t with 2aₙ degrees of freedom, scale (bₙ/aₙ) Vₙ: variance bₙ/(aₙ − 1) Vₙ;
    /// σ² ~ InverseGamma(aₙ, bₙ).
    public var exactPosterior: [String: (mean: [Double], standardDeviation: [Double])] {
        guard let p = posterior else { return [:] }
        let factor = p.beta / (p.alpha - 1)
        return [
            "w": (p.mean.scalars.array, p.covariance.diagonalPart().scalars.array.map { (factor * $0).squareRoot() }),
            "sigma2": ([factor], [(p.beta * p.beta / ((p.alpha - 1) * (p.alpha - 1) * (p.alpha - 2))).squareRoot()]),
        ]
    }

    /// −n/2 log 2π − ½ log det Λₙ − d/2 log s₀² + a₀ log b₀ − aₙ log bₙ + log Γ(aₙ) − log Γ(a₀), Λₙ = Vₙ⁻¹.
    public var exactLogEvidence: Double {
        guard let p = posterior else { return .nan }
        let n = Double(observationCount)
        let d = Double(featureCount)
        return -n / 2 * Foundation.log(2 * Double.pi) - 0.5 * p.logDetPrecision - d / 2 * Foundation.log(priorStandardDeviation * priorStandardDeviation)
            + priorAlpha * Foundation.log(priorBeta) - p.alpha * Foundation.log(p.beta) + lgamma(p.alpha) - lgamma(priorAlpha)
    }
}

/// Bayesian logistic regression: w ~ N(m₀, s₀² I), yᵢ ~ Bernoulli(σ(xᵢ · w)).
public struct LogisticRegressionModel: ProbabilisticModel {
    public let features: Tensor<Double>
    public let responses: Tensor<Double>
    /// Xᵀ, stored once: the likelihood multiplies the particles by it every step.
    let featuresTransposed: Tensor<Double>
    public let priorMean: Double
    public let priorStandardDeviation: Double

    public init(features: Tensor<Double>, responses: [Double], priorMean: Double = 0, priorStandardDeviation: Double = 10) throws {
        try checkRegressionData(features, responses, "logistic-regression")
        if let i = responses.firstIndex(where: { $0 != 0 && $0 != 1 }) {
            throw ModelError("logistic-regression: y must be 0 or 1, got \(responses[i]) in row \(i + 1)")
        }
        try ModelError.checkScale(priorStandardDeviation, "logistic-regression", "prior-sd")
        try ModelError.checkFinite([priorMean], "logistic-regression", "prior-mean")
        self.features = features
        self.featuresTransposed = features.transposed()
        self.responses = Tensor(responses)
        self.priorMean = priorMean
        self.priorStandardDeviation = priorStandardDeviation
    }

    public var featureCount: Int { features.shape[1] }
    public var latents: [Latent] { [Latent("w", Normal(priorMean, priorStandardDeviation), shape: [featureCount])] }
    public var observationCount: Int { responses.scalarCount }

    /// Xᵀ [D, B] and y [B] for a minibatch, or all of them.
    func data(_ indices: [Int]?) -> (featuresTransposed: Tensor<Double>, responses: Tensor<Double>) {
        guard let indices else { return (featuresTransposed, responses) }
        return (featuresTransposed.gathering(atIndices: indices, alongAxis: 1), responses.gathering(atIndices: indices))
    }

    @differentiable(reverse)
    public func logLikelihood(_ z: Latents, observations indices: [Int]?) -> Tensor<Double> {
        let (xT, y) = withoutDerivative(at: data(indices))
        return logisticLogLikelihood(weights: z["w"], featuresTransposed: xT, labels: y)
    }

    /// The log joint and its gradient by hand: ∇_w = Σᵢ (yᵢ − σ(xᵢ · w)) xᵢ · N/B − (w − m₀) / s₀².
    public func logJointUnconstrainedWithGradient(_ theta: Tensor<Double>, observations indices: [Int]?) -> (value: Tensor<Double>, gradient: Tensor<Double>)? {
        let (xT, y) = data(indices)
        let scale = indices.map { Double(observationCount) / Double($0.count) } ?? 1
        var (value, gradient) = logisticLogLikelihoodWithGradient(weights: theta, featuresTransposed: xT, labels: y)
        // The prior and the scaling, in place, element by element: a handful of numbers per particle.
        let (s, d) = (theta.shape[0], theta.shape[1])
        let precision = 1 / (priorStandardDeviation * priorStandardDeviation)
        let normalizer = Double(d) * (Foundation.log(priorStandardDeviation) + 0.5 * Foundation.log(2 * Double.pi))
        value.withUnsafeMutableScalars { value in
            gradient.withUnsafeMutableScalars { gradient in
                theta.scalars.withUnsafeBufferPointer { theta in
                    for p in 0..<s {
                        var squares = 0.0
                        for j in 0..<d {
                            let centred = theta[p * d + j] - priorMean
                            squares += centred * centred
                            gradient[p * d + j] = scale * gradient[p * d + j] - centred * precision
                        }
                        value[p] = scale * value[p] - 0.5 * precision * squares - normalizer
                    }
                }
            }
        }
        return (value, gradient)
    }

    public func posteriorPredictive<G: RandomNumberGenerator>(_ z: Latents, using generator: inout G) -> Tensor<Double>? {
        Tensor(randomBernoulliWithProbabilities: matmul(z["w"], features.transposed()).sigmoid(), using: &generator)
    }
}

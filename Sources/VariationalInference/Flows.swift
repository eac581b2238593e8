import _Differentiation
import Foundation
import VariationalCore

/// A mean-field Gaussian pushed through K planar layers (Rezende & Mohamed 2015):
/// z ← z + û tanh(wᵀz + b), with û adjusted so that wᵀû ≥ −1 and every layer is invertible;
/// log |det| = log |1 + (1 − tanh²(wᵀz + b)) wᵀû|. log q is known at its own samples, not at arbitrary points.
public struct PlanarFlow: VariationalFamily {
    public var base: MeanFieldGaussian
    /// uₖ, wₖ as rows: shape [K, D]; bₖ: shape [K].
    public var u: Tensor<Double>
    public var w: Tensor<Double>
    public var b: Tensor<Double>

    public init(dimension: Int, layers: Int = 4, initialScale: Double = 1, seed: UInt64 = 0) {
        require(layers >= 1, "PlanarFlow: needs at least one layer, got \(layers)")
        var generator = SeededGenerator(seed: seed)
        base = MeanFieldGaussian(dimension: dimension, initialScale: initialScale)
        u = Tensor(randomNormal: [layers, dimension], standardDeviation: 0.01, using: &generator)
        w = Tensor(randomNormal: [layers, dimension], standardDeviation: 0.01, using: &generator)
        b = Tensor(zeros: [layers])
    }

    public var dimension: Int { base.dimension }
    public var layerCount: Int { u.shape[0] }
    public var name: String { "planar" }
    public var canEvaluateDensity: Bool { false }

    public func sampleNoise<G: RandomNumberGenerator>(count: Int, using generator: inout G) -> Tensor<Double> {
        base.sampleNoise(count: count, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Double>) -> Tensor<Double> { flow(base.sample(fromNoise: noise)).z }

    @differentiable(reverse, wrt: self)
    public func sampleWithLogDensity(fromNoise noise: Tensor<Double>) -> (theta: Tensor<Double>, logDensity: Tensor<Double>) {
        let z0 = base.sample(fromNoise: noise)
        let (z, logDet) = flow(z0)
        return (z, base.logDensity(z0) - logDet)
    }

    /// The flow applied to particles [S, D], with Σ log |det| per particle.
    @differentiable(reverse, wrt: self)
    func flow(_ z0: Tensor<Double>) -> (z: Tensor<Double>, logDet: Tensor<Double>) {
        var z = z0
        var logDet = z0.sum(squeezingAxes: 1) * 0
        for k in 0..<withoutDerivative(at: layerCount) {
            let uk = u.slice(axis: 0, range: k..<(k + 1))  // [1, D]
            let wk = w.slice(axis: 0, range: k..<(k + 1))
            let bk = b.slice(axis: 0, range: k..<(k + 1))
            let wu = (wk * uk).sum()
            // û = u + (m(wᵀu) − wᵀu) w / ‖w‖², m(a) = −1 + softplus(a): keeps wᵀû > −1.
            let uHat = uk + wk * ((wu.softplus() - 1 - wu) / ((wk.squared().sum()) + 1e-12))
            let activation = (matmul(z, wk.transposed()) + bk).tanh()  // [S, 1]
            z = z + activation * uHat
            let slope = (wk * uHat).sum()
            logDet = logDet + ((1 - activation.squared()) * slope + 1).abs().log().squeezingShape(at: 1)
        }
        return (z, logDet)
    }

    @differentiable(reverse)
    public func logDensity(_ theta: Tensor<Double>) -> Tensor<Double> {
        require(false, "PlanarFlow cannot evaluate its density at arbitrary points (the flow has no closed-form inverse)")
        return theta.sum(squeezingAxes: 1) * 0
    }
}

/// One masked autoregressive layer (MADE with one hidden layer, Germain et al. 2015) in the inverse
/// autoregressive form of Kingma et al. (2016): σ = sigmoid(s(z)), z ← σ ⊙ z + (1 − σ) ⊙ m(z), where output d
/// sees only inputs before d; log |det| = Σ log σ.
public struct AutoregressiveLayer: Differentiable {
    public var inputWeight: Tensor<Double>
    public var hiddenBias: Tensor<Double>
    public var meanWeight: Tensor<Double>
    public var meanBias: Tensor<Double>
    public var scaleWeight: Tensor<Double>
    public var scaleBias: Tensor<Double>
    @noDerivative public let inputMask: Tensor<Double>
    @noDerivative public let outputMask: Tensor<Double>

    public init<G: RandomNumberGenerator>(dimension d: Int, hidden h: Int, using generator: inout G) {
        // Degrees: inputs and outputs 1…D, hidden units cycle through 1…D−1 (none connect when D = 1).
        let hiddenDegrees = (0..<h).map { d > 1 ? 1 + $0 % (d - 1) : d }
        inputMask = Tensor(shape: [d, h], scalars: (0..<d).flatMap { i in hiddenDegrees.map { Double($0 >= i + 1 ? 1 : 0) } })
        outputMask = Tensor(shape: [h, d], scalars: hiddenDegrees.flatMap { degree in (0..<d).map { Double($0 + 1 > degree ? 1 : 0) } })
        inputWeight = Tensor(randomNormal: [d, h], standardDeviation: 0.1, using: &generator)
        hiddenBias = Tensor(zeros: [h])
        meanWeight = Tensor(randomNormal: [h, d], standardDeviation: 0.01, using: &generator)
        meanBias = Tensor(zeros: [d])
        scaleWeight = Tensor(randomNormal: [h, d], standardDeviation: 0.01, using: &generator)
        // σ starts near 1 (sigmoid(4) ≈ 0.98): each layer begins close to the identity.
        scaleBias = Tensor(repeating: 4, shape: [d])
    }

    @differentiable(reverse, wrt: (self, z))
    func callAsFunction(_ z: Tensor<Double>) -> (z: Tensor<Double>, logDet: Tensor<Double>) {
        let hidden = (matmul(z, inputWeight * inputMask) + hiddenBias).tanh()
        let m = matmul(hidden, meanWeight * outputMask) + meanBias
        let s = matmul(hidden, scaleWeight * outputMask) + scaleBias
        let sigma = s.sigmoid()
        return (sigma * z + (1 - sigma) * m, s.logSigmoid().sum(squeezingAxes: 1))
    }
}

/// A mean-field Gaussian pushed through K inverse autoregressive layers, reversing the coordinates between
/// layers. log q is known at its own samples, not at arbitrary points.
public struct InverseAutoregressiveFlow: VariationalFamily {
    public var base: MeanFieldGaussian
    public var layers: [AutoregressiveLayer]

    public init(dimension: Int, layers count: Int = 2, hidden: Int? = nil, initialScale: Double = 1, seed: UInt64 = 0) {
        require(count >= 1, "InverseAutoregressiveFlow: needs at least one layer, got \(count)")
        var generator = SeededGenerator(seed: seed)
        base = MeanFieldGaussian(dimension: dimension, initialScale: initialScale)
        let h = hidden ?? Swift.max(4, 2 * dimension)
        layers = (0..<count).map { _ in AutoregressiveLayer(dimension: dimension, hidden: h, using: &generator) }
    }

    public var dimension: Int { base.dimension }
    public var name: String { "iaf" }
    public var canEvaluateDensity: Bool { false }

    public func sampleNoise<G: RandomNumberGenerator>(count: Int, using generator: inout G) -> Tensor<Double> {
        base.sampleNoise(count: count, using: &generator)
    }

    @differentiable(reverse, wrt: self)
    public func sample(fromNoise noise: Tensor<Double>) -> Tensor<Double> { flow(base.sample(fromNoise: noise)).z }

    @differentiable(reverse, wrt: self)
    public func sampleWithLogDensity(fromNoise noise: Tensor<Double>) -> (theta: Tensor<Double>, logDensity: Tensor<Double>) {
        let z0 = base.sample(fromNoise: noise)
        let (z, logDet) = flow(z0)
        return (z, base.logDensity(z0) - logDet)
    }

    @differentiable(reverse, wrt: self)
    func flow(_ z0: Tensor<Double>) -> (z: Tensor<Double>, logDet: Tensor<Double>) {
        let reversed = withoutDerivative(at: Array((0..<dimension).reversed()))
        var z = z0
        var logDet = z0.sum(squeezingAxes: 1) * 0
        for i in 0..<withoutDerivative(at: layers.count) {
            if i > 0 { z = z.gathering(atIndices: reversed, alongAxis: 1) }
            let step = layers[i](z)
            z = step.z
            logDet = logDet + step.logDet
        }
        // Undo the reversals so that coordinates keep their meaning.
        if withoutDerivative(at: layers.count) % 2 == 0 { z = z.gathering(atIndices: reversed, alongAxis: 1) }
        return (z, logDet)
    }

    @differentiable(reverse)
    public func logDensity(_ theta: Tensor<Double>) -> Tensor<Double> {
        require(false, "InverseAutoregressiveFlow evaluates its density only at its own samples")
        return theta.sum(squeezingAxes: 1) * 0
    }
}

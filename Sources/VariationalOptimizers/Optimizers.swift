import Foundation
import VariationalCore

/// Stochastic gradient descent with optional momentum (heavy-ball or Nesterov) and L2 weight decay.
public final class SGD: Optimizer, @unchecked Sendable {
    public var momentum: Double
    public var nesterov: Bool
    public var weightDecay: Double

    public init(
        learningRate: Double = 0.01, momentum: Double = 0, nesterov: Bool = false, weightDecay: Double = 0,
        schedule: (any LearningRateSchedule)? = nil, gradientClipNorm: Double? = nil
    ) {
        require(momentum >= 0 && momentum < 1, "SGD: momentum must be in [0, 1), got \(momentum)")
        require(!nesterov || momentum > 0, "SGD: Nesterov needs a positive momentum")
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        super.init(schedule: schedule ?? ConstantRate(learningRate), gradientClipNorm: gradientClipNorm)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public override func apply<Scalar: TensorScalar>(
        _ p: UnsafeMutableBufferPointer<Scalar>, gradient g: UnsafeBufferPointer<Scalar>,
        learningRate: Double, slots: Slots<Scalar>
    ) {
        let lr = Scalar(learningRate)
        let mu = Scalar(momentum)
        let decay = Scalar(weightDecay)
        if momentum == 0 {
            for i in p.indices { p[i] -= lr * (g[i] + decay * p[i]) }
            return
        }
        slots.withBuffer(0) { velocity in
            for i in p.indices {
                let gi = g[i] + decay * p[i]
                velocity[i] = mu * velocity[i] + gi
                p[i] -= lr * (nesterov ? gi + mu * velocity[i] : velocity[i])
            }
        }
    }
}

/// Adam (Kingma & Ba 2015) with bias-corrected moments.
public class Adam: Optimizer, @unchecked Sendable {
    @exclusivity(unchecked) public var beta1: Double
    @exclusivity(unchecked) public var beta2: Double
    @exclusivity(unchecked) public var epsilon: Double
    /// Decoupled weight decay (AdamW); 0 for plain Adam.
    @exclusivity(unchecked) var decoupledWeightDecay: Double = 0
    /// The bias corrections 1/(1 − β₁ᵗ), 1/(1 − β₂ᵗ) and the step t they belong to. (The properties read on every
    /// update skip the run-time exclusivity check: an optimiser is used by one thread at a time.)
    @exclusivity(unchecked) private var corrections = (1.0, 1.0)
    @exclusivity(unchecked) private var correctionsStep = 0

    public init(
        learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
        schedule: (any LearningRateSchedule)? = nil, gradientClipNorm: Double? = nil
    ) {
        require(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "Adam: betas must be in [0, 1)")
        require(epsilon > 0, "Adam: epsilon must be positive, got \(epsilon)")
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        super.init(schedule: schedule ?? ConstantRate(learningRate), gradientClipNorm: gradientClipNorm)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public override func apply<Scalar: TensorScalar>(
        _ p: UnsafeMutableBufferPointer<Scalar>, gradient g: UnsafeBufferPointer<Scalar>,
        learningRate: Double, slots: Slots<Scalar>
    ) {
        withUnsafePointer(to: ParameterUpdate(parameter: p, gradient: g, slots: slots)) {
            step(UnsafeBufferPointer(start: $0, count: 1), learningRate: learningRate)
        }
    }

    /// All the parameters of an update in one pass split across the threads (each element's bits those of `apply`):
    /// one job in place of one per parameter, most of which (biases) were too small to split.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public override func applyAll<Scalar: TensorScalar>(
        _ updates: UnsafeBufferPointer<ParameterUpdate<Scalar>>, learningRate: Double
    ) {
        step(updates, learningRate: learningRate)
    }

    /// One Adam step of `updates`, in one job (a parameter with no elements has no addresses and is passed as such).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func step<Scalar: TensorScalar>(_ updates: UnsafeBufferPointer<ParameterUpdate<Scalar>>, learningRate: Double) {
        let n = updates.count
        guard n > 0 else { return }
        let (c1, c2) = currentCorrections()
        withUnsafeTemporaryAllocation(of: Int.self, capacity: n) { counts in
            withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Scalar>?.self, capacity: 3 * n) { written in
                withUnsafeTemporaryAllocation(of: UnsafePointer<Scalar>?.self, capacity: n) { gradients in
                    for (i, update) in updates.enumerated() {
                        counts[i] = update.parameter.count
                        written[i] = update.parameter.baseAddress
                        written[n + i] = update.slots.buffer(0).baseAddress
                        written[2 * n + i] = update.slots.buffer(1).baseAddress
                        gradients[i] = update.gradient.baseAddress
                    }
                    let base = written.baseAddress!
                    Scalar.adamSteps(
                        count: n, elementCounts: counts.baseAddress!, parameters: base, gradients: gradients.baseAddress!,
                        firstMoments: base + n, secondMoments: base + 2 * n,
                        learningRate: Scalar(learningRate), beta1: Scalar(beta1), beta2: Scalar(beta2),
                        epsilon: Scalar(epsilon), firstCorrection: Scalar(c1), secondCorrection: Scalar(c2),
                        weightDecay: Scalar(decoupledWeightDecay))
                }
            }
        }
    }

    /// The bias corrections 1/(1 − β₁ᵗ) and 1/(1 − β₂ᵗ) of the step under way, computed once per step.
    private func currentCorrections() -> (Double, Double) {
        if correctionsStep != step {
            let t = Double(step)
            corrections = (1 / (1 - Foundation.pow(beta1, t)), 1 / (1 - Foundation.pow(beta2, t)))
            correctionsStep = step
        }
        return corrections
    }
}

/// AdamW (Loshchilov & Hutter 2019): Adam with weight decay applied to the parameters, not through the gradient.
public final class AdamW: Adam, @unchecked Sendable {
    public var weightDecay: Double {
        get { decoupledWeightDecay }
        set { decoupledWeightDecay = newValue }
    }

    public init(
        learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
        weightDecay: Double = 0.01, schedule: (any LearningRateSchedule)? = nil, gradientClipNorm: Double? = nil
    ) {
        require(weightDecay >= 0, "AdamW: weight decay must be non-negative, got \(weightDecay)")
        super.init(
            learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, schedule: schedule,
            gradientClipNorm: gradientClipNorm)
        self.decoupledWeightDecay = weightDecay
    }
}

/// RMSProp: steps scaled by a running root-mean-square of the gradient.
public final class RMSProp: Optimizer, @unchecked Sendable {
    public var decay: Double
    public var epsilon: Double

    public init(
        learningRate: Double = 1e-3, decay: Double = 0.9, epsilon: Double = 1e-8,
        schedule: (any LearningRateSchedule)? = nil, gradientClipNorm: Double? = nil
    ) {
        require(decay >= 0 && decay < 1, "RMSProp: decay must be in [0, 1), got \(decay)")
        self.decay = decay
        self.epsilon = epsilon
        super.init(schedule: schedule ?? ConstantRate(learningRate), gradientClipNorm: gradientClipNorm)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public override func apply<Scalar: TensorScalar>(
        _ p: UnsafeMutableBufferPointer<Scalar>, gradient g: UnsafeBufferPointer<Scalar>,
        learningRate: Double, slots: Slots<Scalar>
    ) {
        let (lr, rho, eps) = (Scalar(learningRate), Scalar(decay), Scalar(epsilon))
        slots.withBuffer(0) { s in
            for i in p.indices {
                s[i] = rho * s[i] + (1 - rho) * g[i] * g[i]
                p[i] -= lr * g[i] / (s[i].squareRoot() + eps)
            }
        }
    }
}

/// Adagrad: steps scaled by the root of the accumulated squared gradients.
public final class Adagrad: Optimizer, @unchecked Sendable {
    public var epsilon: Double
    public var initialAccumulator: Double

    public init(
        learningRate: Double = 1e-2, epsilon: Double = 1e-10, initialAccumulator: Double = 0,
        schedule: (any LearningRateSchedule)? = nil, gradientClipNorm: Double? = nil
    ) {
        self.epsilon = epsilon
        self.initialAccumulator = initialAccumulator
        super.init(schedule: schedule ?? ConstantRate(learningRate), gradientClipNorm: gradientClipNorm)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public override func apply<Scalar: TensorScalar>(
        _ p: UnsafeMutableBufferPointer<Scalar>, gradient g: UnsafeBufferPointer<Scalar>,
        learningRate: Double, slots: Slots<Scalar>
    ) {
        let (lr, eps) = (Scalar(learningRate), Scalar(epsilon))
        slots.withBuffer(0, initial: Scalar(initialAccumulator)) { s in
            for i in p.indices {
                s[i] += g[i] * g[i]
                p[i] -= lr * g[i] / (s[i].squareRoot() + eps)
            }
        }
    }
}

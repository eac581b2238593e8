import VariationalCore
import Foundation

/// A learning rate as a function of the step number, counted from 1.
public protocol LearningRateSchedule: Sendable {
    func rate(at step: Int) -> Double
}

/// The same rate at every step.
public struct ConstantRate: LearningRateSchedule {
    public var value: Double
    public init(_ value: Double) {
        require(value > 0 && value.isFinite, "learning rate must be positive and finite, got \(value)")
        self.value = value
    }
    public func rate(at step: Int) -> Double { value }
}

/// initial · decay^(step / decaySteps), continuously or in whole stairs.
public struct ExponentialDecay: LearningRateSchedule {
    public var initial: Double
    public var decay: Double
    public var decaySteps: Int
    public var staircase: Bool
    public init(initial: Double, decay: Double, decaySteps: Int, staircase: Bool = false) {
        require(decaySteps > 0, "ExponentialDecay: decaySteps must be positive")
        (self.initial, self.decay, self.decaySteps, self.staircase) = (initial, decay, decaySteps, staircase)
    }
    public func rate(at step: Int) -> Double {
        let exponent = Double(step - 1) / Double(decaySteps)
        return initial * Foundation.pow(decay, staircase ? exponent.rounded(.down) : exponent)
    }
}

/// Constant rates between boundaries: `rates[i]` until step `boundaries[i]`, then the next.
/// (Burda et al.'s IWAE schedule is of this kind: 3^i epochs at 0.001 · 10^(−i/7), i = 0…7.)
public struct PiecewiseConstant: LearningRateSchedule {
    public var boundaries: [Int]
    public var rates: [Double]
    public init(boundaries: [Int], rates: [Double]) {
        require(rates.count == boundaries.count + 1, "PiecewiseConstant: needs one more rate than boundaries")
        require(zip(boundaries, boundaries.dropFirst()).allSatisfy { $0 < $1 }, "PiecewiseConstant: boundaries must increase")
        (self.boundaries, self.rates) = (boundaries, rates)
    }
    public func rate(at step: Int) -> Double {
        rates[boundaries.firstIndex { step <= $0 } ?? boundaries.count]
    }
}

/// Cosine decay from `initial` to `final` over `steps`, constant afterwards.
public struct CosineDecay: LearningRateSchedule {
    public var initial: Double
    public var final: Double
    public var steps: Int
    public init(initial: Double, final: Double = 0, steps: Int) {
        require(steps > 0, "CosineDecay: steps must be positive")
        (self.initial, self.final, self.steps) = (initial, final, steps)
    }
    public func rate(at step: Int) -> Double {
        let progress = min(1, Double(step - 1) / Double(steps))
        return final + (initial - final) * 0.5 * (1 + Foundation.cos(Double.pi * progress))
    }
}

/// A linear warm-up from near zero over `warmupSteps`, then another schedule (shifted to start at 1).
public struct LinearWarmup<Base: LearningRateSchedule>: LearningRateSchedule {
    public var warmupSteps: Int
    public var base: Base
    public init(warmupSteps: Int, then base: Base) {
        require(warmupSteps >= 0, "LinearWarmup: warmupSteps must be non-negative")
        (self.warmupSteps, self.base) = (warmupSteps, base)
    }
    public func rate(at step: Int) -> Double {
        if step <= warmupSteps { return base.rate(at: 1) * Double(step) / Double(warmupSteps) }
        return base.rate(at: step - warmupSteps)
    }
}

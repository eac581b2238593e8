import _Differentiation
import VariationalCore
import VariationalNeural
@testable import VariationalOptimizers
import VariationalTestSupport
import Foundation
import XCTest

/// A model with parameters nested three ways: a plain tensor, an array of layers, and a generic chain.
struct NestedModel: Differentiable {
    var scale: Tensor<Double>
    var hidden: [Dense<Double>]
    var head: Chain<Dense<Double>, Dense<Double>>

    @differentiable(reverse)
    func callAsFunction(_ x: Tensor<Double>) -> Tensor<Double> {
        var h = x * scale
        for i in 0..<withoutDerivative(at: hidden.count) {
            h = hidden[i](h)
        }
        return head(h)
    }
}

/// Parameters of both scalar types in one model.
struct MixedModel: Differentiable {
    var single: Tensor<Float>
    var double: Tensor<Double>
}

/// Tensors of both scalar types, small and large, some in an array.
struct ManyTensors: Differentiable {
    var small: Tensor<Float>
    var doubles: Tensor<Double>
    var floats: [Tensor<Float>]
    var bias: Tensor<Double>
}

/// Adam updating one parameter at a time (the path of every optimiser without a batched update).
final class OneAtATimeAdam: Adam, @unchecked Sendable {
    override func applyAll<Scalar: TensorScalar>(_ updates: UnsafeBufferPointer<ParameterUpdate<Scalar>>, learningRate: Double) {
        for update in updates {
            apply(update.parameter, gradient: update.gradient, learningRate: learningRate, slots: update.slots)
        }
    }
}

final class OptimizerTests: XCTestCase {
    typealias T = Tensor<Double>

    func testAdamFirstStepIsLearningRateTimesSign() {
        var p = T([1, -2, 3])
        let g = T([0.5, -4, 1e-3])
        Adam(learningRate: 0.1).update(&p, along: g)
        // The bias-corrected first step is lr · g / (|g| + ε).
        for (value, expected) in zip(p.scalars, [0.9, -1.9, 2.9]) { assertClose(value, expected, relativeTolerance: 1e-6) }
    }

    func testAdamSecondStepMatchesHandComputation() {
        var p = T([1.0])
        let adam = Adam(learningRate: 0.01, beta1: 0.9, beta2: 0.99, epsilon: 1e-8)
        adam.update(&p, along: T([2.0]))
        adam.update(&p, along: T([-1.0]))
        var m = 0.0, v = 0.0, x = 1.0
        for (t, g) in [(1.0, 2.0), (2.0, -1.0)] {
            m = 0.9 * m + 0.1 * g
            v = 0.99 * v + 0.01 * g * g
            x -= 0.01 * (m / (1 - pow(0.9, t))) / ((v / (1 - pow(0.99, t))).squareRoot() + 1e-8)
        }
        assertClose(p.scalars[0], x, relativeTolerance: 1e-12)
    }

    /// Tensors of more than 2¹⁵ elements are updated and summed in parts on several threads: every element gets
    /// the same two Adam steps as computed by hand, and the norm is the same on one thread as on two.
    func testLargeTensorsSplitAcrossThreadsMatchHandComputation() {
        let count = 100_003  // not a multiple of the parts' 64-element alignment
        var generator = SeededGenerator(seed: 21)
        let start = Tensor<Float>(randomNormal: [count], using: &generator)
        let gradients = (0..<2).map { _ in Tensor<Float>(randomNormal: [count], using: &generator) }
        let threads = Kernels.maximumThreads
        defer { Kernels.maximumThreads = threads }
        var norms: [Double] = []
        for limit in [1, 2] {
            Kernels.maximumThreads = limit
            var p = start
            let adam = Adam(learningRate: 0.01, beta1: 0.9, beta2: 0.99, epsilon: 1e-8)
            norms.append(adam.globalNorm(of: gradients[0], for: p))
            for g in gradients { adam.update(&p, along: g) }
            var worst: Float = 0
            for i in 0..<count {
                var (m, v, x): (Float, Float, Float) = (0, 0, start.scalars[i])
                for (t, g) in gradients.enumerated() {
                    let gi = g.scalars[i]
                    m = 0.9 * m + 0.1 * gi
                    v = 0.99 * v + 0.01 * gi * gi
                    x -= 0.01 * (m / (1 - powf(0.9, Float(t + 1)))) / ((v / (1 - powf(0.99, Float(t + 1)))).squareRoot() + 1e-8)
                }
                worst = max(worst, abs(p.scalars[i] - x))
            }
            // Each step moves an element by at most about the rate, 0.01; Float's rounding of that is ~1e-9.
            XCTAssertLessThan(worst, 1e-6, "on \(limit) thread(s)")
        }
        var direct = 0.0
        for x in gradients[0].scalars { direct += Double(x) * Double(x) }
        XCTAssertEqual(norms[0], direct.squareRoot(), accuracy: 1e-12 * direct.squareRoot())
        XCTAssertEqual(norms[0], norms[1])  // the same chunks, summed in the same order
        var values = gradients[0].scalars.array
        values[count - 1] = .nan
        let poisoned = Tensor<Float>(shape: [count], scalars: values)
        XCTAssertTrue(Adam(learningRate: 0.01).globalNorm(of: poisoned, for: start).isNaN)
    }

    /// Adam updates all the parameters of one scalar type in one pass split across the threads: every parameter,
    /// and so every moment, gets the bits of updating each parameter alone, on one thread and on two, and the norm
    /// summed over all the gradients at once is the one `globalNorm` sums a gradient at a time.
    func testAdamOverAllParametersAtOnceHasTheBitsOfOneAtATime() {
        var generator = SeededGenerator(seed: 23)
        // Large and small tensors of both types; each is split between the parts on its own, all in one job.
        let start = ManyTensors(
            small: Tensor<Float>(randomNormal: [5], using: &generator),
            doubles: Tensor<Double>(randomNormal: [50_000], using: &generator),
            floats: [70_001, 33, 75_000, 0].map { Tensor<Float>(randomNormal: [$0], using: &generator) },
            bias: Tensor<Double>(randomNormal: [9], using: &generator))
        let gradients = (0..<3).map { _ in
            ManyTensors.TangentVector(
                small: Tensor<Float>(randomNormal: [5], using: &generator),
                doubles: Tensor<Double>(randomNormal: [50_000], using: &generator),
                floats: .init([70_001, 33, 75_000, 0].map { Tensor<Float>(randomNormal: [$0], using: &generator) }),
                bias: Tensor<Double>(randomNormal: [9], using: &generator))
        }
        let threads = Kernels.maximumThreads
        defer { Kernels.maximumThreads = threads }
        for limit in [1, 2] {
            Kernels.maximumThreads = limit
            var (together, alone) = (start, start)
            let (batched, reference) = (Adam(learningRate: 0.01, beta2: 0.99), OneAtATimeAdam(learningRate: 0.01, beta2: 0.99))
            for g in gradients {
                XCTAssertTrue(batched.updateIfFinite(&together, along: g))
                XCTAssertTrue(reference.updateIfFinite(&alone, along: g))
                XCTAssertEqual(batched.lastGradientNorm, batched.globalNorm(of: g, for: together), "on \(limit) thread(s)")
            }
            XCTAssertEqual(together.small, alone.small)
            XCTAssertEqual(together.doubles, alone.doubles)
            XCTAssertEqual(together.floats, alone.floats, "on \(limit) thread(s)")
            XCTAssertEqual(together.bias, alone.bias)
            XCTAssertNotEqual(together.floats[0], start.floats[0])
        }
    }

    func testAdamWDecaysWeightsIndependentlyOfTheGradient() {
        var p = T([2.0])
        AdamW(learningRate: 0.1, weightDecay: 0.5).update(&p, along: T([1e-12]))
        // The gradient step is lr · g/(|g| + ε) ≈ 0.1 · 1e-12/(1e-12 + 1e-8); the decay step is lr · wd · p = 0.1.
        assertClose(p.scalars[0], 2 - 0.1 * (1e-12 / (1e-12 + 1e-8)) - 0.1 * 0.5 * 2, relativeTolerance: 1e-9)
    }

    func testSGDMomentumAndNesterov() {
        var heavy = T([0.0])
        var nesterov = T([0.0])
        let a = SGD(learningRate: 0.1, momentum: 0.9)
        let b = SGD(learningRate: 0.1, momentum: 0.9, nesterov: true)
        for g in [1.0, 1.0] {
            a.update(&heavy, along: T([g]))
            b.update(&nesterov, along: T([g]))
        }
        // Heavy ball: velocities 1, 1.9 → −0.1 − 0.19. Nesterov: steps g + μv = 1.9, 1 + 0.9·1.9 = 2.71.
        assertClose(heavy.scalars[0], -0.29, relativeTolerance: 1e-12)
        assertClose(nesterov.scalars[0], -0.1 * 1.9 - 0.1 * 2.71, relativeTolerance: 1e-12)
    }

    func testRMSPropAndAdagradFirstSteps() {
        var p = T([1.0])
        RMSProp(learningRate: 0.01, decay: 0.9, epsilon: 0).update(&p, along: T([3.0]))
        assertClose(p.scalars[0], 1 - 0.01 * 3 / (0.1 * 9).squareRoot(), relativeTolerance: 1e-12)
        var q = T([1.0])
        let adagrad = Adagrad(learningRate: 0.5, epsilon: 0)
        adagrad.update(&q, along: T([3.0]))
        adagrad.update(&q, along: T([4.0]))
        assertClose(q.scalars[0], 1 - 0.5 - 0.5 * 4 / 5, relativeTolerance: 1e-12)
    }

    func testGradientClippingBoundsTheGlobalNorm() {
        var model = [T([0, 0]), T([0])]
        let sgd = SGD(learningRate: 1, gradientClipNorm: 1)
        sgd.update(&model, along: Array.DifferentiableView([T([3, 0]), T([4])]))
        XCTAssertEqual(sgd.lastGradientNorm, 5, accuracy: 1e-12)
        assertClose(model[0].scalars[0], -0.6, relativeTolerance: 1e-12)
        assertClose(model[1].scalars[0], -0.8, relativeTolerance: 1e-12)
    }

    /// A layer's gradient is a struct whose own `move(by:)` just adds: the norm must still see every tensor.
    func testGlobalNormAndClippingSeeStructGradients() {
        var layer = Dense<Double>(weight: T([[0, 0]]), bias: T([0, 0]))
        let gradient = Dense<Double>.TangentVector(weight: T([[3, 0]]), bias: T([0, 4]))
        let sgd = SGD(learningRate: 1, gradientClipNorm: 1)
        XCTAssertEqual(sgd.globalNorm(of: gradient, for: layer), 5, accuracy: 1e-12)
        sgd.update(&layer, along: gradient)
        XCTAssertEqual(sgd.lastGradientNorm, 5, accuracy: 1e-12)
        assertClose(layer.weight.scalars[0], -0.6, relativeTolerance: 1e-12)
        assertClose(layer.bias.scalars[1], -0.8, relativeTolerance: 1e-12)
        let poisoned = Dense<Double>.TangentVector(weight: T([[1, .nan]]), bias: T([0, 0]))
        let before = layer.weight
        XCTAssertFalse(sgd.updateIfFinite(&layer, along: poisoned))
        XCTAssertEqual(layer.weight, before)
    }

    /// An update writes each parameter's elements in place, so it must write into the model's own elements only:
    /// a copy of the model, two parameters that share their elements and a gradient that is a parameter itself all
    /// keep their values; a parameter of each scalar type moves.
    func testUpdatesInPlaceTouchNothingButTheModel() {
        let shared = T([1, 2])
        var model = [shared, shared]
        let copy = model
        let sgd = SGD(learningRate: 0.5)
        sgd.update(&model, along: Array.DifferentiableView([T([2, 2]), T([-2, 4])]))
        XCTAssertEqual(model, [T([0, 1]), T([2, 0])])
        XCTAssertEqual(copy, [T([1, 2]), T([1, 2])])
        XCTAssertEqual(shared, T([1, 2]))
        var p = T([3, -1])
        let gradient = p
        XCTAssertTrue(sgd.updateIfFinite(&p, along: gradient))
        XCTAssertEqual(p, T([1.5, -0.5]))
        XCTAssertEqual(gradient, T([3, -1]))
        var mixed = MixedModel(single: Tensor<Float>([1, 1]), double: T([1]))
        let before = mixed
        sgd.update(&mixed, along: MixedModel.TangentVector(single: Tensor<Float>([2, -2]), double: T([4])))
        XCTAssertEqual(mixed.single, Tensor<Float>([0, 2]))
        XCTAssertEqual(mixed.double, T([-1]))
        XCTAssertEqual(before.single, Tensor<Float>([1, 1]))
        XCTAssertEqual(before.double, T([1]))
    }

    func testNonFiniteGradientsLeaveEverythingAsItWas() {
        var p = T([1, 2])
        let adam = Adam(learningRate: 0.1)
        XCTAssertFalse(adam.updateIfFinite(&p, along: T([0.5, .nan])))
        XCTAssertFalse(adam.updateIfFinite(&p, along: T([.infinity, 0])))
        XCTAssertEqual(p, T([1, 2]))
        XCTAssertEqual(adam.step, 0)
        // The next finite update is Adam's first step, as if the rejected ones never happened.
        XCTAssertTrue(adam.updateIfFinite(&p, along: T([0.5, -3])))
        assertClose(p.scalars[0], 0.9, relativeTolerance: 1e-6)
        assertClose(p.scalars[1], 2.1, relativeTolerance: 1e-6)
        XCTAssertEqual(adam.step, 1)
    }

    /// An optimiser that keeps previous parameters puts every tensor of a nested model back as it was before the
    /// last update, exactly and once; a copy of the model taken before that update is untouched throughout, and a
    /// parameter the last update did not move is left alone.
    func testRestoringThePreviousParametersUndoesTheLastUpdateOnce() {
        var generator = SeededGenerator(seed: 8)
        var model = NestedModel(
            scale: T(randomNormal: [3], using: &generator),
            hidden: [Dense(inputSize: 3, outputSize: 4, activation: .tanh, using: &generator)],
            head: Chain(Dense(inputSize: 4, outputSize: 4, activation: .tanh, using: &generator), Dense(inputSize: 4, outputSize: 2, using: &generator)))
        let x = T(randomNormal: [5, 3], using: &generator)
        let adam = Adam(learningRate: 0.05)
        XCTAssertFalse(adam.restorePreviousParameters(&model), "nothing to undo before any update")
        adam.keepsPreviousParameters = true
        func gradient(_ m: NestedModel) -> NestedModel.TangentVector {
            VariationalCore.gradient(at: m) { m in (m(x) * m(x)).sum() }
        }
        adam.update(&model, along: gradient(model))
        let before = model
        adam.update(&model, along: gradient(model))
        XCTAssertNotEqual(model.scale, before.scale)
        XCTAssertNotEqual(model.head.second.weight, before.head.second.weight)
        XCTAssertTrue(adam.restorePreviousParameters(&model))
        XCTAssertEqual(model.scale, before.scale)
        XCTAssertEqual(model.hidden[0].weight, before.hidden[0].weight)
        XCTAssertEqual(model.head.first.bias, before.head.first.bias)
        XCTAssertEqual(model.head.second.weight, before.head.second.weight)
        // Once only: a second restore finds nothing to undo and changes nothing.
        var again = model
        XCTAssertFalse(adam.restorePreviousParameters(&again))
        XCTAssertEqual(again.scale, before.scale)
        // A parameter left out of the last update (a symbolic-zero gradient) keeps its value.
        adam.update(&model, along: gradient(model))
        var partial = gradient(model)
        partial.scale = .zero
        let scaleBefore = model.scale
        let hiddenBefore = model.hidden[0].weight
        adam.update(&model, along: partial)
        XCTAssertTrue(adam.restorePreviousParameters(&model))
        XCTAssertEqual(model.scale, scaleBefore)
        XCTAssertEqual(model.hidden[0].weight, hiddenBefore)
    }

    func testSchedules() {
        XCTAssertEqual(ExponentialDecay(initial: 1, decay: 0.5, decaySteps: 2, staircase: true).rate(at: 3), 0.5)
        let stages = PiecewiseConstant(boundaries: [1, 4], rates: [1e-3, 1e-4, 1e-5])
        XCTAssertEqual([1, 2, 4, 5, 100].map { stages.rate(at: $0) }, [1e-3, 1e-4, 1e-4, 1e-5, 1e-5])
        let cosine = CosineDecay(initial: 1, final: 0, steps: 10)
        XCTAssertEqual(cosine.rate(at: 1), 1, accuracy: 1e-12)
        XCTAssertEqual(cosine.rate(at: 6), 0.5, accuracy: 1e-12)
        XCTAssertEqual(cosine.rate(at: 50), 0, accuracy: 1e-12)
        let warm = LinearWarmup(warmupSteps: 4, then: ConstantRate(0.2))
        XCTAssertEqual(warm.rate(at: 1), 0.05, accuracy: 1e-12)
        XCTAssertEqual(warm.rate(at: 9), 0.2, accuracy: 1e-12)
        let adam = Adam(schedule: stages)
        var p = T([1.0])
        adam.update(&p, along: T([1.0]))
        XCTAssertEqual(adam.learningRate, 1e-4)
    }

    /// Every parameter of a nested model moves, and training reduces the loss of a small regression.
    func testNestedModelTrains() {
        var generator = SeededGenerator(seed: 5)
        var model = NestedModel(
            scale: T(ones: [1]),
            hidden: [
                Dense(inputSize: 1, outputSize: 16, activation: .tanh, using: &generator),
                Dense(inputSize: 16, outputSize: 16, activation: .tanh, using: &generator),
            ],
            head: Chain(
                Dense(inputSize: 16, outputSize: 8, activation: .softplus, using: &generator),
                Dense(inputSize: 8, outputSize: 1, using: &generator)))
        let initial = model
        let x = T(randomUniform: [64, 1], low: -2, high: 2, using: &generator)
        let y = x.map { Foundation.sin(2 * $0) }
        let loss: @differentiable(reverse) (NestedModel) -> T = { m in (m(x) - y).squared().mean() }
        let adam = Adam(learningRate: 0.01)
        let before = loss(model).scalar
        for _ in 0..<500 {
            let g = gradient(at: model, of: loss)
            adam.update(&model, along: g)
        }
        let after = loss(model).scalar
        XCTAssertLessThan(after, before / 10, "loss \(before) → \(after)")
        XCTAssertNotEqual(model.scale, initial.scale)
        for i in 0..<2 { XCTAssertNotEqual(model.hidden[i].weight, initial.hidden[i].weight) }
        XCTAssertNotEqual(model.head.second.bias, initial.head.second.bias)
    }

    func testFloatModelsTrainToo() {
        var generator = SeededGenerator(seed: 6)
        var layer = Dense<Float>(inputSize: 3, outputSize: 1, using: &generator)
        let x = Tensor<Float>(randomNormal: [32, 3], using: &generator)
        let y = matmul(x, Tensor<Float>([[1], [-2], [0.5]])) + 0.3
        let adam = Adam(learningRate: 0.05)
        for _ in 0..<400 {
            adam.update(&layer, along: gradient(at: layer) { l in (l(x) - y).squared().mean() })
        }
        XCTAssertEqual(layer.weight.scalars[1], -2, accuracy: 1e-3)
        XCTAssertEqual(layer.bias.scalars[0], 0.3, accuracy: 1e-3)
    }

    func testDenseGradientsMatchFiniteDifferences() {
        var generator = SeededGenerator(seed: 8)
        let x = T(randomNormal: [5, 3], using: &generator)
        for activation in [Activation.identity, .tanh, .sigmoid, .softplus] {
            assertGradientMatchesFiniteDifferences(
                "Dense \(activation)",
                { ps in Dense(weight: ps[0], bias: ps[1], activation: activation)(ps[2]) },
                at: [T(randomNormal: [3, 4], using: &generator), T(randomNormal: [4], using: &generator), x])
        }
    }
}

import _Differentiation
import VariationalCore
import VariationalTestSupport
import XCTest

/// Every differentiable operation against central finite differences, in Double, on random inputs and shapes,
/// including broadcasting cases.
final class GradientTests: XCTestCase {
    typealias T = Tensor<Double>
    var generator = SeededGenerator(seed: 20261125)

    func normal(_ shape: TensorShape) -> T { T(randomNormal: shape, using: &generator) }
    func positive(_ shape: TensorShape, low: Double = 0.3, high: Double = 3) -> T {
        T(randomUniform: shape, low: low, high: high, using: &generator)
    }
    /// Values kept away from the kink at zero of piecewise functions.
    func awayFromZero(_ shape: TensorShape) -> T {
        normal(shape).map { $0 >= 0 ? $0 + 0.1 : $0 - 0.1 }
    }

    func check(
        _ name: String, _ inputs: [T], tolerance: Double = 1e-6, file: StaticString = #filePath, line: UInt = #line,
        _ f: @escaping @differentiable(reverse) ([T]) -> T
    ) {
        assertGradientMatchesFiniteDifferences(name, f, at: inputs, tolerance: tolerance, file: file, line: line)
    }

    func testArithmeticWithBroadcasting() {
        let shapes: [(TensorShape, TensorShape)] = [([3, 4], [3, 4]), ([3, 4], [4]), ([2, 3, 4], [3, 1]), ([1, 4], [3, 1]), ([], [2, 3])]
        for (sa, sb) in shapes {
            let a = normal(sa)
            let b = normal(sb)
            check("add \(sa) \(sb)", [a, b]) { $0[0] + $0[1] }
            check("subtract \(sa) \(sb)", [a, b]) { $0[0] - $0[1] }
            check("multiply \(sa) \(sb)", [a, b]) { $0[0] * $0[1] }
            check("divide \(sa) \(sb)", [a, positive(sb)]) { $0[0] / $0[1] }
        }
        // One operand constant: the compiler picks the derivatives with respect to the other alone.
        for (sa, sb) in shapes {
            let (constant, positiveConstant) = (normal(sb), positive(sb))
            check("add, left only \(sa) \(sb)", [normal(sa)]) { $0[0] + constant }
            check("add, right only \(sa) \(sb)", [normal(sa)]) { constant + $0[0] }
            check("subtract, left only \(sa) \(sb)", [normal(sa)]) { $0[0] - constant }
            check("subtract, right only \(sa) \(sb)", [normal(sa)]) { constant - $0[0] }
            check("divide, left only \(sa) \(sb)", [normal(sa)]) { $0[0] / positiveConstant }
            check("divide, right only \(sa) \(sb)", [positive(sa)]) { constant / $0[0] }
        }
        // A symbolic-zero operand (as differentiation passes along) gets a symbolic-zero gradient, the other its own.
        let (x0, v) = (normal([2, 3]), normal([2, 3]))
        for subtracting in [false, true] {
            let (_, right) = valueWithPullback(at: x0, T.zero) { subtracting ? $0 - $1 : $0 + $1 }
            let (_, left) = valueWithPullback(at: T.zero, x0) { subtracting ? $0 - $1 : $0 + $1 }
            let (gx, gZero) = right(v)
            let (gZero2, gx2) = left(v)
            XCTAssertEqual(gx, v)
            XCTAssertEqual(gx2, subtracting ? -v : v)
            XCTAssertTrue(gZero.isSymbolicZero && gZero2.isSymbolicZero)
        }
        check("negate", [normal([2, 3])]) { -$0[0] }
        check("scalar forms", [normal([2, 3])]) { xs in
            let x: T = xs[0]
            let scaled: T = (2 + x * 3 - 1) / 4
            let reciprocal: T = 1 / (x.squared() + 1)
            return scaled + reciprocal - (5 - x)
        }
        // The scalar forms with respect to the scalar alone (the tensor constant), against central differences.
        // (One call each: an array of differentiable closures miscompiles in release builds.)
        let x = normal([2, 3])
        func checkScalarSide(_ name: String, _ form: @differentiable(reverse) (Double) -> T) {
            let s0 = 0.7, h = 1e-6
            let derivative = gradient(at: s0) { s in (form(s) * x).sum() }
            let numeric = ((form(s0 + h) * x).sum().scalar - (form(s0 - h) * x).sum().scalar) / (2 * h)
            XCTAssertEqual(derivative, numeric, accuracy: 1e-6 * Swift.max(1, Swift.abs(numeric)), name)
        }
        checkScalarSide("x + s") { s in x + s }
        checkScalarSide("s + x") { s in s + x }
        checkScalarSide("x - s") { s in x - s }
        checkScalarSide("s - x") { s in s - x }
        checkScalarSide("x * s") { s in x * s }
        checkScalarSide("s * x") { s in s * x }
        checkScalarSide("x / s") { s in x / s }
        checkScalarSide("s / x") { s in s / (x.squared() + 1) }
    }

    func testMatrixProducts() {
        check("matmul 2-D", [normal([3, 4]), normal([4, 5])]) { matmul($0[0], $0[1]) }
        check("matmul column (GEMV)", [normal([3, 4]), normal([4, 1])]) { matmul($0[0], $0[1]) }
        check("matmul row (GEMV)", [normal([1, 4]), normal([4, 3])]) { matmul($0[0], $0[1]) }
        check("matmul batched", [normal([2, 3, 4]), normal([2, 4, 5])]) { matmul($0[0], $0[1]) }
        check("matmul batch × shared", [normal([2, 3, 4]), normal([4, 5])]) { matmul($0[0], $0[1]) }
        check("matmul shared × batch", [normal([3, 4]), normal([2, 4, 5])]) { matmul($0[0], $0[1]) }
        // Only the weight varies: the compiler picks the wrt-weight derivative.
        let data = normal([5, 4])
        check("matmul weight only", [normal([4, 3])]) { matmul(data, $0[0]) }
        check("matmul input only", [normal([5, 4])]) { xs in matmul(xs[0], data.transposed()) }
    }

    func testShapeOperations() {
        check("reshape", [normal([2, 6])]) { $0[0].reshaped(to: [3, -1]) * $0[0].reshaped(to: [3, 4]) }
        check("transpose", [normal([3, 4])]) { $0[0].transposed() }
        check("permute", [normal([2, 3, 4])]) { $0[0].permuted([2, 0, 1]) }
        check("slice", [normal([4, 5])]) { $0[0].slice(axis: 1, range: 1..<4) }
        check("slice first axis", [normal([4, 5])]) { $0[0].slice(axis: 0, range: 0..<2) }
        check("slice middle axis", [normal([2, 5, 3])]) { $0[0].slice(axis: 1, range: 2..<4) }
        check("slice to the end, last axis", [normal([3, 4])]) { $0[0].slice(axis: -1, range: 3..<4) }
        check("concatenate", [normal([2, 3]), normal([2, 2])]) { T.concatenating([$0[0], $0[1]], alongAxis: 1) }
        check("concatenate axis 0", [normal([2, 3]), normal([1, 3])]) { $0[0].concatenated(with: $0[1]) }
        check("stack", [normal([2, 3]), normal([2, 3])]) { T.stacking([$0[0], $0[1]], alongAxis: 1) }
        check("gather with repeats", [normal([4, 3])]) { $0[0].gathering(atIndices: [3, 0, 3, 1]) }
        check("gather along axis 1", [normal([2, 4])]) { $0[0].gathering(atIndices: [2, 2, 0], alongAxis: 1) }
        check("expand and squeeze", [normal([3])]) { $0[0].expandingShape(at: 0).squeezingShape(at: 0) * $0[0] }
        check("broadcasted", [normal([3, 1])]) { $0[0].broadcasted(to: [2, 3, 4]) }
        let oneHot = T(oneHotAtIndices: [2, 0, 1], depth: 3)
        XCTAssertEqual(oneHot.scalars, [0, 0, 1, 1, 0, 0, 0, 1, 0])
        check("one-hot select", [normal([3, 3])]) { ($0[0] * oneHot).sum(squeezingAxes: 1) }
    }

    func testReductions() {
        let x = normal([3, 4, 2])
        check("sum all", [x]) { $0[0].sum() }
        check("sum along", [x]) { $0[0].sum(alongAxes: 1) }
        check("sum squeezing", [x]) { $0[0].sum(squeezingAxes: 0, 2) }
        check("mean all", [x]) { $0[0].mean() }
        check("mean along", [x]) { $0[0].mean(alongAxes: -1) }
        check("mean squeezing", [x]) { $0[0].mean(squeezingAxes: 1) }
        check("max along", [x]) { $0[0].max(alongAxes: 1) }
        check("max squeezing", [x]) { $0[0].max(squeezingAxes: 2) }
        check("max all", [x]) { $0[0].max() }
        check("logSumExp along", [x]) { $0[0].logSumExp(alongAxes: 1) }
        check("logSumExp squeezing", [x]) { $0[0].logSumExp(squeezingAxes: 0) }
        check("logSumExp all", [x]) { $0[0].logSumExp() }
        check("softmax", [x]) { $0[0].softmax() }
        check("softmax axis 0", [x]) { $0[0].softmax(alongAxis: 0) }
        check("logSoftmax", [x]) { $0[0].logSoftmax() }
    }

    func testElementwise() {
        let x = normal([3, 4])
        let p = positive([3, 4])
        check("exp", [x]) { $0[0].exp() }
        check("log", [p]) { $0[0].log() }
        check("log1p", [positive([3, 4], low: -0.5, high: 2)]) { $0[0].log1p() }
        check("expm1", [x]) { $0[0].expm1() }
        check("sqrt", [p]) { $0[0].sqrt() }
        check("square", [x]) { $0[0].squared() }
        check("pow scalar", [p]) { $0[0].pow(2.5) }
        check("pow tensor", [p, normal([4])]) { $0[0].pow($0[1]) }
        check("abs", [awayFromZero([3, 4])]) { $0[0].abs() }
        check("sigmoid", [x * 3]) { $0[0].sigmoid() }
        check("logSigmoid", [x * 5]) { $0[0].logSigmoid() }
        check("softplus", [x * 5]) { $0[0].softplus() }
        check("tanh", [x]) { $0[0].tanh() }
        check("relu", [awayFromZero([3, 4])]) { $0[0].relu() }
        check("leakyRelu", [awayFromZero([3, 4])]) { $0[0].leakyRelu(slope: 0.2) }
        check("elu", [awayFromZero([3, 4])]) { $0[0].elu(alpha: 1.5) }
        check("clamp", [awayFromZero([3, 4])]) { $0[0].clamped(to: -0.5...0.5) * $0[0] }
        check("logGamma", [positive([3, 4], low: 0.1, high: 8)]) { $0[0].logGamma() }
        check("digamma", [positive([3, 4], low: 0.2, high: 8)]) { $0[0].digamma() }
        check("trigamma", [positive([3, 4], low: 0.3, high: 8)]) { $0[0].trigamma() }
        check("erf", [x]) { $0[0].erf() }
        // Stirling's remainders and the ratio functions behind the closed-form KL divergences, on both sides of their
        // branch points (x = 12 for the remainders, a/b in (½, 2) and |t| < ¼ for the ratios, |x| < ¼ for the series).
        check("logGammaRemainder", [positive([3, 4], low: 0.2, high: 30)]) { $0[0].logGammaRemainder() }
        check("digammaRemainder", [positive([3, 4], low: 0.2, high: 30)]) { $0[0].digammaRemainder() }
        check("logRatio", [positive([3, 4], low: 0.1, high: 8), positive([4], low: 0.1, high: 8)]) { T.logRatio($0[0], $0[1]) }
        check("ratioDivergence", [positive([3, 4], low: 0.1, high: 8), positive([3, 4], low: 0.1, high: 8)]) {
            T.ratioDivergence($0[0], $0[1], power: 2)
        }
        check("generalizedKL", [positive([3, 4], low: 0.1, high: 8), positive([4], low: 0.1, high: 8)]) {
            T.generalizedKL($0[0], $0[1])
        }
        check("expm1MinusIdentity", [x]) { $0[0].expm1MinusIdentity() }
    }

    func testLinearAlgebra() {
        let b = normal([4, 4])
        // A symmetric positive-definite input: the Cholesky gradient is the symmetric one.
        let spd: @differentiable(reverse) (T) -> T = { m in
            matmul(m, m.transposed()) + T(identity: 4) * 4
        }
        check("cholesky", [b]) { spd($0[0]).cholesky() }
        check("log det from cholesky", [b]) { spd($0[0]).cholesky().logDeterminantFromCholesky() }
        let lower: @differentiable(reverse) (T) -> T = { m in
            m.lowerTriangular() + T(identity: 4) * 3
        }
        check("lower triangular", [b]) { $0[0].lowerTriangular() }
        check("triangular solve matrix", [b, normal([4, 2])]) { T.triangularSolve(lower: lower($0[0]), $0[1]) }
        check("triangular solve vector", [b, normal([4])]) { T.triangularSolve(lower: lower($0[0]), $0[1]) }
        check("triangular solve transposed", [b, normal([4, 3])]) {
            T.triangularSolve(lower: lower($0[0]), $0[1], transposed: true)
        }
        check("diagonal part", [b]) { $0[0].diagonalPart() }
        check("diagonal matrix", [normal([3])]) { $0[0].diagonalMatrix() }
    }

    func testFusedOperations() {
        let labels = T(randomUniform: [4, 5], using: &generator).map { $0 < 0.5 ? 0 : 1 }
        check("sigmoid cross-entropy wrt logits", [normal([4, 5]) * 4]) { sigmoidCrossEntropy(logits: $0[0], labels: labels) }
        check("sigmoid cross-entropy both", [normal([4, 5]), positive([4, 5], low: 0, high: 1)]) {
            sigmoidCrossEntropy(logits: $0[0], labels: $0[1])
        }
        // Row log-likelihoods against a batch taken in turn: 3 particles of 4 datapoints, 7 pixels (a tail of 3 after
        // the four running sums), against finite differences and bit for bit against the per-element form over
        // labels copied per particle, value and gradient.
        let batch = T(randomUniform: [4, 7], using: &generator).map { $0 < 0.5 ? 0 : 1 }
        check("Bernoulli row log-likelihoods", [normal([12, 7]) * 3]) { bernoulliRowLogLikelihoods(logits: $0[0], labels: batch) }
        let rowLogits = normal([12, 7]) * 3
        let copies = batch.expandingShape(at: 0).broadcasted(to: [3, 4, 7]).reshaped(to: [12, 7])
        let rowWeights = normal([12])
        let (rows, rowGradient) = valueWithGradient(at: rowLogits) { (bernoulliRowLogLikelihoods(logits: $0, labels: batch) * rowWeights).sum() }
        let (elements, elementGradient) = valueWithGradient(at: rowLogits) {
            (-sigmoidCrossEntropy(logits: $0, labels: copies).sum(squeezingAxes: 1) * rowWeights).sum()
        }
        XCTAssertEqual(rows.scalar, elements.scalar)
        XCTAssertEqual(rowGradient, elementGradient)
        // The pullback scales the forward pass's gradient in place the first time; a second call recomputes it.
        let (_, rowPullback) = valueWithPullback(at: rowLogits) { bernoulliRowLogLikelihoods(logits: $0, labels: batch) }
        XCTAssertEqual(rowPullback(rowWeights), elementGradient)
        XCTAssertEqual(rowPullback(rowWeights), elementGradient)
        XCTAssertEqual(rowPullback(rowWeights * 2), elementGradient * 2)
        XCTAssertEqual(valueWithPullback(at: T(zeros: [3, 0])) { bernoulliRowLogLikelihoods(logits: $0, labels: T(zeros: [1, 0])) }.1(T(ones: [3])), T(zeros: [3, 0]))
        XCTAssertEqual(
            bernoulliRowLogLikelihoods(logits: rowLogits, labels: batch), -sigmoidCrossEntropy(logits: rowLogits, labels: copies).sum(squeezingAxes: 1))
        XCTAssertEqual(bernoulliRowLogLikelihoods(logits: T(zeros: [6, 0]), labels: T(zeros: [2, 0])), T(zeros: [6]))
        // The fused logistic-regression likelihood: 601 observations cross chunk boundaries and leave a tail.
        let features = normal([601, 3]) * 3
        let responses = T(randomUniform: [601], using: &generator).map { $0 < 0.4 ? 1 : 0 }
        let transposed = features.transposed()
        check("logistic log-likelihood", [normal([2, 3])]) {
            logisticLogLikelihood(weights: $0[0], featuresTransposed: transposed, labels: responses)
        }
        let weights = normal([2, 3]) * 4
        let unfused = -sigmoidCrossEntropy(logits: matmul(weights, transposed), labels: responses.expandingShape(at: 0).broadcasted(to: [2, 601]))
            .sum(squeezingAxes: 1)
        let (glm, glmGradient) = logisticLogLikelihoodWithGradient(weights: weights, featuresTransposed: transposed, labels: responses)
        for p in 0..<2 { XCTAssertEqual(glm.scalars[p], unfused.scalars[p], accuracy: 1e-10 * Swift.abs(unfused.scalars[p])) }
        let unfusedGradient = gradient(at: weights) { w in
            (-sigmoidCrossEntropy(logits: matmul(w, transposed), labels: responses.expandingShape(at: 0).broadcasted(to: [2, 601]))).sum()
        }
        for i in 0..<6 { XCTAssertEqual(glmGradient.scalars[i], unfusedGradient.scalars[i], accuracy: 1e-10 * Swift.max(1, Swift.abs(unfusedGradient.scalars[i]))) }
        // Labels that agree with large logits: each term is log1p(e^−|l|) alone, 1e-13 to 1e-6, and the kernel's
        // sum of them must keep its digits (a log of rounded 1 + e would lose most of them).
        let separatedLogits: [Double] = (0..<601).map { i in
            let size = 14 + Double(i % 17)
            return i % 2 == 0 ? size : -size
        }
        let separated = T(separatedLogits).expandingShape(at: 0)
        let agreeing = T((0..<601).map { i in i % 2 == 0 ? 1.0 : 0.0 })
        let (tiny, _) = logisticLogLikelihoodWithGradient(weights: T([[1]]), featuresTransposed: separated, labels: agreeing)
        let exact = -separatedLogits.map { Foundation.log1p(Foundation.exp(-Swift.abs($0))) }.reduce(0, +)
        XCTAssertEqual(tiny.scalars[0], exact, accuracy: 1e-13 * Swift.abs(exact))
        // No features: every logit is 0, so each observation contributes −log 2 whatever its label.
        let (featureless, featurelessGradient) = logisticLogLikelihoodWithGradient(
            weights: T(shape: [2, 0], scalars: []), featuresTransposed: T(shape: [0, 601], scalars: []), labels: responses)
        for p in 0..<2 { XCTAssertEqual(featureless.scalars[p], -601 * Foundation.log(2), accuracy: 1e-12) }
        XCTAssertEqual(featurelessGradient.shape, [2, 0])
        let data = normal([6, 3])
        check("linear", [normal([6, 3]), normal([3, 4]), normal([4])]) { linear($0[0], $0[1], $0[2]) }
        check("linear parameters only", [normal([3, 4]), normal([4])]) { linear(data, $0[0], $0[1]) }
        // The fused forms equal the unfused compositions.
        let logits = normal([4, 5]) * 30
        let fused = sigmoidCrossEntropy(logits: logits, labels: labels)
        let plain = logits.softplus() - labels * logits
        for i in 0..<20 { XCTAssertEqual(fused.scalars[i], plain.scalars[i], accuracy: 1e-12) }
        // The value-with-gradient form: the same value, and σ(l) − x even where |l| = 30 saturates σ.
        let (value, logitGradient) = sigmoidCrossEntropyWithGradient(logits: logits, labels: labels)
        XCTAssertEqual(value, fused)
        let expected = logits.sigmoid() - labels
        for i in 0..<20 { XCTAssertEqual(logitGradient.scalars[i], expected.scalars[i], accuracy: 1e-15) }
        // Seven elements: four through the vector lanes, three through the scalar tail; signs and tails mixed.
        let odd = T([-700, -20, -0.5, 0, 0.5, 20, 700])
        let oddLabels = T([1, 0, 1, 1, 0, 1, 0])
        let (oddValue, oddGradient) = sigmoidCrossEntropyWithGradient(logits: odd, labels: oddLabels)
        for i in 0..<7 {
            let (l, x) = (odd.scalars[i], oddLabels.scalars[i])
            let softplus = Swift.max(l, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(l)))
            XCTAssertEqual(oddValue.scalars[i], softplus - x * l, accuracy: 1e-12 * Swift.max(1, Swift.abs(l)))
            let sigmoid = l >= 0 ? 1 / (1 + Foundation.exp(-l)) : Foundation.exp(l) / (1 + Foundation.exp(l))
            XCTAssertEqual(oddGradient.scalars[i], sigmoid - x, accuracy: 1e-15)
        }
        // The Bernoulli density counts labels outside {0, 1}, in whole vectors and in the tail (19 elements).
        let someLabels = T((0..<19).map { [2, 11, 18].contains($0) ? 0.5 : Double($0 % 2) })
        let density = bernoulliLogProbabilityWithGradient(labels: someLabels, logits: normal([19]))
        XCTAssertEqual(density.invalid, 3)
        for i in 0..<19 {
            XCTAssertEqual(density.value.scalars[i] == -.infinity, [2, 11, 18].contains(i))
            if [2, 11, 18].contains(i) { XCTAssertEqual(density.logitGradient.scalars[i], 0) }
        }
        // An infinite logit against the label that makes it certain-wrong costs +∞ (not ∞ · 0 = NaN).
        XCTAssertEqual(sigmoidCrossEntropy(logits: T([.infinity, -.infinity]), labels: T([0, 1])), T([.infinity, .infinity]))
        let w = normal([3, 4])
        let b = normal([4])
        let product = linear(data, w, b)
        let reference = matmul(data, w) + b
        for i in 0..<24 { XCTAssertEqual(product.scalars[i], reference.scalars[i], accuracy: 1e-12) }
    }

    /// relu(x · W + b) in one operation: its derivatives against finite differences, with the input as data or not,
    /// and its values and gradients against the unfused composition, in Double and through the Float kernel.
    func testRectifiedLinearLayer() {
        let data = normal([6, 3])
        check("linearReLU", [normal([6, 3]), normal([3, 4]), normal([4])]) { linearReLU($0[0], $0[1], $0[2]).squared().sum() }
        check("linearReLU parameters only", [normal([3, 4]), normal([4])]) { linearReLU(data, $0[0], $0[1]).squared().sum() }
        func compare<S: TensorScalar>(_: S.Type, _ rows: Int, _ inner: Int, _ columns: Int, tolerance: S) {
            var generator = SeededGenerator(seed: UInt64(rows * 1000 + inner))
            let x = Tensor<S>(randomNormal: [rows, inner], using: &generator)
            let (w, b) = (Tensor<S>(randomNormal: [inner, columns], using: &generator), Tensor<S>(randomNormal: [columns], using: &generator))
            let upstream = Tensor<S>(randomNormal: [rows, columns], using: &generator)
            let (fused, fusedPullback) = valueWithPullback(at: x, w, b) { linearReLU($0, $1, $2) }
            let (plain, plainPullback) = valueWithPullback(at: x, w, b) { linear($0, $1, $2).relu() }
            let name = "\(S.self) [\(rows), \(inner)]·[\(inner), \(columns)]"
            XCTAssertEqual(fused.shape, [rows, columns], name)
            if rows > 0 { XCTAssertGreaterThan(fused.scalars.filter { $0 == 0 }.count, 0, name) }
            let (g, h) = (fusedPullback(upstream), plainPullback(upstream))
            for (a, e) in [(fused, plain), (g.0, h.0), (g.1, h.1), (g.2, h.2)] {
                XCTAssertEqual(a.shape, e.shape, name)
                for i in 0..<a.scalarCount {
                    XCTAssertEqual(a.scalars[i], e.scalars[i], accuracy: tolerance * Swift.max(1, Swift.abs(e.scalars[i])), name)
                }
            }
            // The parameters-only derivative (the input is data) gives the same two gradients.
            let (_, parameterPullback) = valueWithPullback(at: w, b) { linearReLU(x, $0, $1) }
            let parameters = parameterPullback(upstream)
            XCTAssertEqual(parameters.0, g.1, name)
            XCTAssertEqual(parameters.1, g.2, name)
        }
        // The fused layer adds the bias after the product; the composition may add it inside the kernel's sums (the
        // portable kernel does, and its sums run in another order), so single precision agrees to about 1e-5 relative
        // (up to 4e-6 seen), not bit for bit.
        compare(Float.self, 130, 70, 37, tolerance: 1e-5)
        compare(Float.self, 20, 300, 50, tolerance: 1e-5)
        compare(Double.self, 9, 5, 7, tolerance: 1e-13)
        compare(Double.self, 0, 5, 7, tolerance: 0)
        compare(Double.self, 4, 0, 3, tolerance: 0)
    }

    /// Two linear heads of one input as one product (`linearPair`): derivatives in all five arguments against finite
    /// differences, with both heads used and with one (the other's tangent the symbolic zero); values and gradients
    /// against two `linear` calls, in Double and through the Float kernel at the encoder's shape (128 × 400 → 2 × 20).
    func testLinearPair() {
        check("linearPair", [normal([5, 3]), normal([3, 2]), normal([2]), normal([3, 2]), normal([2])]) {
            let p = linearPair($0[0], $0[1], $0[2], $0[3], $0[4])
            return (p.first * p.second).sum() + p.first.squared().sum()
        }
        check("linearPair, first head only", [normal([4, 3]), normal([3, 2]), normal([2]), normal([3, 2]), normal([2])]) {
            linearPair($0[0], $0[1], $0[2], $0[3], $0[4]).first.squared().sum()
        }
        func compare<S: TensorScalar>(_: S.Type, _ rows: Int, _ inner: Int, _ columns: Int, tolerance: S) {
            var generator = SeededGenerator(seed: UInt64(rows * 1000 + columns))
            let x = Tensor<S>(randomNormal: [rows, inner], using: &generator)
            let (w1, b1) = (Tensor<S>(randomNormal: [inner, columns], using: &generator), Tensor<S>(randomNormal: [columns], using: &generator))
            let (w2, b2) = (Tensor<S>(randomNormal: [inner, columns], using: &generator), Tensor<S>(randomNormal: [columns], using: &generator))
            let (u1, u2) = (Tensor<S>(randomNormal: [rows, columns], using: &generator), Tensor<S>(randomNormal: [rows, columns], using: &generator))
            let (fused, g) = valueWithGradient(at: [x, w1, b1, w2, b2]) { a -> Tensor<S> in
                let p = linearPair(a[0], a[1], a[2], a[3], a[4])
                return (p.first * u1).sum() + (p.second * u2).sum()
            }
            let (plain, h) = valueWithGradient(at: [x, w1, b1, w2, b2]) { a -> Tensor<S> in
                (linear(a[0], a[1], a[2]) * u1).sum() + (linear(a[0], a[3], a[4]) * u2).sum()
            }
            let pair = linearPair(x, w1, b1, w2, b2)
            let name = "\(S.self) [\(rows), \(inner)]·[\(inner), \(columns)] twice"
            var pairs = [(pair.first, linear(x, w1, b1)), (pair.second, linear(x, w2, b2)), (fused, plain)]
            for i in 0..<5 { pairs.append((g.base[i], h.base[i])) }
            for (a, e) in pairs {
                XCTAssertEqual(a.shape, e.shape, name)
                for i in 0..<a.scalarCount {
                    XCTAssertEqual(a.scalars[i], e.scalars[i], accuracy: tolerance * Swift.max(1, Swift.abs(e.scalars[i])), name)
                }
            }
        }
        // The input's gradient sums both heads in one product of depth 2m, two products of depth m and an addition in
        // the unfused form: single precision agrees to about 1e-5 relative, not bit for bit.
        compare(Float.self, 128, 400, 20, tolerance: 2e-5)
        compare(Float.self, 7, 30, 3, tolerance: 1e-5)
        compare(Double.self, 9, 5, 7, tolerance: 1e-13)
        compare(Double.self, 0, 5, 7, tolerance: 0)
    }

    /// `linearPair` stacks its weights side by side and splits its output and its weight gradient back, each copy
    /// split by rows between the threads: on one thread and on two, with row counts that are not whole panels of 8,
    /// every row lands where a single `linear` of the weights stacked by hand puts it, bit for bit.
    func testLinearPairCopiesEveryRowOnAnyNumberOfThreads() {
        var generator = SeededGenerator(seed: 41)
        let (rows, inner, m) = (131, 203, 20)
        let x = Tensor<Float>(randomNormal: [rows, inner], using: &generator)
        let (w1, w2) = (Tensor<Float>(randomNormal: [inner, m], using: &generator), Tensor<Float>(randomNormal: [inner, m], using: &generator))
        let (b1, b2) = (Tensor<Float>(randomNormal: [m], using: &generator), Tensor<Float>(randomNormal: [m], using: &generator))
        let (u1, u2) = (Tensor<Float>(randomNormal: [rows, m], using: &generator), Tensor<Float>(randomNormal: [rows, m], using: &generator))
        func sideBySide(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Tensor<Float> {
            let r = a.rank == 1 ? 1 : a.shape[0]
            return Tensor(shape: a.rank == 1 ? [2 * m] : [r, 2 * m]) { out in
                for i in 0..<r { for j in 0..<m { out[i * 2 * m + j] = a.scalars[i * m + j]; out[i * 2 * m + m + j] = b.scalars[i * m + j] } }
            }
        }
        func half(_ t: Tensor<Float>, _ offset: Int) -> [Float] {
            (0..<(t.scalarCount / (2 * m))).flatMap { i in (0..<m).map { t.scalars[i * 2 * m + offset + $0] } }
        }
        let (whole, pullback) = valueWithPullback(at: sideBySide(w1, w2)) { linear(x, $0, sideBySide(b1, b2)) }
        let wholeWeightGradient = pullback(sideBySide(u1, u2))
        let threads = Kernels.maximumThreads
        defer { Kernels.maximumThreads = threads }
        // Two threads first: a buffer freed by the one-thread pass could hold the right rows already.
        for limit in [2, 1] {
            Kernels.maximumThreads = limit
            let (pair, pairPullback) = valueWithPullback(at: w1, w2) { linearPair(x, $0, b1, $1, b2) }
            XCTAssertEqual(pair.first.scalars.array, half(whole, 0), "\(limit) threads")
            XCTAssertEqual(pair.second.scalars.array, half(whole, m), "\(limit) threads")
            let (g1, g2) = pairPullback(TensorPair(first: u1, second: u2))
            XCTAssertEqual(g1.scalars.array, half(wholeWeightGradient, 0), "\(limit) threads")
            XCTAssertEqual(g2.scalars.array, half(wholeWeightGradient, m), "\(limit) threads")
        }
    }

    /// The rectified layer's passes, the bias rows of `linear` and its bias's gradient, and the Bernoulli rows and the
    /// scaling of their gradient split into parts on several threads past 2¹⁵ elements (by rows, or by columns in
    /// groups of 16 where a part sums down the columns): one thread and two give the same bits, and both agree with the
    /// unfused compositions; the column sums have the bits of their order. Shapes whose columns are no multiple of 16
    /// and whose rows do not divide evenly.
    func testPassesSplitAcrossThreadsGiveTheSameBits() {
        var generator = SeededGenerator(seed: 31)
        let (rows, inner, columns) = (151, 40, 333)
        let x = Tensor<Float>(randomNormal: [rows, inner], using: &generator)
        let (w, b) = (Tensor<Float>(randomNormal: [inner, columns], using: &generator), Tensor<Float>(randomNormal: [columns], using: &generator))
        let upstream = Tensor<Float>(randomNormal: [rows, columns], using: &generator)
        let labels = Tensor<Float>(randomUniform: [rows, columns], using: &generator).map { $0 < 0.3 ? 1 : 0 }
        let rowWeights = Tensor<Float>(randomNormal: [rows], using: &generator)
        let threads = Kernels.maximumThreads
        defer { Kernels.maximumThreads = threads }
        var results: [[Tensor<Float>]] = []
        for limit in [1, 2] {
            Kernels.maximumThreads = limit
            let (rectified, pullback) = valueWithPullback(at: x, w, b) { linearReLU($0, $1, $2) }
            let g = pullback(upstream)
            let plain = linear(x, w, b)
            let (likelihoods, logitGradient) = valueWithGradient(at: plain) { (bernoulliRowLogLikelihoods(logits: $0, labels: labels) * rowWeights).sum() }
            let biasGradient = valueWithPullback(at: x, w, b) { linear($0, $1, $2) }.pullback(upstream).2
            results.append([rectified, g.0, g.1, g.2, plain, likelihoods, logitGradient, biasGradient])
        }
        for (one, two) in zip(results[0], results[1]) { XCTAssertEqual(one, two) }
        // The bias's gradient, the sum down each column, is the sum in row order from 0, bit for bit.
        var columnSums = [Float](repeating: 0, count: columns)
        for r in 0..<rows { for k in 0..<columns { columnSums[k] += upstream.scalars[r * columns + k] } }
        XCTAssertEqual(results[1][7].scalars.array, columnSums)
        // The rectifier's: δ = upstream where the output is positive, summed in blocks of 16 rows (each in row order
        // from 0), the blocks' sums added in order, bit for bit.
        let rectified = results[1][0]
        var blockSums = [[Float]]()
        for first in stride(from: 0, to: rows, by: 16) {
            var sums = [Float](repeating: 0, count: columns)
            for r in first..<Swift.min(first + 16, rows) {
                for k in 0..<columns where rectified.scalars[r * columns + k] > 0 { sums[k] += upstream.scalars[r * columns + k] }
            }
            blockSums.append(sums)
        }
        var rectifiedBiasGradient = blockSums[0]
        for sums in blockSums.dropFirst() { for k in 0..<columns { rectifiedBiasGradient[k] += sums[k] } }
        XCTAssertEqual(results[1][3].scalars.array, rectifiedBiasGradient)
        // Against the compositions (their sums may run in another order: Float agrees to about 1e-5 relative).
        let (reference, referencePullback) = valueWithPullback(at: x, w, b) { (matmul($0, $1) + $2).relu() }
        let h = referencePullback(upstream)
        let plain = matmul(x, w) + b
        let (likelihoods, logitGradient) = valueWithGradient(at: plain) {
            (-sigmoidCrossEntropy(logits: $0, labels: labels).sum(squeezingAxes: 1) * rowWeights).sum()
        }
        for (a, e) in zip(results[1], [reference, h.0, h.1, h.2, plain, likelihoods, logitGradient]) {
            XCTAssertEqual(a.shape, e.shape)
            for i in 0..<a.scalarCount {
                XCTAssertEqual(a.scalars[i], e.scalars[i], accuracy: 1e-5 * Swift.max(1, Swift.abs(e.scalars[i])))
            }
        }
    }

    /// The checker must notice a wrong derivative: a function whose registered derivative is deliberately off.
    func testCheckerCatchesAWrongDerivative() {
        let result = GradientChecker.check({ deliberatelyWrongSquare($0[0]) }, at: [normal([3])])
        XCTAssertGreaterThan(result.maximumError, 0.1, "the checker accepted a wrong derivative: \(result)")
    }
}

@differentiable(reverse)
func deliberatelyWrongSquare(_ x: Tensor<Double>) -> Tensor<Double> { x * x }

@derivative(of: deliberatelyWrongSquare)
func vjpDeliberatelyWrongSquare(_ x: Tensor<Double>) -> (value: Tensor<Double>, pullback: (Tensor<Double>) -> Tensor<Double>) {
    (x * x, { v in v * x * 3 })
}

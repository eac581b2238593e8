import _Differentiation
import Foundation
import RealModule

// Elementwise functions. Each derivative is written in terms of the input x or the output y, whichever is cheaper.

extension Tensor {
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func exp() -> Tensor { applying(.exp) }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: exp)
    @usableFromInline
    func vjpExp() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let y = applying(.exp)
        return (y, { v in v.multiplying(y) })
    }

    /// The natural logarithm; −∞ at 0 and NaN below.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func log() -> Tensor { applying(.log) }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: log)
    @usableFromInline
    func vjpLog() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (applying(.log), { v in v.isSymbolicZero ? .zero : v.dividing(self) })
    }

    /// log(1 + x), accurate for small x.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func log1p() -> Tensor { applying(.log1p) }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: log1p)
    @usableFromInline
    func vjpLog1p() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (applying(.log1p), { v in v.isSymbolicZero ? .zero : v.dividing(self.map { 1 + $0 }) })
    }

    /// exp(x) − 1, accurate for small x.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func expm1() -> Tensor { applying(.expm1) }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: expm1)
    @usableFromInline
    func vjpExpm1() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let y = applying(.expm1)
        return (y, { v in v.isSymbolicZero ? .zero : v.multiplying(y.map { $0 + 1 }) })
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func sqrt() -> Tensor { map { $0.squareRoot() } }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: sqrt)
    @usableFromInline
    func vjpSqrt() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let y = map { $0.squareRoot() }
        return (y, { v in v.isSymbolicZero ? .zero : v.zipWith(y) { $0 / (2 * $1) } })
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func squared() -> Tensor { map { $0 * $0 } }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: squared)
    @usableFromInline
    func vjpSquared() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (map { $0 * $0 }, { v in v.isSymbolicZero ? .zero : v.zipWith(self) { 2 * $0 * $1 } })
    }

    /// |x|; the derivative at 0 is taken as 0.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func abs() -> Tensor { map { Swift.abs($0) } }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: abs)
    @usableFromInline
    func vjpAbs() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (map { Swift.abs($0) }, { v in
            v.isSymbolicZero ? .zero : v.zipWith(self) { g, x in x > 0 ? g : (x < 0 ? -g : 0) }
        })
    }

    /// x raised to a fixed power.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse, wrt: self)
    public func pow(_ exponent: Scalar) -> Tensor { map { Scalar.pow($0, exponent) } }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: pow, wrt: self)
    @usableFromInline
    func vjpPowScalar(_ exponent: Scalar) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (map { Scalar.pow($0, exponent) }, { v in
            v.isSymbolicZero ? .zero : v.zipWith(self) { g, x in g * exponent * Scalar.pow(x, exponent - 1) }
        })
    }

    /// x raised to a power elementwise, with broadcasting; x must be positive where the exponent is not an integer.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func pow(_ exponent: Tensor) -> Tensor { zipWith(exponent) { Scalar.pow($0, $1) } }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: pow)
    @usableFromInline
    func vjpPow(_ exponent: Tensor) -> (value: Tensor, pullback: (Tensor) -> (Tensor, Tensor)) {
        let y = zipWith(exponent) { Scalar.pow($0, $1) }
        return (y, { v in
            if v.isSymbolicZero { return (.zero, .zero) }
            let dx = v.multiplying(exponent.multiplying(self.zipWith(exponent) { Scalar.pow($0, $1 - 1) }))
            let logX = self.map { $0 > 0 ? Scalar.log($0) : 0 }
            let de = v.multiplying(y).multiplying(logX)
            return (dx.unbroadcast(to: self.shape), de.unbroadcast(toMatch: exponent))
        })
    }

    /// The logistic function 1 / (1 + e^−x).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func sigmoid() -> Tensor { applying(.sigmoid) }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: sigmoid)
    @usableFromInline
    func vjpSigmoid() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let y = applying(.sigmoid)
        return (y, { v in v.isSymbolicZero ? .zero : v.zipWith(y) { $0 * $1 * (1 - $1) } })
    }

    /// log σ(x) = −softplus(−x), finite for all finite x.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func logSigmoid() -> Tensor { -(-self).softplus() }

    /// softplus(x) = log(1 + eˣ), computed without overflow.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func softplus() -> Tensor { applying(.softplus) }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: softplus)
    @usableFromInline
    func vjpSoftplus() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (applying(.softplus), { v in v.isSymbolicZero ? .zero : v.multiplying(self.applying(.sigmoid)) })
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func tanh() -> Tensor { applying(.tanh) }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: tanh)
    @usableFromInline
    func vjpTanh() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let y = applying(.tanh)
        return (y, { v in v.isSymbolicZero ? .zero : v.zipWith(y) { $0 * (1 - $1 * $1) } })
    }

    /// max(x, 0); the derivative at 0 is taken as 0.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func relu() -> Tensor { map { $0 > 0 ? $0 : 0 } }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: relu)
    @usableFromInline
    func vjpRelu() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (map { $0 > 0 ? $0 : 0 }, { v in v.isSymbolicZero ? .zero : v.zipWith(self) { $1 > 0 ? $0 : 0 } })
    }

    /// x for x > 0, slope · x otherwise.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse, wrt: self)
    public func leakyRelu(slope: Scalar = 0.01) -> Tensor { map { $0 > 0 ? $0 : slope * $0 } }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: leakyRelu, wrt: self)
    @usableFromInline
    func vjpLeakyRelu(slope: Scalar) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (map { $0 > 0 ? $0 : slope * $0 }, { v in
            v.isSymbolicZero ? .zero : v.zipWith(self) { $1 > 0 ? $0 : slope * $0 }
        })
    }

    /// x for x > 0, α(eˣ − 1) otherwise.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse, wrt: self)
    public func elu(alpha: Scalar = 1) -> Tensor { map { $0 > 0 ? $0 : alpha * Scalar.expMinusOne($0) } }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: elu, wrt: self)
    @usableFromInline
    func vjpElu(alpha: Scalar) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let y = elu(alpha: alpha)
        return (y, { v in
            if v.isSymbolicZero { return .zero }
            var grad = v
            grad.scalars.withUnsafeMutableBufferPointer { g in
                for i in g.indices where self.scalars[i] <= 0 { g[i] *= y.scalars[i] + alpha }
            }
            return grad
        })
    }

    /// Each element limited to [lower, upper]; the gradient is zero where the bound is active.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse, wrt: self)
    public func clamped(to range: ClosedRange<Scalar>) -> Tensor {
        map { Swift.min(Swift.max($0, range.lowerBound), range.upperBound) }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: clamped, wrt: self)
    @usableFromInline
    func vjpClamped(to range: ClosedRange<Scalar>) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (clamped(to: range), { v in
            v.isSymbolicZero ? .zero : v.zipWith(self) { range.contains($1) ? $0 : 0 }
        })
    }

    /// log Γ(x).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func logGamma() -> Tensor { map { Scalar.logGamma($0) } }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: logGamma)
    @usableFromInline
    func vjpLogGamma() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (logGamma(), { v in v.isSymbolicZero ? .zero : v.multiplying(self.digamma()) })
    }

    /// ψ(x), the derivative of log Γ.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func digamma() -> Tensor { map { Scalar(SpecialFunctions.digamma(Double($0))) } }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: digamma)
    @usableFromInline
    func vjpDigamma() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (digamma(), { v in v.isSymbolicZero ? .zero : v.multiplying(self.trigamma()) })
    }

    /// ψ′(x), the derivative of the digamma function.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func trigamma() -> Tensor { map { Scalar(SpecialFunctions.trigamma(Double($0))) } }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: trigamma)
    @usableFromInline
    func vjpTrigamma() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (trigamma(), { v in
            v.isSymbolicZero ? .zero : v.multiplying(self.map { Scalar(SpecialFunctions.tetragamma(Double($0))) })
        })
    }

    /// r(x) = log Γ(x) − (x − ½) log x + x − ½ log 2π (see `SpecialFunctions.logGammaRemainder`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func logGammaRemainder() -> Tensor { map { Scalar(SpecialFunctions.logGammaRemainder(Double($0))) } }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: logGammaRemainder)
    @usableFromInline
    func vjpLogGammaRemainder() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (logGammaRemainder(), { v in v.isSymbolicZero ? .zero : v.multiplying(self.digammaRemainder().map { -$0 }) })
    }

    /// s(x) = log x − 1/(2x) − ψ(x) (see `SpecialFunctions.digammaRemainder`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func digammaRemainder() -> Tensor { map { Scalar(SpecialFunctions.digammaRemainder(Double($0))) } }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: digammaRemainder)
    @usableFromInline
    func vjpDigammaRemainder() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (digammaRemainder(), { v in
            v.isSymbolicZero ? .zero : v.multiplying(self.map { Scalar(SpecialFunctions.digammaRemainderDerivative(Double($0))) })
        })
    }

    /// (a/b)ᵖ − 1 − p log(a/b) elementwise, broadcasting, for positive a and b (see
    /// `SpecialFunctions.ratioDivergence`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse, wrt: (a, b))
    public static func ratioDivergence(_ a: Tensor, _ b: Tensor, power: Scalar = 1) -> Tensor {
        a.zipWith(b) { Scalar(SpecialFunctions.ratioDivergence(Double($0), Double($1), power: Double(power))) }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: ratioDivergence, wrt: (a, b))
    @usableFromInline
    static func vjpRatioDivergence(_ a: Tensor, _ b: Tensor, power: Scalar)
        -> (value: Tensor, pullback: (Tensor) -> (Tensor, Tensor))
    {
        // With r = a/b: ∂/∂a = p (rᵖ − 1)/a and ∂/∂b = −p (rᵖ − 1)/b.
        (ratioDivergence(a, b, power: power), { v in
            if v.isSymbolicZero { return (.zero, .zero) }
            let growth = a.zipWith(b) { x, y in power * Scalar(Foundation.pow(Double(x / y), Double(power)) - 1) }
            return (v.multiplying(growth).dividing(a).unbroadcast(toMatch: a),
                    v.multiplying(growth).dividing(b).map { -$0 }.unbroadcast(toMatch: b))
        })
    }

    /// a log(a/b) − a + b elementwise, broadcasting, for positive a and b (see `SpecialFunctions.generalizedKL`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public static func generalizedKL(_ a: Tensor, _ b: Tensor) -> Tensor {
        a.zipWith(b) { x, y in Scalar(SpecialFunctions.generalizedKL(Double(x), Double(y), difference: Double(y) - Double(x))) }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: generalizedKL)
    @usableFromInline
    static func vjpGeneralizedKL(_ a: Tensor, _ b: Tensor) -> (value: Tensor, pullback: (Tensor) -> (Tensor, Tensor)) {
        // ∂/∂a = log(a/b), ∂/∂b = 1 − a/b.
        (generalizedKL(a, b), { v in
            if v.isSymbolicZero { return (.zero, .zero) }
            let slope = a.zipWith(b) { 1 - $0 / $1 }
            return (v.multiplying(Tensor.logRatio(a, b)).unbroadcast(toMatch: a), v.multiplying(slope).unbroadcast(toMatch: b))
        })
    }

    /// eˣ − 1 − x, accurate near 0 (see `SpecialFunctions.expm1MinusIdentity`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func expm1MinusIdentity() -> Tensor { map { Scalar(SpecialFunctions.expm1MinusIdentity(Double($0))) } }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: expm1MinusIdentity)
    @usableFromInline
    func vjpExpm1MinusIdentity() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (expm1MinusIdentity(), { v in v.isSymbolicZero ? .zero : v.multiplying(self.applying(.expm1)) })
    }

    /// log(a / b) elementwise, broadcasting, for positive a and b: no overflow, full precision when a ≈ b.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public static func logRatio(_ a: Tensor, _ b: Tensor) -> Tensor {
        a.zipWith(b) { Scalar(SpecialFunctions.logRatio(Double($0), Double($1))) }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: logRatio)
    @usableFromInline
    static func vjpLogRatio(_ a: Tensor, _ b: Tensor) -> (value: Tensor, pullback: (Tensor) -> (Tensor, Tensor)) {
        (logRatio(a, b), { v in
            if v.isSymbolicZero { return (.zero, .zero) }
            return (v.dividing(a).unbroadcast(toMatch: a), v.dividing(b).map { -$0 }.unbroadcast(toMatch: b))
        })
    }

    /// The error function.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @differentiable(reverse)
    public func erf() -> Tensor { applying(.erf) }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @derivative(of: erf)
    @usableFromInline
    func vjpErf() -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        let scale = 2 / Scalar.pi.squareRoot()
        return (applying(.erf), { v in
            v.isSymbolicZero ? .zero : v.zipWith(self) { g, x in g * scale * Scalar.exp(-x * x) }
        })
    }
}

extension Tensor {
    /// A copy with `value` wherever `mask` is true (no gradient flows to those positions).
    @differentiable(reverse, wrt: self)
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func replacing(with value: Scalar, where mask: [Bool]) -> Tensor {
        require(mask.count == scalarCount, "replacing(with:where:): \(mask.count) mask entries for shape \(shape)")
        if !mask.contains(true) { return self }
        var values = scalars
        for i in values.indices where mask[i] { values[i] = value }
        return Tensor(shape: shape, scalars: values)
    }

    @derivative(of: replacing, wrt: self)
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @usableFromInline
    func vjpReplacing(with value: Scalar, where mask: [Bool]) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
        (replacing(with: value, where: mask), { v in
            if v.isSymbolicZero || !mask.contains(true) { return v }
            var grad = v.broadcastRaw(to: self.shape)
            grad.scalars.withUnsafeMutableBufferPointer { g in
                for i in g.indices where mask[i] { g[i] = 0 }
            }
            return grad
        })
    }
}

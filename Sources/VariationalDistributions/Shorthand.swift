import _Differentiation
import VariationalCore

// Unlabelled initialisers, in the order of the labelled ones, for writing models as briefly as they are written on
// paper: `Normal(0, 5)` for a prior, `Normal(mu + tau * theta, sigma)` for a likelihood.
//
// - With numbers (a prior's constants), the parameters are checked: an invalid one stops the program with a message
//   naming the distribution, the parameter, its value and the line of the call, in release builds too.
// - With tensors (parameters computed from latent variables inside a model), nothing is checked, as with the
//   `unchecked…` initialisers: a scale that underflows to 0 during a fit gives a log density of −∞ or NaN, which
//   the fit reports, rather than stopping the program.

/// Stops with the message of a failed parameter check, pointing at the caller's line.
func validated<D>(_ file: StaticString, _ line: UInt, _ make: () throws -> D) -> D {
    do {
        return try make()
    } catch {
        usageFailure("\(error)", file: file, line: line)
    }
}

extension Normal {
    public init(_ location: Scalar, _ scale: Scalar, file: StaticString = #fileID, line: UInt = #line) {
        self = validated(file, line) { try Normal(location: location, scale: scale) }
    }
    @differentiable(reverse)
    public init(_ location: Tensor<Scalar>, _ scale: Tensor<Scalar>) { self.init(uncheckedLocation: location, scale: scale) }
}

extension Cauchy {
    public init(_ location: Scalar, _ scale: Scalar, file: StaticString = #fileID, line: UInt = #line) {
        self = validated(file, line) { try Cauchy(location: Tensor(location), scale: Tensor(scale)) }
    }
    @differentiable(reverse)
    public init(_ location: Tensor<Scalar>, _ scale: Tensor<Scalar>) { self.init(uncheckedLocation: location, scale: scale) }
}

extension Laplace {
    public init(_ location: Scalar, _ scale: Scalar, file: StaticString = #fileID, line: UInt = #line) {
        self = validated(file, line) { try Laplace(location: Tensor(location), scale: Tensor(scale)) }
    }
    @differentiable(reverse)
    public init(_ location: Tensor<Scalar>, _ scale: Tensor<Scalar>) { self.init(uncheckedLocation: location, scale: scale) }
}

extension LogNormal {
    public init(_ location: Scalar, _ scale: Scalar, file: StaticString = #fileID, line: UInt = #line) {
        self = validated(file, line) { try LogNormal(location: Tensor(location), scale: Tensor(scale)) }
    }
    @differentiable(reverse)
    public init(_ location: Tensor<Scalar>, _ scale: Tensor<Scalar>) { self.init(uncheckedLocation: location, scale: scale) }
}

extension StudentT {
    public init(_ degreesOfFreedom: Scalar, _ location: Scalar, _ scale: Scalar, file: StaticString = #fileID, line: UInt = #line) {
        self = validated(file, line) {
            try StudentT(degreesOfFreedom: Tensor(degreesOfFreedom), location: Tensor(location), scale: Tensor(scale))
        }
    }
    @differentiable(reverse)
    public init(_ degreesOfFreedom: Tensor<Scalar>, _ location: Tensor<Scalar>, _ scale: Tensor<Scalar>) {
        self.init(uncheckedDegreesOfFreedom: degreesOfFreedom, location: location, scale: scale)
    }
}

extension HalfNormal {
    public init(_ scale: Scalar, file: StaticString = #fileID, line: UInt = #line) {
        self = validated(file, line) { try HalfNormal(scale: Tensor(scale)) }
    }
    @differentiable(reverse)
    public init(_ scale: Tensor<Scalar>) { self.init(uncheckedScale: scale) }
}

extension HalfCauchy {
    public init(_ scale: Scalar, file: StaticString = #fileID, line: UInt = #line) {
        self = validated(file, line) { try HalfCauchy(scale: Tensor(scale)) }
    }
    @differentiable(reverse)
    public init(_ scale: Tensor<Scalar>) { self.init(uncheckedScale: scale) }
}

extension Exponential {
    public init(_ rate: Scalar, file: StaticString = #fileID, line: UInt = #line) {
        self = validated(file, line) { try Exponential(rate: Tensor(rate)) }
    }
    @differentiable(reverse)
    public init(_ rate: Tensor<Scalar>) { self.init(uncheckedRate: rate) }
}

extension Gamma {
    /// Gamma(α, β) with shape α and rate β.
    public init(_ concentration: Scalar, _ rate: Scalar, file: StaticString = #fileID, line: UInt = #line) {
        self = validated(file, line) { try Gamma(concentration: Tensor(concentration), rate: Tensor(rate)) }
    }
    @differentiable(reverse)
    public init(_ concentration: Tensor<Scalar>, _ rate: Tensor<Scalar>) { self.init(uncheckedConcentration: concentration, rate: rate) }
}

extension InverseGamma {
    public init(_ concentration: Scalar, _ scale: Scalar, file: StaticString = #fileID, line: UInt = #line) {
        self = validated(file, line) { try InverseGamma(concentration: Tensor(concentration), scale: Tensor(scale)) }
    }
    @differentiable(reverse)
    public init(_ concentration: Tensor<Scalar>, _ scale: Tensor<Scalar>) { self.init(uncheckedConcentration: concentration, scale: scale) }
}

extension Beta {
    public init(_ alpha: Scalar, _ beta: Scalar, file: StaticString = #fileID, line: UInt = #line) {
        self = validated(file, line) { try Beta(alpha: Tensor(alpha), beta: Tensor(beta)) }
    }
    @differentiable(reverse)
    public init(_ alpha: Tensor<Scalar>, _ beta: Tensor<Scalar>) { self.init(uncheckedAlpha: alpha, beta: beta) }
}

extension Poisson {
    public init(_ rate: Scalar, file: StaticString = #fileID, line: UInt = #line) {
        self = validated(file, line) { try Poisson(rate: Tensor(rate)) }
    }
    @differentiable(reverse)
    public init(_ rate: Tensor<Scalar>) { self.init(uncheckedRate: rate) }
    /// Poisson(exp(η)): the log link of a Poisson regression. The distribution keeps η (see ``Poisson``).
    @differentiable(reverse)
    public init(logRate: Tensor<Scalar>) { self.init(uncheckedLogRate: logRate) }
}

// The tensor initialisers' derivatives, written out and specialised: these are the initialisers a model's likelihood
// calls at every step, and the derivatives differentiation derives for them are generic code that a model in another
// module runs unspecialised (eight schools' step spent 2.3k instructions in Normal's). Where the distribution's
// unchecked initialiser already has one (Normal, Student t, Poisson), that one serves.
extension Normal {
    @derivative(of: init(_:_:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpShorthand(_ location: Tensor<Scalar>, _ scale: Tensor<Scalar>) -> (value: Normal, pullback: (TangentVector) -> (Tensor<Scalar>, Tensor<Scalar>)) {
        vjpInit(uncheckedLocation: location, scale: scale)
    }
}

extension Cauchy {
    @derivative(of: init(_:_:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpShorthand(_ location: Tensor<Scalar>, _ scale: Tensor<Scalar>) -> (value: Cauchy, pullback: (TangentVector) -> (Tensor<Scalar>, Tensor<Scalar>)) {
        (Cauchy(uncheckedLocation: location, scale: scale), { v in (v.location, v.scale) })
    }
}

extension Laplace {
    @derivative(of: init(_:_:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpShorthand(_ location: Tensor<Scalar>, _ scale: Tensor<Scalar>) -> (value: Laplace, pullback: (TangentVector) -> (Tensor<Scalar>, Tensor<Scalar>)) {
        (Laplace(uncheckedLocation: location, scale: scale), { v in (v.location, v.scale) })
    }
}

extension LogNormal {
    @derivative(of: init(_:_:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpShorthand(_ location: Tensor<Scalar>, _ scale: Tensor<Scalar>) -> (value: LogNormal, pullback: (TangentVector) -> (Tensor<Scalar>, Tensor<Scalar>)) {
        (LogNormal(uncheckedLocation: location, scale: scale), { v in (v.base.location, v.base.scale) })
    }
}

extension StudentT {
    @derivative(of: init(_:_:_:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpShorthand(_ degreesOfFreedom: Tensor<Scalar>, _ location: Tensor<Scalar>, _ scale: Tensor<Scalar>) -> (value: StudentT, pullback: (TangentVector) -> (Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>)) {
        vjpInit(uncheckedDegreesOfFreedom: degreesOfFreedom, location: location, scale: scale)
    }
}

extension HalfNormal {
    @derivative(of: init(_:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpShorthand(_ scale: Tensor<Scalar>) -> (value: HalfNormal, pullback: (TangentVector) -> Tensor<Scalar>) {
        (HalfNormal(uncheckedScale: scale), { v in v.scale })
    }
}

extension HalfCauchy {
    @derivative(of: init(_:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpShorthand(_ scale: Tensor<Scalar>) -> (value: HalfCauchy, pullback: (TangentVector) -> Tensor<Scalar>) {
        (HalfCauchy(uncheckedScale: scale), { v in v.scale })
    }
}

extension Exponential {
    @derivative(of: init(_:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpShorthand(_ rate: Tensor<Scalar>) -> (value: Exponential, pullback: (TangentVector) -> Tensor<Scalar>) {
        (Exponential(uncheckedRate: rate), { v in v.rate })
    }
}

extension Gamma {
    @derivative(of: init(_:_:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpShorthand(_ concentration: Tensor<Scalar>, _ rate: Tensor<Scalar>) -> (value: Gamma, pullback: (TangentVector) -> (Tensor<Scalar>, Tensor<Scalar>)) {
        (Gamma(uncheckedConcentration: concentration, rate: rate), { v in (v.concentration, v.rate) })
    }
}

extension InverseGamma {
    @derivative(of: init(_:_:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpShorthand(_ concentration: Tensor<Scalar>, _ scale: Tensor<Scalar>) -> (value: InverseGamma, pullback: (TangentVector) -> (Tensor<Scalar>, Tensor<Scalar>)) {
        (InverseGamma(uncheckedConcentration: concentration, scale: scale), { v in (v.concentration, v.scale) })
    }
}

extension Beta {
    @derivative(of: init(_:_:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpShorthand(_ alpha: Tensor<Scalar>, _ beta: Tensor<Scalar>) -> (value: Beta, pullback: (TangentVector) -> (Tensor<Scalar>, Tensor<Scalar>)) {
        (Beta(uncheckedAlpha: alpha, beta: beta), { v in (v.alpha, v.beta) })
    }
}

extension Poisson {
    @derivative(of: init(_:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpShorthand(_ rate: Tensor<Scalar>) -> (value: Poisson, pullback: (TangentVector) -> Tensor<Scalar>) {
        vjpInit(parameter: rate, isLogRate: false)
    }
}

extension Poisson {
    @derivative(of: init(logRate:))
    @_specialize(where Scalar == Double)
    @_specialize(where Scalar == Float)
    @usableFromInline
    static func vjpShorthand(logRate: Tensor<Scalar>) -> (value: Poisson, pullback: (TangentVector) -> Tensor<Scalar>) {
        vjpInit(parameter: logRate, isLogRate: true)
    }
}

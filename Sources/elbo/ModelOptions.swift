import ArgumentParser
import Foundation
import Variational

/// The model, its data and its hyper-parameters, shared by `fit` and `explain`.
struct ModelOptions: ParsableArguments {
    @Option(help: "A CSV file with a header (or a NumPy .npy array). Without it, built-in simulated data.")
    var data: String?

    @Option(name: .customLong("prior-mean"), help: "Prior mean (normal priors). Default 0.")
    var priorMean: Double?

    @Option(name: .customLong("prior-sd"), help: "Prior standard deviation (normal priors). Default 10 (5 in eight-schools is fixed).")
    var priorSD: Double?

    @Option(name: .customLong("noise-sd"), help: "Known noise standard deviation. Default 1.")
    var noiseSD: Double?

    @Option(name: .customLong("prior-alpha"), help: "Prior shape: Beta(α, ·) in beta-bernoulli (default 1), Gamma shape in gamma-poisson (default 2), inverse-gamma shape in linear-regression-unknown-noise (default 2).")
    var priorAlpha: Double?

    @Option(name: .customLong("prior-beta"), help: "Prior rate or second shape: Beta(·, β) (default 1), Gamma rate (default 0.5), inverse-gamma scale (default 2).")
    var priorBeta: Double?

    @Flag(help: "Add a constant column to the regression features.")
    var intercept = false

    /// Reads the data (or the built-in data) for a model.
    func table(for model: BuiltInModel) throws -> DataTable {
        guard let path = data else { return model.builtInData() }
        return try DataTable.load(path: path, npyColumnNames: model.numPyColumnNames)
    }

    /// Flags that do not apply to a model are refused rather than silently ignored.
    func checkApplicable(to model: BuiltInModel) throws {
        let used: Set<String>
        switch model {
        case .normalNormal: used = ["prior-mean", "prior-sd", "noise-sd"]
        case .betaBernoulli, .gammaPoisson: used = ["prior-alpha", "prior-beta"]
        case .linearRegression: used = ["prior-mean", "prior-sd", "noise-sd", "intercept"]
        case .linearRegressionUnknownNoise: used = ["prior-mean", "prior-sd", "prior-alpha", "prior-beta", "intercept"]
        case .logisticRegression: used = ["prior-mean", "prior-sd", "intercept"]
        case .eightSchools: used = []
        case .gaussianMixture: used = ["prior-mean", "prior-sd", "noise-sd"]
        }
        let given: [(String, Bool)] = [
            ("prior-mean", priorMean != nil), ("prior-sd", priorSD != nil), ("noise-sd", noiseSD != nil),
            ("prior-alpha", priorAlpha != nil), ("prior-beta", priorBeta != nil), ("intercept", intercept),
        ]
        for (flag, isGiven) in given where isGiven && !used.contains(flag) {
            throw CommandError("--\(flag) does not apply to \(model.rawValue)")
        }
    }

    /// Builds the model and hands it to `visitor`.
    func withModel<V: ModelVisitor>(_ model: BuiltInModel, _ visitor: V) throws -> V.Result {
        try checkApplicable(to: model)
        let table = try table(for: model)
        let m0 = priorMean ?? 0
        let s0 = priorSD ?? 10
        let sigma = noiseSD ?? 1
        func x() throws -> [Double] { try table.column("x") }
        func regression() throws -> (Tensor<Double>, [Double]) {
            (try table.matrix(excluding: ["y"], intercept: intercept), try table.column("y"))
        }
        switch model {
        case .normalNormal:
            return try visitor.visit(NormalNormalModel(observations: x(), priorMean: m0, priorStandardDeviation: s0, noiseStandardDeviation: sigma), table)
        case .betaBernoulli:
            return try visitor.visit(BetaBernoulliModel(observations: x(), priorAlpha: priorAlpha ?? 1, priorBeta: priorBeta ?? 1), table)
        case .gammaPoisson:
            return try visitor.visit(GammaPoissonModel(observations: x(), priorAlpha: priorAlpha ?? 2, priorBeta: priorBeta ?? 0.5), table)
        case .linearRegression:
            let (features, y) = try regression()
            return try visitor.visit(LinearRegressionModel(features: features, responses: y, priorMean: m0, priorStandardDeviation: s0, noiseStandardDeviation: sigma), table)
        case .linearRegressionUnknownNoise:
            let (features, y) = try regression()
            return try visitor.visit(LinearRegressionUnknownNoiseModel(features: features, responses: y, priorMean: m0, priorStandardDeviation: s0, priorAlpha: priorAlpha ?? 2, priorBeta: priorBeta ?? 2), table)
        case .logisticRegression:
            let (features, y) = try regression()
            return try visitor.visit(LogisticRegressionModel(features: features, responses: y, priorMean: m0, priorStandardDeviation: s0), table)
        case .eightSchools:
            return try visitor.visit(EightSchoolsModel(effects: table.column("y"), standardErrors: table.column("sigma")), table)
        case .gaussianMixture:
            return try visitor.visit(GaussianMixtureModel(observations: x(), priorMean: m0, priorStandardDeviation: s0, noiseStandardDeviation: sigma), table)
        }
    }
}

/// Generic code over a built-in model whose type is chosen at run time.
protocol ModelVisitor {
    associatedtype Result
    func visit<M: ProbabilisticModel>(_ model: M, _ table: DataTable) throws -> Result
}

extension BuiltInModel: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument) }
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

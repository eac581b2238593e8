// Causes, by name, each error that a user's code can trigger inside the library, so that the tests can check the
// message a user gets — in a release build too, where Swift drops the messages of failed preconditions.
//
//     usage-errors CASE

import Variational

let zeros34 = Tensor<Double>(zeros: [3, 4])

/// Evaluates a model's log joint at the origin of its unconstrained space, as the first step of a fit does.
func evaluate<M: ProbabilisticModel>(_ model: M) {
    let theta = Tensor<Double>(zeros: [2, model.latentSpace.dimension])
    print(model.logJointUnconstrained(theta).scalars)
}

switch CommandLine.arguments.dropFirst().first ?? "" {
case "value-shape":
    print(Normal(zeros34, Tensor(1)).logProbability(of: Tensor(zeros: [5])))
case "tensor-shapes":
    print(Tensor<Double>(zeros: [3]) + Tensor(zeros: [4]))
case "rank-five":
    print(Tensor<Double>(zeros: [3, 4]).reshaped(to: [1, 1, 1, 3, 4]))
case "elements-count":
    print(Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3]))
case "huge-dimension":
    let dimension = Int(CommandLine.arguments.count) * 3_000_000_000  // not a literal: the shape is made at run time
    print(Tensor<Double>(zeros: [dimension]))
case "negative-dimension":
    print(Tensor<Double>(shape: [-1, 3], scalars: [1, 2, 3]))
case "deferred-elements":
    print(TensorElements<Double>.deferred(count: 0, rows: 1, rowSums: [0]) { _ in })
case "matmul-shapes":
    print(matmul(zeros34, zeros34))
case "discrete-prior":
    evaluate(Model([Latent("k", Poisson(3))]) { z in z["k"] })
case "prior-parameter":
    evaluate(Model([Latent("tau", HalfCauchy(-5))]) { z in z["tau"] })
case "prior-shape":
    evaluate(Model([Latent("beta", Normal(Tensor(zeros: [3]), Tensor(1)), shape: [4])]) { z in z["beta"] })
case "dependent-support":
    evaluate(Model([Latent("a", Normal(0, 1)), Latent("b") { z in Uniform(uncheckedLow: z["a"], high: z["a"] + 1) }]) { z in z["b"] })
case "unknown-latent":
    evaluate(Model([Latent("mu", Normal(0, 1))]) { z in Normal(z["mu"], z["sigma"]).logProbability(of: Tensor(1)) })
case "no-latents":
    evaluate(Model([]) { z in z.values })
case "duplicate-latents":
    evaluate(Model([Latent("mu", Normal(0, 1)), Latent("mu", Normal(0, 2))]) { z in z["mu"] })
case "batch-size":
    var configuration = SVIConfiguration()
    configuration.batchSize = 0
    let model = Model([Latent("mu", Normal(0, 1))], observationCount: 10) { z, _ in z["mu"] }
    _ = SVI(model: model, family: MeanFieldGaussian(dimension: 1), estimator: ReparameterizedELBO(), configuration: configuration)
default:
    print("usage: usage-errors value-shape|tensor-shapes|rank-five|elements-count|negative-dimension|huge-dimension|deferred-elements|matmul-shapes|discrete-prior|prior-parameter|prior-shape|dependent-support|unknown-latent|no-latents|duplicate-latents|batch-size")
}

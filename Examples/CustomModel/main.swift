// A Bayesian model of your own, fitted by variational inference. Copy this file and change the model.
//
// Run it:  swift run -c release custom-model-example
//
// The model: measurements y₁…yₙ of one quantity with unknown mean μ and unknown noise σ,
//     μ ~ Normal(0, 10),   σ ~ HalfNormal(5),   yᵢ ~ Normal(μ, σ).

import Foundation
import Variational

struct MeasurementModel: ProbabilisticModel {
    /// The data the model conditions on.
    let y: Tensor<Double>

    /// 1. Name the latent variables and say where they live. σ is positive: inference runs on log σ and
    ///    the log-Jacobian of σ = exp(log σ) is counted automatically.
    var latentSpace: LatentSpace {
        LatentSpace([
            LatentVariable("mu"),
            LatentVariable("sigma", support: .positive),
        ])
    }

    /// The number of observations (the likelihood of a minibatch is scaled by N/B).
    var observationCount: Int { y.scalarCount }

    /// 2. The log prior, one value per particle: z["mu"] has shape [particles].
    @differentiable(reverse)
    func logPrior(_ z: Latents) -> Tensor<Double> {
        Normal(uncheckedLocation: Tensor(0.0), scale: Tensor(10.0)).logProbability(of: z["mu"])
            + HalfNormal(uncheckedScale: Tensor(5.0)).logProbability(of: z["sigma"])
    }

    /// 3. The log likelihood of the observations `indices` (all of them when nil), one value per particle.
    @differentiable(reverse)
    func logLikelihood(_ z: Latents, observations indices: [Int]?) -> Tensor<Double> {
        let data = withoutDerivative(at: indices.map { y.gathering(atIndices: $0) } ?? y)
        let particles = withoutDerivative(at: z.particleCount)
        let n = withoutDerivative(at: data.scalarCount)
        // One normal per (particle, observation): location and scale broadcast to [particles, n].
        let mu = z["mu"].expandingShape(at: 1).broadcasted(to: [particles, n])
        let sigma = z["sigma"].expandingShape(at: 1).broadcasted(to: [particles, n])
        let values = data.expandingShape(at: 0).broadcasted(to: [particles, n])
        return Normal(uncheckedLocation: mu, scale: sigma).logProbability(of: values).sum(squeezingAxes: 1)
    }
}

// Simulated measurements: μ = 3, σ = 0.7.
var generator = SeededGenerator(seed: 1)
let measurements = Tensor<Double>(randomNormal: [40], mean: 3, standardDeviation: 0.7, using: &generator)
let model = MeasurementModel(y: measurements)

// 4. Choose a family and an estimator, and run SVI until the stopping rule holds.
var svi = SVI(
    model: model, family: FullRankGaussian(dimension: model.latentSpace.dimension),
    estimator: StickingTheLandingELBO(particleCount: 4))
let result = svi.run(using: &generator)

// 5. Check the fit: PSIS k̂, the importance-sampled evidence, posterior summaries.
let check = diagnose(model: model, family: result.family, using: &generator)
print("iterations \(result.iterations), converged \(result.converged)")
print(String(format: "ELBO %.3f ± %.3f, log p(y) ≈ %.3f ± %.3f, k̂ = %.2f (%@)",
             check.elbo, check.elboStandardError, check.logEvidence, check.logEvidenceStandardError,
             check.paretoK, check.paretoVerdict))
for name in ["mu", "sigma"] {
    let s = check.posterior[name]![0]
    print(String(format: "posterior %@: mean %.3f, sd %.3f, 90%% interval [%.3f, %.3f]", name, s.mean, s.standardDeviation, s.q05, s.q95))
}

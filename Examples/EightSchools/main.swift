// Eight schools (Rubin 1981), the non-centred hierarchical model, fitted by variational inference.
//
// Run it:  swift run -c release eight-schools-example
//
//     μ ~ Normal(0, 5),   τ ~ HalfCauchy(5),   θ̃ⱼ ~ Normal(0, 1),   yⱼ ~ Normal(μ + τ θ̃ⱼ, σⱼ),   j = 1…8
//
// yⱼ is the estimated effect of coaching in school j and σⱼ its standard error.

import Variational

let y = Tensor<Double>([28, 8, -3, 7, -1, 1, 18, 12])
let sigma = Tensor<Double>([15, 10, 16, 11, 9, 11, 10, 18])

// The model. Each latent is declared once, with its prior; τ's support (τ ≥ 0) follows from HalfCauchy, so
// inference runs on log τ and counts the log-Jacobian. z["mu"] and z["tau"] are columns [particles, 1] and
// z["theta_tilde"] is [particles, 8]: the location broadcasts to [particles, 8], one normal per school, and the
// log likelihood is summed over the schools for each particle.
let model = Model([
    Latent("mu", Normal(0, 5)), Latent("tau", HalfCauchy(5)), Latent("theta_tilde", Normal(0, 1), shape: [8]),
]) { z in Normal(z["mu"] + z["tau"] * z["theta_tilde"], sigma).logProbability(of: y) }

// A full-rank Gaussian over (μ, log τ, θ̃), trained with the sticking-the-landing estimator until the stopping rule
// holds; then the posterior, the ELBO, the importance-sampled evidence and PSIS k̂ from 20,000 draws of q.
var generator = SeededGenerator(seed: 1)
var svi = SVI(model: model, family: FullRankGaussian(dimension: model.latentSpace.dimension),
              estimator: StickingTheLandingELBO(particleCount: 4))
let result = svi.run(using: &generator)
print("converged \(result.converged) after \(result.iterations) steps")
print(diagnose(model: model, family: result.family, drawCount: 20_000, using: &generator).summary(of: model))

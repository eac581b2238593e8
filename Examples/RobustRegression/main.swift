// A robust linear regression: Student-t noise of unknown scale and degrees of freedom, so that outliers pull the
// line less than under normal noise. Fitted by variational inference.
//
// Run it:  swift run -c release robust-regression-example [--write-data FILE.csv]
//
//     α ~ Normal(0, 10),   β ~ Normal(0, 10) (2 coefficients),   σ ~ HalfNormal(2),   ν ~ Gamma(2, 0.1),
//     yᵢ ~ StudentT(ν, α + xᵢ · β, σ),   i = 1…100
//
// The data are simulated with a fixed seed (t noise with 3 degrees of freedom); --write-data writes them as CSV
// (columns x1, x2, y).

import Foundation
import Variational

var generator = SeededGenerator(seed: 11)
let (n, d) = (100, 2)
let x = Tensor<Double>(randomNormal: [n, d], using: &generator)
let noise = StudentT(Tensor<Double>(3), Tensor(0), Tensor(0.5)).sample(sampleShape: [n], using: &generator)
let y = matmul(x, Tensor(shape: [d, 1], scalars: [2, -1])).reshaped(to: [n]) + 1 + noise
let xT = x.transposed()  // [2, 100]

// The model: ν and σ are positive (their priors say so), and every parameter of the Student t broadcasts to
// [particles, 100].
let model = Model([
    Latent("alpha", Normal(0, 10)), Latent("beta", Normal(0, 10), shape: [d]),
    Latent("sigma", HalfNormal(2)), Latent("nu", Gamma(2, 0.1)),
]) { z in StudentT(z["nu"], z["alpha"] + matmul(z["beta"], xT), z["sigma"]).logProbability(of: y) }

if let i = CommandLine.arguments.firstIndex(of: "--write-data"), i + 1 < CommandLine.arguments.count {
    let rows = (0..<n).map { r in (0..<d).map { x[r, $0] } + [y[r]] }
    try DataTable(columnNames: (1...d).map { "x\($0)" } + ["y"], rows: rows, source: "")
        .csv.write(toFile: CommandLine.arguments[i + 1], atomically: true, encoding: .utf8)
}

var svi = SVI(model: model, family: FullRankGaussian(dimension: model.latentSpace.dimension),
              estimator: StickingTheLandingELBO(particleCount: 4))
let result = svi.run(using: &generator)
print("converged \(result.converged) after \(result.iterations) steps")
print(diagnose(model: model, family: result.family, drawCount: 20_000, using: &generator).summary(of: model))

// A Poisson regression with a log link, fitted by variational inference.
//
// Run it:  swift run -c release poisson-regression-example [--write-data FILE.csv]
//
//     α ~ Normal(0, 5),   β ~ Normal(0, 1) (5 coefficients),   yᵢ ~ Poisson(exp(α + xᵢ · β)),   i = 1…500
//
// The data are simulated with a fixed seed; --write-data writes them as CSV (columns x1…x5, y).

import Foundation
import Variational

var generator = SeededGenerator(seed: 7)
let (n, d) = (500, 5)
let x = Tensor<Double>(randomNormal: [n, d], standardDeviation: 0.5, using: &generator)
let trueCoefficients = Tensor<Double>(shape: [d, 1], scalars: [0.6, -0.4, 0.3, 0, 0.5])
let y = Poisson(logRate: matmul(x, trueCoefficients).reshaped(to: [n]) + 0.8).sample(using: &generator)
let xT = x.transposed()  // [5, 500]

// The model: z["beta"] is [particles, 5], so matmul(z["beta"], xT) is [particles, 500], and the intercept
// z["alpha"], a column [particles, 1], broadcasts across the observations.
let model = Model([Latent("alpha", Normal(0, 5)), Latent("beta", Normal(0, 1), shape: [d])]) { z in
    Poisson(logRate: z["alpha"] + matmul(z["beta"], xT)).logProbability(of: y)
}

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

import Foundation
import Variational

/// `elbo explain --model diffusion`: a diffusion model is a VAE with T latent layers whose encoder is fixed; on
/// one-dimensional Gaussian data every term of its ELBO is known in closed form.
struct DiffusionExplanation {
    static let (dataMean, dataSD, finalSignal) = (1.5, 0.8, 1e-4)
    static let chainLengths = [1, 2, 5, 10, 20, 50, 100, 1000, 10_000]

    let steps: Int
    /// E[ELBO] with DDPM's σ² = β, E[log p(x₀)] of that model, E[ELBO] with the true reverse variances, per T.
    let rows: [(steps: Int, ddpm: Double, logLikelihood: Double, optimal: Double)]
    let negativeEntropy: Double
    let chain: GaussianDiffusion
    let priorMatching: Double, denoising: Double, reconstruction: Double
    /// t, w_t, E(ε − ε̂)², C_t, L_{t−1}, each averaged over the data.
    let reweighting: [(t: Int, weight: Double, squaredError: Double, constant: Double, term: Double)]

    init(steps: Int) throws {
        self.steps = steps
        var rows: [(Int, Double, Double, Double)] = []
        for t in Self.chainLengths {
            let ddpm = try GaussianDiffusion(dataMean: Self.dataMean, dataStandardDeviation: Self.dataSD, steps: t, finalSignal: Self.finalSignal)
            let best = try GaussianDiffusion(
                dataMean: Self.dataMean, dataStandardDeviation: Self.dataSD, steps: t, finalSignal: Self.finalSignal, reverseVariance: .optimal)
            rows.append((t, ddpm.overData { ddpm.terms($0).elbo }, ddpm.overData(ddpm.logLikelihood), best.overData { best.terms($0).elbo }))
        }
        self.rows = rows
        let chain = try GaussianDiffusion(dataMean: Self.dataMean, dataStandardDeviation: Self.dataSD, steps: steps, finalSignal: Self.finalSignal)
        self.chain = chain
        negativeEntropy = chain.dataNegativeEntropy
        priorMatching = chain.overData { chain.terms($0).priorMatching }
        denoising = chain.overData { chain.terms($0).denoising.reduce(0, +) }
        reconstruction = chain.overData { chain.terms($0).reconstruction }
        let shown = Array(Set([2, 3, steps / 100, steps / 10, steps / 2, steps].filter { $0 >= 2 && $0 <= steps })).sorted()
        reweighting = shown.map { t in
            let view = chain.noisePrediction(t, Self.dataMean)
            return (t, view.weight, chain.overData { chain.noisePrediction(t, $0).squaredError }, view.constant,
                    chain.overData { chain.terms($0).denoising[t - 2] })
        }
    }

    var text: String {
        func number(_ value: Double) -> String { String(format: "%.9f", value) }
        func padded(_ text: String, _ width: Int) -> String { text.padding(toLength: Swift.max(width, text.count), withPad: " ", startingAt: 0) }
        var lines: [String] = []
        lines.append("A diffusion model is a VAE with T latent layers x₁ … x_T whose encoder is fixed: the forward chain")
        lines.append("q(x_t | x_{t−1}) = N(√(1 − β) x_{t−1}, β), here on data x₀ ~ N(\(Self.dataMean), \(Self.dataSD)²), with β chosen so that")
        lines.append("ᾱ_T = (1 − β)^T = \(Self.finalSignal) for every T. The decoder is the reverse chain p(x_T) = N(0, 1),")
        lines.append("p(x_{t−1} | x_t) = N(a_t x_t + b_t, σ_t²). For Gaussian data the best reverse mean is linear and known:")
        lines.append("a_t x_t + b_t = E_q[x_{t−1} | x_t]. So every term below is exact (nats, averaged over the data).")
        lines.append("")
        lines.append("1. The ELBO against the number of steps T")
        lines.append("   " + padded("T", 8) + padded("ELBO, σ_t² = β (DDPM)", 24) + padded("log p(x₀), same model", 24) + "ELBO, σ_t² = Var_q(x_{t−1} | x_t)")
        for row in rows {
            lines.append("   " + padded("\(row.steps)", 8) + padded(number(row.ddpm), 24) + padded(number(row.logLikelihood), 24) + number(row.optimal))
        }
        lines.append("   −H(data) = E log N(x₀; μ, s²)          \(number(negativeEntropy))")
        lines.append("")
        lines.append("   With DDPM's fixed variances the bound rises towards −H(data) as the chain grows: many small Gaussian")
        lines.append("   steps can follow the true reverse process, a few large ones cannot. With the true reverse variances the")
        lines.append("   reverse chain is the forward chain run backwards, and the only loss at any T is p(x_T) = N(0, 1) in place")
        lines.append("   of q(x_T): \(String(format: "%.2e", negativeEntropy - rows[0].optimal)) nats.")
        lines.append("")
        lines.append("2. The terms of the bound at T = \(steps) (σ_t² = β)")
        lines.append("   L_T = KL(q(x_T | x₀) ‖ N(0, 1))                 \(number(priorMatching))")
        lines.append("   Σ_{t=2}^T L_{t−1} = Σ E KL(q(x_{t−1} | x_t, x₀) ‖ p(x_{t−1} | x_t))  \(number(denoising))")
        lines.append("   L₀ = −E log p(x₀ | x₁)                          \(number(reconstruction))")
        lines.append("   ELBO = −(L_T + Σ L_{t−1} + L₀)                  \(number(-(priorMatching + denoising + reconstruction)))")
        if !reweighting.isEmpty {
            lines.append("")
            lines.append("3. The simplified loss is a reweighting of the bound")
            lines.append("   Writing the mean through a noise predictor, μ(x_t) = (x_t − β/√(1 − ᾱ_t) ε̂(x_t))/√(1 − β), each term is")
            lines.append("   L_{t−1} = C_t + w_t E(ε − ε̂)²,  w_t = β²/(2σ_t² (1 − β)(1 − ᾱ_t)),  C_t from the variances alone.")
            lines.append("   DDPM's L_simple = Σ_t E(ε − ε̂)² drops w_t: the same minimiser per step, other weights between steps.")
            lines.append("   " + padded("t", 8) + padded("w_t", 14) + padded("E(ε − ε̂)²", 14) + padded("C_t", 14) + padded("C_t + w_t E(ε − ε̂)²", 22) + "L_{t−1} as a KL")
            for row in reweighting {
                lines.append("   " + padded("\(row.t)", 8) + padded(String(format: "%.6g", row.weight), 14) + padded(String(format: "%.6g", row.squaredError), 14)
                             + padded(String(format: "%.6g", row.constant), 14) + padded(String(format: "%.9g", row.constant + row.weight * row.squaredError), 22)
                             + String(format: "%.9g", row.term))
            }
        }
        return lines.joined(separator: "\n")
    }

    var json: String {
        let object: [String: Any] = [
            "data_mean": Self.dataMean, "data_sd": Self.dataSD, "final_signal": Self.finalSignal, "negative_entropy": negativeEntropy,
            "by_steps": rows.map { ["steps": $0.steps, "elbo_ddpm": $0.ddpm, "log_likelihood_ddpm": $0.logLikelihood, "elbo_optimal_variance": $0.optimal] },
            "steps": steps, "prior_matching": priorMatching, "denoising": denoising, "reconstruction": reconstruction,
            "reweighting": reweighting.map { ["t": $0.t, "weight": $0.weight, "squared_error": $0.squaredError, "constant": $0.constant, "term": $0.term] },
        ]
        return JSONText.serialize(object)
    }
}

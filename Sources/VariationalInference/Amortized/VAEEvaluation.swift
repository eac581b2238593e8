import _Differentiation
import Foundation
import VariationalCore
import VariationalData

/// What one pass over the training data gave.
public struct EpochSummary: Sendable {
    /// The mean loss per datapoint over the pass's accepted steps (each step's batch weighted by its size).
    public var meanLoss: Double
    public var acceptedSteps: Int
    public var rejectedSteps: Int
    public var seconds: Double
}

extension Trainer where Problem.Batch == Tensor<Problem.Scalar> {
    /// One pass over `stream` in a seeded order. `beforeStep` may adjust the estimator (a KL warm-up) from the
    /// trainer's step count; `progress` hears (batch number, batches, running mean loss) after each step.
    public mutating func trainEpoch<G: RandomNumberGenerator>(
        on stream: MinibatchStream, using generator: inout G,
        beforeStep: ((inout Estimator, Int) -> Void)? = nil,
        progress: ((Int, Int, Double) -> Void)? = nil
    ) -> EpochSummary {
        let start = DispatchTime.now().uptimeNanoseconds
        let order = stream.order(using: &generator)
        var (total, seen, accepted, rejected) = (0.0, 0, 0, 0)
        for number in 0..<stream.batchesPerEpoch {
            let batch: Tensor<Problem.Scalar> = stream.batch(number, of: order, using: &generator)
            beforeStep?(&estimator, iteration)
            let outcome = step(on: batch, using: &generator)
            if outcome.accepted {
                total += outcome.loss * Double(batch.shape[0])
                seen += batch.shape[0]
                accepted += 1
            } else {
                rejected += 1
            }
            progress?(number + 1, stream.batchesPerEpoch, seen > 0 ? total / Double(seen) : .nan)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return EpochSummary(meanLoss: seen > 0 ? total / Double(seen) : .nan, acceptedSteps: accepted, rejectedSteps: rejected, seconds: seconds)
    }
}

/// A model with latents of its own for each datapoint and an amortised posterior (a VAE, with one or more
/// stochastic layers): what evaluation, sampling and reconstruction need beyond training.
public protocol AmortizedModel: VariationalProblem where Batch == Tensor<Scalar> {
    /// For each stochastic layer, each datapoint's KL term (unit by unit where it separates) and its posterior mean
    /// E_q[z | x]; where they are not in closed form, estimates from `particles` draws.
    func latentUsage<G: RandomNumberGenerator>(of x: Tensor<Scalar>, particles: Int, using generator: inout G) -> [LatentLayerUsage<Scalar>]
    /// The decoder's means at `count` draws from the prior: [count, D].
    func samples<G: RandomNumberGenerator>(count: Int, using generator: inout G) -> Tensor<Scalar>
    /// The decoder's means at the posterior mean of the lowest layer: [B, D].
    func reconstructions(of x: Tensor<Scalar>) -> Tensor<Scalar>
}

/// One stochastic layer's use of its units for a batch.
public struct LatentLayerUsage<Scalar: TensorScalar> {
    /// The layer's KL term per datapoint, [B].
    public var kl: Tensor<Scalar>
    /// The same per datapoint and unit, [B, L], where it separates over units (nil for a mixture prior).
    public var klPerUnit: Tensor<Scalar>?
    /// E_q[z | x], [B, units] (for categorical latents, the class probabilities of each).
    public var posteriorMean: Tensor<Scalar>

    public init(kl: Tensor<Scalar>, posteriorMean: Tensor<Scalar>) {
        self.kl = kl
        self.klPerUnit = nil
        self.posteriorMean = posteriorMean
    }

    public init(klPerUnit: Tensor<Scalar>, posteriorMean: Tensor<Scalar>) {
        self.kl = klPerUnit.sum(squeezingAxes: 1)
        self.klPerUnit = klPerUnit
        self.posteriorMean = posteriorMean
    }
}

extension VariationalAutoencoder: AmortizedModel {
    /// KL(q(z | x) ‖ N(0, I)) unit by unit in closed form, and μ(x).
    public func latentUsage<G: RandomNumberGenerator>(of x: Tensor<Scalar>, particles: Int, using generator: inout G) -> [LatentLayerUsage<Scalar>] {
        let q = encoder.posterior(given: x)
        return [LatentLayerUsage(klPerUnit: q.klToStandardNormal(), posteriorMean: q.mean)]
    }

    public func samples<G: RandomNumberGenerator>(count: Int, using generator: inout G) -> Tensor<Scalar> {
        decoder.mean(given: Tensor(randomNormal: [count, latentDimension], using: &generator))
    }

    public func reconstructions(of x: Tensor<Scalar>) -> Tensor<Scalar> { decoder.mean(given: encoder.posterior(given: x).mean) }
}

/// One stochastic layer's use of its units over a data set.
public struct LatentLayerEvaluation: Sendable, Codable {
    /// The layer's KL term, averaged over the data (for one layer: KL(q(z | x) ‖ p(z))).
    public var kl: Double
    /// The same unit by unit, where it separates over units (empty otherwise).
    public var klPerUnit: [Double]
    /// Cov_x(E_q[z_j | x]) per unit; a unit is active when it exceeds 0.01 (Burda et al. 2016).
    public var activityPerUnit: [Double]
    public var activeUnits: Int { activityPerUnit.filter { $0 > 0.01 }.count }
}

/// Held-out measures of a trained VAE, per datapoint, in nats.
public struct VAEEvaluation: Sendable, Codable {
    /// The ELBO (one particle per datapoint, Monte Carlo over the data).
    public var elbo: Double
    /// The importance-weighted bound for each k asked for.
    public var importanceWeightedBounds: [Int: Double]
    /// −log p(x) estimated by the importance-weighted bound with the largest k (5000 in the papers).
    public var negativeLogLikelihood: Double?
    /// The units' use, layer by layer (the one nearest the data first).
    public var layers: [LatentLayerEvaluation]
    /// For a model trained on relaxed discrete latents: the relaxed objective's ELBO at the training temperature
    /// (`elbo` is the discrete model's).
    public var relaxedELBO: Double?
    public var activeUnits: Int { layers.reduce(0) { $0 + $1.activeUnits } }
}

extension AmortizedModel {
    /// The mean per datapoint of the k-particle importance-weighted bound over `data` (k = 1: the ELBO), in
    /// batches of at most `maxRows` decoder rows.
    public func meanImportanceWeightedBound<G: RandomNumberGenerator>(
        on data: ImageDataset, particles k: Int, binarization: Binarization, maxRows: Int = 20_000, using generator: inout G
    ) -> Double {
        -meanLoss(of: ImportanceWeightedELBO(particleCount: k), on: data, binarization: binarization, maxRows: maxRows, using: &generator)
    }

    /// The mean per datapoint of an estimator's loss over `data` in order, in batches of at most `maxRows` rows of
    /// particles.
    public func meanLoss<E: ELBOEstimator, G: RandomNumberGenerator>(
        of estimator: E, on data: ImageDataset, binarization: Binarization, maxRows: Int = 20_000, using generator: inout G
    ) -> Double {
        let batchSize = Swift.max(1, Swift.min(data.count, maxRows / estimator.particleCount))
        let stream = MinibatchStream(dataset: data, batchSize: batchSize, binarization: binarization)
        let order = Array(0..<data.count)
        var total = 0.0
        for number in 0..<stream.batchesPerEpoch {
            let x: Tensor<Scalar> = stream.batch(number, of: order, using: &generator)
            let noise = sampleNoise(particles: estimator.particleCount, batch: x, using: &generator)
            total += Double(estimator.loss(problem: self, noise: noise, batch: x).scalar) * Double(x.shape[0])
        }
        return total / Double(data.count)
    }

    /// Each layer's KL per unit and each unit's activity over `data`; estimates where they are not in closed
    /// form use `particles` draws per datapoint.
    public func latentUsage<G: RandomNumberGenerator>(
        on data: ImageDataset, binarization: Binarization, batchSize: Int = 1000, particles: Int = 10, using generator: inout G
    ) -> [LatentLayerEvaluation] {
        var kl: [Double] = [], perUnit: [[Double]] = [], sum: [[Double]] = [], sumOfSquares: [[Double]] = []
        let stream = MinibatchStream(dataset: data, batchSize: batchSize, binarization: binarization)
        let order = Array(0..<data.count)
        for number in 0..<stream.batchesPerEpoch {
            let x: Tensor<Scalar> = stream.batch(number, of: order, using: &generator)
            for (layer, usage) in latentUsage(of: x, particles: particles, using: &generator).enumerated() {
                let (units, klUnits) = (usage.posteriorMean.shape[1], usage.klPerUnit?.shape[1] ?? 0)
                if layer == kl.count {
                    kl.append(0)
                    perUnit.append([Double](repeating: 0, count: klUnits))
                    sum.append([Double](repeating: 0, count: units))
                    sumOfSquares.append(sum[layer])
                }
                kl[layer] += usage.kl.scalars.reduce(0) { $0 + Double($1) }
                if let values = usage.klPerUnit?.scalars {
                    for (i, value) in values.enumerated() { perUnit[layer][i % klUnits] += Double(value) }
                }
                let mean = usage.posteriorMean.scalars
                for (i, value) in mean.enumerated() {
                    let m = Double(value)
                    sum[layer][i % units] += m
                    sumOfSquares[layer][i % units] += m * m
                }
            }
        }
        let n = Double(data.count)
        return kl.indices.map { layer in
            LatentLayerEvaluation(
                kl: kl[layer] / n, klPerUnit: perUnit[layer].map { $0 / n },
                activityPerUnit: sum[layer].indices.map { sumOfSquares[layer][$0] / n - (sum[layer][$0] / n) * (sum[layer][$0] / n) })
        }
    }

    /// The ELBO, the importance-weighted bounds for `ks` and the latent units' use on `data`.
    public func evaluate<G: RandomNumberGenerator>(
        on data: ImageDataset, ks: [Int], binarization: Binarization, using generator: inout G
    ) -> VAEEvaluation {
        // The bound with k = 1 is the ELBO: computed once, whether or not it was asked for among the ks.
        var bounds: [Int: Double] = [:]
        for k in Set(ks + [1]).sorted() {
            bounds[k] = meanImportanceWeightedBound(on: data, particles: k, binarization: binarization, using: &generator)
        }
        let elbo = bounds[1]!
        if !ks.contains(1) { bounds[1] = nil }
        return VAEEvaluation(
            elbo: elbo, importanceWeightedBounds: bounds, negativeLogLikelihood: ks.max().flatMap { bounds[$0].map { -$0 } },
            layers: latentUsage(on: data, binarization: binarization, using: &generator))
    }
}

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

/// Held-out measures of a trained VAE, per datapoint, in nats.
public struct VAEEvaluation: Sendable, Codable {
    /// The ELBO (one particle per datapoint, Monte Carlo over the data).
    public var elbo: Double
    /// The importance-weighted bound for each k asked for.
    public var importanceWeightedBounds: [Int: Double]
    /// −log p(x) estimated by the importance-weighted bound with the largest k (5000 in the papers).
    public var negativeLogLikelihood: Double?
    /// KL(q(z | x) ‖ p(z)) per latent unit, averaged over the data.
    public var klPerUnit: [Double]
    /// Cov_x(E_q[z_j | x]) per unit; a unit is active when it exceeds 0.01 (Burda et al. 2016).
    public var activityPerUnit: [Double]
    public var activeUnits: Int { activityPerUnit.filter { $0 > 0.01 }.count }
}

extension VariationalAutoencoder {
    /// The mean per datapoint of the k-particle importance-weighted bound over `data` (k = 1: the ELBO), in
    /// batches of at most `maxRows` decoder rows.
    public func meanImportanceWeightedBound<G: RandomNumberGenerator>(
        on data: ImageDataset, particles k: Int, binarization: Binarization, maxRows: Int = 20_000, using generator: inout G
    ) -> Double {
        let batchSize = Swift.max(1, Swift.min(data.count, maxRows / k))
        let stream = MinibatchStream(dataset: data, batchSize: batchSize, binarization: binarization)
        let order = Array(0..<data.count)
        var total = 0.0
        for number in 0..<stream.batchesPerEpoch {
            let x: Tensor<Scalar> = stream.batch(number, of: order, using: &generator)
            let noise = sampleNoise(particles: k, batch: x, using: &generator)
            let loss = ImportanceWeightedELBO(particleCount: k).loss(problem: self, noise: noise, batch: x)
            total += -Double(loss.scalar) * Double(x.shape[0])
        }
        return total / Double(data.count)
    }

    /// The KL per unit and each unit's activity over `data`.
    public func latentUsage<G: RandomNumberGenerator>(
        on data: ImageDataset, binarization: Binarization, batchSize: Int = 1000, using generator: inout G
    ) -> (klPerUnit: [Double], activity: [Double]) {
        let l = latentDimension
        var kl = [Double](repeating: 0, count: l)
        var sum = [Double](repeating: 0, count: l)
        var sumOfSquares = [Double](repeating: 0, count: l)
        let stream = MinibatchStream(dataset: data, batchSize: batchSize, binarization: binarization)
        let order = Array(0..<data.count)
        for number in 0..<stream.batchesPerEpoch {
            let x: Tensor<Scalar> = stream.batch(number, of: order, using: &generator)
            let q = encoder.posterior(given: x)
            let perUnit = q.klToStandardNormal().scalars
            let mean = q.mean.scalars
            for i in 0..<x.shape[0] {
                for j in 0..<l {
                    kl[j] += Double(perUnit[i * l + j])
                    let m = Double(mean[i * l + j])
                    sum[j] += m
                    sumOfSquares[j] += m * m
                }
            }
        }
        let n = Double(data.count)
        return (kl.map { $0 / n }, (0..<l).map { sumOfSquares[$0] / n - (sum[$0] / n) * (sum[$0] / n) })
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
        let usage = latentUsage(on: data, binarization: binarization, using: &generator)
        return VAEEvaluation(
            elbo: elbo, importanceWeightedBounds: bounds, negativeLogLikelihood: ks.max().flatMap { bounds[$0].map { -$0 } },
            klPerUnit: usage.klPerUnit, activityPerUnit: usage.activity)
    }
}

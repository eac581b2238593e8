import ArgumentParser
import Foundation
import Variational

/// `elbo vae eval DIR`: the held-out measures of a trained VAE on the test set.
struct VAEEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a trained VAE on its test set: ELBO, importance-weighted bounds, NLL, active units.")

    @Argument(help: "The run's folder (from elbo vae train --out).")
    var directory: String

    @Option(name: .customLong("k"), help: "Importance samples of the NLL estimate (default 5000, as the papers).")
    var nllSamples: Int = 5000

    @Option(help: "Evaluate the first N test images only (default: all).")
    var limit: Int?

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        if nllSamples < 1 { throw CommandError("--k must be at least 1, got \(nllSamples)") }
        if let limit, limit < 1 { throw CommandError("--limit must be at least 1, got \(limit)") }
    }

    func run() throws {
        let record = try VAERunRecord.read(from: directory)
        let data = try VAEData.load(record.configuration)
        let test = limit.map { data.test.subset(0..<Swift.min($0, data.test.count)) } ?? data.test
        let ks = [1, 5, 50].filter { $0 < nllSamples } + [nllSamples]
        if record.configuration.diffusionSteps != nil {
            let bound = try record.configuration.withModel(train: data.train, BoundEvaluator(directory: directory, test: test, configuration: record.configuration, train: data.train))
            if json {
                print(JSONText.serialize(["test_images": test.count, "negative_elbo": bound.nats, "bits_per_dimension": bound.bitsPerDimension, "epochs": record.history.count] as [String: Any]))
            } else {
                print("\(directory): \(record.history.count) epochs, \(test.count) test images")
                print(String(format: "  −ELBO, every step of the chain     %10.3f nats per image", bound.nats))
                print(String(format: "  in bits per dimension              %10.4f", bound.bitsPerDimension))
            }
            return
        }
        let evaluation = try record.configuration.withModel(
            train: data.train,
            Evaluator(directory: directory, test: test, ks: ks, configuration: record.configuration, train: data.train, history: record.history))
        if json {
            var object: [String: Any] = [
                "test_images": test.count, "elbo": evaluation.elbo, "active_units": evaluation.activeUnits,
                "layers": evaluation.layers.map { layer -> [String: Any] in
                    ["kl": layer.kl, "active_units": layer.activeUnits, "kl_per_unit": layer.klPerUnit, "activity_per_unit": layer.activityPerUnit]
                },
                "epochs": record.history.count,
            ]
            object["importance_weighted_bounds"] = Dictionary(uniqueKeysWithValues: evaluation.importanceWeightedBounds.map { ("\($0.key)", $0.value) })
            object["nll"] = evaluation.negativeLogLikelihood
            object["nll_samples"] = nllSamples
            if let relaxed = evaluation.relaxedELBO {
                object["relaxed_elbo"] = relaxed
                object["temperature"] = record.history.last?.temperature
            }
            print(JSONText.serialize(object))
            return
        }
        print("\(directory): \(record.history.count) epochs, \(test.count) test images (nats per image)")
        print(String(format: "  ELBO                                 %10.3f", evaluation.elbo))
        for k in ks {
            print(String(format: "  importance-weighted bound, k = %-5d %10.3f", k, evaluation.importanceWeightedBounds[k]!))
        }
        if let relaxed = evaluation.relaxedELBO, let temperature = record.history.last?.temperature {
            print(String(format: "  relaxed ELBO (τ = %.3f)               %10.3f   (the discrete ELBO minus this: %.3f)", temperature, relaxed, evaluation.elbo - relaxed))
        }
        if let nll = evaluation.negativeLogLikelihood { print(String(format: "  NLL estimate (k = %d)                %10.3f", nllSamples, nll)) }
        for (number, layer) in evaluation.layers.enumerated() {
            let name = evaluation.layers.count == 1 ? "" : "layer \(number + 1): "
            print("  \(name)active units \(layer.activeUnits) of \(layer.activityPerUnit.count) (Cov_x E[z|x] > 0.01), KL \(String(format: "%.3f", layer.kl))")
            if !layer.klPerUnit.isEmpty {
                print("  \(name)KL per unit  " + layer.klPerUnit.map { String(format: "%.2f", $0) }.joined(separator: " "))
            }
        }
    }

    struct Evaluator: VAEVisitor {
        let directory: String
        let test: ImageDataset
        let ks: [Int]
        let configuration: VAERunConfiguration
        let train: ImageDataset
        let history: [VAEEpochRecord]

        func visit<P: AmortizedModel, E: ELBOEstimator>(_ vae: P, _ estimator: E, klWeight: WritableKeyPath<E, Double>?) throws -> VAEEvaluation
        where P.Scalar == Float {
            let trained = try VAECheckpoint.trained(vae, estimator, directory: directory, train: train)
            var generator = SeededGenerator(seed: configuration.seed &+ 0x7E57)
            var evaluation = trained.evaluate(on: test, ks: ks, binarization: configuration.evaluationBinarization, using: &generator)
            if var relaxed = trained as? any RelaxedLatentModel, let temperature = history.last?.temperature {
                relaxed.temperature = temperature
                evaluation.relaxedELBO = relaxed.meanRelaxedELBO(on: test, binarization: configuration.evaluationBinarization, using: &generator)
            }
            return evaluation
        }
    }

    /// The whole bound of a diffusion model (its latents have no units to count, and importance sampling over T
    /// layers is not how its bound is reported).
    struct BoundEvaluator: VAEVisitor {
        let directory: String
        let test: ImageDataset
        let configuration: VAERunConfiguration
        let train: ImageDataset

        func visit<P: AmortizedModel, E: ELBOEstimator>(_ vae: P, _ estimator: E, klWeight: WritableKeyPath<E, Double>?) throws -> (nats: Double, bitsPerDimension: Double)
        where P.Scalar == Float {
            let trained = try VAECheckpoint.trained(vae, estimator, directory: directory, train: train)
            guard let bounded = trained as? any FullBoundModel else { throw CommandError("this run's model has no whole bound") }
            var generator = SeededGenerator(seed: configuration.seed &+ 0x7E57)
            return bounded.negativeELBO(on: test, using: &generator)
        }
    }
}

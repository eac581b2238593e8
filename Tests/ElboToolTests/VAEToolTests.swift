import Foundation
import XCTest

/// `elbo vae train` and `elbo vae eval` end to end on small synthetic runs: checkpoints a numpy user can read,
/// resuming (also after SIGKILL) to the very same weights, and one-line errors for bad input.
final class VAEToolTests: XCTestCase {
    var directory: URL!
    let small = ["--synthetic-images", "600", "--hidden", "32", "--latent", "4", "--batch", "50", "--seed", "3"]

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("vae-tool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func run(_ arguments: [String]) throws -> ElboToolTests.Run { try ElboToolTests.runTool(arguments) }

    /// The safetensors header: name → (dtype, shape).
    func safetensorsHeader(_ file: String) throws -> [String: Any] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let length = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)])) as? [String: Any])
    }

    func testTrainWritesCheckpointAndHistory() throws {
        let out = path("run")
        let result = try run(["vae", "train", "--epochs", "2", "--out", out] + small)
        XCTAssertEqual(result.status, 0, result.error)
        let lines = result.output.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, result.output)
        XCTAssertTrue(lines[1].hasPrefix("epoch   2/2  train "), result.output)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/run.json"))) as? [String: Any])
        let history = try XCTUnwrap(record["history"] as? [[String: Any]])
        XCTAssertEqual(history.count, 2)
        let losses = history.map { $0["trainLoss"] as! Double }
        XCTAssertLessThan(losses[1], losses[0])
        let header = try safetensorsHeader(out + "/checkpoint.safetensors")
        let weight = try XCTUnwrap(header["encoder.body.layers.0.weight"] as? [String: Any])
        XCTAssertEqual(weight["dtype"] as? String, "F32")
        XCTAssertEqual(weight["shape"] as? [Int], [784, 32])
        XCTAssertNotNil(header["decoder.network.layers.1.bias"])
        XCTAssertNotNil(header["optimizer.encoder.meanHead.weight.1"], "Adam's second moment")
        let metadata = try XCTUnwrap(header["__metadata__"] as? [String: String])
        XCTAssertEqual(metadata["epoch"], "2")
        XCTAssertEqual(metadata["optimizer_step"], "24")

        // The same run, evaluated: bounds rise with k and stay finite.
        let evaluation = try run(["vae", "eval", out, "--k", "20", "--limit", "40", "--json"])
        XCTAssertEqual(evaluation.status, 0, evaluation.error)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(evaluation.output.utf8)) as? [String: Any])
        let bounds = try XCTUnwrap(json["importance_weighted_bounds"] as? [String: Double])
        let (b1, b5, b20) = (try XCTUnwrap(bounds["1"]), try XCTUnwrap(bounds["5"]), try XCTUnwrap(bounds["20"]))
        XCTAssertLessThan(b1, b5)
        XCTAssertLessThan(b5, b20)
        XCTAssertEqual(json["nll"] as? Double, -b20)
        let layers = try XCTUnwrap(json["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.count, 1)
        XCTAssertEqual((layers[0]["kl_per_unit"] as? [Double])?.count, 4)

        // PNG grids: 8 samples across, and 16 columns of test images beside their reconstructions.
        for (command, file, width, height) in [("sample", "samples.png", 8 * 29 + 1, 2 * 29 + 1), ("reconstruct", "pairs.png", 16 * 29 + 1, 29 + 1)] {
            let result = try run(["vae", command, out, "--png", path(file), "--count", command == "sample" ? "16" : "8"])
            XCTAssertEqual(result.status, 0, result.error)
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(file))))
            XCTAssertEqual(Array(bytes[0..<8]), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            let word = { (offset: Int) in (0..<4).reduce(0) { $0 << 8 | Int(bytes[offset + $1]) } }
            XCTAssertEqual([word(16), word(20)], [width, height], command)
        }

        // The HTML report: self-contained, with the curves and both grids inline.
        let report = try run(["vae", "report", out, "--html", path("report.html")])
        XCTAssertEqual(report.status, 0, report.error)
        let page = try String(contentsOfFile: path("report.html"), encoding: .utf8)
        XCTAssertEqual(page.components(separatedBy: "src=\"data:image/png;base64,").count - 1, 2)
        XCTAssertTrue(page.contains("<svg") && page.contains("Learning curves") && page.contains("After 2 of 2 epochs"))
        XCTAssertFalse(page.contains("<script src") || page.contains("<link "), "the report must be self-contained")
    }

    /// `--decoder-bias mean` starts the Bernoulli decoder at the data's mean image: its first epoch's loss is far below
    /// that of the same run started at zero bias (each pixel ½), and the choice is kept in run.json.
    func testDecoderBiasStartsAtTheMeanImage() throws {
        var firstLosses: [String: Double] = [:]
        for choice in ["zero", "mean"] {
            let out = path("bias-\(choice)")
            let result = try run(["vae", "train", "--epochs", "1", "--decoder-bias", choice, "--out", out] + small)
            XCTAssertEqual(result.status, 0, result.error)
            let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/run.json"))) as? [String: Any])
            XCTAssertEqual((record["configuration"] as? [String: Any])?["decoderBias"] as? String, choice)
            firstLosses[choice] = try XCTUnwrap(record["history"] as? [[String: Any]]).first?["trainLoss"] as? Double
        }
        let (zero, mean) = (try XCTUnwrap(firstLosses["zero"]), try XCTUnwrap(firstLosses["mean"]))
        XCTAssertLessThan(mean, zero - 20, "first-epoch loss from the mean image \(mean), from zero bias \(zero)")
    }

    /// Two stochastic layers: trained as a VAE, evaluated layer by layer, sampled through the learned prior.
    func testTwoStochasticLayers() throws {
        let out = path("two")
        let settings = ["--synthetic-images", "600", "--latent", "4,2", "--hidden", "32/16", "--batch", "50", "--seed", "5"]
        let result = try run(["vae", "train", "--epochs", "2", "--out", out] + settings)
        XCTAssertEqual(result.status, 0, result.error)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/run.json"))) as? [String: Any])
        let losses = try XCTUnwrap(record["history"] as? [[String: Any]]).map { $0["trainLoss"] as! Double }
        XCTAssertLessThan(losses[1], losses[0])
        // Two layers start the decoder at the mean image unless told otherwise: from zero the second layer went unused.
        XCTAssertEqual((record["configuration"] as? [String: Any])?["decoderBias"] as? String, "mean")
        let header = try safetensorsHeader(out + "/checkpoint.safetensors")
        for (name, shape) in [("topEncoder.body.layers.0.weight", [4, 16]), ("topEncoder.meanHead.weight", [16, 2]),
                              ("prior.body.layers.0.weight", [2, 16]), ("prior.logVarianceHead.weight", [16, 4]),
                              ("decoder.network.layers.0.weight", [4, 32])] {
            XCTAssertEqual((header[name] as? [String: Any])?["shape"] as? [Int], shape, name)
        }
        let evaluation = try run(["vae", "eval", out, "--k", "10", "--limit", "40", "--json"])
        XCTAssertEqual(evaluation.status, 0, evaluation.error)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(evaluation.output.utf8)) as? [String: Any])
        let layers = try XCTUnwrap(json["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.map { ($0["kl_per_unit"] as? [Double])?.count }, [4, 2])
        let text = try run(["vae", "eval", out, "--k", "10", "--limit", "40"])
        XCTAssertTrue(text.output.contains("layer 2: active units"), text.output)
        let sample = try run(["vae", "sample", out, "--png", path("two.png"), "--count", "8"])
        XCTAssertEqual(sample.status, 0, sample.error)
        let iwae = try run(["vae", "train", "--epochs", "1", "--model", "iwae", "--k", "3", "--dreg", "--out", path("two-iwae")] + settings)
        XCTAssertEqual(iwae.status, 0, iwae.error)
    }

    /// The VampPrior: its pseudo-inputs are trained and saved; evaluation reports its KL by Monte Carlo.
    func testVampPrior() throws {
        let out = path("vamp")
        let result = try run(["vae", "train", "--epochs", "2", "--prior", "vamp", "--pseudo-inputs", "20", "--out", out] + small)
        XCTAssertEqual(result.status, 0, result.error)
        let header = try safetensorsHeader(out + "/checkpoint.safetensors")
        XCTAssertEqual((header["pseudoInputs"] as? [String: Any])?["shape"] as? [Int], [20, 784])
        XCTAssertNotNil(header["optimizer.pseudoInputs.0"])
        let evaluation = try run(["vae", "eval", out, "--k", "10", "--limit", "40", "--json"])
        XCTAssertEqual(evaluation.status, 0, evaluation.error)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(evaluation.output.utf8)) as? [String: Any])
        let layers = try XCTUnwrap(json["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.count, 1)
        XCTAssertGreaterThan(try XCTUnwrap(layers[0]["kl"] as? Double), 0)
        XCTAssertEqual((layers[0]["activity_per_unit"] as? [Double])?.count, 4)
        let sample = try run(["vae", "sample", out, "--png", path("vamp.png"), "--count", "8"])
        XCTAssertEqual(sample.status, 0, sample.error)
    }

    /// The discrete VAE: the temperature falls from epoch to epoch; evaluation gives the discrete bounds, the KL of
    /// each categorical variable and the relaxed objective beside them.
    func testDiscreteVAE() throws {
        let out = path("dvae")
        let settings = ["--model", "dvae", "--categorical", "6", "--classes", "4", "--anneal-rate", "0.01", "--synthetic-images", "600",
                        "--hidden", "32", "--batch", "50", "--seed", "6"]
        let result = try run(["vae", "train", "--epochs", "2", "--out", out] + settings)
        XCTAssertEqual(result.status, 0, result.error)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/run.json"))) as? [String: Any])
        let temperatures = try XCTUnwrap(record["history"] as? [[String: Any]]).map { $0["temperature"] as? Double }
        XCTAssertEqual(temperatures[0], 1)
        XCTAssertEqual(try XCTUnwrap(temperatures[1]), Foundation.exp(-0.01 * 12), accuracy: 1e-12)
        let evaluation = try run(["vae", "eval", out, "--k", "10", "--limit", "40", "--json"])
        XCTAssertEqual(evaluation.status, 0, evaluation.error)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(evaluation.output.utf8)) as? [String: Any])
        XCTAssertNotNil(json["relaxed_elbo"] as? Double)
        let layers = try XCTUnwrap(json["layers"] as? [[String: Any]])
        XCTAssertEqual((layers[0]["kl_per_unit"] as? [Double])?.count, 6)
        XCTAssertEqual((layers[0]["activity_per_unit"] as? [Double])?.count, 24)
        XCTAssertTrue((layers[0]["kl_per_unit"] as? [Double] ?? []).allSatisfy { $0 >= 0 && $0 <= Foundation.log(4) + 1e-6 })
        let score = try run(["vae", "train", "--epochs", "1", "--relaxation", "score", "--k", "4", "--out", path("dvae-score")] + settings)
        XCTAssertEqual(score.status, 0, score.error)
    }

    /// The diffusion model: trained on its ELBO, evaluated by its whole bound in bits per dimension, sampled.
    func testDiffusionModel() throws {
        let out = path("ddpm")
        let settings = ["--model", "ddpm", "--diffusion-steps", "50", "--hidden", "64", "--synthetic-images", "600", "--batch", "50", "--seed", "7"]
        let result = try run(["vae", "train", "--epochs", "2", "--out", out] + settings)
        XCTAssertEqual(result.status, 0, result.error)
        let evaluation = try run(["vae", "eval", out, "--limit", "20", "--json"])
        XCTAssertEqual(evaluation.status, 0, evaluation.error)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(evaluation.output.utf8)) as? [String: Any])
        let (nats, bits) = (try XCTUnwrap(json["negative_elbo"] as? Double), try XCTUnwrap(json["bits_per_dimension"] as? Double))
        XCTAssertEqual(bits, nats / (784 * Foundation.log(2)), accuracy: 1e-9 * bits)
        XCTAssertTrue(nats.isFinite && nats > 0)
        let sample = try run(["vae", "sample", out, "--png", path("ddpm.png"), "--count", "8"])
        XCTAssertEqual(sample.status, 0, sample.error)
        let bad = try run(["vae", "train", "--model", "ddpm", "--latent", "20"])
        XCTAssertTrue(bad.error.contains("--latent does not apply to ddpm"), bad.error)
        let steps = try run(["vae", "train", "--diffusion-steps", "20"])
        XCTAssertTrue(steps.error.contains("--diffusion-steps applies to --model ddpm only"), steps.error)
        let loss = try run(["vae", "train", "--model", "ddpm", "--diffusion-loss", "mse"])
        XCTAssertTrue(loss.error.contains("--diffusion-loss must be one of elbo, simple, got 'mse'"), loss.error)
        let simple = try run(["vae", "train", "--epochs", "1", "--diffusion-loss", "simple", "--diffusion-network", "conditioned", "--out", path("ddpm-simple")] + settings)
        XCTAssertEqual(simple.status, 0, simple.error)
        XCTAssertTrue(try String(contentsOfFile: path("ddpm-simple") + "/run.json", encoding: .utf8).contains("\"diffusionNetwork\" : \"conditioned\""))
        XCTAssertTrue(try String(contentsOfFile: out + "/run.json", encoding: .utf8).contains("\"diffusionNetwork\" : \"mlp\""))
        let network = try run(["vae", "train", "--model", "ddpm", "--diffusion-network", "unet"])
        XCTAssertTrue(network.error.contains("--diffusion-network must be one of mlp, conditioned, got 'unet'"), network.error)
        let baseline = try run(["vae", "train", "--model", "ddpm", "--diffusion-baseline", "linear"])
        XCTAssertTrue(baseline.error.contains("--diffusion-baseline must be one of gaussian, none, got 'linear'"), baseline.error)
        // The same run with the network alone: its bound is far worse (the Gaussian pixels are most of the model
        // this early), and run.json records which predictor each run has.
        let alone = path("ddpm-alone")
        XCTAssertEqual(try run(["vae", "train", "--epochs", "2", "--diffusion-baseline", "none", "--out", alone] + settings).status, 0)
        let aloneEvaluation = try run(["vae", "eval", alone, "--limit", "20", "--json"])
        let aloneJSON = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(aloneEvaluation.output.utf8)) as? [String: Any])
        XCTAssertGreaterThan(try XCTUnwrap(aloneJSON["negative_elbo"] as? Double), nats + 100)
        XCTAssertTrue(try String(contentsOfFile: out + "/run.json", encoding: .utf8).contains("\"diffusionBaseline\" : \"gaussian\""))
        XCTAssertTrue(try String(contentsOfFile: alone + "/run.json", encoding: .utf8).contains("\"diffusionBaseline\" : \"none\""))
    }

    /// A run stopped after one epoch and resumed, and a run killed with SIGKILL in the middle and resumed, end
    /// with the same checkpoint, byte for byte, as a run that never stopped.
    func testResumeGivesTheSameWeights() throws {
        let settings = ["--synthetic-images", "2000", "--hidden", "32", "--latent", "4", "--batch", "50", "--seed", "4"]
        let whole = path("whole"), stopped = path("stopped"), killed = path("killed")
        XCTAssertEqual(try run(["vae", "train", "--epochs", "3", "--out", whole] + settings).status, 0)
        XCTAssertEqual(try run(["vae", "train", "--epochs", "1", "--out", stopped] + settings).status, 0)
        let resumed = try run(["vae", "train", "--resume", stopped, "--epochs", "3"])
        XCTAssertEqual(resumed.status, 0, resumed.error)
        XCTAssertTrue(resumed.output.contains("resuming"), resumed.output)
        let reference = try Data(contentsOf: URL(fileURLWithPath: whole + "/checkpoint.safetensors"))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: stopped + "/checkpoint.safetensors")), reference)

        let process = Process()
        process.executableURL = ElboToolTests.executable("elbo")
        process.arguments = ["vae", "train", "--epochs", "3", "--out", killed] + settings
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Kill it once epoch 1 is on disk: it is then somewhere in epoch 2 (or writing its checkpoint).
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: killed + "/run.json", encoding: .utf8), text.contains("\"epoch\" : 1") { break }
            usleep(2000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal, "the run finished before it could be killed")
        let afterKill = try run(["vae", "train", "--resume", killed])
        XCTAssertEqual(afterKill.status, 0, afterKill.error)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: killed + "/checkpoint.safetensors")), reference)
    }

    /// Too high a learning rate: epochs with non-finite steps, or a non-finite held-out loss, roll back to the last
    /// checkpoint with the rate halved, and say so; a run that cannot recover stops with one line.
    func testNonFiniteEpochsRollBack() throws {
        let out = path("rollback")
        let result = try run(["vae", "train", "--epochs", "2", "--lr", "1", "--out", out] + small)
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertTrue(result.output.contains("rolled back to the checkpoint of epoch 0 and halved the learning rate to 0.5"), result.output)
        XCTAssertTrue(result.output.contains("epoch   2/2"), result.output)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/run.json"))) as? [String: Any])
        XCTAssertGreaterThanOrEqual((record["messages"] as? [String])?.count ?? 0, 1)
        let history = try XCTUnwrap(record["history"] as? [[String: Any]])
        XCTAssertEqual(history.count, 2)
        XCTAssertTrue(history.allSatisfy { ($0["heldOutLoss"] as? Double)?.isFinite == true && ($0["learningRate"] as? Double ?? 1) < 1 })

        let hopeless = try run(["vae", "train", "--epochs", "1", "--lr", "1e6", "--out", path("hopeless")] + small)
        XCTAssertNotEqual(hopeless.status, 0)
        XCTAssertTrue(hopeless.error.contains("giving up after 5 tries"), hopeless.error)
        XCTAssertEqual(hopeless.error.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, hopeless.error)
    }

    func testBadInputGivesOneLineErrors() throws {
        let badData = path("bad")
        try FileManager.default.createDirectory(atPath: badData, withIntermediateDirectories: true)
        try Data([0, 0, 8, 1, 0, 0, 0, 1]).write(to: URL(fileURLWithPath: badData + "/train-images-idx3-ubyte.gz"))
        let existing = path("existing")
        XCTAssertEqual(try run(["vae", "train", "--epochs", "1", "--out", existing] + small).status, 0)
        let cases: [([String], String)] = [
            (["vae", "train", "--data", path("nowhere")], "no such folder"),
            (["vae", "train", "--data", badData, "--out", path("o1")], "train-images-idx3-ubyte.gz: 8 bytes, shorter than the 16-byte IDX header"),
            (["vae", "train", "--model", "gan"], "--model must be one of vae, beta-vae, iwae, dvae, ddpm, got 'gan'"),
            (["vae", "train", "--latent", "0"], "--latent must be positive sizes separated by commas, got '0'"),
            (["vae", "train", "--hidden", "400,x"], "--hidden must be positive sizes separated by commas, got '400,x'"),
            (["vae", "train", "--latent", "20,10,5"], "--latent takes one stochastic layer or two"),
            (["vae", "train", "--latent", "20,10", "--hidden", "100"], "--hidden needs one group of sizes per stochastic layer"),
            (["vae", "train", "--hidden", "100/50"], "--hidden takes groups separated by '/' only with two stochastic layers"),
            (["vae", "train", "--latent", "20,10", "--free-bits", "0.5"], "--free-bits needs a closed-form KL per unit, which a VAE with two stochastic layers has not"),
            (["vae", "train", "--prior", "vamp", "--free-bits", "2"], "--free-bits needs a closed-form KL per unit, which the VampPrior has not"),
            (["vae", "train", "--model", "dvae", "--relaxation", "score", "--warmup", "2"], "--beta and --warmup do not apply to the score-function route"),
            (["vae", "train", "--prior", "vamp", "--latent", "20,10"], "--prior vamp applies to one stochastic layer"),
            (["vae", "train", "--pseudo-inputs", "10"], "--pseudo-inputs applies to --prior vamp only"),
            (["vae", "train", "--prior", "vamp", "--pseudo-inputs", "0"], "--pseudo-inputs must be at least 1, got 0"),
            (["vae", "train", "--prior", "mixture"], "--prior must be one of standard, vamp, got 'mixture'"),
            (["vae", "train", "--classes", "5"], "--classes applies to --model dvae only"),
            (["vae", "train", "--model", "dvae", "--classes", "1"], "--classes must be at least 2, got 1"),
            (["vae", "train", "--model", "dvae", "--latent", "20"], "--latent does not apply to dvae"),
            (["vae", "train", "--model", "dvae", "--relaxation", "score", "--k", "1"], "--relaxation score needs --k of at least 2"),
            (["vae", "train", "--model", "dvae", "--temperature", "0"], "--temperature must be positive and finite, got 0.0"),
            (["vae", "train", "--lr", "nan"], "--lr must be positive and finite"),
            // Sizes that would fail to allocate (a crash) are refused first.
            (["vae", "train", "--latent", "100000000000"], "--latent must be at most 65536, got 100000000000"),
            (["vae", "train", "--hidden", "400,70000"], "--hidden must be at most 65536, got 70000"),
            (["vae", "train", "--model", "iwae", "--k", "100000000"], "make one layer's activations 4.01e+04 GB; at most 2 GiB: lower --k or --batch"),
            (["vae", "train", "--synthetic-images", "1000000000"], "--synthetic-images must be at most 1000000, got 1000000000"),
            (["vae", "train", "--beta", "1e300"], "--beta must be between 0 and 1e6, got 1e+300"),
            (["vae", "train", "--free-bits", "1e300"], "--free-bits must be between 0 and 1e6 nats, got 1e+300"),
            (["vae", "train", "--binarize", "fixed", "--out", path("o2")] + small, "--binarize fixed needs binary images"),
            (["vae", "train", "--dreg"], "--dreg applies to --model iwae only"),
            (["vae", "train", "--decoder-bias", "data"], "--decoder-bias must be one of zero, mean, got 'data'"),
            (["vae", "train", "--decoder", "gaussian", "--decoder-bias", "mean"], "--decoder-bias mean applies to the bernoulli decoder"),
            (["vae", "train", "--model", "dvae", "--decoder-bias", "mean"], "--decoder-bias mean applies to the bernoulli decoder"),
            (["vae", "train", "--resume", existing, "--decoder-bias", "mean"], "--decoder-bias cannot be changed when resuming"),
            (["vae", "train", "--out", existing] + small, "holds a run already"),
            (["vae", "train", "--resume", existing, "--lr", "0.1"], "--lr cannot be changed when resuming"),
            (["vae", "train", "--resume", path("none")], "run.json: no run here"),
            (["vae", "eval", path("none")], "run.json: no run here"),
            (["vae", "sample", existing, "--png", path("s.png"), "--count", "0"], "--count must be between 1 and 1024, got 0"),
            (["vae", "reconstruct", existing, "--png", path("nofolder/r.png")], "the folder"),
        ]
        for (arguments, message) in cases {
            let result = try run(arguments)
            XCTAssertNotEqual(result.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(result.error.contains(message), "\(arguments): \(result.error)")
            XCTAssertEqual(result.error.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, result.error)
        }
        // A run record edited by hand is checked as the options were: a negative latent size once crashed eval.
        let edited = path("edited")
        try FileManager.default.copyItem(atPath: existing, toPath: edited)
        let record = try String(contentsOfFile: edited + "/run.json", encoding: .utf8)
        XCTAssertTrue(record.contains("\"latent\" : 4,"), record)
        try record.replacingOccurrences(of: "\"latent\" : 4,", with: "\"latent\" : -5,").write(toFile: edited + "/run.json", atomically: true, encoding: .utf8)
        for command in ["eval", "sample", "reconstruct", "train"] {
            let arguments = command == "train" ? ["vae", "train", "--resume", edited] : ["vae", command, edited] + (command == "eval" ? [] : ["--png", path("x.png")])
            let result = try run(arguments)
            XCTAssertNotEqual(result.status, 0, command)
            XCTAssertTrue(result.error.contains("run.json: --latent must be at least 1, got -5"), "\(command): \(result.error)")
        }
        // A NaN among the weights is refused: behind a ReLU it could pass unseen.
        let poisoned = path("poisoned")
        try FileManager.default.copyItem(atPath: existing, toPath: poisoned)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: poisoned + "/checkpoint.safetensors")))
        let headerLength = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        let nan = Float.nan.bitPattern
        for i in 0..<4 { bytes[8 + headerLength + 4 + i] = UInt8(truncatingIfNeeded: nan >> (8 * i)) }
        try Data(bytes).write(to: URL(fileURLWithPath: poisoned + "/checkpoint.safetensors"))
        let nanResult = try run(["vae", "eval", poisoned])
        XCTAssertNotEqual(nanResult.status, 0)
        XCTAssertTrue(nanResult.error.contains("holds a non-finite value at index 1"), nanResult.error)

        // A damaged checkpoint is refused, not trusted.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: existing + "/checkpoint.safetensors"))
        let damaged = try run(["vae", "eval", existing])
        XCTAssertNotEqual(damaged.status, 0)
        XCTAssertTrue(damaged.error.contains("checkpoint.safetensors: 3 bytes, too short"), damaged.error)
    }
}

import _Differentiation
import VariationalCore
import VariationalData
import VariationalOptimizers

extension Trainer {
    /// A gradient at one draw for `batch`: a tangent that reaches every parameter, for walking them in order.
    public func parameterStructure(batch: Problem.Batch) -> Problem.TangentVector {
        var generator = SeededGenerator(seed: 0)
        let noise = problem.sampleNoise(particles: 1, batch: batch, using: &generator)
        return estimator.lossAndGradient(problem: problem, noise: noise, batch: batch).gradient
    }

    /// The names of the problem's parameters, from its stored properties ("encoder.body.layers.0.weight").
    public func parameterNames(structure: Problem.TangentVector) -> [String] {
        let count = parameters(of: problem, structure: structure).count
        let names = VariationalCore.parameterNames(of: problem)
        return names.count == count && Set(names).count == count ? names : (0..<count).map { "parameter.\($0)" }
    }

    /// Writes the parameters, the optimiser's state and `metadata` (with the step counts) to a safetensors file,
    /// atomically. Parameters keep their names; optimiser buffers are "optimizer.NAME.i".
    public func saveCheckpoint(to path: String, structure: Problem.TangentVector, metadata: [String: String] = [:]) throws {
        let names = parameterNames(structure: structure)
        var tensors = Array(zip(names, parameters(of: problem, structure: structure))).map { (name: $0.0, tensor: $0.1) }
        let state = optimizer.state(for: problem, structure: structure)
        for (name, slots) in zip(names, state.slots) {
            for (i, slot) in slots.enumerated() { tensors.append((name: "optimizer.\(name).\(i)", tensor: slot)) }
        }
        var metadata = metadata
        metadata["optimizer_step"] = "\(state.step)"
        metadata["optimizer_slots"] = state.slots.map { "\($0.count)" }.joined(separator: ",")
        metadata["iteration"] = "\(iteration)"
        try SafeTensors.write(tensors, metadata: metadata, to: path)
    }

    /// Takes up the parameters and optimiser state of a checkpoint written by `saveCheckpoint`; returns its
    /// metadata. Throws, changing nothing, when the checkpoint does not fit this problem.
    @discardableResult
    public mutating func loadCheckpoint(from path: String, structure: Problem.TangentVector) throws -> [String: String] {
        let (tensors, metadata) = try SafeTensors.read(from: path)
        let names = parameterNames(structure: structure)
        let byName = Dictionary(tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
        // A damaged checkpoint must not pass for a trained model: a NaN weight can hide behind a ReLU.
        func finite(_ tensor: ParameterTensor, _ name: String) throws -> ParameterTensor {
            if let i = tensor.firstNonFiniteIndex { throw DataError("\(path): tensor '\(name)' holds a non-finite value at index \(i)") }
            return tensor
        }
        var values: [ParameterTensor] = []
        for name in names {
            guard let tensor = byName[name] else { throw DataError("\(path): no tensor '\(name)' (the model's parameters are \(names.joined(separator: ", ")))") }
            values.append(try finite(tensor, name))
        }
        guard let step = metadata["optimizer_step"].flatMap(Int.init), let done = metadata["iteration"].flatMap(Int.init),
              let counts = metadata["optimizer_slots"]?.split(separator: ",", omittingEmptySubsequences: false).map({ Int($0) }),
              counts.count == names.count, counts.allSatisfy({ $0 != nil && $0! >= 0 })
        else { throw DataError("\(path): the metadata lacks the optimiser's step and slot counts") }
        var slots: [[ParameterTensor]] = []
        for (name, count) in zip(names, counts) {
            var buffers: [ParameterTensor] = []
            for i in 0..<count! {
                let slotName = "optimizer.\(name).\(i)"
                guard let tensor = byName[slotName] else { throw DataError("\(path): no tensor '\(slotName)'") }
                buffers.append(try finite(tensor, slotName))
            }
            slots.append(buffers)
        }
        var restored = problem
        if let mismatch = setParameters(of: &restored, structure: structure, to: values, names: names) {
            throw DataError("\(path): does not fit this model: \(mismatch)")
        }
        if let mismatch = optimizer.restore(OptimizerState(step: step, slots: slots), for: &restored, structure: structure) {
            throw DataError("\(path): does not fit this model: \(mismatch)")
        }
        problem = restored
        iteration = done
        return metadata
    }
}

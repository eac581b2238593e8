import _Differentiation
import VariationalCore

/// The base of the optimisers: updates every Tensor inside any `Differentiable` value along a gradient.
///
/// Parameters can nest in any way (structs of layers, arrays of layers): the optimiser rides on `move(by:)`,
/// which visits each parameter Tensor with its gradient, and keeps per-parameter state (momenta, moments) keyed
/// by the parameter's stable identity. Every trainable value must be a Tensor.
///
/// Subclasses implement `apply(_:gradient:learningRate:slots:)` for one parameter.
open class Optimizer: @unchecked Sendable {
    /// The learning rate as a function of the step number (1, 2, …). (Like every property read at each update, it
    /// skips the run-time exclusivity check: an optimiser is used by one thread at a time.)
    @exclusivity(unchecked) public var schedule: any LearningRateSchedule
    /// If set, gradients are rescaled so that their global L2 norm (over all parameters) is at most this value.
    @exclusivity(unchecked) public var gradientClipNorm: Double?
    /// The number of updates made so far.
    @exclusivity(unchecked) public private(set) var step = 0
    /// The global gradient norm seen by the last update, before clipping.
    @exclusivity(unchecked) public private(set) var lastGradientNorm: Double = 0

    @exclusivity(unchecked) private var states: [Int: AnyObject] = [:]
    /// The last update's parameters and their slots, in the order it met them: the next update meets the same
    /// parameters in the same order and finds its slots here, without hashing each identity into `states`.
    @exclusivity(unchecked) private var recentSlots: [(id: Int, slots: AnyObject)] = []
    @exclusivity(unchecked) private var currentRate: Double = 0
    @exclusivity(unchecked) private var clipScale: Double = 1
    /// The last update's gradient, while `keepsPreviousParameters` (the way back to the parameters it moved), in a
    /// box of the gradient's type that each update refills: boxing it as `Any` allocated and freed a box per step.
    @exclusivity(unchecked) private var lastGradient: AnyObject?
    @exclusivity(unchecked) private var lastGradientType: ObjectIdentifier?

    public init(schedule: any LearningRateSchedule, gradientClipNorm: Double? = nil) {
        if let clip = gradientClipNorm {
            require(clip > 0, "gradientClipNorm must be positive, got \(clip)")
        }
        self.schedule = schedule
        self.gradientClipNorm = gradientClipNorm
        let gatherer = ParameterGatherer()
        self.gatherer = gatherer
        gathering = TensorWalker(gatherer)
    }

    /// When true, each update first copies every parameter's values aside, into a buffer of the optimiser's own made
    /// once per parameter, so that `restorePreviousParameters(_:)` can put a model back as it was before
    /// the last update. A rollback kept this way costs a copy of the numbers at each step; keeping the model from
    /// before the step instead made every update copy each parameter's storage afresh (copy on write).
    @exclusivity(unchecked) public var keepsPreviousParameters = false

    /// Puts each parameter of `model` that the last update moved back to its values from before that update, once;
    /// returns whether there was anything to put back (false after a restore, before any update, or when the
    /// optimiser does not keep previous parameters). The walk to the parameters follows the last update's gradient
    /// (a zero tangent has no elements in a model's arrays, whose parameters it would not reach).
    @discardableResult
    public func restorePreviousParameters<Model: Differentiable>(_ model: inout Model) -> Bool {
        guard let box = lastGradient, lastGradientType == ObjectIdentifier(Model.TangentVector.self) else { return false }
        let structure = unsafeDowncast(box, to: KeptGradient<Model.TangentVector>.self).value
        let restorer = PreviousParameterRestorer(states: states, step: step)
        visitTensors(of: &model, along: structure, with: restorer)
        return restorer.restored > 0
    }

    /// The learning rate the next update will use.
    public var learningRate: Double { schedule.rate(at: step + 1) }

    /// Moves `model` one step against `gradient` (the gradient of a loss to minimise).
    public func update<Model: Differentiable>(_ model: inout Model, along gradient: consuming Model.TangentVector) {
        gather(&model, along: gradient)
        move(along: consume gradient)
    }

    /// Like `update(_:along:)`, but leaves the model and the optimiser untouched when the gradient has a NaN or an
    /// infinity; returns whether it moved.
    @discardableResult
    public func updateIfFinite<Model: Differentiable>(_ model: inout Model, along gradient: consuming Model.TangentVector) -> Bool {
        gather(&model, along: gradient)
        guard gatherer.sumOfSquares.isFinite else {
            gatherer.clear()
            return false
        }
        move(along: consume gradient)
        return true
    }

    /// The parameters of the update under way and their gradients, from one walk of the model (kept from update to
    /// update, so that its lists keep their capacity).
    private let gatherer: ParameterGatherer
    /// The gatherer, ready for a walk at every update.
    private let gathering: TensorWalker

    /// Walks `model` once: each parameter with a gradient, made unique to the model, is gathered with its address,
    /// and the gradient's squares are summed on the way (the global norm, in the order `globalNorm` sums them).
    /// The values are left as they are, so the model is unchanged when the update stops here.
    private func gather<Model: Differentiable>(_ model: inout Model, along gradient: Model.TangentVector) {
        visitTensors(of: &model, along: gradient, with: gathering)
        gatherer.sumSquares()
    }

    /// Updates the parameters just gathered, in place.
    private func move<Gradient>(along gradient: consuming Gradient) {
        step += 1
        currentRate = schedule.rate(at: step)
        lastGradientNorm = gatherer.sumOfSquares.squareRoot()
        clipScale = 1
        if let clip = gradientClipNorm, lastGradientNorm > clip {
            clipScale = clip / lastGradientNorm
        }
        update(gatherer.doubles, from: 0, through: &doubleUpdates)
        update(gatherer.floats, from: gatherer.doubles.count, through: &floatUpdates)
        gatherer.clear()
        keep(consume gradient)
    }

    /// Keeps the gradient for a rollback, taking it over (the caller's is consumed: no copy of its tensors).
    private func keep<Gradient>(_ gradient: consuming Gradient) {
        guard keepsPreviousParameters else {
            if lastGradient != nil { (lastGradient, lastGradientType) = (nil, nil) }
            return
        }
        if let box = lastGradient, lastGradientType == ObjectIdentifier(Gradient.self) {
            unsafeDowncast(box, to: KeptGradient<Gradient>.self).value = gradient
        } else {
            (lastGradient, lastGradientType) = (KeptGradient(gradient), ObjectIdentifier(Gradient.self))
        }
    }

    /// Updates the gathered parameters of one scalar type (met from walk position `offset` on) together, through
    /// `applyAll`, collecting them in `updates` (emptied again, keeping its capacity).
    private func update<Scalar: TensorScalar>(
        _ gathered: [GatheredParameter<Scalar>], from offset: Int, through updates: inout [ParameterUpdate<Scalar>]
    ) {
        // Read in place: a copy of each gathered parameter cost a retain and a release of each reference in it.
        gathered.withUnsafeBufferPointer { list in
            for i in list.indices {
                if let update = prepare(list[i], at: offset + i) { updates.append(update) }
            }
        }
        guard !updates.isEmpty else { return }
        updates.withUnsafeBufferPointer { applyAll($0, learningRate: currentRate) }
        updates.removeAll(keepingCapacity: true)
    }

    /// The parameters of the update under way that are updated together by `applyAll` (kept from update to update,
    /// so that the lists keep their capacity).
    @exclusivity(unchecked) private var floatUpdates: [ParameterUpdate<Float>] = []
    @exclusivity(unchecked) private var doubleUpdates: [ParameterUpdate<Double>] = []

    /// The parameter met at `position` in this update's walk, with its state, ready for `applyAll`; nil when it has
    /// been updated already (alone, along its gradient times the clipping factor).
    private func prepare<Scalar: TensorScalar>(_ parameter: borrowing GatheredParameter<Scalar>, at position: Int) -> ParameterUpdate<Scalar>? {
        let (values, id) = (parameter.address, parameter.id)
        let slots: Slots<Scalar>
        // A parameter's identity belongs to one tensor, whose scalar type never changes.
        if position < recentSlots.count, recentSlots[position].id == id {
            slots = unsafeDowncast(recentSlots[position].slots, to: Slots<Scalar>.self)
        } else {
            if let existing = states[id] {
                slots = unsafeDowncast(existing, to: Slots<Scalar>.self)
            } else {
                slots = Slots(count: values.count)
                states[id] = slots
            }
            if position < recentSlots.count {
                recentSlots[position] = (id, slots)
            } else if position == recentSlots.count {
                recentSlots.append((id, slots))
            }
        }
        require(
            slots.count == values.count,
            "Optimizer: parameter \(id) changed size from \(slots.count) to \(values.count)")
        if keepsPreviousParameters { slots.keepPrevious(UnsafeBufferPointer(values), step: step) }
        guard clipScale == 1 else {
            let clipped = Tensor(shape: [values.count], scalars: parameter.gradient) * Scalar(clipScale)
            clipped.scalars.withUnsafeBufferPointer { apply(values, gradient: $0, learningRate: currentRate, slots: slots) }
            return nil
        }
        // The gatherer holds the gradient's elements until the update ends.
        let gradient = UnsafeBufferPointer(start: parameter.gradient.addressWhileAlive, count: parameter.gradient.count)
        return ParameterUpdate(parameter: values, gradient: gradient, slots: slots)
    }

    /// Updates one parameter in place. `slots` holds this parameter's state, created empty at its first update.
    open func apply<Scalar: TensorScalar>(
        _ parameter: UnsafeMutableBufferPointer<Scalar>, gradient: UnsafeBufferPointer<Scalar>,
        learningRate: Double, slots: Slots<Scalar>
    ) {
        fatalError("Optimizer subclasses implement apply")
    }

    /// Updates the parameters of one update that share a scalar type, in place, in the order of the walk. By default
    /// each through `apply(_:gradient:learningRate:slots:)`; an optimiser whose update is one elementwise pass can
    /// make it one pass over all of them (Adam does: one job across the threads in place of one per parameter).
    open func applyAll<Scalar: TensorScalar>(_ updates: UnsafeBufferPointer<ParameterUpdate<Scalar>>, learningRate: Double) {
        for update in updates {
            apply(update.parameter, gradient: update.gradient, learningRate: learningRate, slots: update.slots)
        }
    }

    /// The optimiser's state for `model`: the step count and, for each parameter in the order of
    /// `parameters(of:structure:)`, its buffers (moments, velocities) as tensors of the parameter's shape.
    public func state<Model: Differentiable>(for model: Model, structure: Model.TangentVector) -> OptimizerState {
        let ids = parameterIDs(of: model, structure: structure)
        let slots: [[ParameterTensor]] = ids.map { entry in
            guard let existing = states[entry.id] else { return [] }
            if entry.isFloat {
                return unsafeDowncast(existing, to: Slots<Float>.self).exported().map { .float(Tensor(shape: entry.shape, scalars: $0)) }
            }
            return unsafeDowncast(existing, to: Slots<Double>.self).exported().map { .double(Tensor(shape: entry.shape, scalars: $0)) }
        }
        return OptimizerState(step: step, slots: slots)
    }

    /// Takes up `state` (from `state(for:structure:)`) for the parameters of `model`, which must have the same
    /// structure; returns why not otherwise, changing nothing.
    public func restore<Model: Differentiable>(_ state: OptimizerState, for model: inout Model, structure: Model.TangentVector) -> String? {
        let ids = parameterIDs(of: model, structure: structure, assigningTo: &model)
        guard ids.count == state.slots.count else { return "optimiser state for \(state.slots.count) tensors, the model has \(ids.count)" }
        for (i, (entry, buffers)) in zip(ids, state.slots).enumerated() {
            for buffer in buffers where buffer.shape != entry.shape || (buffer.typeName == "F32") != entry.isFloat {
                return "optimiser state of tensor \(i) is \(buffer.typeName) \(buffer.shape), the parameter is \(entry.isFloat ? "F32" : "F64") \(entry.shape)"
            }
        }
        for (entry, buffers) in zip(ids, state.slots) {
            let count = entry.shape.elementCount
            if entry.isFloat {
                let slots = Slots<Float>(count: count)
                slots.imported(buffers.map { if case .float(let t) = $0 { return t.scalars.array } else { return [] } })
                states[entry.id] = slots
            } else {
                let slots = Slots<Double>(count: count)
                slots.imported(buffers.map { if case .double(let t) = $0 { return t.scalars.array } else { return [] } })
                states[entry.id] = slots
            }
        }
        recentSlots.removeAll()
        step = state.step
        return nil
    }

    private func parameterIDs<Model: Differentiable>(of model: Model, structure: Model.TangentVector) -> [(id: Int, shape: TensorShape, isFloat: Bool)] {
        var copy = model
        return parameterIDs(of: model, structure: structure, assigningTo: &copy)
    }

    /// The identities of the parameters in walk order; the walk gives identities to parameters that have none, in
    /// `target` (so that a restored state belongs to the model that is then trained).
    private func parameterIDs<Model: Differentiable>(
        of model: Model, structure: Model.TangentVector, assigningTo target: inout Model
    ) -> [(id: Int, shape: TensorShape, isFloat: Bool)] {
        let collector = IdentityCollector()
        visitTensors(of: &target, along: structure, with: collector)
        return collector.entries
    }

    /// The L2 norm over all tensors of a gradient of `model`. The walk goes through the model's `move(by:)`, which
    /// visits each parameter with its part of the gradient (a tangent's own `move(by:)` may simply add, unseen).
    public func globalNorm<Model: Differentiable>(of gradient: Model.TangentVector, for model: Model) -> Double {
        let visitor = NormVisitor()
        var copy = model
        visitTensors(of: &copy, along: gradient, with: visitor)
        return visitor.sumOfSquares.squareRoot()
    }
}

/// An optimiser's state, detached from its parameters' identities (for checkpoints).
public struct OptimizerState: Sendable, Equatable {
    /// Updates made so far (Adam's bias corrections depend on it).
    public var step: Int
    /// For each parameter, its buffers.
    public var slots: [[ParameterTensor]]

    public init(step: Int, slots: [[ParameterTensor]]) {
        self.step = step
        self.slots = slots
    }
}

/// One parameter of an update: its elements and its gradient's (valid until the update ends) and its state.
public struct ParameterUpdate<Scalar: TensorScalar> {
    public let parameter: UnsafeMutableBufferPointer<Scalar>
    public let gradient: UnsafeBufferPointer<Scalar>
    public let slots: Slots<Scalar>
}

/// Per-parameter optimiser state: named buffers of the parameter's size, created on first use.
public final class Slots<Scalar: TensorScalar> {
    public let count: Int
    @exclusivity(unchecked) private var buffers: [UnsafeMutableBufferPointer<Scalar>] = []

    init(count: Int) { self.count = count }

    deinit {
        for buffer in buffers { buffer.deallocate() }
        previous?.deallocate()
    }

    /// Copies of the buffers created so far.
    func exported() -> [[Scalar]] { buffers.map { Array(UnsafeMutableBufferPointer(rebasing: $0[0..<count])) } }

    /// Buffers with the given contents, replacing any there were.
    func imported(_ contents: [[Scalar]]) {
        for buffer in buffers { buffer.deallocate() }
        buffers = contents.map { values in
            let buffer = UnsafeMutableBufferPointer<Scalar>.allocate(capacity: Swift.max(count, 1))
            buffer.initialize(repeating: 0)
            for i in 0..<Swift.min(count, values.count) { buffer[i] = values[i] }
            return buffer
        }
    }

    /// The parameter's values before the update of step `previousStep` (not part of the exported state).
    @exclusivity(unchecked) private var previous: UnsafeMutableBufferPointer<Scalar>?
    @exclusivity(unchecked) private var previousStep = 0

    /// Keeps a copy of `values`, the parameter before the update of step `step`.
    func keepPrevious(_ values: UnsafeBufferPointer<Scalar>, step: Int) {
        if previous == nil {
            previous = UnsafeMutableBufferPointer<Scalar>.allocate(capacity: Swift.max(count, 1))
            previous!.initialize(repeating: 0)
        }
        if let base = values.baseAddress, count > 0 { previous!.baseAddress!.update(from: base, count: count) }
        previousStep = step
    }

    /// Writes the values kept before the update of step `step` into `values`, once; false when there are none.
    func restorePrevious(into values: UnsafeMutableBufferPointer<Scalar>, step: Int) -> Bool {
        guard let previous, previousStep == step, values.count == count else { return false }
        if let base = values.baseAddress, count > 0 { base.update(from: previous.baseAddress!, count: count) }
        previousStep = 0
        return true
    }

    /// The buffer at `index`, filled with `initial` the first time it is asked for.
    public func withBuffer<R>(
        _ index: Int, initial: Scalar = 0, _ body: (UnsafeMutableBufferPointer<Scalar>) -> R
    ) -> R {
        body(buffer(index, initial: initial))
    }

    /// The buffer at `index`, filled with `initial` the first time it is asked for; valid while these slots are alive.
    public func buffer(_ index: Int, initial: Scalar = 0) -> UnsafeMutableBufferPointer<Scalar> {
        while buffers.count <= index {
            let buffer = UnsafeMutableBufferPointer<Scalar>.allocate(capacity: Swift.max(count, 1))
            buffer.initialize(repeating: initial)
            buffers.append(buffer)
        }
        return UnsafeMutableBufferPointer(rebasing: buffers[index][0..<count])
    }
}

/// An optimiser's last gradient, kept for `restorePreviousParameters(_:)`.
final class KeptGradient<Value> {
    @exclusivity(unchecked) var value: Value
    init(_ value: Value) { self.value = value }
}

/// A parameter gathered for an update: its elements, made unique to the model, with their address, its gradient
/// and its identity. Holding the elements keeps the address valid; the model holds the only other reference, so
/// writing through the address changes the model's parameter and nothing else.
struct GatheredParameter<Scalar: TensorScalar> {
    let elements: TensorElements<Scalar>
    let address: UnsafeMutableBufferPointer<Scalar>
    /// The gradient's elements (its shape, the parameter's, was checked when gathered).
    let gradient: TensorElements<Scalar>
    let id: Int
}

/// Gathers the parameters that have a gradient, in walk order, and sums the gradients' squares.
final class ParameterGatherer: TensorVisitor, @unchecked Sendable {
    @exclusivity(unchecked) var floats: [GatheredParameter<Float>] = []
    @exclusivity(unchecked) var doubles: [GatheredParameter<Double>] = []
    /// Σ g² over the gathered gradients, set by `sumSquares()`.
    @exclusivity(unchecked) var sumOfSquares = 0.0
    /// For each gathered parameter in walk order, whether it is a Float one.
    @exclusivity(unchecked) private var walkOrder: [Bool] = []

    /// Lets go of the parameters (the model's elements are unique to it again) and of their gradients.
    func clear() {
        if !floats.isEmpty { floats.removeAll(keepingCapacity: true) }
        if !doubles.isEmpty { doubles.removeAll(keepingCapacity: true) }
        if !walkOrder.isEmpty { walkOrder.removeAll(keepingCapacity: true) }
        sumOfSquares = 0
    }

    func visit(_ parameter: inout Tensor<Float>, offset: Tensor<Float>, id: Int) {
        if let gathered = gather(&parameter, offset, id) {
            floats.append(gathered)
            walkOrder.append(true)
        }
    }

    func visit(_ parameter: inout Tensor<Double>, offset: Tensor<Double>, id: Int) {
        if let gathered = gather(&parameter, offset, id) {
            doubles.append(gathered)
            walkOrder.append(false)
        }
    }

    /// Sums the squares of the gathered gradients, each gradient's in one pass over all of them of its scalar type,
    /// and adds them in walk order (the bits of `NormVisitor`, which sums one gradient at a time).
    func sumSquares() {
        let floatSums = Self.sumsOfSquares(floats), doubleSums = Self.sumsOfSquares(doubles)
        var (f, d, total) = (0, 0, 0.0)
        for isFloat in walkOrder {
            if isFloat {
                total += floatSums[f]
                f += 1
            } else {
                total += doubleSums[d]
                d += 1
            }
        }
        sumOfSquares = total
    }

    private static func sumsOfSquares<Scalar: TensorScalar>(_ list: [GatheredParameter<Scalar>]) -> [Double] {
        let n = list.count
        guard n > 0 else { return [] }
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: n) { counts in
            withUnsafeTemporaryAllocation(of: UnsafePointer<Scalar>?.self, capacity: n) { addresses in
                for i in 0..<n {
                    counts[i] = list[i].gradient.count
                    addresses[i] = list[i].gradient.addressWhileAlive
                }
                return [Double](unsafeUninitializedCapacity: n) { sums, initialized in
                    Scalar.sumsOfSquares(count: n, elementCounts: counts.baseAddress!, addresses.baseAddress!, result: sums.baseAddress!)
                    initialized = n
                }
            }
        }
    }

    private func gather<Scalar: TensorScalar>(
        _ parameter: inout Tensor<Scalar>, _ gradient: Tensor<Scalar>, _ id: Int
    ) -> GatheredParameter<Scalar>? {
        if gradient.isSymbolicZero { return nil }
        require(
            gradient.shape == parameter.shape,
            "Optimizer: gradient of shape \(gradient.shape) for a parameter of shape \(parameter.shape)")
        let (elements, address) = parameter.uniqueElementsWithAddress()
        return GatheredParameter(elements: elements, address: address, gradient: gradient.scalars, id: id)
    }
}

/// Sums the squares of every offset it visits, leaving values alone.
final class NormVisitor: TensorVisitor, @unchecked Sendable {
    var sumOfSquares = 0.0
    func visit(_ parameter: inout Tensor<Float>, offset: Tensor<Float>, id: Int) {
        sumOfSquares += Self.sumOfSquares(offset.scalars)
    }
    func visit(_ parameter: inout Tensor<Double>, offset: Tensor<Double>, id: Int) {
        sumOfSquares += Self.sumOfSquares(offset.scalars)
    }

    static func sumOfSquares<Scalar: TensorScalar>(_ values: TensorElements<Scalar>) -> Double {
        values.withUnsafeBufferPointer { x in x.isEmpty ? 0 : Scalar.sumOfSquares(count: x.count, x.baseAddress!) }
    }
}

/// Writes back the values each visited parameter had before the optimiser's last update.
final class PreviousParameterRestorer: TensorVisitor, @unchecked Sendable {
    let states: [Int: AnyObject]
    let step: Int
    var restored = 0
    init(states: [Int: AnyObject], step: Int) {
        self.states = states
        self.step = step
    }
    func visit(_ parameter: inout Tensor<Float>, offset: Tensor<Float>, id: Int) { restore(&parameter, id) }
    func visit(_ parameter: inout Tensor<Double>, offset: Tensor<Double>, id: Int) { restore(&parameter, id) }

    private func restore<Scalar: TensorScalar>(_ parameter: inout Tensor<Scalar>, _ id: Int) {
        guard let slots = states[id] as? Slots<Scalar>, slots.count == parameter.scalarCount else { return }
        if parameter.withUnsafeMutableScalars({ slots.restorePrevious(into: $0, step: step) }) { restored += 1 }
    }
}

/// Collects the identities, shapes and scalar types of the parameters a walk visits.
final class IdentityCollector: TensorVisitor, @unchecked Sendable {
    var entries: [(id: Int, shape: TensorShape, isFloat: Bool)] = []
    func visit(_ parameter: inout Tensor<Float>, offset: Tensor<Float>, id: Int) { entries.append((id, parameter.shape, true)) }
    func visit(_ parameter: inout Tensor<Double>, offset: Tensor<Double>, id: Int) { entries.append((id, parameter.shape, false)) }
}

import _Differentiation

/// A tensor of either scalar type, as parameter files hold them.
public enum ParameterTensor: Sendable, Equatable {
    case float(Tensor<Float>)
    case double(Tensor<Double>)

    public var shape: TensorShape {
        switch self {
        case .float(let t): return t.shape
        case .double(let t): return t.shape
        }
    }

    /// The index of the first NaN or infinity, if any.
    public var firstNonFiniteIndex: Int? {
        switch self {
        case .float(let t): return t.scalars.firstIndex { !$0.isFinite }
        case .double(let t): return t.scalars.firstIndex { !$0.isFinite }
        }
    }

    /// "F32" or "F64".
    public var typeName: String {
        switch self {
        case .float: return "F32"
        case .double: return "F64"
        }
    }
}

/// The parameter tensors of a differentiable value, in the order `move(by:)` visits them; `structure` is any
/// tangent of the value's type that reaches every tensor (a gradient does; the symbolic zero of a value holding
/// arrays does not).
public func parameters<Value: Differentiable>(of value: Value, structure: Value.TangentVector) -> [ParameterTensor] {
    let collector = ParameterCollector()
    var copy = value
    visitTensors(of: &copy, along: structure, with: collector)
    return collector.tensors
}

/// Replaces the parameter tensors of `value`, in the order of `parameters(of:structure:)`. Returns why not when
/// the count, a shape or a scalar type differs (and then changes nothing).
public func setParameters<Value: Differentiable>(
    of value: inout Value, structure: Value.TangentVector, to tensors: [ParameterTensor], names: [String]? = nil
) -> String? {
    let current = parameters(of: value, structure: structure)
    guard current.count == tensors.count else {
        return "\(tensors.count) tensors for a model of \(current.count)"
    }
    for (i, (have, want)) in zip(current, tensors).enumerated() where have.shape != want.shape || have.typeName != want.typeName {
        let name = names.map { $0[i] } ?? "parameter \(i)"
        return "\(name) is \(want.typeName) \(want.shape), the model's is \(have.typeName) \(have.shape)"
    }
    visitTensors(of: &value, along: structure, with: ParameterWriter(tensors))
    return nil
}

/// Names for the parameter tensors of a value, from its stored properties ("encoder.body.layers.0.weight"), in
/// declaration order — the order `move(by:)` visits them in a synthesised conformance.
public func parameterNames(of value: Any) -> [String] {
    var names: [String] = []
    func walk(_ value: Any, _ path: String) {
        if value is Tensor<Float> || value is Tensor<Double> {
            names.append(path.isEmpty ? "parameter" : path)
            return
        }
        let mirror = Mirror(reflecting: value)
        for (index, child) in mirror.children.enumerated() {
            let label = child.label ?? "\(index)"
            walk(child.value, path.isEmpty ? label : "\(path).\(label)")
        }
    }
    walk(value, "")
    return names
}

/// Collects the parameters a walk visits.
final class ParameterCollector: TensorVisitor, @unchecked Sendable {
    var tensors: [ParameterTensor] = []
    func visit(_ parameter: inout Tensor<Float>, offset: Tensor<Float>, id: Int) { tensors.append(.float(parameter)) }
    func visit(_ parameter: inout Tensor<Double>, offset: Tensor<Double>, id: Int) { tensors.append(.double(parameter)) }
}

/// Overwrites the parameters a walk visits with given tensors, in order.
final class ParameterWriter: TensorVisitor, @unchecked Sendable {
    let tensors: [ParameterTensor]
    var next = 0
    init(_ tensors: [ParameterTensor]) { self.tensors = tensors }
    func visit(_ parameter: inout Tensor<Float>, offset: Tensor<Float>, id: Int) {
        if case .float(let t) = tensors[next] { parameter.withUnsafeMutableScalars { p in for i in p.indices { p[i] = t.scalars[i] } } }
        next += 1
    }
    func visit(_ parameter: inout Tensor<Double>, offset: Tensor<Double>, id: Int) {
        if case .double(let t) = tensors[next] { parameter.withUnsafeMutableScalars { p in for i in p.indices { p[i] = t.scalars[i] } } }
        next += 1
    }
}

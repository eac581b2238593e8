import _Differentiation
import VariationalCore

/// A running average of the parameters of a differentiable value (Polyak–Ruppert iterate averaging).
///
/// Tensors are matched by the order in which `move(by:)` visits them, which is fixed for a type; a tangent of the
/// value's type gives that structure.
public final class ParameterAverage<Value: Differentiable>: @unchecked Sendable {
    private var sums: [[Double]] = []
    public private(set) var count = 0

    public init() {}

    /// Adds the current parameters of `value` to the average.
    public func add(_ value: Value, structure: Value.TangentVector) {
        let collector = Collector()
        var copy = value
        visitTensors(of: &copy, along: structure, with: collector)
        if sums.isEmpty {
            sums = collector.values
        } else {
            require(sums.count == collector.values.count, "ParameterAverage: the value's structure changed")
            for i in sums.indices {
                for j in sums[i].indices { sums[i][j] += collector.values[i][j] }
            }
        }
        count += 1
    }

    /// Forgets everything added so far.
    public func reset() {
        sums = []
        count = 0
    }

    /// Writes the average into `value`'s parameters.
    public func write(into value: inout Value, structure: Value.TangentVector) {
        require(count > 0, "ParameterAverage: nothing added")
        let writer = Writer(values: sums.map { $0.map { $0 / Double(count) } })
        visitTensors(of: &value, along: structure, with: writer)
    }

    private final class Collector: TensorVisitor, @unchecked Sendable {
        var values: [[Double]] = []
        func visit(_ parameter: inout Tensor<Float>, offset: Tensor<Float>, id: Int) {
            values.append(parameter.scalars.map(Double.init))
        }
        func visit(_ parameter: inout Tensor<Double>, offset: Tensor<Double>, id: Int) {
            values.append(parameter.scalars.array)
        }
    }

    private final class Writer: TensorVisitor, @unchecked Sendable {
        let values: [[Double]]
        var next = 0
        init(values: [[Double]]) { self.values = values }
        func visit(_ parameter: inout Tensor<Float>, offset: Tensor<Float>, id: Int) {
            let source = values[next]
            next += 1
            parameter.withUnsafeMutableScalars { p in for i in p.indices { p[i] = Float(source[i]) } }
        }
        func visit(_ parameter: inout Tensor<Double>, offset: Tensor<Double>, id: Int) {
            let source = values[next]
            next += 1
            parameter.withUnsafeMutableScalars { p in for i in p.indices { p[i] = source[i] } }
        }
    }
}

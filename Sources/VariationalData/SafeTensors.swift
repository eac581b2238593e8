import Foundation
import VariationalCore

/// The safetensors format, which numpy (`safetensors.numpy.load_file`) and PyTorch read: an 8-byte little-endian
/// header length, a JSON header naming each tensor's dtype, shape and byte range (and string metadata under
/// `__metadata__`), then the tensors' little-endian bytes.
public enum SafeTensors {
    /// The file's bytes for named tensors, laid out in the given order.
    public static func encode(_ tensors: [(name: String, tensor: ParameterTensor)], metadata: [String: String] = [:]) -> [UInt8] {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var data: [UInt8] = []
        for (name, tensor) in tensors {
            let start = data.count
            switch tensor {
            case .float(let t): t.scalars.withUnsafeBytes { data.append(contentsOf: $0) }
            case .double(let t): t.scalars.withUnsafeBytes { data.append(contentsOf: $0) }
            }
            header[name] = ["dtype": tensor.typeName, "shape": tensor.shape.array, "data_offsets": [start, data.count]] as [String: Any]
        }
        var json = Array(try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        let length = UInt64(json.count)
        return (0..<8).map { UInt8((length >> (8 * UInt64($0))) & 0xff) } + json + data
    }

    /// Named tensors (in the order of their data) and metadata from a file's bytes; `path` names the file in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws -> (tensors: [(name: String, tensor: ParameterTensor)], metadata: [String: String]) {
        guard bytes.count >= 8 else { throw DataError("\(path): \(bytes.count) bytes, too short for a safetensors file") }
        let length = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1)) }
        guard length <= UInt64(bytes.count - 8) else {
            throw DataError("\(path): header length \(length) at byte 0 runs past the end of the file (\(bytes.count) bytes)")
        }
        let headerEnd = 8 + Int(length)
        guard let header = (try? JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd]))) as? [String: Any] else {
            throw DataError("\(path): the header (bytes 8–\(headerEnd)) is not a JSON object")
        }
        let dataSize = bytes.count - headerEnd
        var metadata: [String: String] = [:]
        var entries: [(name: String, start: Int, tensor: ParameterTensor)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: String] else { throw DataError("\(path): __metadata__ must map strings to strings") }
                metadata = m
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw DataError("\(path): tensor '\(name)' lacks a dtype, a shape or two data offsets") }
            guard dtype == "F32" || dtype == "F64" else { throw DataError("\(path): tensor '\(name)' is \(dtype); only F32 and F64 are read") }
            let width = dtype == "F32" ? 4 : 8
            guard shape.count <= TensorShape.maximumRank else {
                throw DataError("\(path): tensor '\(name)' has \(shape.count) dimensions; at most \(TensorShape.maximumRank) are read")
            }
            var count = 1
            for dimension in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard dimension >= 0, TensorShape.holds(dimension), !overflow else { throw DataError("\(path): tensor '\(name)' has shape \(shape)") }
                count = product
            }
            let (start, end) = (offsets[0], offsets[1])
            guard start >= 0, start <= end, end <= dataSize, end - start == count.multipliedReportingOverflow(by: width).partialValue,
                  !count.multipliedReportingOverflow(by: width).overflow
            else { throw DataError("\(path): tensor '\(name)' has data offsets \(offsets) for \(count) \(dtype) values in \(dataSize) bytes of data") }
            let slice = bytes[(headerEnd + start)..<(headerEnd + end)]
            let tensor: ParameterTensor
            if dtype == "F32" {
                var values = [Float](repeating: 0, count: count)
                values.withUnsafeMutableBytes { $0.copyBytes(from: slice) }
                tensor = .float(Tensor(shape: TensorShape(shape), scalars: values))
            } else {
                var values = [Double](repeating: 0, count: count)
                values.withUnsafeMutableBytes { $0.copyBytes(from: slice) }
                tensor = .double(Tensor(shape: TensorShape(shape), scalars: values))
            }
            entries.append((name, start, tensor))
        }
        return (entries.sorted { $0.start < $1.start }.map { ($0.name, $0.tensor) }, metadata)
    }

    /// Writes the tensors to `path` atomically.
    public static func write(_ tensors: [(name: String, tensor: ParameterTensor)], metadata: [String: String] = [:], to path: String) throws {
        try writeAtomically(encode(tensors, metadata: metadata), to: path)
    }

    /// Reads a file written by `write` (or by another safetensors writer, for F32 and F64 tensors).
    public static func read(from path: String) throws -> (tensors: [(name: String, tensor: ParameterTensor)], metadata: [String: String]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError("\(path): cannot be read") }
        return try decode(Array(data), path: path)
    }
}

import VariationalCore
import Foundation

/// Images as rows of pixel intensities in [0, 1], with optional labels: [count, rows·columns].
public struct ImageDataset: Sendable {
    /// Intensities in [0, 1], row-major, one image after another.
    public let pixels: [Float]
    public let count: Int
    public let rows: Int
    public let columns: Int
    /// One label per image, when the source has them.
    public let labels: [UInt8]?

    public init(pixels: [Float], count: Int, rows: Int, columns: Int, labels: [UInt8]? = nil) {
        require(pixels.count == count * rows * columns, "ImageDataset: \(pixels.count) pixels for \(count) images of \(rows)×\(columns)")
        require(labels == nil || labels!.count == count, "ImageDataset: \(labels!.count) labels for \(count) images")
        self.pixels = pixels
        self.count = count
        self.rows = rows
        self.columns = columns
        self.labels = labels
    }

    /// Pixels per image.
    public var dimension: Int { rows * columns }

    /// True when every pixel is 0 or 1.
    public var isBinary: Bool { pixels.allSatisfy { $0 == 0 || $0 == 1 } }

    /// The mean and variance of each pixel over the images, as a model sees them: the intensities themselves, or
    /// under dynamic binarisation the Bernoulli draws (mean p̄, variance p̄(1 − p̄)). In [0, 1], in Double.
    public func pixelMoments(binarization: Binarization = .none) -> (mean: [Double], variance: [Double]) {
        let d = dimension
        var sum = [Double](repeating: 0, count: d), squares = [Double](repeating: 0, count: d)
        pixels.withUnsafeBufferPointer { source in
            for image in 0..<count {
                for j in 0..<d {
                    let value = Double(source[image * d + j])
                    sum[j] += value
                    squares[j] += value * value
                }
            }
        }
        let n = Double(Swift.max(count, 1))
        let mean = sum.map { $0 / n }
        let variance = (0..<d).map { j in
            Swift.max(0, (binarization == .dynamic ? mean[j] : squares[j] / n) - mean[j] * mean[j])
        }
        return (mean, variance)
    }

    /// The logit of each pixel's mean, log(p̄ / (1 − p̄)) with p̄ clipped to [clip, 1 − clip]: the output bias that
    /// makes a Bernoulli decoder start at the data's mean image (Burda et al.'s initialisation, clip 0.001).
    public func pixelMeanLogits(binarization: Binarization = .none, clip: Double = 0.001) -> [Double] {
        pixelMoments(binarization: binarization).mean.map { mean in
            let p = Swift.min(Swift.max(mean, clip), 1 - clip)
            return Foundation.log(p / (1 - p))
        }
    }

    /// The images at `range` as a data set of their own.
    public func subset(_ range: Range<Int>) -> ImageDataset {
        require(range.lowerBound >= 0 && range.upperBound <= count, "ImageDataset: range \(range) outside 0..<\(count)")
        return ImageDataset(
            pixels: Array(pixels[(range.lowerBound * dimension)..<(range.upperBound * dimension)]), count: range.count,
            rows: rows, columns: columns, labels: labels.map { Array($0[range]) })
    }

    /// The images at `indices`, [indices.count, D], copied into one batch.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func batch<Scalar: TensorScalar>(_ indices: ArraySlice<Int>, as scalar: Scalar.Type = Scalar.self) -> Tensor<Scalar> {
        let d = dimension
        return Tensor(shape: [indices.count, d]) { (out: UnsafeMutableBufferPointer<Scalar>) in
            pixels.withUnsafeBufferPointer { source in
                for (row, index) in indices.enumerated() {
                    require(index >= 0 && index < count, "ImageDataset: image \(index) outside 0..<\(count)")
                    if Scalar.self == Float.self {
                        // Rows are copied whole (they are 3 KB for MNIST, and nothing changes but the place).
                        UnsafeMutableRawPointer(out.baseAddress! + row * d).copyMemory(
                            from: source.baseAddress! + index * d, byteCount: d * MemoryLayout<Float>.stride)
                    } else {
                        for j in 0..<d { out[row * d + j] = Scalar(source[index * d + j]) }
                    }
                }
            }
        }
    }
}

/// How grey levels become the {0, 1} pixels a Bernoulli likelihood is defined on.
public enum Binarization: String, Sendable, CaseIterable {
    /// Keep grey levels (read as probabilities by a Bernoulli decoder, as the usual MNIST VAE does).
    case none
    /// A fresh Bernoulli draw of each pixel with probability its intensity, at every pass (Burda et al.'s setting).
    case dynamic
    /// Data that is binary already (the fixed binarisation of Larochelle & Murray); other data is refused.
    case fixed
}

/// Shuffled minibatches of a data set, one pass at a time; only each batch is copied.
public struct MinibatchStream {
    public let dataset: ImageDataset
    public let batchSize: Int
    public let binarization: Binarization

    public init(dataset: ImageDataset, batchSize: Int, binarization: Binarization) {
        require(batchSize >= 1, "MinibatchStream: batch size must be at least 1")
        self.dataset = dataset
        self.batchSize = batchSize
        self.binarization = binarization
    }

    /// Batches per pass (the last may be smaller).
    public var batchesPerEpoch: Int { (dataset.count + batchSize - 1) / batchSize }

    /// The order of one pass: a seeded shuffle of the indices.
    public func order<G: RandomNumberGenerator>(using generator: inout G) -> [Int] {
        var indices = Array(0..<dataset.count)
        if indices.count > 1 {
            for i in stride(from: indices.count - 1, to: 0, by: -1) {
                indices.swapAt(i, Int(generator.next() % UInt64(i + 1)))
            }
        }
        return indices
    }

    /// Batch `number` of a pass in `order`, binarised as configured (dynamic binarisation draws from `generator`).
    public func batch<Scalar: TensorScalar, G: RandomNumberGenerator>(
        _ number: Int, of order: [Int], as scalar: Scalar.Type = Scalar.self, using generator: inout G
    ) -> Tensor<Scalar> {
        let start = number * batchSize
        let indices = order[start..<Swift.min(start + batchSize, order.count)]
        let x: Tensor<Scalar> = dataset.batch(indices)
        guard binarization == .dynamic else { return x }
        return binarized(x, using: &generator)
    }
}

/// Each pixel 1 with probability its intensity, 0 otherwise.
@_specialize(where Scalar == Float, G == SeededGenerator)
@_specialize(where Scalar == Double, G == SeededGenerator)
public func binarized<Scalar: TensorScalar, G: RandomNumberGenerator>(_ x: Tensor<Scalar>, using generator: inout G) -> Tensor<Scalar> {
    x.map { p in
        let u = Scalar(Double(generator.next() >> 11) * 0x1p-53)
        return u < p ? 1 : 0
    }
}

import Foundation

/// Readers for MNIST in its IDX form (gzip-compressed or not) and for the fixed binarised MNIST of Larochelle &
/// Murray (`.amat`, gzip-compressed or not). Every malformed file is refused with an error naming the file and
/// the place.
public enum MNIST {
    /// The file names of the IDX distribution.
    public static let trainImages = "train-images-idx3-ubyte.gz"
    public static let trainLabels = "train-labels-idx1-ubyte.gz"
    public static let testImages = "t10k-images-idx3-ubyte.gz"
    public static let testLabels = "t10k-labels-idx1-ubyte.gz"

    /// Images and labels of one IDX pair, intensities scaled to [0, 1].
    public static func readIDX(images imagesPath: String, labels labelsPath: String?) throws -> ImageDataset {
        let images = try readIDXImages(at: imagesPath)
        var labels: [UInt8]?
        if let labelsPath {
            let read = try readIDXLabels(at: labelsPath)
            guard read.count == images.count else {
                throw DataError("\(labelsPath): \(read.count) labels for the \(images.count) images of \(imagesPath)")
            }
            labels = read
        }
        let pixels = images.pixels.map { Float($0) / 255 }
        return ImageDataset(pixels: pixels, count: images.count, rows: images.rows, columns: images.columns, labels: labels)
    }

    /// The training (60,000) and test (10,000) sets in `directory`, which holds the four IDX files.
    public static func readIDXDirectory(_ directory: String) throws -> (train: ImageDataset, test: ImageDataset) {
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        return (
            try readIDX(images: path(trainImages), labels: path(trainLabels)),
            try readIDX(images: path(testImages), labels: path(testLabels))
        )
    }

    /// An IDX image file: magic 2051, count, rows, columns (big-endian 32-bit), then count·rows·columns bytes.
    public static func readIDXImages(at path: String) throws -> (count: Int, rows: Int, columns: Int, pixels: [UInt8]) {
        let bytes = try readPossiblyCompressedFile(at: path)
        let header = try idxHeader(bytes, path: path, magic: 2051, dimensions: 3)
        let (count, rows, columns) = (header[0], header[1], header[2])
        guard rows > 0, columns > 0, rows <= 4096, columns <= 4096 else {
            throw DataError("\(path): image size \(rows)×\(columns) in the header (bytes 8–15) is not plausible")
        }
        let expected = count.multipliedReportingOverflow(by: rows * columns)
        guard !expected.overflow else { throw DataError("\(path): \(count) images of \(rows)×\(columns) in the header overflow") }
        try checkLength(bytes, headerSize: 16, expected: expected.partialValue, what: "\(count) images of \(rows)×\(columns)", path: path)
        return (count, rows, columns, Array(bytes[16...]))
    }

    /// An IDX label file: magic 2049, count, then count bytes in 0…9.
    public static func readIDXLabels(at path: String) throws -> [UInt8] {
        let bytes = try readPossiblyCompressedFile(at: path)
        let count = try idxHeader(bytes, path: path, magic: 2049, dimensions: 1)[0]
        try checkLength(bytes, headerSize: 8, expected: count, what: "\(count) labels", path: path)
        let labels = Array(bytes[8...])
        if let bad = labels.firstIndex(where: { $0 > 9 }) {
            throw DataError("\(path): label \(labels[bad]) at byte \(8 + bad) (image \(bad)) is not a digit 0–9")
        }
        return labels
    }

    static func idxHeader(_ bytes: [UInt8], path: String, magic: Int, dimensions: Int) throws -> [Int] {
        let size = 4 + 4 * dimensions
        guard bytes.count >= size else {
            throw DataError("\(path): \(bytes.count) bytes, shorter than the \(size)-byte IDX header")
        }
        func word(_ offset: Int) -> Int {
            (0..<4).reduce(0) { $0 << 8 | Int(bytes[offset + $1]) }
        }
        let found = word(0)
        guard found == magic else {
            let kind = magic == 2051 ? "IDX images" : "IDX labels"
            throw DataError("\(path): magic number \(found) at byte 0, expected \(magic) for \(kind)")
        }
        return (0..<dimensions).map { word(4 + 4 * $0) }
    }

    static func checkLength(_ bytes: [UInt8], headerSize: Int, expected: Int, what: String, path: String) throws {
        let found = bytes.count - headerSize
        if found < expected {
            throw DataError("\(path): truncated: the header announces \(what) (\(expected) bytes), the file has \(found) after it")
        }
        if found > expected {
            throw DataError("\(path): \(found - expected) bytes after the \(what) the header announces")
        }
    }

    /// A `.amat` file of the fixed binarised MNIST: one image a line, 784 values, each 0 or 1, separated by spaces.
    public static func readAmat(at path: String, dimension: Int = 784) throws -> ImageDataset {
        let bytes = try readPossiblyCompressedFile(at: path)
        var pixels: [Float] = []
        pixels.reserveCapacity(bytes.count / 2)
        var line = 1
        var valuesInLine = 0
        var index = 0
        func endLine() throws {
            if valuesInLine != dimension {
                throw DataError("\(path): line \(line) has \(valuesInLine) values, expected \(dimension)")
            }
            line += 1
            valuesInLine = 0
        }
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                index += 1
            case UInt8(ascii: "\n"):
                try endLine()
                index += 1
            default:
                var end = index
                while end < bytes.count, ![UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n")].contains(bytes[end]) {
                    end += 1
                }
                let token = String(decoding: bytes[index..<end], as: UTF8.self)
                guard let value = Double(token), value == 0 || value == 1 else {
                    throw DataError("\(path): line \(line), value \(valuesInLine + 1): '\(token.prefix(20))' is not 0 or 1")
                }
                pixels.append(Float(value))
                valuesInLine += 1
                index = end
            }
        }
        if valuesInLine > 0 { try endLine() }
        let count = line - 1
        guard count > 0 else { throw DataError("\(path): no images") }
        let side = Int(Double(dimension).squareRoot())
        let square = side * side == dimension
        return ImageDataset(pixels: pixels, count: count, rows: square ? side : 1, columns: square ? side : dimension)
    }

    /// The fixed binarised MNIST in `directory`: train (50,000), validation (10,000) and test (10,000).
    public static func readBinarizedDirectory(_ directory: String) throws -> (train: ImageDataset, validation: ImageDataset, test: ImageDataset) {
        func read(_ split: String) throws -> ImageDataset {
            let base = (directory as NSString).appendingPathComponent("binarized_mnist_\(split).amat")
            let path = FileManager.default.fileExists(atPath: base + ".gz") ? base + ".gz" : base
            return try readAmat(at: path)
        }
        return (try read("train"), try read("valid"), try read("test"))
    }
}

import Foundation
import VariationalCore
import VariationalData
import XCTest

/// The readers on small files made here (well-formed and broken in each way the readers check), and on the real
/// MNIST files in ../shared/data when they are there.
final class DataTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("variational-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func write(_ name: String, _ bytes: [UInt8], gzip: Bool = false) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        if gzip {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["gzip", "-f", path]
            try process.run()
            process.waitUntilExit()
            return path + ".gz"
        }
        return path
    }

    func bigEndian(_ values: [Int]) -> [UInt8] {
        values.flatMap { v in (0..<4).map { UInt8((v >> (24 - 8 * $0)) & 0xff) } }
    }

    func assertThrows(_ expression: @autoclosure () throws -> Any, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try expression(), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(fragment), "'\(message)' does not contain '\(fragment)'", file: file, line: line)
            XCTAssertFalse(message.contains("\n"), "one line: \(message)", file: file, line: line)
        }
    }

    func testIDXImagesAndLabelsRoundTrip() throws {
        let pixels: [UInt8] = [0, 255, 128, 7, 9, 0]
        let images = try write("images.idx", bigEndian([2051, 3, 1, 2]) + pixels, gzip: true)
        let labels = try write("labels.idx", bigEndian([2049, 3]) + [4, 0, 9])
        let dataset = try MNIST.readIDX(images: images, labels: labels)
        XCTAssertEqual(dataset.count, 3)
        XCTAssertEqual(dataset.dimension, 2)
        XCTAssertEqual(dataset.pixels, pixels.map { Float($0) / 255 })
        XCTAssertEqual(dataset.labels, [4, 0, 9])
        let batch: Tensor<Float> = dataset.batch([2, 0])
        XCTAssertEqual(batch.shape, [2, 2])
        XCTAssertEqual(batch.scalars, [9 / 255, 0, 0, 1])
    }

    func testMalformedIDXFilesAreRefusedWithOneLine() throws {
        let labels = try write("labels.idx", bigEndian([2049, 2]) + [1, 2])
        assertThrows(try MNIST.readIDXImages(at: try write("magic.idx", bigEndian([2049, 1, 1, 1]) + [0])), "magic.idx: magic number 2049 at byte 0, expected 2051")
        assertThrows(try MNIST.readIDXImages(at: try write("short.idx", [0, 0, 8])), "short.idx: 3 bytes, shorter than the 16-byte IDX header")
        assertThrows(try MNIST.readIDXImages(at: try write("truncated.idx", bigEndian([2051, 2, 2, 2]) + [1, 2, 3])), "truncated.idx: truncated: the header announces 2 images of 2×2 (8 bytes), the file has 3")
        assertThrows(try MNIST.readIDXImages(at: try write("long.idx", bigEndian([2051, 1, 1, 1]) + [1, 2])), "long.idx: 1 bytes after the 1 images of 1×1")
        assertThrows(try MNIST.readIDXImages(at: try write("huge.idx", bigEndian([2051, 0x7fff_ffff, 4096, 4096]))), "huge.idx: truncated")
        assertThrows(try MNIST.readIDXImages(at: try write("zero.idx", bigEndian([2051, 1, 0, 5]))), "zero.idx: image size 0×5")
        assertThrows(try MNIST.readIDX(images: try write("three.idx", bigEndian([2051, 3, 1, 1]) + [1, 2, 3]), labels: labels), "labels.idx: 2 labels for the 3 images")
        assertThrows(try MNIST.readIDXLabels(at: try write("digit.idx", bigEndian([2049, 2]) + [3, 12])), "digit.idx: label 12 at byte 9 (image 1) is not a digit 0–9")
        assertThrows(try MNIST.readIDXLabels(at: directory.appendingPathComponent("absent.idx").path), "absent.idx: no such file")
        // A gzip stream cut short.
        let whole = try Data(contentsOf: URL(fileURLWithPath: try write("cut.idx", bigEndian([2051, 50, 10, 10]) + (0..<5000).map { UInt8($0 % 251) }, gzip: true)))
        let cut = try write("cut-short.gz", Array(whole.prefix(whole.count / 2)))
        assertThrows(try MNIST.readIDXImages(at: cut), "cut-short.gz: corrupt or truncated gzip data")
    }

    func testAmatFiles() throws {
        let good = try write("good.amat", Array("0 1 1 0\n1 1 0 0\n".utf8), gzip: true)
        let dataset = try MNIST.readAmat(at: good, dimension: 4)
        XCTAssertEqual(dataset.count, 2)
        XCTAssertEqual(dataset.pixels, [0, 1, 1, 0, 1, 1, 0, 0])
        XCTAssertEqual([dataset.rows, dataset.columns], [2, 2])
        XCTAssertTrue(dataset.isBinary)
        assertThrows(try MNIST.readAmat(at: try write("ragged.amat", Array("0 1 1 0\n1 1 0\n".utf8)), dimension: 4), "ragged.amat: line 2 has 3 values, expected 4")
        assertThrows(try MNIST.readAmat(at: try write("grey.amat", Array("0 1 0.5 0\n".utf8)), dimension: 4), "grey.amat: line 1, value 3: '0.5' is not 0 or 1")
        assertThrows(try MNIST.readAmat(at: try write("text.amat", Array("0 1 x 0\n".utf8)), dimension: 4), "text.amat: line 1, value 3: 'x' is not 0 or 1")
        assertThrows(try MNIST.readAmat(at: try write("empty.amat", []), dimension: 4), "empty.amat: no images")
    }

    /// Each pass visits every image once, in an order that depends on the seed; dynamic binarisation gives each
    /// pixel 1 with probability its intensity.
    func testMinibatchesAndDynamicBinarization() {
        let dataset = SyntheticDigits.generate(count: 50, seed: 1)
        XCTAssertEqual(dataset.dimension, 784)
        XCTAssertEqual(Set(dataset.labels!).count, 10)
        let stream = MinibatchStream(dataset: dataset, batchSize: 16, binarization: .dynamic)
        var generator = SeededGenerator(seed: 2)
        let order = stream.order(using: &generator)
        XCTAssertEqual(order.sorted(), Array(0..<50))
        XCTAssertNotEqual(order, stream.order(using: &generator))
        XCTAssertEqual(stream.batchesPerEpoch, 4)
        let last: Tensor<Float> = stream.batch(3, of: order, using: &generator)
        XCTAssertEqual(last.shape, [2, 784])
        XCTAssertTrue(last.scalars.allSatisfy { $0 == 0 || $0 == 1 })
        // Binarising the same grey image many times averages back to its intensities (5 standard errors).
        let grey = Tensor<Double>(shape: [1, 4], scalars: [0.1, 0.5, 0.9, 0.0])
        var sums = [Double](repeating: 0, count: 4)
        let draws = 4000
        for _ in 0..<draws {
            let b = binarized(grey, using: &generator)
            for j in 0..<4 { sums[j] += b.scalars[j] }
        }
        for j in 0..<4 {
            let p = grey.scalars[j]
            XCTAssertEqual(sums[j] / Double(draws), p, accuracy: 5 * (p * (1 - p) / Double(draws)).squareRoot() + 1e-12)
        }
    }

    /// The real files, when ../shared/data is beside the checkout (CI has it).
    /// Per-pixel moments by hand: two images of two pixels; under dynamic binarisation the variance is that of
    /// the Bernoulli draws, p̄(1 − p̄).
    func testPixelMoments() {
        let images = ImageDataset(pixels: [0, 0.25, 1, 0.75], count: 2, rows: 1, columns: 2)
        let grey = images.pixelMoments()
        XCTAssertEqual(grey.mean, [0.5, 0.5])
        XCTAssertEqual(grey.variance, [0.25, 0.0625])
        let dynamic = images.pixelMoments(binarization: .dynamic)
        XCTAssertEqual(dynamic.mean, [0.5, 0.5])
        XCTAssertEqual(dynamic.variance, [0.25, 0.25])
        // The decoder's starting bias: the logits of the means, clipped to [0.001, 0.999] (a pixel always 1 here).
        let logits = ImageDataset(pixels: [0, 0.5, 1, 0.25, 0.5, 1], count: 2, rows: 1, columns: 3).pixelMeanLogits()
        XCTAssertEqual(logits[0], Foundation.log(0.125 / 0.875), accuracy: 1e-12)
        XCTAssertEqual(logits[1], 0, accuracy: 1e-12)
        XCTAssertEqual(logits[2], Foundation.log(0.999 / 0.001), accuracy: 1e-9)
    }

    func testSharedMNIST() throws {
        let root = ProcessInfo.processInfo.environment["VARIATIONAL_DATA"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/data").standardized.path
        let mnist = (root as NSString).appendingPathComponent("mnist")
        guard FileManager.default.fileExists(atPath: mnist) else {
            throw XCTSkip("no MNIST at \(mnist) (set VARIATIONAL_DATA to the folder holding mnist/ and binarized_mnist/)")
        }
        let test = try MNIST.readIDX(images: (mnist as NSString).appendingPathComponent(MNIST.testImages),
                                     labels: (mnist as NSString).appendingPathComponent(MNIST.testLabels))
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual([test.rows, test.columns], [28, 28])
        XCTAssertEqual(test.labels?.prefix(5).map { Int($0) }, [7, 2, 1, 0, 4])
        let mean = test.pixels.reduce(0, +) / Float(test.pixels.count)
        XCTAssertEqual(mean, 0.1325, accuracy: 0.001)  // MNIST's well-known mean intensity
        let binary = try MNIST.readAmat(at: (root as NSString).appendingPathComponent("binarized_mnist/binarized_mnist_valid.amat.gz"))
        XCTAssertEqual(binary.count, 10_000)
        XCTAssertTrue(binary.isBinary)
    }
}

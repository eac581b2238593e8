import VariationalCore
import CZlib

/// PNG files of grey images, compressed through zlib.
public enum PNG {
    /// An 8-bit greyscale PNG of `width` × `height` intensities in [0, 1] (clamped), row-major.
    public static func greyscale(width: Int, height: Int, intensities: [Float]) -> [UInt8] {
        require(width > 0 && height > 0 && intensities.count == width * height, "PNG: \(intensities.count) values for \(width)×\(height)")
        var scanlines: [UInt8] = []
        scanlines.reserveCapacity(height * (width + 1))
        for row in 0..<height {
            scanlines.append(0)  // no filter
            for column in 0..<width {
                let value = Swift.min(1, Swift.max(0, intensities[row * width + column].isNaN ? 0 : intensities[row * width + column]))
                scanlines.append(UInt8((value * 255).rounded()))
            }
        }
        var compressedSize = compressBound(UInt(scanlines.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
        let status = compress2(&compressed, &compressedSize, scanlines, UInt(scanlines.count), 9)
        require(status == Z_OK, "PNG: zlib failed with \(status)")
        var header: [UInt8] = []
        header += bigEndian(width) + bigEndian(height)
        header += [8, 0, 0, 0, 0]  // 8 bits, greyscale, deflate, adaptive filtering, no interlace
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + chunk("IHDR", header) + chunk("IDAT", Array(compressed[0..<Int(compressedSize)])) + chunk("IEND", [])
    }

    /// Images of `rows` × `columns` pixels laid out in a grid `across` images wide, one pixel of padding between.
    public static func grid(_ images: [[Float]], rows: Int, columns: Int, across: Int) -> (width: Int, height: Int, intensities: [Float]) {
        let down = (images.count + across - 1) / across
        let (width, height) = (across * (columns + 1) + 1, down * (rows + 1) + 1)
        var canvas = [Float](repeating: 0.5, count: width * height)
        for (index, image) in images.enumerated() {
            let (top, left) = ((index / across) * (rows + 1) + 1, (index % across) * (columns + 1) + 1)
            for r in 0..<rows {
                for c in 0..<columns { canvas[(top + r) * width + left + c] = image[r * columns + c] }
            }
        }
        return (width, height, canvas)
    }

    static func bigEndian(_ value: Int) -> [UInt8] { (0..<4).map { UInt8((value >> (24 - 8 * $0)) & 0xff) } }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeAndData = Array(type.utf8) + data
        let crc = typeAndData.withUnsafeBufferPointer { crc32(0, $0.baseAddress, UInt32($0.count)) }
        return bigEndian(data.count) + typeAndData + bigEndian(Int(crc))
    }
}

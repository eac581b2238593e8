import Foundation
import VariationalCore

/// A built-in data set of 28×28 grey images drawn by code, so that a first run needs no files: ten kinds of
/// figure (ring, bars, cross, diagonals, box, dot, wedge, two rings, corner) at random places, sizes and stroke
/// widths, with soft edges. Labels are the kinds.
public enum SyntheticDigits {
    public static let side = 28

    public static func generate(count: Int, seed: UInt64) -> ImageDataset {
        var generator = SeededGenerator(seed: seed)
        func uniform(_ low: Double, _ high: Double) -> Double {
            low + (high - low) * Double(generator.next() >> 11) * 0x1p-53
        }
        var pixels = [Float](repeating: 0, count: count * side * side)
        var labels = [UInt8](repeating: 0, count: count)
        for image in 0..<count {
            let kind = Int(generator.next() % 10)
            labels[image] = UInt8(kind)
            let (cx, cy) = (uniform(10, 18), uniform(10, 18))
            let size = uniform(5, 9)
            let width = uniform(1.2, 2.4)
            let angle = uniform(-0.3, 0.3)
            for row in 0..<side {
                for column in 0..<side {
                    let (dx0, dy0) = (Double(column) + 0.5 - cx, Double(row) + 0.5 - cy)
                    let dx = dx0 * Foundation.cos(angle) + dy0 * Foundation.sin(angle)
                    let dy = -dx0 * Foundation.sin(angle) + dy0 * Foundation.cos(angle)
                    let distance = strokeDistance(kind: kind, dx: dx, dy: dy, size: size)
                    // Ink 1 inside the stroke, fading to 0 over one pixel.
                    let ink = Swift.min(1, Swift.max(0, width / 2 + 0.5 - distance))
                    pixels[image * side * side + row * side + column] = Float(ink)
                }
            }
        }
        return ImageDataset(pixels: pixels, count: count, rows: side, columns: side, labels: labels)
    }

    /// The distance from (dx, dy) to the figure's centre line.
    static func strokeDistance(kind: Int, dx: Double, dy: Double, size: Double) -> Double {
        func segment(_ ax: Double, _ ay: Double, _ bx: Double, _ by: Double) -> Double {
            let (vx, vy) = (bx - ax, by - ay)
            let t = Swift.min(1, Swift.max(0, ((dx - ax) * vx + (dy - ay) * vy) / (vx * vx + vy * vy)))
            return ((dx - ax - t * vx) * (dx - ax - t * vx) + (dy - ay - t * vy) * (dy - ay - t * vy)).squareRoot()
        }
        let radius = (dx * dx + dy * dy).squareRoot()
        switch kind {
        case 0: return Swift.abs(radius - size)
        case 1: return segment(0, -size, 0, size)
        case 2: return segment(-size, 0, size, 0)
        case 3: return Swift.min(segment(0, -size, 0, size), segment(-size, 0, size, 0))
        case 4: return segment(-size, -size, size, size)
        case 5: return Swift.min(segment(-size, -size, size, -size), segment(size, -size, size, size),
                                 segment(size, size, -size, size), segment(-size, size, -size, -size))
        case 6: return Swift.max(0, radius - size * 0.35)
        case 7: return Swift.min(segment(-size, size, 0, -size), segment(0, -size, size, size))
        case 8: return Swift.min(Swift.abs(((dx) * (dx) + (dy + size / 2) * (dy + size / 2)).squareRoot() - size / 2),
                                 Swift.abs(((dx) * (dx) + (dy - size / 2) * (dy - size / 2)).squareRoot() - size / 2))
        default: return Swift.min(segment(-size, -size, -size, size), segment(-size, size, size, size))
        }
    }
}

import Foundation

/// Rule 5 of docs/tiling.md: the adaptive average pool of the whole image to `thumb x thumb`,
/// the context program's input. Bin `i` of a side `n` averages `floor(i*n/T) ..< ceil((i+1)*n/T)`,
/// so small images are repeated, not interpolated. Accumulates in float64 like `mossnet.core.tiling`
/// (rows first, then columns) and returns float32 NCHW `(1, 3, T, T)`.
public extension RGBImage {
    func thumbnail(side t: Int) -> [Float] {
        precondition(width >= 1 && height >= 1 && t >= 1, "thumbnail of an empty image")
        // Rows pooled: t x width x 3, float64.
        var rowsPooled = [Double](repeating: 0, count: t * width * 3)
        for i in 0..<t {
            let (lo, hi) = Self.bin(i, n: height, out: t)
            var acc = [Double](repeating: 0, count: width * 3)
            for y in lo..<hi {
                let base = y * width * 3
                for j in 0..<(width * 3) { acc[j] += Double(bytes[base + j]) / 255.0 }
            }
            for j in 0..<(width * 3) { rowsPooled[i * width * 3 + j] = acc[j] / Double(hi - lo) }
        }
        var out = [Float](repeating: 0, count: 3 * t * t)
        for j in 0..<t {
            let (lo, hi) = Self.bin(j, n: width, out: t)
            for i in 0..<t {
                for c in 0..<3 {
                    var sum = 0.0
                    for x in lo..<hi { sum += rowsPooled[(i * width + x) * 3 + c] }
                    out[(c * t + i) * t + j] = Float(sum / Double(hi - lo))
                }
            }
        }
        return out
    }

    /// `[floor(i*n/out), ceil((i+1)*n/out))`.
    internal static func bin(_ i: Int, n: Int, out: Int) -> (Int, Int) {
        (i * n / out, ((i + 1) * n + out - 1) / out)
    }
}

import Foundation

/// An 8-bit RGB image, row-major, channel last (HWC): byte `(y * width + x) * 3 + c`.
/// The layout of the conformance vectors and of `numpy` images in the Python code. `alpha`
/// (one byte a pixel, straight) is nil for an opaque image; the model sees only the colour and
/// `Upscaler` resizes the alpha on its own (the alpha policy, docs/conformance.md "photos").
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var bytes: [UInt8]
    public var alpha: [UInt8]?

    public init(width: Int, height: Int, bytes: [UInt8], alpha: [UInt8]? = nil) {
        precondition(width >= 0 && height >= 0 && bytes.count == width * height * 3, "RGB buffer size mismatch")
        precondition(alpha == nil || alpha!.count == width * height, "alpha size mismatch")
        (self.width, self.height, self.bytes, self.alpha) = (width, height, bytes, alpha)
    }

    /// From straight (not premultiplied) RGBA8; an alpha of 255 everywhere counts as none.
    public init(rgba: [UInt8], width: Int, height: Int) {
        precondition(rgba.count == width * height * 4, "RGBA buffer size mismatch")
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        var alpha = [UInt8](repeating: 255, count: width * height)
        var opaque = true
        for i in 0..<(width * height) {
            rgb[3 * i] = rgba[4 * i]
            rgb[3 * i + 1] = rgba[4 * i + 1]
            rgb[3 * i + 2] = rgba[4 * i + 2]
            alpha[i] = rgba[4 * i + 3]
            if alpha[i] != 255 { opaque = false }
        }
        self.init(width: width, height: height, bytes: rgb, alpha: opaque ? nil : alpha)
    }

    /// Straight RGBA8 (alpha 255 where the image has none), ready for a `CGImage`.
    public func rgbaBytes() -> [UInt8] {
        var rgba = [UInt8](repeating: 255, count: width * height * 4)
        for i in 0..<(width * height) {
            rgba[4 * i] = bytes[3 * i]
            rgba[4 * i + 1] = bytes[3 * i + 1]
            rgba[4 * i + 2] = bytes[3 * i + 2]
            if let alpha { rgba[4 * i + 3] = alpha[i] }
        }
        return rgba
    }
}

/// Rule 6 of docs/tiling.md, in the exact float32 arithmetic of `mossnet.core.tiling`.
public enum Normalization {
    /// Model input value of a byte: a float32 division by 255.
    @inline(__always)
    public static func toModelInput(_ byte: UInt8) -> Float { Float(byte) / 255 }

    /// Byte of a model output value: `floor(clamp(v, 0, 1) * 255 + 0.5)`, two separately
    /// rounded float32 operations (no fused multiply-add). NaN becomes 0.
    @inline(__always)
    public static func toUInt8(_ value: Float) -> UInt8 {
        guard !value.isNaN else { return 0 }
        let clamped = min(max(value, 0), 1)
        let scaled: Float = clamped * 255
        return UInt8((scaled + 0.5).rounded(.down))
    }
}

public extension RGBImage {
    /// Rule 3: a tile's `inputSize x inputSize` window, HWC bytes, edges replicated by
    /// clamping each index into the image.
    func extractPatch(_ tile: Tile, _ t: TilingConfig) -> [UInt8] {
        let n = t.inputSize
        let xs = (0..<n).map { min(max(tile.x - t.halo + $0, 0), width - 1) }
        var out = [UInt8](repeating: 0, count: n * n * 3)
        for row in 0..<n {
            let sy = min(max(tile.y - t.halo + row, 0), height - 1)
            for col in 0..<n {
                let src = (sy * width + xs[col]) * 3, dst = (row * n + col) * 3
                out[dst] = bytes[src]
                out[dst + 1] = bytes[src + 1]
                out[dst + 2] = bytes[src + 2]
            }
        }
        return out
    }
}

public enum Planar {
    /// HWC bytes -> normalized float32 NCHW (N = 1): the model input layout.
    public static func modelInput(hwc: [UInt8], height: Int, width: Int) -> [Float] {
        let plane = height * width
        var out = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            for c in 0..<3 { out[c * plane + i] = Normalization.toModelInput(hwc[3 * i + c]) }
        }
        return out
    }

    /// Float32 NCHW (N = 1) -> HWC bytes, rounded by rule 6.
    public static func bytes(chw: [Float], height: Int, width: Int) -> [UInt8] {
        let plane = height * width
        var out = [UInt8](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            for c in 0..<3 { out[3 * i + c] = Normalization.toUInt8(chw[c * plane + i]) }
        }
        return out
    }
}

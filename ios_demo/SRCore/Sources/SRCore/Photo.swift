import Foundation

/// A photo as stored: straight (not premultiplied) RGBA8, row-major, 4 bytes a pixel.
///
/// The alpha policy (docs/conformance.md, "photos"), the same in the Python CLI and both apps:
/// the network sees only the colour (the straight RGB, whatever the alpha); the alpha channel is
/// resized on its own with Pillow's bicubic (`AlphaResize`) and put back. An alpha that is 255
/// everywhere counts as none (output alpha 255). Core Graphics draws premultiplied only, so the
/// iOS shell un-premultiplies what it decodes (colour under alpha < 255 may then differ from
/// Python's by rounding; under alpha 0 it is lost, and invisible).
public struct RGBAImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var bytes: [UInt8]

    public init(width: Int, height: Int, bytes: [UInt8]) {
        precondition(width >= 0 && height >= 0 && bytes.count == width * height * 4, "RGBA buffer size mismatch")
        (self.width, self.height, self.bytes) = (width, height, bytes)
    }

    public init(rgb: RGBImage, alpha: [UInt8]?) {
        let n = rgb.width * rgb.height
        precondition(alpha == nil || alpha!.count == n, "alpha size mismatch")
        var out = [UInt8](repeating: 255, count: n * 4)
        for i in 0..<n {
            out[4 * i] = rgb.bytes[3 * i]
            out[4 * i + 1] = rgb.bytes[3 * i + 1]
            out[4 * i + 2] = rgb.bytes[3 * i + 2]
            if let a = alpha { out[4 * i + 3] = a[i] }
        }
        self.init(width: rgb.width, height: rgb.height, bytes: out)
    }

    public var isOpaque: Bool { stride(from: 3, to: bytes.count, by: 4).allSatisfy { bytes[$0] == 255 } }
    /// The same pixels as the core's `RGBImage` (alpha kept, nil when opaque).
    public var rgb: RGBImage { RGBImage(rgba: bytes, width: width, height: height) }
    public var alpha: [UInt8] { stride(from: 3, to: bytes.count, by: 4).map { bytes[$0] } }
}

/// EXIF orientation (tag 0x0112), applied as Pillow's `ImageOps.exif_transpose` does (the Python
/// reader): 1 as stored, 2 mirrored, 3 turned 180, 4 flipped, 5 transposed, 6 turned 90
/// clockwise, 7 transversed, 8 turned 90 counter-clockwise. Anything else counts as 1.
public enum ExifOrientation {
    public static func apply(_ image: RGBAImage, orientation: Int) -> RGBAImage {
        guard (2...8).contains(orientation) else { return image }
        let h = image.height, w = image.width
        let swap = orientation >= 5
        let outW = swap ? h : w, outH = swap ? w : h
        var out = [UInt8](repeating: 0, count: image.bytes.count)
        for y in 0..<outH {
            for x in 0..<outW {
                let (sy, sx): (Int, Int)
                switch orientation {
                case 2: (sy, sx) = (y, w - 1 - x)
                case 3: (sy, sx) = (h - 1 - y, w - 1 - x)
                case 4: (sy, sx) = (h - 1 - y, x)
                case 5: (sy, sx) = (x, y)
                case 6: (sy, sx) = (h - 1 - x, y)
                case 7: (sy, sx) = (h - 1 - x, w - 1 - y)
                default: (sy, sx) = (x, w - 1 - y)  // 8
                }
                let src = 4 * (sy * w + sx), dst = 4 * (y * outW + x)
                for c in 0..<4 { out[dst + c] = image.bytes[src + c] }
            }
        }
        return RGBAImage(width: outW, height: outH, bytes: out)
    }
}

/// An 8-bit channel resized with Pillow's bicubic (`Image.resize(..., BICUBIC)` on mode "L",
/// which `mossnet.core.image_io.resize_alpha` calls): Keys' cubic with a = -0.5, support 2
/// (scaled when shrinking), weights normalized over the taps inside the image and turned into
/// 22-bit fixed point; a horizontal pass into 8-bit rows, then a vertical one. Integer-exact.
public enum AlphaResize {
    private static let precisionBits = 32 - 8 - 2

    private static func cubic(_ x0: Double) -> Double {
        let a = -0.5
        let x = x0 < 0 ? -x0 : x0
        if x < 1.0 { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1 }
        if x < 2.0 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0.0
    }

    private static func coefficients(inSize: Int, outSize: Int) -> (ksize: Int, bounds: [Int], weights: [Int32]) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = scale < 1.0 ? 1.0 : scale
        let support = 2.0 * filterScale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        var bounds = [Int](repeating: 0, count: outSize * 2)
        var weights = [Int32](repeating: 0, count: outSize * ksize)
        var k = [Double](repeating: 0, count: ksize)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let ss = 1.0 / filterScale
            var xmin = Int(center - support + 0.5)  // truncation toward zero, as C's (int)
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + support + 0.5)
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            var ww = 0.0
            for x in 0..<xmax {
                let w = cubic((Double(x + xmin) - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            let one = Double(1 << precisionBits)
            for x in 0..<ksize {
                let v = x < xmax ? (ww != 0.0 ? k[x] / ww : k[x]) : 0.0
                weights[xx * ksize + x] = v < 0 ? Int32(-0.5 + v * one) : Int32(0.5 + v * one)
            }
            bounds[2 * xx] = xmin
            bounds[2 * xx + 1] = xmax
        }
        return (ksize, bounds, weights)
    }

    private static func clip8(_ v: Int32) -> UInt8 { UInt8(min(max(v >> Int32(precisionBits), 0), 255)) }

    /// `width x height` bytes -> `outWidth x outHeight` bytes, row-major.
    public static func bicubic(_ src: [UInt8], width: Int, height: Int, outWidth: Int, outHeight: Int) -> [UInt8] {
        precondition(src.count == width * height, "alpha size mismatch")
        let h = coefficients(inSize: width, outSize: outWidth)
        let half = Int32(1) << Int32(precisionBits - 1)
        var tmp = [UInt8](repeating: 0, count: outWidth * height)
        for y in 0..<height {
            for xx in 0..<outWidth {
                let xmin = h.bounds[2 * xx]
                var ss = half
                for x in 0..<h.bounds[2 * xx + 1] {
                    ss &+= Int32(src[y * width + x + xmin]) &* h.weights[xx * h.ksize + x]
                }
                tmp[y * outWidth + xx] = clip8(ss)
            }
        }
        let v = coefficients(inSize: height, outSize: outHeight)
        var out = [UInt8](repeating: 0, count: outWidth * outHeight)
        for yy in 0..<outHeight {
            let ymin = v.bounds[2 * yy], ymax = v.bounds[2 * yy + 1]
            for xx in 0..<outWidth {
                var ss = half
                for y in 0..<ymax {
                    ss &+= Int32(tmp[(y + ymin) * outWidth + xx]) &* v.weights[yy * v.ksize + y]
                }
                out[yy * outWidth + xx] = clip8(ss)
            }
        }
        return out
    }
}

public extension Upscaler {
    /// A stored photo through the whole pipeline of the Python CLI: EXIF orientation, the tiled
    /// upscale of the colour, the alpha resized with `AlphaResize` (docs/conformance.md, "photos").
    func upscalePhoto(_ stored: RGBAImage, orientation: Int = 1,
                      progress: @Sendable (UpscaleProgress) -> Void = { _ in }) async throws -> RGBAImage {
        let upright = ExifOrientation.apply(stored, orientation: orientation)
        let out = try await upscale(upright.rgb, progress: progress)  // alpha resized there
        return RGBAImage(rgb: out, alpha: out.alpha)
    }
}

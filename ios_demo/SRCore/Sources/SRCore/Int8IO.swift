import Foundation

/// One tensor's I/O quantization as the manifest records it (`io_quantization`): an int8
/// runtime (LiteRT int8) takes and returns int8 tensors, and the app converts at the boundary
/// with the tensor's own (scale, zero point). Core ML artifacts keep float32 I/O (the manifest
/// says `null`), so the Core ML shell never needs this; other int8 runners do.
public struct TensorQuantization: Equatable, Sendable {
    public let dtype: String
    public let scale: Float
    public let zeroPoint: Int

    /// Only `int8` is quantized; `float32` tensors (scale 0 in LiteRT) pass through.
    public init(dtype: String, scale: Float, zeroPoint: Int) throws {
        guard dtype == "int8" || dtype == "float32" else {
            throw ManifestError(.ioQuantization, "unsupported I/O dtype \(dtype)")
        }
        guard dtype == "float32" || (scale > 0 && scale.isFinite && (-128...127).contains(zeroPoint)) else {
            throw ManifestError(.ioQuantization, "bad int8 quantization: scale \(scale), zero point \(zeroPoint)")
        }
        (self.dtype, self.scale, self.zeroPoint) = (dtype, scale, zeroPoint)
    }

    public var isInt8: Bool { dtype == "int8" }

    /// `clamp(roundHalfToEven(x / scale) + zero_point, -128, 127)`, float32 like the LiteRT runner.
    @inline(__always)
    public func quantize(_ x: Float) -> Int8 {
        let q: Float = (x / scale).rounded(.toNearestOrEven) + Float(zeroPoint)
        guard !q.isNaN else { return Int8(zeroPoint) }
        return Int8(min(max(q, -128), 127))
    }

    /// `(q - zero_point) * scale` in float32.
    @inline(__always)
    public func dequantize(_ q: Int8) -> Float {
        (Float(q) - Float(zeroPoint)) * scale
    }

    public func quantize(_ xs: [Float]) -> [Int8] { xs.map(quantize) }
    public func dequantize(_ qs: [Int8]) -> [Float] { qs.map(dequantize) }
}

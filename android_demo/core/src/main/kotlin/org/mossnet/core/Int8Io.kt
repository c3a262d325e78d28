package org.mossnet.core

/**
 * The (scale, zero point) of one int8 model input or output, from the manifest's
 * `io_quantization` (full-integer models, e.g. LiteRT int8; ExecuTorch `.pte` files keep float
 * I/O and have none). Arithmetic as targets/tflite/runner.py, spelled out in docs/conformance.md.
 */
data class QuantParams(val scale: Float, val zeroPoint: Int, val dtype: String = "int8") {
    init {
        require(dtype == "int8") { "unsupported quantized dtype $dtype (only int8)" }
        require(scale > 0f && scale.isFinite()) { "quantization scale $scale must be positive" }
    }

    /** `clamp(roundHalfToEven(x / scale) + zeroPoint, -128, 127)`, the division in float32. */
    fun quantize(x: Float): Byte {
        val q = Math.rint((x / scale).toDouble()) + zeroPoint
        return q.coerceIn(-128.0, 127.0).toInt().toByte()
    }

    /** `(q - zeroPoint) * scale`, in float32. */
    fun dequantize(q: Byte): Float = (q.toFloat() - zeroPoint.toFloat()) * scale

    fun quantize(xs: FloatArray, out: ByteArray = ByteArray(xs.size)): ByteArray {
        for (i in xs.indices) out[i] = quantize(xs[i])
        return out
    }

    fun dequantize(qs: ByteArray, out: FloatArray = FloatArray(qs.size)): FloatArray {
        for (i in qs.indices) out[i] = dequantize(qs[i])
        return out
    }
}

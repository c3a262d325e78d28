package org.mossnet.core

import kotlin.math.floor
import kotlin.math.max
import kotlin.math.min

/**
 * An image as packed straight (not premultiplied) ARGB ints, row-major: the layout of Android's
 * `Bitmap.getPixels`/`setPixels`, so the platform shell copies pixels without conversion. The
 * model sees only R, G and B; an alpha other than 0xFF somewhere is resized on its own by
 * [Upscaler] (the alpha policy, docs/conformance.md "photos").
 */
class RgbImage(val width: Int, val height: Int, val argb: IntArray = IntArray(width * height)) {
    init {
        require(width >= 1 && height >= 1) { "empty image (${width}x$height)" }
        require(argb.size == width * height) { "${argb.size} pixels for a ${width}x$height image" }
    }

    companion object {
        /** From `height * width * 3` RGB bytes, row-major, channel last (the vectors' layout). */
        fun fromRgbBytes(width: Int, height: Int, rgb: ByteArray): RgbImage {
            require(rgb.size == width * height * 3) { "${rgb.size} bytes for a ${width}x$height RGB image" }
            return RgbImage(width, height, IntArray(width * height) { i ->
                packArgb(rgb[3 * i].toInt() and 0xFF, rgb[3 * i + 1].toInt() and 0xFF, rgb[3 * i + 2].toInt() and 0xFF)
            })
        }
    }

    /** Whether some pixel is not fully opaque. */
    val hasAlpha: Boolean get() = argb.any { (it ushr 24) != 0xFF }

    /** `height * width * 3` RGB bytes, row-major, channel last. */
    fun toRgbBytes(): ByteArray {
        val out = ByteArray(argb.size * 3)
        for (i in argb.indices) {
            out[3 * i] = red(argb[i]).toByte()
            out[3 * i + 1] = green(argb[i]).toByte()
            out[3 * i + 2] = blue(argb[i]).toByte()
        }
        return out
    }
}

fun packArgb(r: Int, g: Int, b: Int): Int = (0xFF shl 24) or (r shl 16) or (g shl 8) or b
fun red(argb: Int): Int = (argb ushr 16) and 0xFF
fun green(argb: Int): Int = (argb ushr 8) and 0xFF
fun blue(argb: Int): Int = argb and 0xFF

/** Rule 6, model input: `u8 / 255` as a float32 division. */
fun normalize(u8: Int): Float = u8.toFloat() / 255f

/** Rule 6, model output: `floor(clamp(v, 0, 1) * 255 + 0.5)`, every step in float32. */
fun toUint8(v: Float): Int {
    val clamped = min(max(v, 0f), 1f)
    return floor(clamped * 255f + 0.5f).toInt()
}

package org.mossnet.core

import kotlin.math.ceil

/**
 * A photo as stored: straight (not premultiplied) RGBA bytes, row-major, 4 a pixel. Android's
 * `Bitmap.getPixels` gives straight ARGB ints ([fromArgb]); Python's reader gives the same.
 *
 * The alpha policy (docs/conformance.md, "photos"), the same in the Python CLI and both apps:
 * the network sees only the colour (the straight RGB, whatever the alpha); the alpha channel is
 * resized on its own with Pillow's bicubic ([AlphaResize]) and put back. An alpha that is 255
 * everywhere counts as none (output alpha 255).
 */
class RgbaImage(val width: Int, val height: Int, val rgba: ByteArray) {
    init {
        require(width >= 1 && height >= 1) { "empty image (${width}x$height)" }
        require(rgba.size == width * height * 4) { "${rgba.size} bytes for a ${width}x$height RGBA image" }
    }

    val isOpaque: Boolean get() = (0 until width * height).all { rgba[4 * it + 3] == 0xFF.toByte() }

    /** The same pixels as the core's [RgbImage] (straight ARGB ints, alpha kept). */
    fun rgb(): RgbImage = RgbImage(width, height, toArgb())

    fun alpha(): ByteArray = ByteArray(width * height) { rgba[4 * it + 3] }

    /** Straight ARGB ints for `Bitmap.setPixels`. */
    fun toArgb(): IntArray = IntArray(width * height) { i ->
        ((rgba[4 * i + 3].toInt() and 0xFF) shl 24) or ((rgba[4 * i].toInt() and 0xFF) shl 16) or
            ((rgba[4 * i + 1].toInt() and 0xFF) shl 8) or (rgba[4 * i + 2].toInt() and 0xFF)
    }

    companion object {
        /** From straight ARGB ints (`Bitmap.getPixels`). */
        fun fromArgb(width: Int, height: Int, argb: IntArray): RgbaImage {
            require(argb.size == width * height) { "${argb.size} pixels for a ${width}x$height image" }
            val out = ByteArray(width * height * 4)
            for (i in argb.indices) {
                out[4 * i] = (argb[i] ushr 16).toByte()
                out[4 * i + 1] = (argb[i] ushr 8).toByte()
                out[4 * i + 2] = argb[i].toByte()
                out[4 * i + 3] = (argb[i] ushr 24).toByte()
            }
            return RgbaImage(width, height, out)
        }

        fun of(rgb: RgbImage, alpha: ByteArray?): RgbaImage {
            val n = rgb.width * rgb.height
            require(alpha == null || alpha.size == n) { "alpha of ${alpha?.size} bytes for $n pixels" }
            return RgbaImage(rgb.width, rgb.height, ByteArray(n * 4).also { out ->
                for (i in 0 until n) {
                    out[4 * i] = red(rgb.argb[i]).toByte()
                    out[4 * i + 1] = green(rgb.argb[i]).toByte()
                    out[4 * i + 2] = blue(rgb.argb[i]).toByte()
                    out[4 * i + 3] = alpha?.get(i) ?: 0xFF.toByte()
                }
            })
        }
    }
}

/**
 * EXIF orientation (tag 0x0112), applied as Pillow's `ImageOps.exif_transpose` does (the Python
 * reader): 1 as stored, 2 mirrored, 3 turned 180, 4 flipped, 5 transposed, 6 turned 90 clockwise,
 * 7 transversed, 8 turned 90 counter-clockwise. Anything else counts as 1.
 */
object ExifOrientation {
    fun apply(image: RgbaImage, orientation: Int): RgbaImage {
        if (orientation !in 2..8) return image
        val h = image.height
        val w = image.width
        val swap = orientation >= 5
        val outW = if (swap) h else w
        val outH = if (swap) w else h
        val out = ByteArray(image.rgba.size)
        for (y in 0 until outH) for (x in 0 until outW) {
            val (sy, sx) = when (orientation) {
                2 -> y to w - 1 - x
                3 -> h - 1 - y to w - 1 - x
                4 -> h - 1 - y to x
                5 -> x to y
                6 -> h - 1 - x to y
                7 -> h - 1 - x to w - 1 - y
                else -> x to w - 1 - y // 8
            }
            System.arraycopy(image.rgba, 4 * (sy * w + sx), out, 4 * (y * outW + x), 4)
        }
        return RgbaImage(outW, outH, out)
    }
}

/**
 * An 8-bit channel resized with Pillow's bicubic (`Image.resize(..., BICUBIC)` on mode "L", which
 * `mossnet.core.image_io.resize_alpha` calls): Keys' cubic with a = -0.5, support 2 (scaled up
 * when shrinking), weights normalized over the taps inside the image, turned into 22-bit fixed
 * point; a horizontal pass into 8-bit rows, then a vertical pass. Integer-exact with Pillow.
 */
object AlphaResize {
    private const val PRECISION_BITS = 32 - 8 - 2

    private fun bicubic(x0: Double): Double {
        val a = -0.5
        val x = if (x0 < 0.0) -x0 else x0
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a
        return 0.0
    }

    private class Coefficients(val ksize: Int, val bounds: IntArray, val weights: IntArray)

    private fun coefficients(inSize: Int, outSize: Int): Coefficients {
        val scale = inSize.toDouble() / outSize
        val filterScale = if (scale < 1.0) 1.0 else scale
        val support = 2.0 * filterScale
        val ksize = ceil(support).toInt() * 2 + 1
        val bounds = IntArray(outSize * 2)
        val weights = IntArray(outSize * ksize)
        val k = DoubleArray(ksize)
        for (xx in 0 until outSize) {
            val center = (xx + 0.5) * scale
            val ss = 1.0 / filterScale
            var xmin = (center - support + 0.5).toInt()
            if (xmin < 0) xmin = 0
            var xmax = (center + support + 0.5).toInt()
            if (xmax > inSize) xmax = inSize
            xmax -= xmin
            var ww = 0.0
            for (x in 0 until xmax) {
                val w = bicubic((x + xmin - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            for (x in 0 until ksize) {
                val v = if (x < xmax) (if (ww != 0.0) k[x] / ww else k[x]) else 0.0
                weights[xx * ksize + x] =
                    if (v < 0) (-0.5 + v * (1 shl PRECISION_BITS)).toInt() else (0.5 + v * (1 shl PRECISION_BITS)).toInt()
            }
            bounds[2 * xx] = xmin
            bounds[2 * xx + 1] = xmax
        }
        return Coefficients(ksize, bounds, weights)
    }

    private fun clip8(v: Int): Byte = (v shr PRECISION_BITS).coerceIn(0, 255).toByte()

    /** `width x height` bytes -> `outWidth x outHeight` bytes, row-major. */
    fun bicubic(src: ByteArray, width: Int, height: Int, outWidth: Int, outHeight: Int): ByteArray {
        require(src.size == width * height) { "${src.size} bytes for ${width}x$height" }
        val ch = coefficients(width, outWidth)
        val tmp = ByteArray(outWidth * height)
        for (y in 0 until height) for (xx in 0 until outWidth) {
            val xmin = ch.bounds[2 * xx]
            var ss = 1 shl (PRECISION_BITS - 1)
            for (x in 0 until ch.bounds[2 * xx + 1]) {
                ss += (src[y * width + x + xmin].toInt() and 0xFF) * ch.weights[xx * ch.ksize + x]
            }
            tmp[y * outWidth + xx] = clip8(ss)
        }
        val cv = coefficients(height, outHeight)
        val out = ByteArray(outWidth * outHeight)
        for (yy in 0 until outHeight) {
            val ymin = cv.bounds[2 * yy]
            val ymax = cv.bounds[2 * yy + 1]
            for (xx in 0 until outWidth) {
                var ss = 1 shl (PRECISION_BITS - 1)
                for (y in 0 until ymax) {
                    ss += (tmp[(y + ymin) * outWidth + xx].toInt() and 0xFF) * cv.weights[yy * cv.ksize + y]
                }
                out[yy * outWidth + xx] = clip8(ss)
            }
        }
        return out
    }
}

/**
 * A stored photo through the whole pipeline of the Python CLI: EXIF orientation, the tiled
 * upscale of the colour, the alpha resized with [AlphaResize] (docs/conformance.md, "photos").
 */
fun Upscaler.upscalePhoto(
    stored: RgbaImage,
    orientation: Int = 1,
    onProgress: (done: Int, total: Int) -> Unit = { _, _ -> },
    ensureActive: () -> Unit = {},
): RgbaImage {
    val upright = ExifOrientation.apply(stored, orientation)
    val out = upscale(upright.rgb(), onProgress, ensureActive) // alpha resized there (the policy)
    return RgbaImage.fromArgb(out.width, out.height, out.argb)
}

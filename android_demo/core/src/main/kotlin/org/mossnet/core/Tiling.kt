package org.mossnet.core

import kotlin.math.max
import kotlin.math.min

/**
 * The tiling of one exported model, read from its manifest (never hard-coded in the app).
 * Rules: docs/tiling.md; the Python original is mossnet/core/tiling.py.
 */
data class TilingConfig(val scale: Int, val patch: Int, val halo: Int, val align: Int, val thumb: Int) {
    init {
        require(align > 0) { "align $align must be positive" }
        require(patch > 0 && patch % align == 0) { "patch $patch must be a positive multiple of $align" }
        require(halo >= 0 && halo % align == 0) { "halo $halo must be a non-negative multiple of $align" }
        require(scale > 0 && thumb > 0) { "scale $scale and thumb $thumb must be positive" }
    }

    /** Side of a tile's input: the core plus the halo on each side. */
    val inputSize: Int get() = patch + 2 * halo

    /** Side of a tile's output: the core, upscaled. */
    val outputSize: Int get() = patch * scale
}

/** One tile: core origin ([y], [x]) and the LR rectangle it owns, `[ownY0, ownY1) x [ownX0, ownX1)`. */
data class Tile(val y: Int, val x: Int, val ownY0: Int, val ownY1: Int, val ownX0: Int, val ownX1: Int)

/** Rule 1: a side extended to a multiple of `align`, and at least one patch. */
fun canvasSize(side: Int, t: TilingConfig): Int = max((side + t.align - 1) / t.align * t.align, t.patch)

/** Rule 2: core starts along one axis; the last one flush with the canvas end. */
fun axisStarts(side: Int, t: TilingConfig): List<Int> {
    val canvas = canvasSize(side, t)
    val starts = (0..canvas - t.patch step t.patch).toMutableList()
    if (starts.last() + t.patch < canvas) starts += canvas - t.patch
    return starts
}

/** Rule 4 along one axis: (start, ownFrom, ownTo) per tile; tiles owning nothing are dropped. */
fun axisOwnership(side: Int, t: TilingConfig): List<Triple<Int, Int, Int>> {
    val out = mutableListOf<Triple<Int, Int, Int>>()
    var covered = 0
    for (start in axisStarts(side, t)) {
        val ownTo = min(start + t.patch, side)
        if (ownTo > covered) {
            out += Triple(start, covered, ownTo)
            covered = ownTo
        }
    }
    return out
}

/** The whole plan, rows top to bottom and columns left to right (the order every port uses). */
fun planTiles(height: Int, width: Int, t: TilingConfig): List<Tile> {
    require(height >= 1 && width >= 1) { "cannot tile an empty image (${width}x$height)" }
    val rows = axisOwnership(height, t)
    val cols = axisOwnership(width, t)
    return rows.flatMap { (y, oy0, oy1) -> cols.map { (x, ox0, ox1) -> Tile(y, x, oy0, oy1, ox0, ox1) } }
}

/**
 * Rule 3 and rule 6: the tile's input window, read with clamped indices and normalized to
 * NCHW float32 `(1, 3, n, n)`. [out] is reused between tiles so that only one patch is alive.
 */
fun extractPatch(image: RgbImage, tile: Tile, t: TilingConfig,
                 out: FloatArray = FloatArray(3 * t.inputSize * t.inputSize)): FloatArray {
    val n = t.inputSize
    require(out.size == 3 * n * n) { "patch buffer holds ${out.size} floats, not ${3 * n * n}" }
    val plane = n * n
    for (i in 0 until n) {
        val sy = (tile.y - t.halo + i).coerceIn(0, image.height - 1)
        for (j in 0 until n) {
            val sx = (tile.x - t.halo + j).coerceIn(0, image.width - 1)
            val p = image.argb[sy * image.width + sx]
            val k = i * n + j
            out[k] = normalize(red(p))
            out[plane + k] = normalize(green(p))
            out[2 * plane + k] = normalize(blue(p))
        }
    }
    return out
}

/**
 * Rule 5: the adaptive average pool of the whole image to `thumb x thumb`, NCHW `(1, 3, T, T)`.
 * Accumulates in double, rows first then columns (as mossnet/core/tiling.py), narrows at the end.
 */
fun thumbnail(image: RgbImage, thumb: Int): FloatArray {
    val h = image.height
    val w = image.width
    val rowPooled = DoubleArray(thumb * w * 3) // [bin][x][c]
    for (i in 0 until thumb) {
        val y0 = i * h / thumb
        val y1 = ceilDiv((i + 1) * h, thumb)
        for (x in 0 until w) {
            var r = 0.0
            var g = 0.0
            var b = 0.0
            for (y in y0 until y1) {
                val p = image.argb[y * w + x]
                r += red(p) / 255.0
                g += green(p) / 255.0
                b += blue(p) / 255.0
            }
            val base = (i * w + x) * 3
            rowPooled[base] = r / (y1 - y0)
            rowPooled[base + 1] = g / (y1 - y0)
            rowPooled[base + 2] = b / (y1 - y0)
        }
    }
    val out = FloatArray(3 * thumb * thumb)
    for (i in 0 until thumb) for (j in 0 until thumb) {
        val x0 = j * w / thumb
        val x1 = ceilDiv((j + 1) * w, thumb)
        for (c in 0 until 3) {
            var s = 0.0
            for (x in x0 until x1) s += rowPooled[(i * w + x) * 3 + c]
            out[(c * thumb + i) * thumb + j] = (s / (x1 - x0)).toFloat()
        }
    }
    return out
}

/**
 * Rules 4 and 6: round a tile's NCHW float output `(1, 3, s*P, s*P)` to bytes and write only
 * the part the tile owns into [into], at `scale` times its LR coordinates.
 */
fun stitch(output: FloatArray, tile: Tile, t: TilingConfig, into: RgbImage) {
    val o = t.outputSize
    val s = t.scale
    check(output.size == 3 * o * o) { "patch output holds ${output.size} floats, not ${3 * o * o}" }
    check(into.width % s == 0 && into.height % s == 0) { "output ${into.width}x${into.height} is not x$s" }
    val plane = o * o
    for (y in tile.ownY0 * s until tile.ownY1 * s) {
        val oy = y - tile.y * s
        for (x in tile.ownX0 * s until tile.ownX1 * s) {
            val k = oy * o + (x - tile.x * s)
            into.argb[y * into.width + x] =
                packArgb(toUint8(output[k]), toUint8(output[plane + k]), toUint8(output[2 * plane + k]))
        }
    }
}

private fun ceilDiv(a: Int, b: Int): Int = (a + b - 1) / b

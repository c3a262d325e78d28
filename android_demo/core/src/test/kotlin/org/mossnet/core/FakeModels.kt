package org.mossnet.core

import kotlin.math.floor

/**
 * The fake context and patch models of docs/conformance.md ("The fake models"): the only
 * stand-in in these tests. Integer-exact, position-dependent output, so every tiling mistake
 * shows as a byte mismatch against the vectors.
 */
class FakePatchRunner(private val t: TilingConfig, private val modulation: List<Int>) : PatchRunner {
    var contextCalls = 0
        private set
    var patchCalls = 0
        private set

    override fun context(thumbnail: FloatArray): FloatArray {
        check(thumbnail.size == 3 * t.thumb * t.thumb) { "thumbnail of ${thumbnail.size} floats" }
        contextCalls++
        return FloatArray(modulation.size) { modulation[it].toFloat() }
    }

    override fun upscalePatch(patch: FloatArray, modulation: FloatArray): FloatArray {
        val n = t.inputSize
        val s = t.scale
        val o = t.outputSize
        val h = t.halo
        check(patch.size == 3 * n * n) { "patch of ${patch.size} floats" }
        patchCalls++
        fun q(c: Int, y: Int, x: Int): Int = floor(patch[(c * n + y) * n + x] * 255f + 0.5f).toInt()
        val out = FloatArray(3 * o * o)
        val quarters = intArrayOf(0, 1, 3)
        for (c in 0 until 3) {
            val m = modulation[c % modulation.size].toInt()
            for (yy in 0 until o) for (xx in 0 until o) {
                val u = yy / s
                val v = xx / s
                val a = yy % s
                val b = xx % s
                val centre = q(c, u + h, v + h)
                val before = q((c + 1) % 3, u, v)
                val after = q((c + 2) % 3, u + 2 * h, v + 2 * h)
                val d = (before + 2 * after + 3 * a + 5 * b + 7 * u + 11 * v + m) % 17 - 8
                val r = quarters[(u + v + a + b) % 3]
                out[(c * o + yy) * o + xx] = (4 * (centre + d) + r).toFloat() / 1020f
            }
        }
        return out
    }
}

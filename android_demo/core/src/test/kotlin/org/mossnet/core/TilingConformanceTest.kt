package org.mossnet.core

import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.TestFactory
import kotlin.math.abs
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue

/** Tile plans, refusals, tile inputs and thumbnails: docs/tiling.md rules 1 to 5. */
class TilingConformanceTest {
    @TestFactory
    fun plans(): List<DynamicTest> = Vectors.section("plans").map { case ->
        dynamicTest("plan ${case.getString("name")}") {
            val t = case.tiling()
            val h = case.getInt("height")
            val w = case.getInt("width")
            assertEquals(case.getJSONArray("canvas").ints(), listOf(canvasSize(h, t), canvasSize(w, t)), "canvas")
            assertEquals(case.getInt("input_size"), t.inputSize, "input size")
            assertEquals(case.getInt("output_size"), t.outputSize, "output size")
            val expected = case.getJSONArray("tiles").let { a -> (0 until a.length()).map { a.getJSONArray(it).tile() } }
            assertEquals(expected, planTiles(h, w, t))
        }
    }

    @TestFactory
    fun invalidTilings(): List<DynamicTest> = Vectors.section("invalid_tilings").map { case ->
        dynamicTest("refuse ${case.getString("name")}") {
            val c = case.getJSONObject("tiling")
            val make = { TilingConfig(c.getInt("scale"), c.getInt("patch"), c.getInt("halo"), c.getInt("align"), c.getInt("thumb")) }
            when (val error = case.getString("error")) {
                "config" -> assertFailsWith<IllegalArgumentException> { make() }
                "empty_image" -> {
                    val t = make()
                    assertFailsWith<IllegalArgumentException> { planTiles(case.getInt("height"), case.getInt("width"), t) }
                }
                else -> error("unknown error kind $error")
            }
        }
    }

    @TestFactory
    fun patches(): List<DynamicTest> = Vectors.section("patches").map { case ->
        dynamicTest("patch ${case.getString("name")}") {
            val t = case.tiling()
            val n = t.inputSize
            val got = extractPatch(case.image(), case.getJSONArray("tile").tile(), t)
            val want = RgbImage.fromRgbBytes(n, n, case.bytes("patch_b64"))
            val plane = n * n
            for (k in 0 until plane) {
                val p = want.argb[k]
                assertEquals(normalize(red(p)), got[k], "R at $k")
                assertEquals(normalize(green(p)), got[plane + k], "G at $k")
                assertEquals(normalize(blue(p)), got[2 * plane + k], "B at $k")
            }
        }
    }

    @TestFactory
    fun thumbnails(): List<DynamicTest> {
        val tolerance = Vectors.root.getJSONObject("tolerances").getDouble("thumbnail_abs")
        return Vectors.section("thumbnails").map { case ->
            dynamicTest("thumbnail ${case.getString("name")}") {
                val values = case.getJSONArray("values")
                val got = thumbnail(case.image(), case.getInt("thumb"))
                assertEquals(values.length(), got.size, "size")
                for (i in got.indices) {
                    val diff = abs(got[i].toDouble() - values.float32(i).toDouble())
                    assertTrue(diff <= tolerance, "value $i: ${got[i]} vs ${values.float32(i)}")
                }
            }
        }
    }
}

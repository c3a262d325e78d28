package org.mossnet.core

import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import java.security.MessageDigest
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith

/** The whole tiled driver through the fake models: output bytes must match Python's exactly. */
class UpscalerConformanceTest {
    private fun sha256(bytes: ByteArray) =
        MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it.toInt() and 0xFF) }

    @TestFactory
    fun upscales(): List<DynamicTest> = Vectors.section("upscales").map { case ->
        dynamicTest("upscale ${case.getString("name")}") {
            val t = case.tiling()
            val runner = FakePatchRunner(t, case.getJSONArray("modulation").ints())
            val out = Upscaler(t, runner).upscale(case.image())
            assertEquals(case.getInt("width") * t.scale, out.width)
            assertEquals(case.getInt("height") * t.scale, out.height)
            assertEquals(1, runner.contextCalls, "context calls")
            assertEquals(case.getInt("tiles"), runner.patchCalls, "patch calls")
            val bytes = out.toRgbBytes()
            assertEquals(case.getString("output_sha256"), sha256(bytes), "output SHA-256")
            assertContentEquals(case.bytes("output_b64"), bytes)
        }
    }

    private val case = Vectors.section("upscales").first { it.getInt("tiles") > 4 }

    @Test
    fun progressCountsEveryTile() {
        val t = case.tiling()
        val seen = mutableListOf<Pair<Int, Int>>()
        Upscaler(t, FakePatchRunner(t, listOf(1))).upscale(case.image(), onProgress = { d, n -> seen += d to n })
        val n = case.getInt("tiles")
        assertEquals((0..n).map { it to n }, seen)
        assertEquals(n, Upscaler(t, FakePatchRunner(t, listOf(1))).tileCount(case.getInt("width"), case.getInt("height")))
    }

    private class Cancelled : RuntimeException()

    @Test
    fun cancellationStopsBeforeTheNextTile() {
        val t = case.tiling()
        val runner = FakePatchRunner(t, listOf(1))
        var checks = 0
        assertFailsWith<Cancelled> {
            Upscaler(t, runner).upscale(case.image(), ensureActive = { if (++checks > 3) throw Cancelled() })
        }
        assertEquals(1, runner.contextCalls)
        assertEquals(2, runner.patchCalls) // checks: before context, tile 1, tile 2; the 4th throws
    }

    @Test
    fun aRunnerWithTheWrongOutputSizeIsRefused() {
        val t = case.tiling()
        val wrong = object : PatchRunner {
            override fun context(thumbnail: FloatArray) = floatArrayOf(0f)
            override fun upscalePatch(patch: FloatArray, modulation: FloatArray) = FloatArray(3)
        }
        assertFailsWith<IllegalStateException> { Upscaler(t, wrong).upscale(case.image()) }
    }
}

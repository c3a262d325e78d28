package org.mossnet.core

import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.TestFactory
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals

/**
 * The shipped 64 / 8 tiling and the photo cases (EXIF orientation, alpha) against Python
 * (docs/conformance.md): byte-exact, compared by SHA-256 where the output is too large to store.
 */
class PhotoConformanceTest {
    @TestFactory
    fun shippedUpscales(): List<DynamicTest> = Vectors.section("shipped_upscales").map { case ->
        dynamicTest("shipped ${case.getString("name")}") {
            val t = case.tiling()
            assertEquals(TilingConfig(4, 64, 8, 2, 64), t)
            val runner = FakePatchRunner(t, case.getJSONArray("modulation").ints())
            val out = Upscaler(t, runner).upscale(case.image())
            assertEquals(case.getInt("tiles"), runner.patchCalls, "patch calls")
            assertEquals(case.getString("output_sha256"), ArtifactHash.of(out.toRgbBytes()))
        }
    }

    @TestFactory
    fun orientations(): List<DynamicTest> = Vectors.section("orientations").map { case ->
        dynamicTest(case.getString("name")) {
            val stored = RgbaImage(case.getInt("width"), case.getInt("height"), case.bytes("rgba_b64"))
            val upright = ExifOrientation.apply(stored, case.getInt("orientation"))
            assertEquals(case.getInt("out_width") to case.getInt("out_height"), upright.width to upright.height)
            assertContentEquals(case.bytes("expected_rgba_b64"), upright.rgba)
        }
    }

    @TestFactory
    fun alphaResizes(): List<DynamicTest> = Vectors.section("alpha_resizes").map { case ->
        dynamicTest("alpha ${case.getString("name")}") {
            val w = case.getInt("width")
            val h = case.getInt("height")
            val s = case.getInt("scale")
            assertContentEquals(case.bytes("expected_b64"), AlphaResize.bicubic(case.bytes("alpha_b64"), w, h, w * s, h * s))
        }
    }

    @TestFactory
    fun photos(): List<DynamicTest> = Vectors.section("photos").map { case ->
        dynamicTest("photo ${case.getString("name")}") {
            val t = case.tiling()
            val runner = FakePatchRunner(t, case.getJSONArray("modulation").ints())
            val stored = RgbaImage(case.getInt("width"), case.getInt("height"), case.bytes("rgba_b64"))
            val out = Upscaler(t, runner).upscalePhoto(stored, case.getInt("orientation"))
            assertEquals(case.getInt("out_width") to case.getInt("out_height"), out.width to out.height)
            assertEquals(case.getInt("tiles"), runner.patchCalls, "patch calls")
            val px = out.width * out.height
            assertEquals(case.getString("rgb_sha256"), ArtifactHash.of(ByteArray(3 * px) { out.rgba[4 * (it / 3) + it % 3] }), "RGB")
            assertEquals(case.getString("alpha_sha256"), ArtifactHash.of(ByteArray(px) { out.rgba[4 * it + 3] }), "alpha")
            // the Android shell's packing round-trips: straight ARGB ints in and out
            assertContentEquals(out.rgba, RgbaImage.fromArgb(out.width, out.height, out.toArgb()).rgba)
        }
    }

    @org.junit.jupiter.api.Test
    fun opaqueImagesStayOpaqueAndAlphaIsCarriedInTheArgbInts() {
        val t = TilingConfig(4, 16, 4, 2, 8)
        val opaque = RgbImage.fromRgbBytes(3, 2, ByteArray(18) { (it * 13).toByte() })
        val out = Upscaler(t, FakePatchRunner(t, listOf(1))).upscale(opaque)
        assertEquals(false, out.hasAlpha)
        val alpha = byteArrayOf(0, 40, 80, 120, (200).toByte(), (255).toByte())
        val translucent = RgbImage(3, 2, IntArray(6) { (opaque.argb[it] and 0xFFFFFF) or ((alpha[it].toInt() and 0xFF) shl 24) })
        val out2 = Upscaler(t, FakePatchRunner(t, listOf(1))).upscale(translucent)
        assertContentEquals(out.toRgbBytes(), out2.toRgbBytes(), "the model sees the same colour")
        assertContentEquals(AlphaResize.bicubic(alpha, 3, 2, 12, 8), ByteArray(96) { (out2.argb[it] ushr 24).toByte() })
    }

    @TestFactory
    fun realManifests(): List<DynamicTest> = Vectors.section("real_manifests").map { case ->
        dynamicTest("real manifest ${case.getString("name")}") {
            val expect = case.getJSONObject("expect")
            val m = Manifest.load(case.getString("manifest_text"), expect.getString("runtime"), expect.getInt("scale")) {
                case.getString("artifact_sha256")
            }
            val loaded = case.getJSONObject("loaded")
            assertEquals(loaded.getString("precision"), m.precision)
            assertEquals(loaded.tiling(), m.tiling)
            assertEquals(loaded.getDouble("bound_db"), m.boundDb)
            val toolkit = loaded.getJSONObject("toolkit")
            assertEquals(toolkit.keys().asSequence().associateWith { toolkit.get(it).toString() }, m.toolkit)
            val st = loaded.optJSONObject("selftest")
            assertEquals(st?.getString("sha256"), m.selftest?.sha256)
            assertEquals(listOf(1, 3, 80, 80), m.program("upscale_patch").inputs[0].shape)
        }
    }
}

package org.mossnet.core

import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals

/** Rule 6 (normalization and output rounding) and ARGB packing. */
class PixelsConformanceTest {
    private val section = Vectors.root.getJSONObject("normalization")

    @Test
    fun toModelInputIsBitExact() {
        val rows = section.getJSONArray("to_model_input")
        assertEquals(256, rows.length())
        for (i in 0 until rows.length()) {
            val row = rows.getJSONArray(i)
            assertEquals(row.float32(1).toRawBits(), normalize(row.getInt(0)).toRawBits(), "u8 ${row.getInt(0)}")
        }
    }

    @TestFactory
    fun toUint8(): List<DynamicTest> = section.getJSONArray("to_uint8").let { rows ->
        (0 until rows.length()).map { i ->
            val row = rows.getJSONArray(i)
            dynamicTest("to_uint8(${row.float32(0)})") { assertEquals(row.getInt(1), toUint8(row.float32(0))) }
        }
    }

    @Test
    fun rgbBytesRoundTripThroughArgb() {
        val rgb = ByteArray(2 * 3 * 3) { (it * 37 + 200).toByte() }
        val image = RgbImage.fromRgbBytes(3, 2, rgb)
        assertEquals(0xFF, image.argb[0] ushr 24, "opaque")
        assertEquals(rgb[0].toInt() and 0xFF, red(image.argb[0]))
        assertContentEquals(rgb, image.toRgbBytes())
    }
}

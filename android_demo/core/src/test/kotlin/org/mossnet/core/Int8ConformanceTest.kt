package org.mossnet.core

import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith

/** int8 I/O quantization both ways: round half to even, clamping, zero points. */
class Int8ConformanceTest {
    @TestFactory
    fun cases(): List<DynamicTest> = Vectors.section("int8").flatMap { case ->
        val p = QuantParams(case.getDouble("scale").toFloat(), case.getInt("zero_point"), case.getString("dtype"))
        listOf(
            dynamicTest("quantize ${case.getString("name")}") {
                val rows = case.getJSONArray("quantize")
                for (i in 0 until rows.length()) {
                    val row = rows.getJSONArray(i)
                    assertEquals(row.getInt(1), p.quantize(row.float32(0)).toInt(), "x = ${row.float32(0)}")
                }
            },
            dynamicTest("dequantize ${case.getString("name")}") {
                val rows = case.getJSONArray("dequantize")
                for (i in 0 until rows.length()) {
                    val row = rows.getJSONArray(i)
                    val got = p.dequantize(row.getInt(0).toByte())
                    assertEquals(row.float32(1).toRawBits(), got.toRawBits(), "q = ${row.getInt(0)}: $got")
                }
            },
        )
    }

    @Test
    fun arraysMatchScalars() {
        val p = QuantParams(0.5f, 3)
        val xs = floatArrayOf(-70f, -0.25f, 0.25f, 0.75f, 70f)
        val qs = p.quantize(xs)
        assertEquals(xs.map { p.quantize(it) }, qs.toList())
        assertEquals(qs.map { p.dequantize(it) }, p.dequantize(qs).toList())
    }

    @Test
    fun onlyInt8IsSupported() {
        assertFailsWith<IllegalArgumentException> { QuantParams(0.1f, 0, "uint8") }
        assertFailsWith<IllegalArgumentException> { QuantParams(0f, 0) }
    }
}

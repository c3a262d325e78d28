package org.mossnet.demo

import org.junit.Assert.assertEquals
import org.junit.Test
import org.mossnet.core.ModelStatus
import org.mossnet.core.PatchRunner
import org.mossnet.core.ReadyModel
import org.mossnet.core.RgbImage
import org.mossnet.core.TilingConfig
import org.mossnet.core.UpscaleController
import org.mossnet.core.UpscaleState
import org.mossnet.core.UpscaleText

/**
 * The controller as the ViewModel wires it (upscale on pick), on the JVM with inline executors.
 * The thorough state-machine tests (threads, cancellation at every stage, errors once) are the
 * core's, run on Linux by core/run_tests.sh; this checks the app compiles against them and the
 * screen's lines read as the README says.
 */
class ControllerWiringTest {
    private val tiling = TilingConfig(4, 16, 4, 2, 8)

    /** Nearest-neighbour "model": every HR pixel is its LR centre pixel, exactly. */
    private val nearest = object : PatchRunner {
        override fun context(thumbnail: FloatArray) = floatArrayOf(0f)
        override fun upscalePatch(patch: FloatArray, modulation: FloatArray): FloatArray {
            val n = tiling.inputSize
            val o = tiling.outputSize
            return FloatArray(3 * o * o) { i ->
                val c = i / (o * o)
                val y = (i / o) % o / tiling.scale + tiling.halo
                val x = i % o / tiling.scale + tiling.halo
                patch[(c * n + y) * n + x]
            }
        }
    }

    @Test
    fun pickUpscalesAndTheScreenLinesFollow() {
        val states = mutableListOf<UpscaleState>()
        val input = RgbImage(20, 10, IntArray(200) { 0xFF000000.toInt() or (it * 1234567) })
        val controller = UpscaleController<String>(
            loader = { ReadyModel(tiling, nearest, "fake x4") },
            decoder = { _, _ -> input },
            saver = { _, _ -> "Saved to Pictures/MossNet" },
            worker = { it.run() },
            main = { it.run() },
            listener = { states += it },
            nanoTime = { 0L },
        )
        controller.start()
        assertEquals(ModelStatus.Ready("fake x4", 4, null), controller.state.model)
        controller.pick("photo")
        val out = controller.state.output!!
        assertEquals(80, out.width)
        assertEquals(input.argb[0], out.argb[0])
        assertEquals("Tile 0 of 2", states.first { it.tilesTotal > 0 }.let(UpscaleText::progress))
        assertEquals("0 ms · 2 tiles · 20x10 → 80x40", UpscaleText.result(controller.state))
        controller.save()
        assertEquals("Saved to Pictures/MossNet", controller.state.message)
    }
}

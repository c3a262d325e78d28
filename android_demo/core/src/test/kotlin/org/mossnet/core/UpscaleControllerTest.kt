package org.mossnet.core

import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertNotEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlin.test.fail

/**
 * The demo's state machine (UpscaleController) on real threads, with the conformance fake model
 * behind a gate that can hold any program call: cancellation at every stage, monotone and
 * complete progress, errors reported exactly once, nothing but state updates on "main".
 */
class UpscaleControllerTest {
    private val case = Vectors.section("upscales").first { it.getString("name") == "46x66_x2" }
    private val tiling = case.tiling()
    private val image = case.image()
    private val tiles = case.getInt("tiles")

    private val mainThread = AtomicThread()
    private val main: ExecutorService = Executors.newSingleThreadExecutor { r -> mainThread.make(r, "test-main") }
    private val worker: ExecutorService = Executors.newCachedThreadPool { r -> Thread(r, "test-worker") }

    @AfterEach
    fun shutDown() {
        main.shutdownNow()
        worker.shutdownNow()
    }

    class AtomicThread {
        @Volatile var thread: Thread? = null
        fun make(r: Runnable, name: String) = Thread(r, name).also { thread = it }
    }

    /** Opens once [count] holders arrive; each call of [pass] at a gated index blocks until [release]. */
    class Gate(private val at: Int) {
        val reached = CountDownLatch(1)
        private val released = CountDownLatch(1)
        fun pass(index: Int) {
            if (index != at) return
            reached.countDown()
            check(released.await(10, TimeUnit.SECONDS)) { "gate never released" }
        }
        fun release() = released.countDown()
        fun awaitReached() = check(reached.await(10, TimeUnit.SECONDS)) { "gate at $at never reached" }
    }

    /** The fake model, counting calls (0 = context, i = tile i), recording threads and overlap. */
    inner class Runner(private val gate: Gate? = null, private val failAt: Int = -1) : PatchRunner {
        private val fake = FakePatchRunner(tiling, case.getJSONArray("modulation").ints())
        val calls = AtomicInteger()
        val threads: MutableList<Thread> = Collections.synchronizedList(mutableListOf())
        private val inside = AtomicInteger()
        val maxInside = AtomicInteger()
        val closes = AtomicInteger()
        @Volatile var closeThread: Thread? = null

        private fun <T> call(block: () -> T): T {
            val index = calls.getAndIncrement()
            threads += Thread.currentThread()
            maxInside.accumulateAndGet(inside.incrementAndGet(), ::maxOf)
            try {
                gate?.pass(index)
                if (index == failAt) throw IllegalStateException("boom at call $index")
                return block()
            } finally {
                inside.decrementAndGet()
            }
        }

        override fun context(thumbnail: FloatArray) = call { fake.context(thumbnail) }
        override fun upscalePatch(patch: FloatArray, modulation: FloatArray) = call { fake.upscalePatch(patch, modulation) }
        override fun close() {
            closes.incrementAndGet()
            closeThread = Thread.currentThread()
        }
    }

    inner class Harness(
        val runner: Runner = Runner(),
        loadFails: Boolean = false,
        private val decodeGate: Gate? = null,
        decodeFails: Boolean = false,
        saveFails: Boolean = false,
        upscaleOnPick: Boolean = true,
    ) {
        val states: MutableList<UpscaleState> = Collections.synchronizedList(mutableListOf())
        val errors: MutableList<String> = Collections.synchronizedList(mutableListOf())
        val offMain: MutableList<String> = Collections.synchronizedList(mutableListOf())
        val listenerThreads: MutableSet<Thread> = Collections.synchronizedSet(mutableSetOf())
        val decodedMaxPixels = mutableListOf<Long>()
        private var clock = 0L

        private fun work(what: String) {
            if (Thread.currentThread() === mainThread.thread) fail("$what ran on the main thread")
            offMain += what
        }

        val controller = UpscaleController<String>(
            loader = {
                work("load")
                if (loadFails) throw IllegalStateException("no model in the assets")
                ReadyModel(tiling, runner, "fake x${tiling.scale}")
            },
            decoder = { photo, maxPixels ->
                work("decode")
                synchronized(decodedMaxPixels) { decodedMaxPixels += maxPixels }
                decodeGate?.pass(0)
                if (decodeFails) throw IllegalArgumentException("not an image: $photo")
                image
            },
            saver = { _, scale ->
                work("save")
                if (saveFails) throw java.io.IOException("disk full")
                "Saved x$scale"
            },
            worker = worker,
            main = main,
            listener = { s ->
                listenerThreads += Thread.currentThread()
                states += s
            },
            onError = { e ->
                if (Thread.currentThread() !== mainThread.thread) fail("onError off the main thread")
                errors += e
            },
            upscaleOnPick = upscaleOnPick,
            maxOutputPixels = 1_000_000,
            nanoTime = { clock += 7_000_000; clock },
        )

        /** The state once main and worker have nothing left to do. */
        fun settle(): UpscaleState {
            var last: UpscaleState? = null
            repeat(200) {
                val s = main.submit<UpscaleState> { controller.state }.get(10, TimeUnit.SECONDS)
                if (s === last && !s.busy) return s
                last = s
                Thread.sleep(5)
            }
            fail("the controller did not settle: $last")
        }

        fun ready(): Harness = apply {
            controller.start()
            assertIs<ModelStatus.Ready>(settle().model)
        }

        fun checkThreads() {
            assertEquals(setOf(mainThread.thread), listenerThreads.toSet(), "listener only on main")
            assertTrue(runner.threads.none { it === mainThread.thread }, "runner called on main")
        }

        fun tileProgress(): List<Int> = states.filter { it.phase == Phase.RUNNING || it.output != null }.map { it.tilesDone }
    }

    @Test
    fun loadsTheModelOnTheWorkerThenIsReady() {
        val h = Harness()
        assertIs<ModelStatus.Loading>(h.controller.state.model)
        h.controller.start()
        val s = h.settle()
        assertEquals(ModelStatus.Ready("fake x2", 2, null), s.model)
        assertTrue(s.canPick)
        assertFalse(s.canSave)
        assertEquals(listOf("load"), h.offMain)
        assertEquals(emptyList(), h.errors)
        h.checkThreads()
    }

    @Test
    fun aModelThatFailsToLoadIsReportedOnceAndBlocksPicking() {
        val h = Harness(loadFails = true)
        h.controller.start()
        h.controller.start() // idempotent
        val s = h.settle()
        assertEquals(ModelStatus.Failed("no model in the assets"), s.model)
        assertEquals(listOf("no model in the assets"), h.errors)
        assertFalse(s.canPick)
        h.controller.pick("photo")
        h.settle()
        assertEquals(listOf("no model in the assets", "The model is not loaded yet."), h.errors)
        assertEquals(0, h.runner.calls.get())
    }

    @Test
    fun pickDecodesOffMainThenUpscalesExactlyLikeThePythonDriver() {
        val h = Harness().ready()
        h.controller.pick("photo")
        val s = h.settle()
        val out = assertNotNull(s.output)
        assertContentEquals(case.bytes("output_b64"), out.toRgbBytes())
        assertEquals(image, s.input)
        assertEquals(1_000_000L / (tiling.scale * tiling.scale), h.decodedMaxPixels.single())
        assertEquals(1 + tiles, h.runner.calls.get())
        assertEquals(tiles, s.tilesTotal)
        assertEquals(7L, s.latencyMs) // one tick of the fake clock (7 ms) between start and end
        assertNull(s.message)
        assertTrue(s.canSave && s.canPick && !s.canCancel)
        assertEquals(emptyList(), h.errors)
        assertEquals(listOf("load", "decode"), h.offMain)
        h.checkThreads()
    }

    @Test
    fun progressIsMonotoneAndComplete() {
        val h = Harness().ready()
        h.controller.pick("photo")
        h.settle()
        val seen = h.tileProgress()
        assertEquals(0, seen.first())
        assertEquals(tiles, seen.last())
        assertTrue(seen.zipWithNext().all { (a, b) -> b >= a }, "not monotone: $seen")
        assertTrue(h.states.filter { it.phase == Phase.RUNNING }.all { it.tilesTotal == tiles })
        val fractions = h.states.map { it.progress }
        assertTrue(fractions.all { it in 0f..1f })
    }

    /** Cancel while call [at] (0 = the context program, i = tile i) is running: nothing after it runs. */
    @TestFactory
    fun cancelAtEveryStage(): List<DynamicTest> = (0..tiles).map { at ->
        dynamicTest(if (at == 0) "cancel during the context call" else "cancel during tile $at of $tiles") {
            val gate = Gate(at)
            val h = Harness(runner = Runner(gate)).ready()
            h.controller.pick("photo")
            gate.awaitReached()
            h.controller.cancel()
            h.controller.cancel() // a second press changes nothing
            val during = main.submit<UpscaleState> { h.controller.state }.get()
            assertTrue(during.cancelling && !during.canCancel && during.phase == Phase.RUNNING)
            gate.release()
            val s = h.settle()
            assertEquals(at + 1, h.runner.calls.get(), "a program call started after cancel")
            assertEquals("Cancelled", s.message)
            assertNull(s.output)
            assertEquals(Phase.IDLE, s.phase)
            assertFalse(s.cancelling)
            assertTrue(s.canUpscale, "the input stays, ready to run again")
            assertEquals(emptyList(), h.errors, "a cancellation is not an error")
            assertEquals(1, h.states.count { it.message == "Cancelled" })
            val seen = h.tileProgress()
            // The tile in flight when Cancel was pressed completes and counts; none after it.
            assertTrue(seen.all { it <= at }, "progress past the cancelled tile: $seen")
            h.checkThreads()
        }
    }

    @Test
    fun cancelWhileDecodingDropsThePhotoAndNeverRunsTheModel() {
        val gate = Gate(0)
        val h = Harness(decodeGate = gate).ready()
        h.controller.pick("photo")
        gate.awaitReached()
        h.controller.cancel()
        main.submit {}.get() // cancel() posts to main: let it land before the decoder goes on
        gate.release()
        val s = h.settle()
        assertEquals("Cancelled", s.message)
        assertNull(s.input)
        assertEquals(0, h.runner.calls.get())
        assertEquals(emptyList(), h.errors)
    }

    @Test
    fun cancelWhenIdleDoesNothing() {
        val h = Harness().ready()
        val before = h.states.size
        h.controller.cancel()
        h.settle()
        assertEquals(before, h.states.size)
        h.controller.pick("photo")
        h.settle()
        h.controller.cancel() // after the run: no-op
        val s = h.settle()
        assertNotNull(s.output)
        assertNull(s.message)
    }

    @Test
    fun aRunnerErrorIsReportedExactlyOnceAndTheNextRunWorks() {
        val h = Harness(runner = Runner(failAt = 3)).ready()
        h.controller.pick("photo")
        val s = h.settle()
        assertEquals(listOf("Upscaling failed: boom at call 3"), h.errors)
        assertEquals("Upscaling failed: boom at call 3", s.message)
        assertEquals(4, h.runner.calls.get(), "no call after the failing one")
        assertNull(s.output)
        assertEquals(1, h.states.count { it.message?.startsWith("Upscaling failed") == true && it.phase == Phase.IDLE })
        // A retry runs on (failAt only fires once: call 3 is past).
        h.controller.upscale()
        val again = h.settle()
        assertNotNull(again.output)
        assertEquals(1, h.errors.size)
    }

    @Test
    fun aDecoderErrorIsReportedExactlyOnce() {
        val h = Harness(decodeFails = true).ready()
        h.controller.pick("video.mp4")
        val s = h.settle()
        assertEquals(listOf("Could not open the photo: not an image: video.mp4"), h.errors)
        assertNull(s.input)
        assertEquals(0, h.runner.calls.get())
        assertTrue(s.canPick)
    }

    @Test
    fun pickWithoutAutoUpscaleWaitsForUpscale() {
        val h = Harness(upscaleOnPick = false).ready()
        h.controller.pick("photo")
        var s = h.settle()
        assertEquals(image, s.input)
        assertNull(s.output)
        assertEquals(0, h.runner.calls.get())
        assertTrue(s.canUpscale)
        h.controller.upscale()
        s = h.settle()
        assertContentEquals(case.bytes("output_b64"), assertNotNull(s.output).toRgbBytes())
    }

    @Test
    fun savingRunsOnTheWorkerAndSaysWhere() {
        val h = Harness().ready()
        h.controller.save() // nothing to save yet: ignored
        h.settle()
        assertFalse("save" in h.offMain)
        h.controller.pick("photo")
        h.settle()
        h.controller.save()
        val s = h.settle()
        assertEquals("Saved x2", s.message)
        assertTrue("save" in h.offMain)
        assertTrue(h.states.any { it.phase == Phase.SAVING })
        assertEquals(emptyList(), h.errors)
    }

    @Test
    fun aSaveErrorIsReportedExactlyOnceAndKeepsTheResult() {
        val h = Harness(saveFails = true).ready()
        h.controller.pick("photo")
        h.settle()
        h.controller.save()
        val s = h.settle()
        assertEquals(listOf("Could not save: disk full"), h.errors)
        assertNotNull(s.output)
        assertTrue(s.canSave)
    }

    @Test
    fun pickingDuringARunSupersedesItWithoutOverlap() {
        val gate = Gate(4)
        val h = Harness(runner = Runner(gate)).ready()
        h.controller.pick("first")
        gate.awaitReached()
        h.controller.pick("second")
        main.submit {}.get() // pick() posts to main: let it cancel the first run before that goes on
        gate.release()
        val s = h.settle()
        assertContentEquals(case.bytes("output_b64"), assertNotNull(s.output).toRgbBytes())
        assertEquals(1, h.runner.maxInside.get(), "two runs overlapped in the runtime")
        assertEquals(5 + 1 + tiles, h.runner.calls.get(), "the first run stopped after its 5th call")
        assertNull(s.message, "the superseded run reports nothing")
        assertEquals(emptyList(), h.errors)
    }

    @Test
    fun closeFreesTheRunnerOnlyAfterTheRunStopsThenGoesQuiet() {
        val gate = Gate(2)
        val h = Harness(runner = Runner(gate)).ready()
        h.controller.pick("photo")
        gate.awaitReached()
        h.controller.close()
        main.submit {}.get()
        assertEquals(0, h.runner.closes.get(), "closed while a tile was running")
        val count = h.states.size
        gate.release()
        repeat(1000) { if (h.runner.closes.get() == 0) Thread.sleep(10) }  // up to 10 s on a loaded machine
        main.submit {}.get()
        assertEquals(1, h.runner.closes.get())
        assertNotEquals(mainThread.thread, h.runner.closeThread)
        assertEquals(3, h.runner.calls.get())
        assertEquals(count, h.states.size, "state changed after close")
        h.controller.pick("again")
        h.controller.start()
        main.submit {}.get()
        assertEquals(count, h.states.size)
        assertEquals(emptyList(), h.errors)
    }
}

class RuntimeCompatTest {
    private val g = RuntimeCompat.Verdict.GUARANTEED

    @Test
    fun theExecuTorchPolicy() {
        assertEquals(g, RuntimeCompat.check("1.5.1", "1.5.0"))
        assertEquals(g, RuntimeCompat.check("1.5.1", "1.6.2"))
        assertEquals(g, RuntimeCompat.check("1.9.0", "2.0.0"))
        assertEquals(RuntimeCompat.Verdict.OLDER_RUNTIME, RuntimeCompat.check("1.5.1", "1.3.1"))
        assertEquals(RuntimeCompat.Verdict.OLDER_RUNTIME, RuntimeCompat.check("2.0.0", "1.9.3"))
        assertEquals(RuntimeCompat.Verdict.BEYOND_GUARANTEE, RuntimeCompat.check("1.5.1", "1.7.0"))
        assertEquals(RuntimeCompat.Verdict.BEYOND_GUARANTEE, RuntimeCompat.check("1.9.0", "2.1.0"))
        assertEquals(g, RuntimeCompat.check("1.3.1-rc3", "1.3.1"))
        assertEquals(g, RuntimeCompat.check("1.6.0.dev20260901+cpu", "1.6.0"))
        assertEquals(RuntimeCompat.Verdict.UNKNOWN, RuntimeCompat.check(null, "1.3.1"))
        assertEquals(RuntimeCompat.Verdict.UNKNOWN, RuntimeCompat.check("1.5.1", "local"))
        assertNull(RuntimeCompat.warning("1.5.1", "1.6.0"))
        assertEquals("ExecuTorch runtime 1.3.1 is older than the exporter (1.5.1): loading is not guaranteed",
            RuntimeCompat.warning("1.5.1", "1.3.1"))
    }

    @Test
    fun theModelLineComesFromTheManifest() {
        val case = Vectors.root.getJSONObject("manifests").getJSONArray("valid").objects()
            .first { it.getString("name") == "executorch_int8_ptq" }
        val manifest = Manifest.load(case.getString("manifest_text"), "executorch", null) {
            case.getJSONObject("loaded").getString("artifact_sha256")
        }
        assertEquals("mossnet-xs x4 · int8-ptq · ExecuTorch 1.5.1 (XNNPACK)", ModelLabel.executorch(manifest))
    }
}

class UpscaleTextTest {
    private val ready = UpscaleState(model = ModelStatus.Ready("mossnet-xs x4 · int8-ptq · ExecuTorch 1.5.1 (XNNPACK)", 4, null))

    @Test
    fun progressLines() {
        assertNull(UpscaleText.progress(ready))
        assertEquals("Opening the photo…", UpscaleText.progress(ready.copy(phase = Phase.DECODING)))
        assertEquals("Preparing…", UpscaleText.progress(ready.copy(phase = Phase.RUNNING)))
        assertEquals("Tile 3 of 12", UpscaleText.progress(ready.copy(phase = Phase.RUNNING, tilesDone = 3, tilesTotal = 12)))
        assertEquals("Cancelling after tile 4…",
            UpscaleText.progress(ready.copy(phase = Phase.RUNNING, tilesDone = 3, tilesTotal = 12, cancelling = true)))
        assertEquals("Saving…", UpscaleText.progress(ready.copy(phase = Phase.SAVING)))
    }

    @Test
    fun resultAndModelLines() {
        assertNull(UpscaleText.result(ready))
        val done = ready.copy(input = RgbImage(640, 480), output = RgbImage(2560, 1920), tilesTotal = 12, latencyMs = 812)
        assertEquals("812 ms · 12 tiles · 640x480 → 2560x1920", UpscaleText.result(done))
        assertEquals("mossnet-xs x4 · int8-ptq · ExecuTorch 1.5.1 (XNNPACK)", UpscaleText.model(ready))
        assertEquals("Loading model…", UpscaleText.model(UpscaleState()))
        assertEquals("bad hash", UpscaleText.model(UpscaleState(model = ModelStatus.Failed("bad hash"))))
        assertEquals("a\nold runtime", UpscaleText.model(UpscaleState(model = ModelStatus.Ready("a", 4, "old runtime"))))
    }
}

package org.mossnet.core

import java.util.ArrayDeque
import java.util.concurrent.Executor

/** Thrown by [CancellationToken.throwIfCancelled]: the run stops before its next program call. */
class CancelledException : RuntimeException("cancelled")

/** Cooperative cancellation, checked by the tiled driver before every program call. */
class CancellationToken {
    @Volatile
    var isCancelled: Boolean = false
        private set

    fun cancel() {
        isCancelled = true
    }

    fun throwIfCancelled() {
        if (isCancelled) throw CancelledException()
    }
}

/** A verified model, ready to run, as the platform's loader returns it. */
class ReadyModel(
    val tiling: TilingConfig,
    val runner: PatchRunner,
    /** e.g. "mossnet-xs x4 · int8-ptq · ExecuTorch 1.5.1 (XNNPACK)". */
    val label: String,
    /** A warning to show beside the label (e.g. runtime older than the exporter), or null. */
    val warning: String? = null,
)

/** Loads and verifies the model (manifest, hash, runtime). Runs on the worker. */
fun interface ModelLoader {
    fun load(): ReadyModel
}

/** Decodes a picked photo [P] to pixels of at most [maxPixels] pixels. Runs on the worker. */
fun interface PhotoDecoder<P> {
    fun decode(photo: P, maxPixels: Long): RgbImage
}

/** Saves an upscaled image; returns the line to show (e.g. "Saved to Pictures/MossNet"). Runs on the worker. */
fun interface ImageSaver {
    fun save(image: RgbImage, scale: Int): String
}

sealed interface ModelStatus {
    data object Loading : ModelStatus
    data class Ready(val label: String, val scale: Int, val warning: String?) : ModelStatus
    data class Failed(val message: String) : ModelStatus
}

/** What the worker is doing for the screen. */
enum class Phase { IDLE, DECODING, RUNNING, SAVING }

/** Everything the screen shows; one immutable snapshot per change. */
data class UpscaleState(
    val model: ModelStatus = ModelStatus.Loading,
    val phase: Phase = Phase.IDLE,
    val input: RgbImage? = null,
    val output: RgbImage? = null,
    val tilesDone: Int = 0,
    val tilesTotal: Int = 0,
    /** Tiled model work only (thumbnail, context, every tile, stitching), not decoding. */
    val latencyMs: Long? = null,
    /** The status line: "Cancelled", "Saved to …", "Upscaling failed: …". */
    val message: String? = null,
    /** Cancel was pressed; the run stops before its next tile. */
    val cancelling: Boolean = false,
) {
    val scale: Int? get() = (model as? ModelStatus.Ready)?.scale
    val busy: Boolean get() = phase != Phase.IDLE
    val canPick: Boolean get() = model is ModelStatus.Ready && !busy
    val canUpscale: Boolean get() = model is ModelStatus.Ready && input != null && !busy
    val canCancel: Boolean get() = (phase == Phase.DECODING || phase == Phase.RUNNING) && !cancelling
    val canSave: Boolean get() = output != null && !busy
    val progress: Float get() = if (tilesTotal > 0) tilesDone.toFloat() / tilesTotal else 0f
}

/**
 * The demo's state machine, free of Android: load the model, pick a photo (decode), run the
 * tiled upscale with progress, cancel between tiles, save, and report every failure once.
 *
 * Threading: every state change happens on [main] (the UI thread on Android) and
 * [listener]/[onError] are called there; all model, decoding and saving work runs on [worker],
 * one job at a time (the executor is wrapped in a serial queue, so the runtime never sees two
 * runs at once and [close] frees the runner only after the last run has stopped). Public
 * methods may be called from any thread: they post to [main].
 *
 * A newer action supersedes an older one: picking while a run is in progress cancels it, and
 * whatever the superseded job still reports is dropped (it can no longer touch the state).
 */
class UpscaleController<P>(
    private val loader: ModelLoader,
    private val decoder: PhotoDecoder<P>,
    private val saver: ImageSaver,
    worker: Executor,
    private val main: Executor,
    private val listener: (UpscaleState) -> Unit = {},
    private val onError: (String) -> Unit = {},
    /** Upscale right after a photo is decoded (the Android demo); else wait for [upscale]. */
    private val upscaleOnPick: Boolean = true,
    /** Output size cap: inputs are decoded to at most this / scale² pixels (phone memory). */
    private val maxOutputPixels: Long = 16_000_000L,
    private val nanoTime: () -> Long = System::nanoTime,
) {
    private val worker = SerialExecutor(worker)

    // Owned by the main executor: read and written only there.
    private var current = UpscaleState()
    private var model: ReadyModel? = null
    private var job: Job? = null
    private var started = false
    private var closed = false

    private class Job {
        val token = CancellationToken()
    }

    /** The latest snapshot; read it on the main thread (or use [listener]). */
    val state: UpscaleState get() = current

    /** Loads the model on the worker; call once. */
    fun start() = onMain {
        if (started) return@onMain
        started = true
        set(current.copy(model = ModelStatus.Loading))
        worker.execute {
            val result = runCatching { loader.load() }
            onMain {
                result.fold(
                    onSuccess = { m ->
                        if (closed) {
                            m.runner.closeQuietly()
                        } else {
                            model = m
                            set(current.copy(model = ModelStatus.Ready(m.label, m.tiling.scale, m.warning)))
                        }
                    },
                    onFailure = { e -> if (!closed) fail(current.copy(model = ModelStatus.Failed(describe(e))), describe(e)) },
                )
            }
        }
    }

    /** Decodes [photo] on the worker (cancelling any run in progress), then upscales it if [upscaleOnPick]. */
    fun pick(photo: P) = onMain {
        if (closed) return@onMain
        val m = model ?: return@onMain fail(current, "The model is not loaded yet.")
        val j = newJob()
        set(current.copy(phase = Phase.DECODING, input = null, output = null, tilesDone = 0, tilesTotal = 0,
            latencyMs = null, message = null))
        val maxInput = maxOf(1L, maxOutputPixels / (m.tiling.scale.toLong() * m.tiling.scale))
        worker.execute {
            val result = runCatching {
                j.token.throwIfCancelled()
                decoder.decode(photo, maxInput).also { j.token.throwIfCancelled() }
            }
            onMain {
                if (j !== job) return@onMain
                result.fold(
                    onSuccess = { image ->
                        set(current.copy(phase = Phase.IDLE, input = image))
                        if (upscaleOnPick) run(m, image)
                    },
                    onFailure = { e -> finish(e, "Could not open the photo") },
                )
            }
        }
    }

    /** Upscales the current input (no-op while busy or without an input). */
    fun upscale() = onMain {
        val m = model
        val input = current.input
        if (!closed && m != null && input != null && !current.busy) run(m, input)
    }

    /** Stops a decode or run before its next step; the state says "Cancelled" once it has stopped. */
    fun cancel() = onMain {
        val j = job ?: return@onMain
        if (current.phase == Phase.DECODING || current.phase == Phase.RUNNING) {
            j.token.cancel()
            set(current.copy(cancelling = true))
        }
    }

    /** Saves the output on the worker. */
    fun save() = onMain {
        val out = current.output
        val m = model
        if (closed || out == null || m == null || current.busy) return@onMain
        val j = newJob()
        set(current.copy(phase = Phase.SAVING, message = null))
        worker.execute {
            val result = runCatching { saver.save(out, m.tiling.scale) }
            onMain {
                if (j !== job) return@onMain
                result.fold(
                    onSuccess = { line -> set(current.copy(phase = Phase.IDLE, message = line)) },
                    onFailure = { e -> finish(e, "Could not save") },
                )
            }
        }
    }

    /** Cancels what runs, then frees the runner on the worker once that has stopped. No more updates. */
    fun close() = onMain {
        if (closed) return@onMain
        closed = true
        job?.token?.cancel()
        job = null
        val m = model
        model = null
        if (m != null) worker.execute { m.runner.closeQuietly() }
    }

    private fun run(m: ReadyModel, image: RgbImage) {
        val j = newJob()
        val upscaler = Upscaler(m.tiling, m.runner)
        val total = upscaler.tileCount(image.width, image.height)
        set(current.copy(phase = Phase.RUNNING, output = null, tilesDone = 0, tilesTotal = total, latencyMs = null,
            message = null))
        worker.execute {
            val start = nanoTime()
            val result = runCatching {
                upscaler.upscale(
                    image,
                    onProgress = { done, n ->
                        onMain {
                            // Posted in order from one thread, and only ever growing: monotone.
                            if (j === job && current.phase == Phase.RUNNING && done > current.tilesDone) {
                                set(current.copy(tilesDone = done, tilesTotal = n))
                            }
                        }
                    },
                    ensureActive = j.token::throwIfCancelled,
                ).also { j.token.throwIfCancelled() } // Cancel pressed during the last tile still wins
            }
            val ms = (nanoTime() - start) / 1_000_000
            onMain {
                if (j !== job) return@onMain
                result.fold(
                    onSuccess = { out ->
                        set(current.copy(phase = Phase.IDLE, output = out, tilesDone = total, latencyMs = ms))
                    },
                    onFailure = { e -> finish(e, "Upscaling failed") },
                )
            }
        }
    }

    /** Ends the current job with a failure or a cancellation: the error is reported exactly once. */
    private fun finish(e: Throwable, what: String) {
        job = null
        val base = current.copy(phase = Phase.IDLE, cancelling = false)
        if (e is CancelledException) {
            set(base.copy(message = "Cancelled"))
        } else {
            val line = "$what: ${describe(e)}"
            fail(base.copy(message = line), line)
        }
    }

    private fun fail(state: UpscaleState, message: String) {
        set(state)
        onError(message)
    }

    private fun newJob(): Job {
        job?.token?.cancel()
        return Job().also { job = it }
    }

    private fun set(state: UpscaleState) {
        if (closed || state == current) return
        current = state
        listener(state)
    }

    private fun onMain(block: () -> Unit) = main.execute(block)

    private fun PatchRunner.closeQuietly() {
        runCatching { close() }
    }

    private companion object {
        fun describe(e: Throwable): String = e.message ?: e.toString()
    }
}

/** Runs tasks one after another on [base] (the pattern of `java.util.concurrent.Executor`'s docs). */
internal class SerialExecutor(private val base: Executor) : Executor {
    private val tasks = ArrayDeque<Runnable>()
    private var active: Runnable? = null

    @Synchronized
    override fun execute(task: Runnable) {
        tasks.add(Runnable {
            try {
                task.run()
            } finally {
                scheduleNext()
            }
        })
        if (active == null) scheduleNext()
    }

    @Synchronized
    private fun scheduleNext() {
        active = tasks.poll()
        active?.let(base::execute)
    }
}

/** The screen's text lines, derived from the state only (so they are tested on Linux). */
object UpscaleText {
    /** "Tile 3 of 12" while running, "Preparing…" before the first tile count, else null. */
    fun progress(s: UpscaleState): String? = when (s.phase) {
        Phase.DECODING -> "Opening the photo…"
        Phase.RUNNING -> when {
            s.cancelling -> "Cancelling after tile ${s.tilesDone + 1}…"
            s.tilesTotal > 0 -> "Tile ${s.tilesDone} of ${s.tilesTotal}"
            else -> "Preparing…"
        }
        Phase.SAVING -> "Saving…"
        Phase.IDLE -> null
    }

    /** "812 ms · 12 tiles · 640x480 → 2560x1920" once a result exists, else null. */
    fun result(s: UpscaleState): String? {
        val input = s.input ?: return null
        val output = s.output ?: return null
        val ms = s.latencyMs ?: return null
        return "$ms ms · ${s.tilesTotal} tiles · ${input.width}x${input.height} → ${output.width}x${output.height}"
    }

    /** The model line: label (and warning), the refusal, or "Loading model…". */
    fun model(s: UpscaleState): String = when (val m = s.model) {
        ModelStatus.Loading -> "Loading model…"
        is ModelStatus.Ready -> if (m.warning == null) m.label else "${m.label}\n${m.warning}"
        is ModelStatus.Failed -> m.message
    }
}

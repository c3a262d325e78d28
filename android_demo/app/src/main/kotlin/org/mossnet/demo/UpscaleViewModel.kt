package org.mossnet.demo

import android.app.Application
import android.graphics.Bitmap
import android.net.Uri
import android.os.SystemClock
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.async
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.mossnet.core.Upscaler

/** Everything the screen shows; one immutable snapshot per change. */
data class UpscaleUiState(
    val modelLabel: String? = null,
    val modelError: String? = null,
    val scale: Int? = null,
    val input: Bitmap? = null,
    val output: Bitmap? = null,
    val running: Boolean = false,
    val tilesDone: Int = 0,
    val tilesTotal: Int = 0,
    val latencyMs: Long? = null,
    val message: String? = null,
)

/**
 * Loads the model once, then runs the tiled upscaling of each picked photo on
 * `Dispatchers.Default`: progress per tile, cancellation between tiles (the core's
 * `ensureActive` hook), latency measured around the model work only.
 */
class UpscaleViewModel(application: Application) : AndroidViewModel(application) {
    private val _state = MutableStateFlow(UpscaleUiState())
    val state: StateFlow<UpscaleUiState> = _state.asStateFlow()

    private val model = viewModelScope.async(Dispatchers.IO) { ModelAssets.load(application) }
    private var loaded: LoadedModel? = null
    private var job: Job? = null

    init {
        viewModelScope.launch {
            try {
                val m = model.await()
                loaded = m
                _state.update { it.copy(modelLabel = m.label, scale = m.manifest.scale) }
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                _state.update { it.copy(modelError = e.message ?: e.toString()) }
            }
        }
    }

    fun pick(uri: Uri) {
        val previous = job
        job = viewModelScope.launch {
            previous?.cancelAndJoin() // one run at a time: the runtime holds one program
            _state.update {
                it.copy(input = null, output = null, running = true, tilesDone = 0, tilesTotal = 0,
                    latencyMs = null, message = null)
            }
            try {
                val m = model.await()
                val scale = m.manifest.scale
                val input = withContext(Dispatchers.IO) {
                    decodePhoto(getApplication(), uri, MAX_OUTPUT_PIXELS / (scale * scale))
                }
                _state.update { it.copy(input = input) }
                val start = SystemClock.elapsedRealtime()
                val output = withContext(Dispatchers.Default) {
                    Upscaler(m.manifest.tiling, m.runner).upscale(
                        input.toRgbImage(),
                        onProgress = { done, total -> _state.update { s -> s.copy(tilesDone = done, tilesTotal = total) } },
                        ensureActive = { ensureActive() },
                    ).toBitmap()
                }
                val ms = SystemClock.elapsedRealtime() - start
                _state.update { it.copy(output = output, latencyMs = ms, running = false) }
            } catch (e: CancellationException) {
                _state.update { it.copy(running = false, message = "Cancelled") }
                throw e
            } catch (e: Exception) {
                _state.update { it.copy(running = false, message = "Upscaling failed: ${e.message ?: e}") }
            }
        }
    }

    fun cancel() {
        job?.cancel()
    }

    fun save() {
        val output = _state.value.output ?: return
        val scale = _state.value.scale ?: return
        viewModelScope.launch {
            val message = try {
                withContext(Dispatchers.IO) {
                    saveToGallery(getApplication(), output, "mossnet_x${scale}_${System.currentTimeMillis()}")
                }
                "Saved to Pictures/MossNet"
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                "Could not save: ${e.message ?: e}"
            }
            _state.update { it.copy(message = message) }
        }
    }

    override fun onCleared() {
        val m = loaded ?: return
        val running = job
        // The native program cannot be freed while a tile runs: free it when the run has stopped.
        if (running != null && !running.isCompleted) running.invokeOnCompletion { m.runner.close() } else m.runner.close()
    }

    private companion object {
        /** Output size cap, an app choice for phone memory (16 MP output = 64 MB ARGB). */
        const val MAX_OUTPUT_PIXELS = 16_000_000L
    }
}

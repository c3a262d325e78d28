package org.mossnet.demo

import android.app.Application
import android.net.Uri
import android.os.Handler
import android.os.Looper
import android.util.Log
import androidx.lifecycle.AndroidViewModel
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asSharedFlow
import kotlinx.coroutines.flow.asStateFlow
import org.mossnet.core.ImageSaver
import org.mossnet.core.ModelLoader
import org.mossnet.core.PhotoDecoder
import org.mossnet.core.SelfTest
import org.mossnet.core.SelfTestState
import org.mossnet.core.UpscaleController
import org.mossnet.core.UpscaleState
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * The Android glue around the core's [UpscaleController] (the state machine, tested on Linux):
 * it survives rotation, runs the controller's work on one background thread, posts its state
 * changes to the main thread, and binds the platform pieces (ExecuTorch, the photo decoder,
 * MediaStore). No logic of its own.
 */
const val SELFTEST_TAG = "MossNetSelfTest"

class UpscaleViewModel(application: Application) : AndroidViewModel(application) {
    private val _state = MutableStateFlow(UpscaleState())
    val state: StateFlow<UpscaleState> = _state.asStateFlow()

    /** Each failure once (model refused, photo unreadable, run or save failed), for a snackbar. */
    private val _errors = MutableSharedFlow<String>(extraBufferCapacity = 8)
    val errors: SharedFlow<String> = _errors.asSharedFlow()

    private val worker: ExecutorService = Executors.newSingleThreadExecutor { r -> Thread(r, "mossnet-worker") }
    private val mainHandler = Handler(Looper.getMainLooper())

    private val controller = UpscaleController<Uri>(
        loader = ModelLoader { ModelAssets.load(application) },
        decoder = PhotoDecoder { uri, maxPixels -> decodePhoto(application, uri, maxPixels).toRgbImage() },
        saver = ImageSaver { image, scale ->
            saveToGallery(application, image.toBitmap(), "mossnet_x${scale}_${System.currentTimeMillis()}")
            "Saved to Pictures/MossNet"
        },
        worker = worker,
        main = { task -> mainHandler.post(task) },
        listener = { _state.value = it },
        onError = { _errors.tryEmit(it) },
        upscaleOnPick = true,
    )

    init {
        controller.start()
    }

    private val _selfTest = MutableStateFlow<SelfTestState>(SelfTestState.Idle)
    val selfTest: StateFlow<SelfTestState> = _selfTest.asStateFlow()

    /**
     * "Verify model" (and the `verify` launch extra): the bundled self-test through ExecuTorch on
     * the worker, one case at a time; each line also goes to logcat (tag [SELFTEST_TAG]) for
     * automation, the verdict last: `adb logcat -s MossNetSelfTest`.
     */
    fun verify() {
        if (_selfTest.value is SelfTestState.Running) return
        _selfTest.value = SelfTestState.Running(emptyList())
        worker.execute {
            val result = try {
                val setup = ModelAssets.selfTest(getApplication<Application>())
                val report = setup.runner.use { runner ->
                    SelfTest.run(setup.file, setup.manifest, runner, onCase = { case ->
                        Log.i(SELFTEST_TAG, case.line())
                        mainHandler.post {
                            (_selfTest.value as? SelfTestState.Running)?.let { _selfTest.value = SelfTestState.Running(it.cases + case) }
                        }
                    })
                }
                SelfTestState.Done(report)
            } catch (e: Exception) {
                SelfTestState.Failed(e.message ?: e.toString())
            }
            Log.i(SELFTEST_TAG, result.lines().first() + if (result is SelfTestState.Done) "" else " FAIL")
            mainHandler.post { _selfTest.value = result }
        }
    }

    fun pick(uri: Uri) = controller.pick(uri)
    fun cancel() = controller.cancel()
    fun save() = controller.save()

    override fun onCleared() {
        controller.close() // cancels a run; the runner is freed on the worker once it has stopped
        worker.shutdown()
    }
}

package org.mossnet.demo

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.activity.viewModels
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts.PickVisualMedia
import androidx.compose.foundation.Image
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Scaffold
import androidx.compose.material3.SnackbarHost
import androidx.compose.material3.SnackbarHostState
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.produceState
import androidx.compose.runtime.remember
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.ImageBitmap
import androidx.compose.ui.graphics.asImageBitmap
import androidx.compose.ui.layout.ContentScale
import androidx.compose.ui.platform.testTag
import androidx.compose.ui.text.font.FontFamily
import androidx.compose.ui.text.style.TextAlign
import androidx.compose.ui.tooling.preview.Preview
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import org.mossnet.core.ModelStatus
import org.mossnet.core.Phase
import org.mossnet.core.RgbImage
import org.mossnet.core.SelfTestCase
import org.mossnet.core.SelfTestReport
import org.mossnet.core.SelfTestState
import org.mossnet.core.UpscaleState
import org.mossnet.core.UpscaleText

class MainActivity : ComponentActivity() {
    private val vm: UpscaleViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        // `adb shell am start -n org.mossnet.demo/.MainActivity --es verify 1` runs the self-test
        // at launch (once: not again after rotation); results on screen and in logcat.
        if (savedInstanceState == null &&
            (intent?.getStringExtra(EXTRA_VERIFY) == "1" || intent?.getBooleanExtra(EXTRA_VERIFY, false) == true)) {
            vm.verify()
        }
        setContent { MaterialTheme { UpscaleRoute(vm) } }
    }

    companion object {
        const val EXTRA_VERIFY = "verify"
    }
}

/** The screen bound to its ViewModel (which survives rotation): state in, events out. */
@Composable
fun UpscaleRoute(vm: UpscaleViewModel = viewModel()) {
    val state by vm.state.collectAsStateWithLifecycle()
    val selfTest by vm.selfTest.collectAsStateWithLifecycle()
    val snackbar = remember { SnackbarHostState() }
    LaunchedEffect(vm) { vm.errors.collect { snackbar.showSnackbar(it) } } // each error once
    val picker = rememberLauncherForActivityResult(PickVisualMedia()) { uri -> if (uri != null) vm.pick(uri) }
    UpscaleScreen(
        state = state,
        before = rememberDisplayImage(state.input),
        after = rememberDisplayImage(state.output),
        onPick = { picker.launch(PickVisualMediaRequest(PickVisualMedia.ImageOnly)) },
        onCancel = vm::cancel,
        onSave = vm::save,
        snackbar = snackbar,
        selfTest = selfTest,
        onVerify = vm::verify,
    )
}

/** The core's pixels as a Compose image, converted off the main thread (16 MP = 64 MB). */
@Composable
private fun rememberDisplayImage(image: RgbImage?): ImageBitmap? {
    val bitmap by produceState<ImageBitmap?>(initialValue = null, image) {
        value = image?.let { withContext(Dispatchers.Default) { it.toBitmap().asImageBitmap() } }
    }
    return bitmap
}

/**
 * Pick a photo, watch the tiles progress (or cancel), compare before/after, save. Stateless:
 * everything it shows comes from [state] and the two display images, everything it does goes
 * out through the callbacks, so it previews and tests without a model or a ViewModel.
 */
@Composable
fun UpscaleScreen(
    state: UpscaleState,
    before: ImageBitmap?,
    after: ImageBitmap?,
    onPick: () -> Unit,
    onCancel: () -> Unit,
    onSave: () -> Unit,
    modifier: Modifier = Modifier,
    snackbar: SnackbarHostState = remember { SnackbarHostState() },
    selfTest: SelfTestState = SelfTestState.Idle,
    onVerify: () -> Unit = {},
) {
    Scaffold(modifier, snackbarHost = { SnackbarHost(snackbar) }) { padding ->
        Column(
            Modifier.padding(padding).padding(16.dp).fillMaxSize(),
            verticalArrangement = Arrangement.spacedBy(12.dp),
        ) {
            Text("MossNet super-resolution", style = MaterialTheme.typography.titleLarge)
            Text(
                UpscaleText.model(state),
                modifier = Modifier.testTag("model"),
                style = MaterialTheme.typography.bodySmall,
                color = if (state.model is ModelStatus.Failed) MaterialTheme.colorScheme.error
                else MaterialTheme.colorScheme.onSurfaceVariant,
            )
            Box(Modifier.weight(1f).fillMaxWidth(), contentAlignment = Alignment.Center) {
                when {
                    before != null && after != null -> BeforeAfter(before, after, Modifier.fillMaxSize())
                    before != null -> Image(before, contentDescription = "Input", modifier = Modifier.fillMaxSize(),
                        contentScale = ContentScale.Fit)
                    else -> Text(
                        "Pick a photo: it is upscaled x${state.scale ?: "?"} on this phone, tile by tile.",
                        textAlign = TextAlign.Center,
                    )
                }
            }
            if (state.phase == Phase.RUNNING) {
                LinearProgressIndicator(progress = { state.progress }, modifier = Modifier.fillMaxWidth().testTag("progress"))
            }
            UpscaleText.progress(state)?.let { Text(it) }
            UpscaleText.result(state)?.let { Text(it, style = MaterialTheme.typography.bodyMedium) }
            state.message?.let { Text(it, style = MaterialTheme.typography.bodyMedium) }
            val selfTestLines = selfTest.lines()
            if (selfTestLines.isNotEmpty()) {
                Text(
                    selfTestLines.joinToString("\n"),
                    modifier = Modifier.testTag("selftest"),
                    style = MaterialTheme.typography.bodySmall.copy(fontFamily = FontFamily.Monospace),
                    color = if (selfTest is SelfTestState.Done && selfTest.report.passed) MaterialTheme.colorScheme.onSurface
                    else if (selfTest is SelfTestState.Running) MaterialTheme.colorScheme.onSurfaceVariant
                    else MaterialTheme.colorScheme.error,
                )
            }
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Button(onClick = onPick, enabled = state.canPick) { Text("Pick photo") }
                if (state.phase == Phase.RUNNING || state.phase == Phase.DECODING) {
                    OutlinedButton(onClick = onCancel, enabled = state.canCancel) { Text("Cancel") }
                } else {
                    OutlinedButton(onClick = onSave, enabled = state.canSave) { Text("Save to gallery") }
                }
                TextButton(onClick = onVerify, enabled = state.model is ModelStatus.Ready && selfTest !is SelfTestState.Running) {
                    Text("Verify model")
                }
            }
        }
    }
}

private const val PREVIEW_LABEL = "mossnet-xs x4 · int8-ptq · ExecuTorch 1.5.1 (XNNPACK)"
private val previewReady = UpscaleState(model = ModelStatus.Ready(PREVIEW_LABEL, 4, null))

@Preview(showBackground = true, name = "Ready")
@Composable
private fun UpscaleScreenReadyPreview() = MaterialTheme {
    UpscaleScreen(previewReady, before = null, after = null, onPick = {}, onCancel = {}, onSave = {})
}

@Preview(showBackground = true, name = "Running, tile 3 of 12")
@Composable
private fun UpscaleScreenRunningPreview() = MaterialTheme {
    val input = RgbImage(64, 48)
    UpscaleScreen(
        previewReady.copy(phase = Phase.RUNNING, input = input, tilesDone = 3, tilesTotal = 12),
        before = ImageBitmap(64, 48), after = null, onPick = {}, onCancel = {}, onSave = {},
    )
}

@Preview(showBackground = true, name = "Done")
@Composable
private fun UpscaleScreenDonePreview() = MaterialTheme {
    UpscaleScreen(
        previewReady.copy(input = RgbImage(64, 48), output = RgbImage(256, 192), tilesTotal = 1, latencyMs = 41),
        before = ImageBitmap(64, 48), after = ImageBitmap(256, 192), onPick = {}, onCancel = {}, onSave = {},
    )
}

@Preview(showBackground = true, name = "Self-test passed")
@Composable
private fun UpscaleScreenSelfTestPreview() = MaterialTheme {
    val cases = listOf(SelfTestCase("context (modulation SNR)", 200.0, true),
        SelfTestCase("china.jpg [165:261, 256:384] tile at (8, 24)", 46.2, true),
        SelfTestCase("photo (EXIF 6, alpha)", 46.67, true))
    UpscaleScreen(previewReady, before = null, after = null, onPick = {}, onCancel = {}, onSave = {},
        selfTest = SelfTestState.Done(SelfTestReport(cases, 45.0, "int8 PyTorch program (ptq)")))
}

@Preview(showBackground = true, name = "Model refused")
@Composable
private fun UpscaleScreenRefusedPreview() = MaterialTheme {
    UpscaleScreen(
        UpscaleState(model = ModelStatus.Failed("artifact SHA-256 does not match its manifest (modified or corrupt)")),
        before = null, after = null, onPick = {}, onCancel = {}, onSave = {},
    )
}

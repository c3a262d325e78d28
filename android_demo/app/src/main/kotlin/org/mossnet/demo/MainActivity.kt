package org.mossnet.demo

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
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
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.remember
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.asImageBitmap
import androidx.compose.ui.layout.ContentScale
import androidx.compose.ui.text.style.TextAlign
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel

class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        setContent { MaterialTheme { UpscaleScreen() } }
    }
}

/** Pick a photo, watch the tiles progress (or cancel), compare before/after, save. */
@Composable
fun UpscaleScreen(vm: UpscaleViewModel = viewModel()) {
    val state by vm.state.collectAsStateWithLifecycle()
    val picker = rememberLauncherForActivityResult(PickVisualMedia()) { uri -> if (uri != null) vm.pick(uri) }
    Scaffold { padding ->
        Column(
            Modifier.padding(padding).padding(16.dp).fillMaxSize(),
            verticalArrangement = Arrangement.spacedBy(12.dp),
        ) {
            Text("MossNet super-resolution", style = MaterialTheme.typography.titleLarge)
            Text(
                state.modelError ?: state.modelLabel ?: "Loading model…",
                style = MaterialTheme.typography.bodySmall,
                color = if (state.modelError != null) MaterialTheme.colorScheme.error else MaterialTheme.colorScheme.onSurfaceVariant,
            )
            Box(Modifier.weight(1f).fillMaxWidth(), contentAlignment = Alignment.Center) {
                val input = state.input
                val output = state.output
                when {
                    input != null && output != null -> BeforeAfter(input, output, Modifier.fillMaxSize())
                    input != null -> {
                        val image = remember(input) { input.asImageBitmap() }
                        Image(image, contentDescription = "Input", modifier = Modifier.fillMaxSize(), contentScale = ContentScale.Fit)
                    }
                    else -> Text(
                        "Pick a photo: it is upscaled x${state.scale ?: "?"} on this phone, tile by tile.",
                        textAlign = TextAlign.Center,
                    )
                }
            }
            if (state.running) {
                val fraction = if (state.tilesTotal > 0) state.tilesDone.toFloat() / state.tilesTotal else 0f
                LinearProgressIndicator(progress = { fraction }, modifier = Modifier.fillMaxWidth())
                Text(if (state.tilesTotal > 0) "Tile ${state.tilesDone} of ${state.tilesTotal}" else "Preparing…")
            }
            ResultLine(state)
            state.message?.let { Text(it, style = MaterialTheme.typography.bodyMedium) }
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Button(
                    onClick = { picker.launch(PickVisualMediaRequest(PickVisualMedia.ImageOnly)) },
                    enabled = state.modelLabel != null && !state.running,
                ) { Text("Pick photo") }
                if (state.running) {
                    OutlinedButton(onClick = vm::cancel) { Text("Cancel") }
                } else {
                    OutlinedButton(onClick = vm::save, enabled = state.output != null) { Text("Save to gallery") }
                }
            }
        }
    }
}

/** "812 ms · 12 tiles · 640x480 → 2560x1920" under the comparison, plus the model line. */
@Composable
private fun ResultLine(state: UpscaleUiState) {
    val input = state.input ?: return
    val output = state.output ?: return
    val ms = state.latencyMs ?: return
    Text(
        "$ms ms · ${state.tilesTotal} tiles · ${input.width}x${input.height} → ${output.width}x${output.height}\n" +
            (state.modelLabel ?: ""),
        style = MaterialTheme.typography.bodyMedium,
    )
}

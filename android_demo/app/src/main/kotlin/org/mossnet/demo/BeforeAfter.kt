package org.mossnet.demo

import androidx.compose.foundation.Canvas
import androidx.compose.foundation.Image
import androidx.compose.foundation.background
import androidx.compose.foundation.gestures.detectHorizontalDragGestures
import androidx.compose.foundation.gestures.detectTapGestures
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableFloatStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.draw.drawWithContent
import androidx.compose.ui.geometry.Offset
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.graphics.ImageBitmap
import androidx.compose.ui.graphics.drawscope.clipRect
import androidx.compose.ui.input.pointer.pointerInput
import androidx.compose.ui.layout.ContentScale
import androidx.compose.ui.tooling.preview.Preview
import androidx.compose.ui.unit.dp

/**
 * Before/after with a draggable split: the input (stretched by the display, bilinear) left of
 * the line, the x-scale output right of it. Both are fitted into the same box, so they align.
 * The split position is saved with the instance state, so it survives rotation.
 */
@Composable
fun BeforeAfter(before: ImageBitmap, after: ImageBitmap, modifier: Modifier = Modifier) {
    var split by rememberSaveable { mutableFloatStateOf(0.5f) }
    Box(
        modifier
            .pointerInput(Unit) {
                detectHorizontalDragGestures { change, dx ->
                    change.consume()
                    split = (split + dx / size.width).coerceIn(0f, 1f)
                }
            }
            .pointerInput(Unit) { detectTapGestures { split = (it.x / size.width).coerceIn(0f, 1f) } },
    ) {
        Image(after, contentDescription = "After", modifier = Modifier.fillMaxSize(), contentScale = ContentScale.Fit)
        Image(
            before,
            contentDescription = "Before",
            modifier = Modifier.fillMaxSize().drawWithContent {
                clipRect(right = size.width * split) { this@drawWithContent.drawContent() }
            },
            contentScale = ContentScale.Fit,
        )
        Canvas(Modifier.fillMaxSize()) {
            val x = size.width * split
            drawLine(Color.White, Offset(x, 0f), Offset(x, size.height), strokeWidth = 2.dp.toPx())
        }
        Label("Before", Modifier.align(Alignment.TopStart))
        Label("After", Modifier.align(Alignment.TopEnd))
    }
}

@Composable
private fun Label(text: String, modifier: Modifier) {
    Text(
        text,
        modifier.padding(8.dp).background(Color.Black.copy(alpha = 0.5f)).padding(horizontal = 6.dp, vertical = 2.dp),
        color = Color.White,
        style = MaterialTheme.typography.labelMedium,
    )
}

@Preview(showBackground = true, widthDp = 320, heightDp = 240)
@Composable
private fun BeforeAfterPreview() = MaterialTheme {
    BeforeAfter(ImageBitmap(64, 48), ImageBitmap(256, 192), Modifier.fillMaxSize())
}

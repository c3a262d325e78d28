package org.mossnet.demo

import androidx.compose.ui.graphics.ImageBitmap
import androidx.compose.ui.test.assertIsEnabled
import androidx.compose.ui.test.assertIsNotEnabled
import androidx.compose.ui.test.junit4.createComposeRule
import androidx.compose.ui.test.onNodeWithTag
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.test.ext.junit.runners.AndroidJUnit4
import org.junit.Assert.assertEquals
import org.junit.Rule
import org.junit.Test
import org.junit.runner.RunWith
import org.mossnet.core.ModelStatus
import org.mossnet.core.Phase
import org.mossnet.core.RgbImage
import org.mossnet.core.UpscaleState

/** The stateless screen on a device or emulator: what it shows for a state, what it sends back. */
@RunWith(AndroidJUnit4::class)
class UpscaleScreenTest {
    @get:Rule
    val compose = createComposeRule()

    private val ready = UpscaleState(model = ModelStatus.Ready("mossnet-xs x4 · int8-ptq · ExecuTorch 1.5.1 (XNNPACK)", 4, null))

    @Test
    fun aRunShowsProgressAndCancelSendsOneEvent() {
        var cancels = 0
        compose.setContent {
            UpscaleScreen(
                ready.copy(phase = Phase.RUNNING, input = RgbImage(64, 48), tilesDone = 3, tilesTotal = 12),
                before = ImageBitmap(64, 48), after = null, onPick = {}, onCancel = { cancels++ }, onSave = {},
            )
        }
        compose.onNodeWithText("Tile 3 of 12").assertExists()
        compose.onNodeWithTag("progress").assertExists()
        compose.onNodeWithText("Pick photo").assertIsNotEnabled()
        compose.onNodeWithText("Cancel").assertIsEnabled().performClick()
        assertEquals(1, cancels)
    }

    @Test
    fun aRefusedModelIsShownAndPickingIsDisabled() {
        compose.setContent {
            UpscaleScreen(UpscaleState(model = ModelStatus.Failed("artifact SHA-256 does not match")),
                before = null, after = null, onPick = {}, onCancel = {}, onSave = {})
        }
        compose.onNodeWithText("artifact SHA-256 does not match").assertExists()
        compose.onNodeWithText("Pick photo").assertIsNotEnabled()
        compose.onNodeWithText("Save to gallery").assertIsNotEnabled()
    }

    @Test
    fun aResultShowsItsLineAndCanBeSaved() {
        var saves = 0
        compose.setContent {
            UpscaleScreen(
                ready.copy(input = RgbImage(64, 48), output = RgbImage(256, 192), tilesTotal = 1, latencyMs = 41),
                before = ImageBitmap(64, 48), after = ImageBitmap(256, 192), onPick = {}, onCancel = {}, onSave = { saves++ },
            )
        }
        compose.onNodeWithText("41 ms · 1 tiles · 64x48 → 256x192").assertExists()
        compose.onNodeWithText("Pick photo").assertIsEnabled()
        compose.onNodeWithText("Save to gallery").performClick()
        assertEquals(1, saves)
    }
}

package org.mossnet.demo

import android.util.Log
import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.mossnet.core.SelfTest

/**
 * The bundled model's self-test through the ExecuTorch runtime this APK links, on the device or
 * emulator (`./gradlew :app:connectedDebugAndroidTest`): the same check as "Verify model". Needs
 * the exported `.pte`, manifest and self-test file in `assets/` (README, step 3).
 */
@RunWith(AndroidJUnit4::class)
class ModelSelfTestTest {
    @Test
    fun theBundledModelPassesItsSelfTest() {
        val context = InstrumentationRegistry.getInstrumentation().targetContext
        val setup = ModelAssets.selfTest(context)
        val report = setup.runner.use { SelfTest.run(setup.file, setup.manifest, it) }
        report.summary().lines().forEach { Log.i(SELFTEST_TAG, it) }
        assertEquals(setup.manifest.boundDb, report.boundDb)
        assertTrue(report.summary(), report.cases.size >= 3 && report.passed)
    }
}

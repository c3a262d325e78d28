package org.mossnet.core

import org.junit.jupiter.api.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue

/**
 * The self-test logic on the conformance fixture (a self-test file made by targets.selftest with
 * the fake models as the reference): the fake runner passes every case at the cap, a perturbed
 * one fails every case, a tampered file is refused before anything runs.
 */
class SelfTestTest {
    private val fixture = Vectors.root.getJSONObject("selftest")
    private val artifact = fixture.getJSONObject("artifact").bytes("b64")
    private val manifest = Manifest.load(fixture.getString("manifest_text"), "executorch", 4) { ArtifactHash.of(artifact) }
    private val data = fixture.getString("selftest_text").toByteArray()
    private val modulation = fixture.getJSONArray("modulation").ints()

    private class Perturbed(private val inner: PatchRunner) : PatchRunner {
        override fun context(thumbnail: FloatArray) = inner.context(thumbnail).map { it * 1.2f }.toFloatArray()
        override fun upscalePatch(patch: FloatArray, modulation: FloatArray) =
            inner.upscalePatch(patch, modulation).map { it + 0.05f }.toFloatArray()
    }

    @Test
    fun theRightRunnerPassesEveryCaseAtTheCap() {
        val file = SelfTestFile.load(manifest, data)
        val seen = mutableListOf<SelfTestCase>()
        val report = SelfTest.run(file, manifest, FakePatchRunner(manifest.tiling, modulation), onCase = { seen += it })
        assertEquals(fixture.getInt("cases"), report.cases.size)
        assertEquals(report.cases, seen)
        assertTrue(report.passed, report.summary())
        assertTrue(report.cases.all { it.db == fixture.getDouble("cap_db") }, report.summary())
        assertEquals(fixture.getDouble("bound_db"), report.boundDb)
        assertTrue(report.cases.last().name.startsWith("photo (EXIF 6"))
    }

    @Test
    fun aPerturbedRunnerFailsEveryCase() {
        val file = SelfTestFile.load(manifest, data)
        val report = SelfTest.run(file, manifest, Perturbed(FakePatchRunner(manifest.tiling, modulation)))
        assertFalse(report.passed)
        assertTrue(report.cases.none { it.passed }, report.summary())
        assertTrue(report.cases.all { it.db < report.boundDb }, report.summary())
    }

    @Test
    fun aRunnerThatThrowsFailsItsCasesWithTheMessage() {
        val file = SelfTestFile.load(manifest, data)
        val broken = object : PatchRunner {
            override fun context(thumbnail: FloatArray): FloatArray = throw IllegalStateException("delegate failed")
            override fun upscalePatch(patch: FloatArray, modulation: FloatArray) = FloatArray(3)
        }
        val report = SelfTest.run(file, manifest, broken)
        assertTrue(report.cases.none { it.passed })
        assertEquals("delegate failed", report.cases[0].detail)
    }

    @Test
    fun aTamperedFileIsRefused() {
        val tampered = data.copyOf().also { it[it.size / 2] = (it[it.size / 2] + 1).toByte() }
        val e = assertFailsWith<SelfTestException> { SelfTestFile.load(manifest, tampered) }
        assertTrue(e.message!!.contains("SHA-256"))
    }

    @Test
    fun aManifestWithoutSelfTestIsRefused() {
        val valid = Vectors.root.getJSONObject("manifests").getJSONArray("valid").objects().first()
        val m = Manifest.load(valid.getString("manifest_text"), "executorch", 4) { valid.getJSONObject("loaded").getString("artifact_sha256") }
        assertFailsWith<SelfTestException> { SelfTestFile.load(m, data) }
    }
}

class SelfTestStateTest {
    @Test
    fun linesSayWhatRanAndTheVerdict() {
        val ok = SelfTestCase("tile", 46.2, true)
        val bad = SelfTestCase("photo (EXIF 6, alpha)", 31.0, false, "12 alpha values differ")
        assertEquals(listOf("Verifying the model…", " 46.20 dB  ok    tile"), SelfTestState.Running(listOf(ok)).lines())
        val done = SelfTestState.Done(SelfTestReport(listOf(ok, bad), 45.0, "int8 PyTorch program (ptq)")).lines()
        assertEquals("self-test against int8 PyTorch program (ptq), bound 45.0 dB: FAIL", done[0])
        assertEquals(" 31.00 dB  FAIL  photo (EXIF 6, alpha) (12 alpha values differ)", done[2])
        assertTrue(SelfTestState.Idle.lines().isEmpty())
    }
}

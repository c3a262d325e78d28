package org.mossnet.core

import org.json.JSONObject
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import java.io.File
import java.nio.file.Files
import java.util.Base64
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull

/** Manifests of every runtime: what loads, what is exposed, and what is refused and why. */
class ManifestConformanceTest {
    private val manifests = Vectors.root.getJSONObject("manifests")

    /** The artifact's SHA-256 as the app computes it: files written to disk, then hashed. */
    private fun artifactSha256(case: JSONObject): String {
        val artifact = case.getJSONObject("artifact")
        val dir = Files.createTempDirectory("mossnet-artifact").toFile()
        try {
            val path = File(dir, case.getString("file_name"))
            if (artifact.getString("kind") == "file") {
                path.writeBytes(Base64.getDecoder().decode(artifact.getString("b64")))
            } else {
                for (f in artifact.getJSONArray("files").objects()) {
                    val file = File(path, f.getString("path"))
                    file.parentFile.mkdirs()
                    file.writeBytes(Base64.getDecoder().decode(f.getString("b64")))
                }
            }
            return ArtifactHash.of(path)
        } finally {
            dir.deleteRecursively()
        }
    }

    private fun load(case: JSONObject): Manifest {
        val expect = case.getJSONObject("expect")
        val scale = if (expect.isNull("scale")) null else expect.getInt("scale")
        return Manifest.load(case.getString("manifest_text"), expect.getString("runtime"), scale) { artifactSha256(case) }
    }

    @Test
    fun schemaConstantsMatchPython() {
        val schema = Vectors.root.getJSONObject("schema")
        assertEquals(schema.getString("name"), ManifestSchema.NAME)
        assertEquals(schema.getInt("version"), ManifestSchema.VERSION)
        val precisions = schema.getJSONObject("precisions")
        val python = precisions.keys().asSequence().associateWith { k ->
            precisions.getJSONArray(k).let { a -> (0 until a.length()).map { a.getString(it) } }
        }
        assertEquals(python, ManifestSchema.PRECISIONS)
    }

    @TestFactory
    fun valid(): List<DynamicTest> = manifests.getJSONArray("valid").objects().map { case ->
        dynamicTest("load ${case.getString("name")}") {
            val m = load(case)
            val want = case.getJSONObject("loaded")
            assertEquals(want.getString("runtime"), m.runtime)
            assertEquals(want.getString("precision"), m.precision)
            assertEquals(want.getInt("scale"), m.scale)
            assertEquals(want.getString("artifact_sha256"), m.artifactSha256)
            assertEquals(case.getString("file_name"), m.artifactFile)
            assertEquals(want.tiling(), m.tiling)
            val io = want.optJSONObject("io_quantization")
            if (io == null) {
                assertNull(m.ioQuantization)
            } else {
                val expected = io.keys().asSequence().associateWith { p ->  // float32 tensors: float I/O, no entry
                    val tensors = io.getJSONObject(p)
                    tensors.keys().asSequence().filter { tensors.getJSONObject(it).getString("dtype") == "int8" }
                        .associateWith { n ->
                            val q = tensors.getJSONObject(n)
                            QuantParams(q.getDouble("scale").toFloat(), q.getInt("zero_point"), q.getString("dtype"))
                        }
                }
                assertEquals(expected, m.ioQuantization)
                for (p in listOf("context", "upscale_patch")) {
                    for (i in 0..1) assertEquals(expected[p]?.get("args_$i"), m.inputQuant(p, i))
                    assertEquals(expected[p]?.get("output_0"), m.outputQuant(p, 0))
                }
            }
            val programs = case.getJSONObject("programs")
            assertEquals(programs.keys().asSequence().toSet(), m.programs.keys)
            for (name in programs.keys()) {
                for (side in listOf("inputs", "outputs")) {
                    val rows = programs.getJSONObject(name).getJSONArray(side)
                    val expected = (0 until rows.length()).map { rows.getJSONArray(it) }
                        .map { it.getString(0) to it.getJSONArray(1).ints() }
                    val sig = m.program(name)
                    val got = (if (side == "inputs") sig.inputs else sig.outputs).map { it.name to it.shape }
                    assertEquals(expected, got, "$name $side")
                }
            }
        }
    }

    @TestFactory
    fun invalid(): List<DynamicTest> = manifests.getJSONArray("invalid").objects().map { case ->
        dynamicTest("refuse ${case.getString("name")}") {
            val e = assertFailsWith<ManifestException> { load(case) }
            assertEquals(case.getString("refusal"), e.refusal.key, e.message)
        }
    }

    @Test
    fun pathsSortComponentWiseLikePython() {
        val sorted = listOf("a.b", "a/b", "a-b/c").sortedWith(ArtifactHash::comparePaths)
        assertEquals(listOf("a/b", "a-b/c", "a.b"), sorted)
    }

    @Test
    fun theHashIsOnlyComputedAfterTheCheapChecks() {
        val case = manifests.getJSONArray("invalid").objects().first { it.getString("refusal") == "runtime" }
        assertFailsWith<ManifestException> {
            Manifest.load(case.getString("manifest_text"), "executorch", 4) { error("hash must not be computed") }
        }
    }
}

package org.mossnet.demo

import android.content.Context
import org.mossnet.core.ArtifactHash
import org.mossnet.core.Manifest
import org.mossnet.core.ModelLabel
import org.mossnet.core.ReadyModel
import org.mossnet.core.RuntimeCompat
import org.mossnet.core.SelfTestFile

class ModelMissingException(message: String) : Exception(message)

/**
 * The exported `.pte`, its manifest and its self-test file, shipped in `assets/` (written there
 * together by `bash android_demo/export_model.sh`, i.e. `python -m targets.executorch export --out
 * android_demo/app/src/main/assets`).
 */
object ModelAssets {
    private const val RUNTIME = "executorch"
    private const val MANIFEST_SUFFIX = ".manifest.json"

    /**
     * Copies the `.pte` to app storage (ExecuTorch loads from a file path), refuses it unless its
     * manifest is schema v1 for ExecuTorch and its SHA-256 matches, then loads both methods.
     * Blocking: the core's controller calls it on its worker thread.
     */
    fun load(context: Context): ReadyModel {
        val (file, manifest) = checkedModel(context)
        // The runtime this APK links (gradle.properties) against the exporter recorded in the manifest.
        val warning = RuntimeCompat.warning(manifest.toolkit["executorch"], BuildConfig.EXECUTORCH_VERSION)
        val runner = ExecuTorchPatchRunner(file.absolutePath, manifest)
        return ReadyModel(manifest.tiling, runner, ModelLabel.executorch(manifest), warning)
    }

    /** What "Verify model" runs: the manifest's self-test (hash checked) and a runner of its own. */
    class SelfTestSetup(val manifest: Manifest, val file: SelfTestFile, val runner: ExecuTorchPatchRunner)

    /** Blocking, like [load]: call it off the main thread. */
    fun selfTest(context: Context): SelfTestSetup {
        val (pte, manifest) = checkedModel(context)
        val ref = manifest.selftest ?: throw ModelMissingException(
            "This model was exported without a self-test file; run `bash android_demo/export_model.sh` again.")
        val data = try {
            context.assets.open(ref.file).use { it.readBytes() }
        } catch (e: java.io.IOException) {
            throw ModelMissingException("${ref.file} is missing from the app's assets; export again (see README).")
        }
        val file = SelfTestFile.load(manifest, data)
        return SelfTestSetup(manifest, file, ExecuTorchPatchRunner(pte.absolutePath, manifest))
    }

    private fun checkedModel(context: Context): Pair<java.io.File, Manifest> {
        val names = context.assets.list("").orEmpty().toSet()
        val pte = names.filter { it.endsWith(".pte") && "$it$MANIFEST_SUFFIX" in names }.minOrNull()
            ?: throw ModelMissingException(
                "No model in the app's assets. Put one there with `bash android_demo/export_model.sh` " +
                    "and rebuild (see README).")
        val file = java.io.File(context.filesDir, pte)
        val partial = java.io.File(context.filesDir, "$pte.partial")
        context.assets.open(pte).use { input -> partial.outputStream().use { input.copyTo(it) } }
        check(partial.renameTo(file)) { "could not move the model into ${file.parent}" }
        val text = context.assets.open(pte + MANIFEST_SUFFIX).bufferedReader().use { it.readText() }
        return file to Manifest.load(text, RUNTIME, scale = null) { ArtifactHash.of(file) }
    }
}

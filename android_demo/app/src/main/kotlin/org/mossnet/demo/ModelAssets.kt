package org.mossnet.demo

import android.content.Context
import org.mossnet.core.ArtifactHash
import org.mossnet.core.Manifest
import java.io.File

/** A verified model, ready to run, and what the screen says about it. */
class LoadedModel(val manifest: Manifest, val runner: ExecuTorchPatchRunner, val fileName: String) {
    /** e.g. "mossnet-xs x4 · int8-ptq · ExecuTorch 1.5.1 (XNNPACK)", all from the manifest. */
    val label: String
        get() {
            val toolkit = manifest.toolkit
            val runtime = listOfNotNull("ExecuTorch", toolkit["executorch"]).joinToString(" ")
            val backend = toolkit["backend"]?.let { " ($it)" } ?: ""
            return "${manifest.arch} x${manifest.scale} · ${manifest.precision} · $runtime$backend"
        }
}

class ModelMissingException(message: String) : Exception(message)

/**
 * The exported `.pte` and its manifest, shipped in `assets/` (written there by
 * `python -m targets.executorch export --out android_demo/app/src/main/assets`).
 */
object ModelAssets {
    private const val RUNTIME = "executorch"
    private const val MANIFEST_SUFFIX = ".manifest.json"

    /**
     * Copies the `.pte` to app storage (ExecuTorch loads from a file path), refuses it unless its
     * manifest is schema v1 for ExecuTorch and its SHA-256 matches, then loads both methods.
     * Blocking: call it off the main thread.
     */
    fun load(context: Context): LoadedModel {
        val names = context.assets.list("").orEmpty().toSet()
        val pte = names.filter { it.endsWith(".pte") && "$it$MANIFEST_SUFFIX" in names }.minOrNull()
            ?: throw ModelMissingException(
                "No model in the app's assets. Export one with `python -m targets.executorch export " +
                    "--out android_demo/app/src/main/assets` and rebuild (see README).")
        val file = File(context.filesDir, pte)
        val partial = File(context.filesDir, "$pte.partial")
        context.assets.open(pte).use { input -> partial.outputStream().use { input.copyTo(it) } }
        check(partial.renameTo(file)) { "could not move the model into ${file.parent}" }
        val text = context.assets.open(pte + MANIFEST_SUFFIX).bufferedReader().use { it.readText() }
        val manifest = Manifest.load(text, RUNTIME, scale = null) { ArtifactHash.of(file) }
        return LoadedModel(manifest, ExecuTorchPatchRunner(file.absolutePath, manifest), pte)
    }
}

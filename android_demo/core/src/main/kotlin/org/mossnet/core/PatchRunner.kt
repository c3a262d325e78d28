package org.mossnet.core

/**
 * The two fixed-shape programs of an exported model, as a runtime runs them. The platform
 * shell implements it (ExecuTorch on Android); tests use the fake model of docs/conformance.md.
 * All tensors are float32 NCHW with batch 1, shapes as in the manifest's `programs`.
 */
interface PatchRunner : AutoCloseable {
    /** `context(thumbnail (1, 3, T, T)) -> modulation (1, M, 1, 1)`, once per image. */
    fun context(thumbnail: FloatArray): FloatArray

    /** `upscale_patch(patch (1, 3, P+2h, P+2h), modulation) -> hr_patch (1, 3, s*P, s*P)`. */
    fun upscalePatch(patch: FloatArray, modulation: FloatArray): FloatArray

    override fun close() {}
}

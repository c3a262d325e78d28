package org.mossnet.core

/**
 * The tiled driver (mossnet.core.tiling.upscale_tiled): one context call on the whole image's
 * thumbnail, then one patch call per tile, stitching only owned pixels; an input with alpha
 * gets its alpha resized with [AlphaResize] (the model sees colour only). Memory stays at one
 * tile's tensors plus the output image, whatever the input size.
 *
 * Blocking and single-threaded on purpose: the caller picks the thread (a coroutine on
 * `Dispatchers.Default` in the app) and passes [ensureActive], which is called before every
 * program call and cancels the work by throwing (e.g. `coroutineContext.ensureActive()`).
 */
class Upscaler(private val tiling: TilingConfig, private val runner: PatchRunner) {

    /** Tiles this image needs: the number of patch-model calls, for progress. */
    fun tileCount(width: Int, height: Int): Int = planTiles(height, width, tiling).size

    fun upscale(
        image: RgbImage,
        onProgress: (done: Int, total: Int) -> Unit = { _, _ -> },
        ensureActive: () -> Unit = {},
    ): RgbImage {
        val s = tiling.scale
        val tiles = planTiles(image.height, image.width, tiling)
        ensureActive()
        val modulation = runner.context(thumbnail(image, tiling.thumb))
        val out = RgbImage(image.width * s, image.height * s)
        val patch = FloatArray(3 * tiling.inputSize * tiling.inputSize)
        onProgress(0, tiles.size)
        tiles.forEachIndexed { i, tile ->
            ensureActive()
            val hr = runner.upscalePatch(extractPatch(image, tile, tiling, patch), modulation)
            stitch(hr, tile, tiling, out)
            onProgress(i + 1, tiles.size)
        }
        if (image.hasAlpha) { // the alpha policy: Pillow's bicubic, apart from the model
            ensureActive()
            val alpha = AlphaResize.bicubic(ByteArray(image.argb.size) { (image.argb[it] ushr 24).toByte() },
                image.width, image.height, out.width, out.height)
            for (i in out.argb.indices) out.argb[i] = (out.argb[i] and 0xFFFFFF) or ((alpha[i].toInt() and 0xFF) shl 24)
        }
        return out
    }
}

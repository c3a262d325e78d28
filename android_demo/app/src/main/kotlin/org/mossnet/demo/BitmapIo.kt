package org.mossnet.demo

import android.content.ContentValues
import android.content.Context
import android.graphics.Bitmap
import android.graphics.ColorSpace
import android.graphics.ImageDecoder
import android.net.Uri
import android.os.Environment
import android.provider.MediaStore
import org.mossnet.core.RgbImage
import java.io.IOException
import kotlin.math.max
import kotlin.math.sqrt

/**
 * The picked photo as an sRGB ARGB_8888 software bitmap (EXIF rotation applied by
 * ImageDecoder), downscaled if needed so that it has at most [maxPixels] pixels.
 */
fun decodePhoto(context: Context, uri: Uri, maxPixels: Long): Bitmap {
    val source = ImageDecoder.createSource(context.contentResolver, uri)
    val bitmap = ImageDecoder.decodeBitmap(source) { decoder, info, _ ->
        decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
        decoder.setTargetColorSpace(ColorSpace.get(ColorSpace.Named.SRGB))
        val w = info.size.width
        val h = info.size.height
        if (w.toLong() * h > maxPixels) {
            val f = sqrt(maxPixels.toDouble() / (w.toLong() * h))
            decoder.setTargetSize(max(1, (w * f).toInt()), max(1, (h * f).toInt()))
        }
    }
    return if (bitmap.config == Bitmap.Config.ARGB_8888) bitmap else bitmap.copy(Bitmap.Config.ARGB_8888, false)
}

/**
 * Bitmap pixels into the core's image (same packed ARGB layout: one copy, no conversion).
 * `getPixels` returns straight (unpremultiplied) colour, so transparency is kept: the core
 * upscales the colour with the model and the alpha with Pillow's bicubic, as the Python CLI does.
 */
fun Bitmap.toRgbImage(): RgbImage {
    val pixels = IntArray(width * height)
    getPixels(pixels, 0, width, 0, 0, width, height)
    return RgbImage(width, height, pixels)
}

fun RgbImage.toBitmap(): Bitmap = Bitmap.createBitmap(argb, width, height, Bitmap.Config.ARGB_8888)

/** Saves a PNG to Pictures/MossNet through MediaStore; visible in the gallery once complete. */
fun saveToGallery(context: Context, bitmap: Bitmap, displayName: String): Uri {
    val resolver = context.contentResolver
    val values = ContentValues().apply {
        put(MediaStore.Images.Media.DISPLAY_NAME, "$displayName.png")
        put(MediaStore.Images.Media.MIME_TYPE, "image/png")
        put(MediaStore.Images.Media.RELATIVE_PATH, "${Environment.DIRECTORY_PICTURES}/MossNet")
        put(MediaStore.Images.Media.IS_PENDING, 1)
    }
    val uri = resolver.insert(MediaStore.Images.Media.EXTERNAL_CONTENT_URI, values)
        ?: throw IOException("MediaStore refused a new image")
    try {
        resolver.openOutputStream(uri)?.use { out ->
            if (!bitmap.compress(Bitmap.CompressFormat.PNG, 100, out)) throw IOException("PNG encoding failed")
        } ?: throw IOException("cannot open $uri")
        resolver.update(uri, ContentValues().apply { put(MediaStore.Images.Media.IS_PENDING, 0) }, null, null)
        return uri
    } catch (e: Exception) {
        resolver.delete(uri, null, null) // never leave a half-written image in the gallery
        throw e
    }
}

package org.mossnet.core

import org.json.JSONArray
import org.json.JSONObject
import java.io.File
import java.util.Base64

/**
 * The shared conformance vectors (tests/conformance/vectors.json, written by
 * `python -m mossnet.tools.conformance`; format in docs/conformance.md). Found through the
 * `mossnet.vectors` system property, else by walking up from the working directory.
 */
object Vectors {
    val root: JSONObject by lazy {
        val file = System.getProperty("mossnet.vectors")?.let(::File) ?: findUp("tests/conformance/vectors.json")
        JSONObject(file.readText()).also {
            check(it.getString("format") == "mossnet-conformance" && it.getInt("format_version") == 1) {
                "$file: not conformance vectors v1"
            }
        }
    }

    fun section(name: String): List<JSONObject> = root.getJSONArray(name).objects()

    private fun findUp(rel: String): File {
        var dir: File? = File("").absoluteFile
        while (dir != null) {
            val f = File(dir, rel)
            if (f.isFile) return f
            dir = dir.parentFile
        }
        error("$rel not found above ${File("").absolutePath}; pass -Dmossnet.vectors=PATH")
    }
}

fun JSONArray.objects(): List<JSONObject> = (0 until length()).map { getJSONObject(it) }
fun JSONArray.ints(): List<Int> = (0 until length()).map { getInt(it) }

/** A float32 written as its exact double: narrowing is exact (docs/conformance.md). */
fun JSONArray.float32(i: Int): Float = getDouble(i).toFloat()

fun JSONObject.bytes(key: String): ByteArray = Base64.getDecoder().decode(getString(key))

fun JSONObject.tiling(key: String = "tiling"): TilingConfig = getJSONObject(key).let {
    TilingConfig(it.getInt("scale"), it.getInt("patch"), it.getInt("halo"), it.getInt("align"), it.getInt("thumb"))
}

fun JSONObject.image(key: String = "image_b64", height: Int = getInt("height"), width: Int = getInt("width")) =
    RgbImage.fromRgbBytes(width, height, bytes(key))

fun JSONArray.tile(): Tile = ints().let { Tile(it[0], it[1], it[2], it[3], it[4], it[5]) }

package org.mossnet.core

import org.json.JSONArray
import org.json.JSONException
import org.json.JSONObject

/** Why a manifest was refused; the keys are the `refusal` strings of docs/conformance.md. */
enum class Refusal(val key: String) {
    JSON("json"), SCHEMA("schema"), RUNTIME("runtime"), PRECISION("precision"),
    SCALE("scale"), SHA256("sha256"), TILING("tiling"),
}

class ManifestException(val refusal: Refusal, message: String) : Exception(message)

/** What a reader of schema v1 knows (targets/manifest.py); the vectors check these values. */
object ManifestSchema {
    const val NAME = "mossnet-artifact-manifest"
    const val VERSION = 1
    val PRECISIONS: Map<String, List<String>> = mapOf(
        "executorch" to listOf("fp32", "int8-ptq", "int8-qat"),
        "coreml" to listOf("fp32", "fp16", "w8", "w8a8"),
        "tflite" to listOf("fp32", "int8"),
    )
}

data class TensorSpec(val name: String, val shape: List<Int>, val dtype: String, val layout: String) {
    val elementCount: Int get() = shape.fold(1) { a, b -> a * b }
}

data class SelfTestRef(val file: String, val sha256: String, val bytes: Long, val boundDb: Double? = null)

data class ProgramSignature(val inputs: List<TensorSpec>, val outputs: List<TensorSpec>)

/**
 * A validated artifact manifest (schema v1): everything the app needs to run the model,
 * read from the file written beside the artifact instead of copied from Python.
 */
class Manifest private constructor(val json: JSONObject) {
    val runtime: String = json.getString("runtime")
    val precision: String = json.getString("precision")
    val arch: String = json.getJSONObject("model").getString("arch")
    val scale: Int = json.getJSONObject("model").getInt("scale")
    val artifactFile: String = json.getJSONObject("artifact").getString("file")
    val artifactSha256: String = json.getJSONObject("artifact").getString("sha256")
    val tiling: TilingConfig = parseTiling(json.opt("tiling"))
    val programs: Map<String, ProgramSignature> = json.getJSONObject("programs").let { p ->
        p.keys().asSequence().associateWith { name -> parseSignature(p.getJSONObject(name)) }
    }

    /**
     * `{program: {tensor: params}}` of the int8 tensors of a model with int8 I/O, null when all
     * I/O is float. Tensors the manifest lists as `float32` (LiteRT's int8 model keeps the
     * context program and the modulation float) are float I/O and have no entry.
     */
    val ioQuantization: Map<String, Map<String, QuantParams>>? =
        json.optJSONObject("io_quantization")?.let { q ->
            q.keys().asSequence().associateWith { program ->
                val tensors = q.getJSONObject(program)
                tensors.keys().asSequence().filter { tensors.getJSONObject(it).getString("dtype") != "float32" }
                    .associateWith { name ->
                        val t = tensors.getJSONObject(name)
                        QuantParams(t.getDouble("scale").toFloat(), t.getInt("zero_point"), t.getString("dtype"))
                    }
            }
        }

    /** Toolkit versions recorded at export (e.g. `executorch` -> `1.5.1`), for display. */
    val toolkit: Map<String, String> = json.optJSONObject("toolkit")?.let { t ->
        t.keys().asSequence().associateWith { t.get(it).toString() }
    } ?: emptyMap()

    /** The on-device self-test file beside the artifact (`targets/selftest.py`), if exported with one. */
    val selftest: SelfTestRef? = json.optJSONObject("selftest")?.let {
        SelfTestRef(it.getString("file"), it.getString("sha256"), it.optLong("bytes", -1),
            if (it.has("bound_db")) it.getDouble("bound_db") else null)
    }

    /** The lowest PSNR against the reference that the toolkit accepts (`parity.bound_db`). */
    val boundDb: Double? = json.optJSONObject("parity")?.let { p -> if (p.has("bound_db")) p.getDouble("bound_db") else null }

    fun program(name: String): ProgramSignature =
        programs[name] ?: throw ManifestException(Refusal.JSON, "manifest has no program '$name'")

    /**
     * int8 parameters of a program's input or output, or null for float I/O. Runtimes name
     * tensors by position (LiteRT: `args_<i>` for inputs in manifest order, `output_<i>`).
     */
    fun inputQuant(program: String, index: Int): QuantParams? = ioQuantization?.get(program)?.get("args_$index")
    fun outputQuant(program: String, index: Int): QuantParams? = ioQuantization?.get(program)?.get("output_$index")

    companion object {
        /**
         * Parse and validate, in the order of docs/conformance.md: JSON, schema, runtime,
         * precision, scale (when [scale] is given), artifact hash, tiling. [artifactSha256] is
         * only called once the cheaper checks pass.
         */
        fun load(text: String, runtime: String, scale: Int?, artifactSha256: () -> String): Manifest {
            val json = try {
                JSONObject(text)
            } catch (e: JSONException) {
                throw ManifestException(Refusal.JSON, "manifest is not valid JSON (${e.message})")
            }
            val version = json.opt("schema_version")
            if (json.opt("schema") != ManifestSchema.NAME ||
                !((version is Int || version is Long) && (version as Number).toLong() == ManifestSchema.VERSION.toLong())) {
                throw ManifestException(Refusal.SCHEMA,
                    "unsupported manifest schema ${json.opt("schema")} v${json.opt("schema_version")}")
            }
            val actualRuntime = json.opt("runtime")
            if (actualRuntime != runtime) {
                throw ManifestException(Refusal.RUNTIME, "a $actualRuntime artifact, not $runtime")
            }
            val precision = json.opt("precision")
            if (precision !in ManifestSchema.PRECISIONS.getValue(runtime)) {
                throw ManifestException(Refusal.PRECISION, "unsupported precision '$precision' for $runtime")
            }
            val actualScale = fields { json.getJSONObject("model").getInt("scale") }
            if (scale != null && actualScale != scale) {
                throw ManifestException(Refusal.SCALE, "an x$actualScale model, expected x$scale")
            }
            val recorded = fields { json.getJSONObject("artifact").getString("sha256") }
            val actual = artifactSha256()
            if (!actual.equals(recorded, ignoreCase = true)) {
                throw ManifestException(Refusal.SHA256,
                    "artifact SHA-256 $actual does not match its manifest (modified or corrupt)")
            }
            return fields { Manifest(json) }
        }

        private fun <T> fields(block: () -> T): T = try {
            block()
        } catch (e: JSONException) {
            throw ManifestException(Refusal.JSON, "manifest field missing or mistyped (${e.message})")
        }

        private fun parseTiling(raw: Any?): TilingConfig {
            val t = raw as? JSONObject ?: throw ManifestException(Refusal.TILING, "manifest has no tiling object")
            val keys = listOf("scale", "patch", "halo", "align", "thumb")
            val extra = t.keys().asSequence().filter { it !in keys }.toList()
            if (extra.isNotEmpty()) throw ManifestException(Refusal.TILING, "unknown tiling fields $extra")
            return try {
                val v = keys.map { k ->
                    val x = t.opt(k)
                    if (x !is Int) throw ManifestException(Refusal.TILING, "tiling.$k must be an integer, not $x")
                    x
                }
                TilingConfig(v[0], v[1], v[2], v[3], v[4])
            } catch (e: IllegalArgumentException) {
                throw ManifestException(Refusal.TILING, "invalid tiling: ${e.message}")
            }
        }

        private fun parseSignature(o: JSONObject) =
            ProgramSignature(parseTensors(o.getJSONArray("inputs")), parseTensors(o.getJSONArray("outputs")))

        private fun parseTensors(a: JSONArray): List<TensorSpec> = (0 until a.length()).map { i ->
            val t = a.getJSONObject(i)
            val shape = t.getJSONArray("shape")
            TensorSpec(t.getString("name"), (0 until shape.length()).map { shape.getInt(it) },
                t.getString("dtype"), t.optString("layout", "NCHW"))
        }
    }
}

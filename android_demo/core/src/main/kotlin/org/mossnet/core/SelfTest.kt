package org.mossnet.core

import org.json.JSONException
import org.json.JSONObject
import java.util.Base64
import kotlin.math.log10
import kotlin.math.min

/** One case of a self-test run: PSNR (SNR for the modulation) in dB against the reference. */
data class SelfTestCase(val name: String, val db: Double, val passed: Boolean, val detail: String = "") {
    /** e.g. `46.20 dB  ok  china.jpg tile at (8, 24)`. */
    fun line(): String = "%6.2f dB  %s  %s%s".format(java.util.Locale.ROOT, db, if (passed) "ok  " else "FAIL", name,
        if (detail.isEmpty()) "" else " ($detail)")
}

data class SelfTestReport(val cases: List<SelfTestCase>, val boundDb: Double, val reference: String) {
    val passed: Boolean get() = cases.isNotEmpty() && cases.all { it.passed }

    fun summary(): String = (listOf("self-test against $reference, bound %.1f dB: %s".format(java.util.Locale.ROOT,
        boundDb, if (passed) "PASS" else "FAIL")) + cases.map { it.line() }).joinToString("\n")
}

class SelfTestException(message: String) : Exception(message)

/**
 * The on-device self-test (`targets/selftest.py` writes the file beside each artifact and its
 * SHA-256 into the manifest): reference inputs and outputs of the artifact's own reference
 * program, run here through the phone's runtime behind [PatchRunner].
 *
 * Cases: the context program (SNR of the modulation, at least the file's `min_snr_db`: a working
 * program), single patch calls (PSNR of the uint8 output, fed the reference modulation), and one
 * whole photo at the artifact's tiling, stored sideways with EXIF orientation and alpha
 * ([upscalePhoto], with the runtime's own modulation: RGB PSNR, alpha must be exact). Tiles and
 * photo pass at or above the manifest's `selftest.bound_db` (else `parity.bound_db`).
 */
class SelfTestFile private constructor(private val json: JSONObject, val tiling: TilingConfig) {
    val reference: String = json.getString("reference")

    internal fun floats(o: JSONObject, key: String): FloatArray {
        val b = Base64.getDecoder().decode(o.getString(key))
        return FloatArray(b.size / 4) { i ->
            java.lang.Float.intBitsToFloat((b[4 * i].toInt() and 0xFF) or ((b[4 * i + 1].toInt() and 0xFF) shl 8) or
                ((b[4 * i + 2].toInt() and 0xFF) shl 16) or ((b[4 * i + 3].toInt() and 0xFF) shl 24))
        }
    }

    internal fun bytes(o: JSONObject, key: String): ByteArray = Base64.getDecoder().decode(o.getString(key))
    internal val context: JSONObject get() = json.getJSONObject("context")
    internal val tiles: List<JSONObject> get() = json.getJSONArray("tiles").let { a -> (0 until a.length()).map { a.getJSONObject(it) } }
    internal val photo: JSONObject get() = json.getJSONObject("photo")

    companion object {
        const val FORMAT = "mossnet-selftest"
        const val VERSION = 1

        /** Parse [data] after checking it is the file [manifest] names (hash) for its artifact. */
        fun load(manifest: Manifest, data: ByteArray): SelfTestFile {
            val ref = manifest.selftest ?: throw SelfTestException("the manifest names no self-test (exported before it existed?)")
            val actual = ArtifactHash.of(data)
            if (!actual.equals(ref.sha256, ignoreCase = true)) {
                throw SelfTestException("self-test file SHA-256 $actual does not match its manifest (${ref.sha256})")
            }
            try {
                val json = JSONObject(String(data, Charsets.UTF_8))
                if (json.optString("format") != FORMAT || json.optInt("format_version") != VERSION) {
                    throw SelfTestException("not a self-test file of format $FORMAT v$VERSION")
                }
                if (!json.getString("artifact_sha256").equals(manifest.artifactSha256, ignoreCase = true)) {
                    throw SelfTestException("the self-test was made for another artifact")
                }
                val t = json.getJSONObject("tiling").let {
                    TilingConfig(it.getInt("scale"), it.getInt("patch"), it.getInt("halo"), it.getInt("align"), it.getInt("thumb"))
                }
                if (t != manifest.tiling) throw SelfTestException("self-test tiling $t is not the manifest's ${manifest.tiling}")
                return SelfTestFile(json, t)
            } catch (e: JSONException) {
                throw SelfTestException("malformed self-test file (${e.message})")
            }
        }
    }
}

object SelfTest {
    const val PSNR_CAP = 200.0

    /** PSNR (peak 255) of two byte arrays, capped at [PSNR_CAP] (identical: the cap). */
    fun psnr(a: ByteArray, b: ByteArray): Double {
        require(a.size == b.size && a.isNotEmpty()) { "sizes ${a.size} and ${b.size}" }
        var sum = 0.0
        for (i in a.indices) {
            val d = ((a[i].toInt() and 0xFF) - (b[i].toInt() and 0xFF)).toDouble()
            sum += d * d
        }
        if (sum == 0.0) return PSNR_CAP
        return min(PSNR_CAP, 10 * log10(255.0 * 255.0 / (sum / a.size)))
    }

    /** Signal-to-noise of a float vector against its reference, capped like [psnr]. */
    fun snr(reference: FloatArray, got: FloatArray): Double {
        require(reference.size == got.size) { "sizes ${reference.size} and ${got.size}" }
        var signal = 0.0
        var noise = 0.0
        for (i in reference.indices) {
            val r = reference[i].toDouble()
            val d = r - got[i].toDouble()
            signal += r * r
            noise += d * d
        }
        if (noise == 0.0) return PSNR_CAP
        return min(PSNR_CAP, 10 * log10(maxOf(signal, 1e-30) / noise))
    }

    /**
     * Run every case through [runner]; [onCase] sees each result as it comes (for the screen),
     * [ensureActive] is called before every program call (cancellation, as in [Upscaler]).
     * A runner that throws fails its case, with the message, rather than the whole run.
     */
    fun run(
        file: SelfTestFile,
        manifest: Manifest,
        runner: PatchRunner,
        onCase: (SelfTestCase) -> Unit = {},
        ensureActive: () -> Unit = {},
    ): SelfTestReport {
        val bound = manifest.selftest?.boundDb ?: manifest.boundDb
            ?: throw SelfTestException("the manifest has no selftest.bound_db or parity.bound_db")
        val t = file.tiling
        val cases = mutableListOf<SelfTestCase>()
        fun add(c: SelfTestCase) { cases += c; onCase(c) }
        fun guarded(name: String, block: () -> SelfTestCase) = add(try {
            block()
        } catch (e: SelfTestException) {
            throw e
        } catch (e: java.util.concurrent.CancellationException) {
            throw e // coroutine cancellation: stop the run, report nothing
        } catch (e: RuntimeException) {
            SelfTestCase(name, 0.0, false, e.message ?: e::class.simpleName.orEmpty())
        })

        val ctx = file.context
        val modulation = file.floats(ctx, "modulation_f32_b64")
        guarded("context (modulation SNR)") {
            ensureActive()
            val got = runner.context(file.floats(ctx, "thumbnail_f32_b64"))
            if (got.size != modulation.size) {
                SelfTestCase("context (modulation SNR)", 0.0, false, "${got.size} values, expected ${modulation.size}")
            } else {
                val db = snr(modulation, got)
                SelfTestCase("context (modulation SNR)", db, db >= ctx.getDouble("min_snr_db"))
            }
        }
        val n = t.inputSize
        val o = t.outputSize
        for (case in file.tiles) {
            val name = case.getString("name")
            guarded(name) {
                val patch = file.bytes(case, "patch_u8_b64")
                val input = FloatArray(3 * n * n)
                for (i in 0 until n * n) for (c in 0 until 3) input[c * n * n + i] = normalize(patch[3 * i + c].toInt() and 0xFF)
                ensureActive()
                val hr = runner.upscalePatch(input, modulation)
                if (hr.size != 3 * o * o) {
                    SelfTestCase(name, 0.0, false, "${hr.size} values, expected ${3 * o * o}")
                } else {
                    val got = ByteArray(3 * o * o)
                    for (i in 0 until o * o) for (c in 0 until 3) got[3 * i + c] = toUint8(hr[c * o * o + i]).toByte()
                    val db = psnr(got, file.bytes(case, "expected_u8_b64"))
                    SelfTestCase(name, db, db >= bound)
                }
            }
        }
        val p = file.photo
        val photoName = "photo (EXIF ${p.getInt("orientation")}, alpha)"
        guarded(photoName) {
            val stored = RgbaImage(p.getInt("width"), p.getInt("height"), file.bytes(p, "rgba_b64"))
            val out = Upscaler(t, runner).upscalePhoto(stored, p.getInt("orientation"), ensureActive = ensureActive)
            val expected = file.bytes(p, "expected_rgba_b64")
            if (out.width != p.getInt("out_width") || out.height != p.getInt("out_height")) {
                SelfTestCase(photoName, 0.0, false, "${out.width}x${out.height}, expected ${p.getInt("out_width")}x${p.getInt("out_height")}")
            } else {
                val px = out.width * out.height
                val gotRgb = ByteArray(3 * px)
                val wantRgb = ByteArray(3 * px)
                var alphaDiff = 0
                for (i in 0 until px) {
                    for (c in 0 until 3) {
                        gotRgb[3 * i + c] = out.rgba[4 * i + c]
                        wantRgb[3 * i + c] = expected[4 * i + c]
                    }
                    if (out.rgba[4 * i + 3] != expected[4 * i + 3]) alphaDiff++
                }
                val db = psnr(gotRgb, wantRgb)
                SelfTestCase(photoName, db, db >= bound && alphaDiff == 0,
                    if (alphaDiff == 0) "" else "$alphaDiff alpha values differ")
            }
        }
        return SelfTestReport(cases, bound, file.reference)
    }
}

/** What the "Verify model" part of a screen shows. */
sealed interface SelfTestState {
    data object Idle : SelfTestState
    data class Running(val cases: List<SelfTestCase>) : SelfTestState
    data class Done(val report: SelfTestReport) : SelfTestState
    data class Failed(val message: String) : SelfTestState

    /** The lines to show: a heading, then one line per case with its dB. */
    fun lines(): List<String> = when (this) {
        Idle -> emptyList()
        is Running -> listOf("Verifying the model…") + cases.map { it.line() }
        is Done -> report.summary().lines()
        is Failed -> listOf("Self-test could not run: $message")
    }
}

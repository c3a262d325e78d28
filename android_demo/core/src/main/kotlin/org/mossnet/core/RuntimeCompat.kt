package org.mossnet.core

/**
 * Which ExecuTorch runtimes may load a `.pte`, by ExecuTorch's Runtime Compatibility Policy
 * (runtime/COMPATIBILITY.md in pytorch/executorch): a `.pte` written by version X.Y loads on
 * the runtime of the same minor release and of the next non-patch release (X.(Y+1), or
 * (X+1).0 after a major release) at least; a runtime older than the exporter (forward
 * compatibility) is not guaranteed at all, nor is one beyond the next release.
 */
object RuntimeCompat {
    enum class Verdict { GUARANTEED, OLDER_RUNTIME, BEYOND_GUARANTEE, UNKNOWN }

    fun check(exportedWith: String?, runtime: String?): Verdict {
        val e = parse(exportedWith) ?: return Verdict.UNKNOWN
        val r = parse(runtime) ?: return Verdict.UNKNOWN
        if (r.first < e.first || (r.first == e.first && r.second < e.second)) return Verdict.OLDER_RUNTIME
        val sameOrNextMinor = r.first == e.first && r.second <= e.second + 1
        val nextMajor = r.first == e.first + 1 && r.second == 0
        return if (sameOrNextMinor || nextMajor) Verdict.GUARANTEED else Verdict.BEYOND_GUARANTEE
    }

    /** A line for the screen, or null when the pair is covered by the policy (or unknown). */
    fun warning(exportedWith: String?, runtime: String?): String? = when (check(exportedWith, runtime)) {
        Verdict.OLDER_RUNTIME ->
            "ExecuTorch runtime $runtime is older than the exporter ($exportedWith): loading is not guaranteed"
        Verdict.BEYOND_GUARANTEE ->
            "ExecuTorch runtime $runtime is more than one release newer than the exporter ($exportedWith): " +
                "loading is not guaranteed"
        else -> null
    }

    /** (major, minor) of "1.5.1", "1.3.1-rc3", "1.6.0.dev20260901+cpu"; null if unparsable. */
    private fun parse(version: String?): Pair<Int, Int>? {
        val m = Regex("""^\s*(\d+)\.(\d+)""").find(version ?: return null) ?: return null
        return m.groupValues[1].toInt() to m.groupValues[2].toInt()
    }
}

/** The model line shown by the demos, from the manifest only. */
object ModelLabel {
    /** e.g. "mossnet-xs x4 · int8-ptq · ExecuTorch 1.5.1 (XNNPACK)". */
    fun executorch(manifest: Manifest): String {
        val toolkit = manifest.toolkit
        val runtime = listOfNotNull("ExecuTorch", toolkit["executorch"]).joinToString(" ")
        val backend = toolkit["backend"]?.let { " ($it)" } ?: ""
        return "${manifest.arch} x${manifest.scale} · ${manifest.precision} · $runtime$backend"
    }
}

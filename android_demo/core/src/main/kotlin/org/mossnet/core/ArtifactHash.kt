package org.mossnet.core

import java.io.File
import java.io.InputStream
import java.security.MessageDigest

/**
 * The artifact SHA-256 a manifest records (targets.manifest.sha256): of the bytes for a file,
 * and for a folder (Core ML) over every file's relative path then bytes, in component-wise
 * path order. The app checks it before loading, so a stale or corrupt model is refused.
 */
object ArtifactHash {
    fun of(bytes: ByteArray): String = hex(MessageDigest.getInstance("SHA-256").digest(bytes))

    fun of(stream: InputStream): String {
        val md = MessageDigest.getInstance("SHA-256")
        val buffer = ByteArray(1 shl 16)
        while (true) {
            val n = stream.read(buffer)
            if (n < 0) break
            md.update(buffer, 0, n)
        }
        return hex(md.digest())
    }

    /** A file's hash, or a folder's (every regular file below it). */
    fun of(path: File): String {
        if (!path.isDirectory) return path.inputStream().use { of(it) }
        val files = path.walkTopDown().filter { it.isFile }
            .map { it.relativeTo(path).invariantSeparatorsPath to it }.toList()
        return ofFolder(files.map { (rel, f) -> rel to { f.readBytes() } })
    }

    /** A folder's hash from (relative `/`-separated path, content) pairs, in any order. */
    fun ofFolder(files: List<Pair<String, () -> ByteArray>>): String {
        val md = MessageDigest.getInstance("SHA-256")
        for ((rel, content) in files.sortedWith { a, b -> comparePaths(a.first, b.first) }) {
            md.update(rel.toByteArray(Charsets.UTF_8))
            md.update(content())
        }
        return hex(md.digest())
    }

    /** Python's `PurePosixPath` order: by the list of components, each by code points. */
    fun comparePaths(a: String, b: String): Int {
        val pa = a.split('/')
        val pb = b.split('/')
        for (i in 0 until minOf(pa.size, pb.size)) {
            val c = compareCodePoints(pa[i], pb[i])
            if (c != 0) return c
        }
        return pa.size.compareTo(pb.size)
    }

    private fun compareCodePoints(a: String, b: String): Int {
        var i = 0
        var j = 0
        while (i < a.length && j < b.length) {
            val ca = a.codePointAt(i)
            val cb = b.codePointAt(j)
            if (ca != cb) return ca.compareTo(cb)
            i += Character.charCount(ca)
            j += Character.charCount(cb)
        }
        return (a.length - i).compareTo(b.length - j)
    }

    private fun hex(digest: ByteArray): String = digest.joinToString("") { "%02x".format(it.toInt() and 0xFF) }
}

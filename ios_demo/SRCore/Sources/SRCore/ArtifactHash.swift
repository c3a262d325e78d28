import Foundation

/// The artifact digest of `targets.manifest.sha256`: a file's SHA-256, or for a folder (a Core ML
/// artifact) one SHA-256 over every regular file's relative path and bytes, in Python's
/// `sorted(Path)` order (component-wise, by code points: `a/b` < `a-b/c` < `a.b`).
public enum ArtifactHash {
    public static func sha256(of url: URL) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: url.path])
        }
        var h = SHA256()
        if !isDir.boolValue {
            try feed(url, into: &h)
            return h.hexDigest()
        }
        for relative in try regularFiles(under: url) {
            h.update(Array(relative.joined(separator: "/").utf8))
            try feed(url.appendingPathComponent(relative.joined(separator: "/")), into: &h)
        }
        return h.hexDigest()
    }

    /// Relative paths (as components) of the regular files below `folder`, sorted like Python.
    static func regularFiles(under folder: URL) throws -> [[String]] {
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: folder.path) else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: folder.path])
        }
        var files: [[String]] = []
        while let relative = walker.nextObject() as? String {
            var isDir: ObjCBool = false
            let full = folder.appendingPathComponent(relative).path
            if fm.fileExists(atPath: full, isDirectory: &isDir), !isDir.boolValue {
                files.append(relative.split(separator: "/").map(String.init))
            }
        }
        return files.sorted(by: pathPrecedes)
    }

    /// Python's tuple-of-strings order: the first differing component decides, by code points.
    static func pathPrecedes(_ a: [String], _ b: [String]) -> Bool {
        for (x, y) in zip(a, b) {
            let (u, v) = (x.unicodeScalars.map(\.value), y.unicodeScalars.map(\.value))  // not String ==:
            if u != v { return u.lexicographicallyPrecedes(v) }  // that one equates "é" and "e\u{301}"
        }
        return a.count < b.count
    }

    private static func feed(_ file: URL, into h: inout SHA256) throws {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { h.update(chunk) }
    }
}

import Foundation

/// The Core ML artifacts copied into the app (`App/Resources`, a folder reference): every
/// `*.coreml` folder with its `<artifact>.manifest.json` beside it.
enum BundledModels {
    static func artifacts(in bundle: Bundle = .main) -> [URL] {
        guard let root = bundle.resourceURL else { return [] }
        let fm = FileManager.default
        let folders = [root.appendingPathComponent("Resources", isDirectory: true), root]
        let found = folders.flatMap { folder in
            ((try? fm.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []).filter {
                $0.pathExtension == "coreml"
                    && fm.fileExists(atPath: $0.deletingLastPathComponent()
                        .appendingPathComponent($0.lastPathComponent + ".manifest.json").path)
            }
        }
        return found.sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    /// Where compiled models are cached between launches (Core ML compiles `.mlpackage` on device).
    static func cacheDirectory() throws -> URL {
        try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask,
                                    appropriateFor: nil, create: true)
            .appendingPathComponent("CompiledModels", isDirectory: true)
    }
}

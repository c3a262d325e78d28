import Photos

/// Saves PNG bytes to the photo library (add-only access: the app never reads the library;
/// picking goes through PhotosPicker, which needs no permission).
enum PhotoSaver {
    struct Denied: LocalizedError {
        var errorDescription: String? { "Photo library access was denied (Settings > Privacy > Photos)." }
    }

    static func savePNG(_ data: Data) async throws {
        let status = await PHPhotoLibrary.requestAuthorization(for: .addOnly)
        guard status == .authorized || status == .limited else { throw Denied() }
        try await PHPhotoLibrary.shared().performChanges {
            PHAssetCreationRequest.forAsset().addResource(with: .photo, data: data, options: nil)
        }
    }
}

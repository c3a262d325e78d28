import PhotosUI
import SRCore
import SwiftUI

/// The screen's state and actions. Runs on the main actor; the upscale itself runs in a
/// detached task (`process`), off the main thread, and `cancel()` cancels it (the driver
/// checks before every tile).
@MainActor
final class UpscaleViewModel: ObservableObject {
    /// Inputs are scaled down to this many pixels first: a demo choice that keeps the x4 output
    /// (16x the pixels) and its memory reasonable on a phone; the model itself has no limit.
    static let maxInputPixels = 1_000_000

    @Published private(set) var artifacts: [URL] = BundledModels.artifacts()
    @Published var artifact: URL? { didSet { if artifact != oldValue { Task { await loadModel() } } } }
    @Published var pickerItem: PhotosPickerItem? { didSet { if let item = pickerItem { Task { await loadPhoto(item) } } } }

    @Published private(set) var before: UIImage?
    @Published private(set) var after: UIImage?
    @Published private(set) var progress: Double = 0
    @Published private(set) var isRunning = false
    @Published private(set) var isSaving = false
    @Published private(set) var status = "Pick a photo to start."
    @Published private(set) var modelLabel = "No model"
    @Published private(set) var resultLabel = ""

    private var runner: CoreMLPatchRunner?
    private var pixels: RGBImage?
    private var result: RGBImage?
    private var task: Task<Void, Never>?

    init() {
        artifact = artifacts.first
        if artifacts.isEmpty {
            status = "No Core ML model in the app: export one into ios_demo/App/Resources (see README)."
        } else {
            Task { await loadModel() }
        }
    }

    var canUpscale: Bool { runner != nil && pixels != nil && !isRunning }
    var canSave: Bool { result != nil && !isRunning && !isSaving }

    func loadModel() async {
        guard let artifact else { return }
        runner = nil
        modelLabel = "Loading \(artifact.lastPathComponent)…"
        do {
            let loaded = try await CoreMLPatchRunner.load(artifact: artifact, cacheDirectory: BundledModels.cacheDirectory())
            guard artifact == self.artifact else { return }  // another one was picked meanwhile
            let m = loaded.manifest
            runner = loaded
            modelLabel = "\(m.arch ?? "model") x\(m.scale) · Core ML \(m.precision) · tiles \(m.tiling.patch)+\(m.tiling.halo)"
        } catch {
            modelLabel = "Model refused: \(Self.describe(error))"
        }
    }

    func loadPhoto(_ item: PhotosPickerItem) async {
        cancel()
        await task?.value  // let a cancelled run finish before its input is replaced
        status = "Loading photo…"
        do {
            guard let data = try await item.loadTransferable(type: Data.self), let image = UIImage(data: data) else {
                status = "This item is not an image."
                return
            }
            let limit = Self.maxInputPixels
            let prepared = await Task.detached(priority: .userInitiated) { () -> (RGBImage, UIImage)? in
                guard let rgb = ImageBridge.rgbImage(from: image, maxPixels: limit),
                      let shown = ImageBridge.uiImage(from: rgb) else { return nil }
                return (rgb, shown)
            }.value
            guard let prepared else {
                status = "Could not read the photo's pixels."
                return
            }
            let (rgb, shown) = prepared
            pixels = rgb
            before = shown
            after = nil
            result = nil
            resultLabel = ""
            let original = Int(image.size.width * image.scale) * Int(image.size.height * image.scale)
            status = "\(rgb.width)×\(rgb.height) input" + (original > rgb.width * rgb.height ? " (scaled down for the demo)" : "")
        } catch {
            status = "Could not load the photo: \(Self.describe(error))"
        }
    }

    func upscale() {
        guard let runner, let pixels, !isRunning else { return }
        isRunning = true
        progress = 0
        status = "Upscaling…"
        let upscaler = Upscaler(tiling: runner.manifest.tiling, runner: runner)
        task = Task {
            do {
                // Detached, so it is off the main actor whatever the compiler's default for
                // nonisolated async functions; cancelling this task cancels it.
                let work = Task.detached(priority: .userInitiated) {
                    try await Self.process(pixels, with: upscaler) { [weak self] p in
                        Task { @MainActor in self?.progress = p.fraction }
                    }
                }
                let (rgb, image, tiles, elapsed) = try await withTaskCancellationHandler {
                    try await work.value
                } onCancel: {
                    work.cancel()
                }
                result = rgb
                after = image
                let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
                resultLabel = String(format: "%.0f ms · %d tiles · %.1f ms/tile", ms, tiles, ms / Double(max(tiles, 1)))
                status = "\(pixels.width)×\(pixels.height) → \(rgb.width)×\(rgb.height). Drag across the image to compare."
            } catch is CancellationError {
                status = "Cancelled."
                progress = 0
            } catch {
                status = "Upscaling failed: \(Self.describe(error))"
            }
            isRunning = false
        }
    }

    func cancel() {
        task?.cancel()
    }

    func save() {
        guard let result, !isSaving else { return }
        isSaving = true
        Task {
            do {
                let png = await Task.detached(priority: .userInitiated) { ImageBridge.uiImage(from: result)?.pngData() }.value
                guard let png else { throw CocoaError(.fileWriteUnknown) }
                try await PhotoSaver.savePNG(png)
                status = "Saved to Photos."
            } catch {
                status = "Not saved: \(Self.describe(error))"
            }
            isSaving = false
        }
    }

    /// Off the main actor: the tiled upscale (timed: the latency shown), then the conversion
    /// to a displayable image (not timed).
    nonisolated static func process(_ input: RGBImage, with upscaler: Upscaler,
                                    progress: @escaping @Sendable (UpscaleProgress) -> Void)
        async throws -> (RGBImage, UIImage, Int, Duration) {
        let tiles = try upscaler.tiling.planTiles(height: input.height, width: input.width).count
        let clock = ContinuousClock()
        let start = clock.now
        let out = try await upscaler.upscale(input, progress: progress)
        let elapsed = clock.now - start
        guard let image = ImageBridge.uiImage(from: out) else { throw CocoaError(.coderInvalidValue) }
        return (out, image, tiles, elapsed)
    }

    /// SRCore's errors are `LocalizedError`s with one-line messages, like the Python CLI's.
    nonisolated static func describe(_ error: Error) -> String {
        error.localizedDescription
    }
}

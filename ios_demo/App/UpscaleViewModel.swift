import PhotosUI
import SRCore
import SwiftUI

/// The screen's glue: SRCore's `UpscaleSession` (the state machine, tested on Linux) wired to
/// the Core ML runtime, the photo picker and the photo library. Main actor; all model work,
/// decoding and saving run off it inside the session. What is left here: choosing the
/// artifact, loading picked items, and turning RGB pixels into `UIImage`s for display.
@MainActor
final class UpscaleViewModel: ObservableObject {
    /// Inputs are scaled down to this many pixels first: a demo choice that keeps the x4 output
    /// (16x the pixels) and its memory reasonable on a phone; the model itself has no limit.
    static let maxInputPixels = 1_000_000

    @Published private(set) var artifacts: [URL] = BundledModels.artifacts()
    @Published var artifact: URL? { didSet { if artifact != oldValue { makeSession() } } }
    @Published var pickerItem: PhotosPickerItem? { didSet { if let item = pickerItem { Task { await load(item) } } } }

    @Published private(set) var state = UpscaleState()
    @Published private(set) var before: UIImage?
    @Published private(set) var after: UIImage?
    @Published private(set) var note: String?  // picker problems, before the session sees a photo

    private var session: UpscaleSession<Data>?

    init() {
        artifact = artifacts.first  // (no didSet inside init)
        if artifact == nil {
            note = "No Core ML model in the app: export one into ios_demo/App/Resources (see README)."
        }
        makeSession()
    }

    var modelLabel: String {
        switch state.model {
        case .loading: artifact.map { "Loading \($0.lastPathComponent)…" } ?? "No model"
        case .ready(let label, _): label
        case .failed(let why): "Model refused: \(why)"
        }
    }

    var status: String {
        if let note { return note }
        if let message = state.message { return message }
        switch state.phase {
        case .decoding: return "Loading photo…"
        case .running: return state.tilesTotal > 0 ? "Tile \(state.tilesDone) of \(state.tilesTotal)" : "Upscaling…"
        case .saving: return "Saving…"
        case .idle: break
        }
        if let out = state.output, let input = state.input {
            return "\(input.width)×\(input.height) → \(out.width)×\(out.height). Drag across the image to compare."
        }
        if let input = state.input { return "\(input.width)×\(input.height) input. Tap Upscale." }
        return "Pick a photo to start."
    }

    /// `<total> ms · <N> tiles · <per tile> ms/tile`, once a result exists.
    var resultLabel: String {
        guard state.output != nil, let latency = state.latency else { return "" }
        let ms = Double(latency.components.seconds) * 1000 + Double(latency.components.attoseconds) / 1e15
        let tiles = max(state.tilesTotal, 1)
        return String(format: "%.0f ms · %d tiles · %.1f ms/tile", ms, state.tilesTotal, ms / Double(tiles))
    }

    /// "Verify model" (and the `-verify` launch argument): the bundled self-test through Core ML
    /// (`targets/selftest.py` writes it beside the artifact, its SHA-256 in the manifest). One
    /// line per case with its dB, the verdict first; each line is also printed for automation
    /// (`xcrun simctl launch --console booted org.mossnet.demo -verify`).
    @Published private(set) var selfTestLines: [String] = []
    @Published private(set) var selfTestPassed: Bool?
    @Published private(set) var selfTestRunning = false

    func verify() {
        guard !selfTestRunning else { return }
        guard let artifact else {
            selfTestLines = ["Self-test could not run: no model in the app"]
            selfTestPassed = false
            return
        }
        selfTestRunning = true
        selfTestPassed = nil
        selfTestLines = ["Verifying the model…"]
        Task {
            let lines: [String]
            let passed: Bool
            do {
                let report = try await Self.runSelfTest(artifact: artifact) { [weak self] c in
                    print("MossNetSelfTest: \(c.line)")
                    Task { @MainActor in
                        if let self, self.selfTestRunning { self.selfTestLines.append(c.line) }
                    }
                }
                (lines, passed) = (report.summary.components(separatedBy: "\n"), report.passed)
            } catch {
                (lines, passed) = (["Self-test could not run: \(error.localizedDescription)"], false)
            }
            print("MossNetSelfTest: \(lines[0])\(passed ? "" : " FAIL")")
            selfTestLines = lines
            selfTestPassed = passed
            selfTestRunning = false
        }
    }

    /// Off the main actor: its own runner (Core ML, all compute units), the file beside the artifact.
    nonisolated private static func runSelfTest(artifact: URL,
                                                onCase: @escaping @Sendable (SelfTestCase) -> Void) async throws -> SelfTestReport {
        let manifest = try Manifest.load(artifact: artifact, runtime: "coreml")
        guard let name = SelfTestFile.fileName(in: manifest) else {
            throw SelfTestError("this model was exported without a self-test file; export it again (README)")
        }
        let data = try Data(contentsOf: artifact.deletingLastPathComponent().appendingPathComponent(name))
        let file = try SelfTestFile(manifest: manifest, data: data)
        let runner = try await CoreMLPatchRunner.load(artifact: artifact, cacheDirectory: BundledModels.cacheDirectory())
        return try await SelfTest.run(file, manifest: manifest, runner: runner, onCase: onCase)
    }

    func upscale() { session?.upscale() }
    func cancel() { session?.cancel() }
    func save() { session?.save() }

    private func makeSession() {
        session?.cancel()
        session?.onChange = nil  // the old session may still finish a job: it no longer reaches the screen
        state = UpscaleState()
        before = nil
        after = nil
        guard let artifact else { return }
        let services = SessionServices<Data>(
            loadModel: {
                let runner = try await CoreMLPatchRunner.load(artifact: artifact, cacheDirectory: BundledModels.cacheDirectory())
                return LoadedModel(tiling: runner.manifest.tiling, runner: runner, label: ModelLabel.coreML(runner.manifest))
            },
            decode: { data, maxPixels in
                guard let image = UIImage(data: data) else { throw PhotoError.notAnImage }
                guard let rgb = ImageBridge.rgbImage(from: image, maxPixels: maxPixels) else { throw PhotoError.unreadable }
                return rgb
            },
            save: { rgb in
                guard let png = ImageBridge.uiImage(from: rgb)?.pngData() else { throw CocoaError(.fileWriteUnknown) }
                try await PhotoSaver.savePNG(png)
                return "Saved to Photos."
            })
        let session = UpscaleSession<Data>(services: services, maxInputPixels: Self.maxInputPixels)
        session.onChange = { [weak self] in self?.apply($0) }
        self.session = session
        session.start()
    }

    /// Loads the picked item's bytes (no decoding yet), then hands them to the session.
    private func load(_ item: PhotosPickerItem) async {
        note = nil
        do {
            guard let data = try await item.loadTransferable(type: Data.self) else { throw PhotoError.notAnImage }
            guard item == pickerItem else { return }  // another one was picked meanwhile
            session?.pick(data)
        } catch {
            note = "Could not load the photo: \(error.localizedDescription)"
        }
    }

    private func apply(_ new: UpscaleState) {
        let old = state
        state = new
        // A render that finishes after a newer image arrived is dropped (the guards below).
        if new.input != old.input {
            before = nil
            render(new.input) { [weak self] image in
                guard let self, self.state.input == new.input else { return }
                self.before = image
            }
        }
        if new.output != old.output {
            after = nil
            render(new.output) { [weak self] image in
                guard let self, self.state.output == new.output else { return }
                self.after = image
            }
        }
    }

    /// RGB pixels to a `UIImage`, off the main actor (a 16 MP result is 64 MB of RGBA).
    private func render(_ rgb: RGBImage?, then show: @escaping @MainActor (UIImage?) -> Void) {
        guard let rgb else { return show(nil) }
        Task {
            let shown = await Task.detached(priority: .userInitiated) { ImageBridge.uiImage(from: rgb).map(DisplayImage.init) }.value
            show(shown?.image)
        }
    }
}

/// `UIImage` is immutable and documented thread-safe; this carries one out of a detached task.
struct DisplayImage: @unchecked Sendable {
    let image: UIImage
}

enum PhotoError: LocalizedError {
    case notAnImage, unreadable

    var errorDescription: String? {
        switch self {
        case .notAnImage: "This item is not an image."
        case .unreadable: "Could not read the photo's pixels."
        }
    }
}

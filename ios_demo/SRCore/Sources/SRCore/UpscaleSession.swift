import Foundation

/// A verified model, ready to run, as the platform's loader returns it.
public struct LoadedModel: Sendable {
    public let tiling: TilingConfig
    public let runner: any PatchRunner
    /// e.g. "mossnet-xs x4 · Core ML fp16 · tiles 64+8".
    public let label: String

    public init(tiling: TilingConfig, runner: any PatchRunner, label: String) {
        (self.tiling, self.runner, self.label) = (tiling, runner, label)
    }
}

/// What the session needs from the platform. Every closure runs off the main actor.
public struct SessionServices<Photo: Sendable>: Sendable {
    /// Loads and verifies the model (manifest, hash, compilation).
    public var loadModel: @Sendable () async throws -> LoadedModel
    /// Decodes a picked photo to at most `maxPixels` pixels, upright, sRGB, straight alpha kept
    /// (`RGBImage.alpha`, nil when opaque: the alpha policy of docs/conformance.md).
    public var decode: @Sendable (_ photo: Photo, _ maxPixels: Int) async throws -> RGBImage
    /// Saves the result; returns the line to show (e.g. "Saved to Photos.").
    public var save: @Sendable (RGBImage) async throws -> String

    public init(loadModel: @escaping @Sendable () async throws -> LoadedModel,
                decode: @escaping @Sendable (_ photo: Photo, _ maxPixels: Int) async throws -> RGBImage,
                save: @escaping @Sendable (RGBImage) async throws -> String) {
        (self.loadModel, self.decode, self.save) = (loadModel, decode, save)
    }
}

public enum ModelStatus: Equatable, Sendable {
    case loading
    case ready(label: String, scale: Int)
    case failed(String)
}

/// What the background work is doing for the screen.
public enum SessionPhase: Equatable, Sendable { case idle, decoding, running, saving }

/// Everything the screen shows; one value per change.
public struct UpscaleState: Equatable, Sendable {
    public var model: ModelStatus = .loading
    public var phase: SessionPhase = .idle
    public var input: RGBImage?
    public var output: RGBImage?
    public var tilesDone = 0
    public var tilesTotal = 0
    /// The tiled model work only (thumbnail, context, every tile, stitching), not decoding.
    public var latency: Duration?
    /// The status line: "Cancelled.", "Saved to Photos.", "Upscaling failed: …".
    public var message: String?
    /// Cancel was pressed; the work stops before its next step.
    public var cancelling = false

    public init() {}

    public var isBusy: Bool { phase != .idle }
    public var isModelReady: Bool { if case .ready = model { true } else { false } }
    public var canPick: Bool { isModelReady && !isBusy }
    public var canUpscale: Bool { isModelReady && input != nil && !isBusy }
    public var canCancel: Bool { (phase == .decoding || phase == .running) && !cancelling }
    public var canSave: Bool { output != nil && !isBusy }
    public var progress: Double { tilesTotal > 0 ? Double(tilesDone) / Double(tilesTotal) : 0 }
}

/// The demo's state machine, free of UIKit: load the model, pick a photo (decode), run the
/// tiled upscale with progress, cancel between tiles, save, and report every failure once.
///
/// Isolation: the state lives on the main actor and only changes there; `onChange` and
/// `onError` are called there. Decoding, every program call and saving run in detached tasks,
/// off the main actor, one job at a time (a job waits for the previous one to stop, so the
/// runtime never sees two runs at once). Each action returns its task, for callers that want
/// to await it (tests); the app ignores it.
///
/// A newer action supersedes an older one: picking while a run is in progress cancels it, and
/// the superseded job can no longer touch the state.
@MainActor
public final class UpscaleSession<Photo: Sendable> {
    public private(set) var state = UpscaleState() {
        didSet { if state != oldValue { onChange?(state) } }
    }
    public var onChange: ((UpscaleState) -> Void)?
    public var onError: ((String) -> Void)?

    private let services: SessionServices<Photo>
    private let maxInputPixels: Int
    private let upscaleOnPick: Bool
    private var model: LoadedModel?
    private var generation = 0
    private var cancelCurrent: (@Sendable () -> Void)?  // cancels the current job's background part
    private var tail: Task<Void, Never>?                // completes once the last background job has stopped
    private var started = false

    /// `maxInputPixels`: photos are decoded to at most this many pixels (a demo choice that
    /// keeps the scale² larger output in memory). `upscaleOnPick`: run right after decoding.
    public init(services: SessionServices<Photo>, maxInputPixels: Int = 1_000_000, upscaleOnPick: Bool = false) {
        self.services = services
        self.maxInputPixels = maxInputPixels
        self.upscaleOnPick = upscaleOnPick
    }

    /// Loads the model; once (later calls return a finished task).
    @discardableResult
    public func start() -> Task<Void, Never> {
        guard !started else { return Task {} }
        started = true
        state.model = .loading
        let load = services.loadModel
        let job = background { try await load() }
        return Task {
            switch await job.result {
            case .success(let m):
                model = m
                state.model = .ready(label: m.label, scale: m.tiling.scale)
            case .failure(let error):
                let line = Self.describe(error)
                state.model = .failed(line)  // one change, then the error once
                onError?(line)
            }
        }
    }

    /// Decodes `photo` off the main actor (cancelling any run), then upscales it if `upscaleOnPick`.
    @discardableResult
    public func pick(_ photo: Photo) -> Task<Void, Never> {
        guard let model else {
            onError?("The model is not loaded yet.")
            return Task {}
        }
        let id = newJob()
        update {
            $0.phase = .decoding
            $0.input = nil
            $0.output = nil
            $0.tilesDone = 0
            $0.tilesTotal = 0
            $0.latency = nil
            $0.message = nil
        }
        let (decode, limit) = (services.decode, maxInputPixels)
        let job = background {
            try Task.checkCancellation()
            let image = try await decode(photo, limit)
            try Task.checkCancellation()
            return image
        }
        return Task {
            let result = await job.result
            guard id == generation else { return }
            switch result {
            case .success(let image):
                update {
                    $0.phase = .idle
                    $0.input = image
                }
                if upscaleOnPick { await run(model, image).value }
            case .failure(let error):
                finish(error, "Could not open the photo")
            }
        }
    }

    /// Upscales the current input (no-op while busy, without a model or without an input).
    @discardableResult
    public func upscale() -> Task<Void, Never> {
        guard let model, let input = state.input, !state.isBusy else { return Task {} }
        return run(model, input)
    }

    /// Stops a decode or run before its next step; the state says "Cancelled." once it has stopped.
    public func cancel() {
        guard state.canCancel else { return }
        cancelCurrent?()
        state.cancelling = true
    }

    /// Saves the output off the main actor.
    @discardableResult
    public func save() -> Task<Void, Never> {
        guard let output = state.output, !state.isBusy else { return Task {} }
        let id = newJob()
        update {
            $0.phase = .saving
            $0.message = nil
        }
        let save = services.save
        let job = background { try await save(output) }
        return Task {
            let result = await job.result
            guard id == generation else { return }
            switch result {
            case .success(let line):
                update {
                    $0.phase = .idle
                    $0.message = line
                }
            case .failure(let error):
                finish(error, "Not saved")
            }
        }
    }

    private func run(_ model: LoadedModel, _ image: RGBImage) -> Task<Void, Never> {
        let id = newJob()
        let upscaler = Upscaler(tiling: model.tiling, runner: model.runner)
        let total = (try? model.tiling.planTiles(height: image.height, width: image.width).count) ?? 0
        update {
            $0.phase = .running
            $0.output = nil
            $0.tilesDone = 0
            $0.tilesTotal = total
            $0.latency = nil
            $0.message = nil
        }
        let (progress, reporter) = AsyncStream.makeStream(of: UpscaleProgress.self)
        let job = background { () async throws -> (RGBImage, Duration) in
            defer { reporter.finish() }
            let clock = ContinuousClock()
            let start = clock.now
            let out = try await upscaler.upscale(image) { reporter.yield($0) }
            try Task.checkCancellation()  // Cancel pressed during the last tile still wins
            return (out, clock.now - start)
        }
        return Task {
            // In order, on the main actor, and only ever growing: monotone.
            for await p in progress where id == generation && state.phase == .running && p.completed > state.tilesDone {
                state.tilesDone = p.completed
            }
            let result = await job.result
            guard id == generation else { return }
            switch result {
            case .success(let (out, elapsed)):
                update {
                    $0.phase = .idle
                    $0.output = out
                    $0.tilesDone = total
                    $0.latency = elapsed
                }
            case .failure(let error):
                finish(error, "Upscaling failed")
            }
        }
    }

    /// Runs `body` detached (off the main actor) after the previous background job has stopped.
    private func background<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Task<T, Error> {
        let previous = tail
        let job = Task.detached(priority: .userInitiated) { () async throws -> T in
            await previous?.value
            return try await body()
        }
        tail = Task.detached { _ = await job.result }
        cancelCurrent = { job.cancel() }
        return job
    }

    /// Ends the current job with a failure or a cancellation: an error is reported exactly once.
    private func finish(_ error: Error, _ what: String) {
        let cancelled = error is CancellationError
        let line = cancelled ? "Cancelled." : "\(what): \(Self.describe(error))"
        update {
            $0.phase = .idle
            $0.cancelling = false
            $0.message = line
        }
        if !cancelled { onError?(line) }
    }

    /// Several changes, one `onChange`.
    private func update(_ change: (inout UpscaleState) -> Void) {
        var next = state
        change(&next)
        state = next
    }

    private func newJob() -> Int {
        cancelCurrent?()
        cancelCurrent = nil
        state.cancelling = false
        generation += 1
        return generation
    }

    /// SRCore's errors are `LocalizedError`s with one-line messages, like the Python CLI's.
    nonisolated static func describe(_ error: Error) -> String { error.localizedDescription }
}

/// The model line the iOS demo shows, from the manifest only.
public enum ModelLabel {
    /// e.g. "mossnet-xs x4 · Core ML fp16 · tiles 64+8".
    public static func coreML(_ m: Manifest) -> String {
        "\(m.document["model"]?["arch"]?.string ?? "model") x\(m.scale) · Core ML \(m.precision) · tiles \(m.tiling.patch)+\(m.tiling.halo)"
    }
}

import Foundation
import SRCore
import XCTest

/// Opens once; everyone waiting (now or later) goes on.
actor Gate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func open() {
        isOpen = true
        waiters.forEach { $0.resume() }
        waiters = []
    }
}

/// True on the main thread. Synchronous on purpose: `Thread` queries are not for async code.
func onMainThread() -> Bool { Thread.isMainThread }

/// Records what ran where, thread-safely.
final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var onMain: [String] = []
    private var offMain: [String] = []
    func note(_ what: String) {
        let main = onMainThread()
        lock.withLock { main ? onMain.append(what) : offMain.append(what) }
    }
    var ranOnMain: [String] { lock.withLock { onMain } }
    var ranOffMain: [String] { lock.withLock { offMain } }
}

/// The fake model of docs/conformance.md, counting calls (0 = context, i = tile i), holding call
/// `holdAt` until released, failing call `failAt`, and noting overlapping calls.
final class GatedRunner: PatchRunner, @unchecked Sendable {
    let fake: FakeRunner
    let recorder: Recorder
    let holdAt: Int?
    let failAt: Int?
    let reached = Gate()
    let release = Gate()
    private let lock = NSLock()
    private var count = 0
    private var inside = 0
    private var maxInside = 0

    init(tiling: TilingConfig, modulation: [Int], recorder: Recorder, holdAt: Int? = nil, failAt: Int? = nil) {
        fake = FakeRunner(tiling: tiling, modulation: modulation)
        (self.recorder, self.holdAt, self.failAt) = (recorder, holdAt, failAt)
    }

    var calls: Int { lock.withLock { count } }
    var maxConcurrent: Int { lock.withLock { maxInside } }

    private func enter() -> Int {
        lock.withLock {
            inside += 1
            maxInside = max(maxInside, inside)
            defer { count += 1 }
            return count
        }
    }

    private func call<T>(_ body: () async throws -> T) async throws -> T {
        let index = enter()
        defer { lock.withLock { inside -= 1 } }
        recorder.note("runner")
        if index == holdAt {
            await reached.open()
            await release.wait()
        }
        if index == failAt { throw CocoaError(.featureUnsupported) }
        return try await body()
    }

    func context(thumbnail: [Float]) async throws -> [Float] {
        try await call { try await fake.context(thumbnail: thumbnail) }
    }

    func upscalePatch(_ patch: [Float], modulation: [Float]) async throws -> [Float] {
        try await call { try await fake.upscalePatch(patch, modulation: modulation) }
    }
}

struct Boom: LocalizedError {
    let errorDescription: String?
    init(_ text: String) { errorDescription = text }
}

/// Runs a test body on the main actor (the test methods themselves stay nonisolated, so no
/// non-Sendable test case crosses into the main actor).
func onMain(_ body: @escaping @MainActor @Sendable () async throws -> Void) async throws {
    try await Task { @MainActor in try await body() }.value
}

/// The app's state machine on real tasks: cancellation at every stage, monotone and complete
/// progress, errors reported exactly once, no model/decoding/saving work on the main actor.
final class UpscaleSessionTests: XCTestCase {
    struct Case: Sendable {
        let tiling: TilingConfig
        let image: RGBImage
        let modulation: [Int]
        let tiles: Int
        let expected: [UInt8]
    }

    private static func vectorCase() throws -> Case {
        let c = try XCTUnwrap(Conformance.vectors().upscales.first { $0.name == "46x66_x2" })
        return Case(tiling: try c.tiling.config(),
                    image: try Conformance.image(height: c.height, width: c.width, b64: c.image_b64),
                    modulation: c.modulation, tiles: c.tiles, expected: try Conformance.bytes(c.output_b64))
    }

    @MainActor
    final class Harness {
        let session: UpscaleSession<String>
        let runner: GatedRunner
        let recorder: Recorder
        let decodeReached = Gate()
        let decodeRelease = Gate()
        var states: [UpscaleState] = []
        var errors: [String] = []
        var callbacksOffMain = 0

        init(_ c: Case, holdAt: Int? = nil, failAt: Int? = nil, holdDecode: Bool = false, loadFails: Bool = false,
             decodeFails: Bool = false, saveFails: Bool = false, upscaleOnPick: Bool = false) {
            let recorder = Recorder()
            let runner = GatedRunner(tiling: c.tiling, modulation: c.modulation, recorder: recorder,
                                     holdAt: holdAt, failAt: failAt)
            let (reached, release) = (decodeReached, decodeRelease)
            let (tiling, image) = (c.tiling, c.image)
            let services = SessionServices<String>(
                loadModel: {
                    recorder.note("load")
                    if loadFails { throw Boom("no model in the bundle") }
                    return LoadedModel(tiling: tiling, runner: runner, label: "fake x\(tiling.scale)")
                },
                decode: { photo, maxPixels in
                    recorder.note("decode \(maxPixels)")
                    if holdDecode {
                        await reached.open()
                        await release.wait()
                    }
                    if decodeFails { throw Boom("not an image: \(photo)") }
                    return image
                },
                save: { image in
                    recorder.note("save")
                    if saveFails { throw Boom("library full") }
                    return "Saved \(image.width)x\(image.height)."
                })
            session = UpscaleSession(services: services, maxInputPixels: 5000, upscaleOnPick: upscaleOnPick)
            self.runner = runner
            self.recorder = recorder
            session.onChange = { [unowned self] s in
                if !onMainThread() { callbacksOffMain += 1 }
                states.append(s)
            }
            session.onError = { [unowned self] e in
                if !onMainThread() { callbacksOffMain += 1 }
                errors.append(e)
            }
        }

        func ready() async {
            await session.start().value
        }

        var tileProgress: [Int] {
            states.filter { $0.phase == .running || $0.output != nil }.map(\.tilesDone)
        }

        func checkIsolation(file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertEqual(recorder.ranOnMain, [], "work ran on the main thread", file: file, line: line)
            XCTAssertEqual(callbacksOffMain, 0, "callbacks off the main thread", file: file, line: line)
        }
    }

    func testLoadsTheModelOffMainThenIsReady() async throws { try await onMain {
        let h = Harness(try Self.vectorCase())
        XCTAssertEqual(h.session.state.model, .loading)
        await h.ready()
        await h.session.start().value  // once only
        XCTAssertEqual(h.session.state.model, .ready(label: "fake x2", scale: 2))
        XCTAssertTrue(h.session.state.canPick)
        XCTAssertFalse(h.session.state.canUpscale)
        XCTAssertEqual(h.recorder.ranOffMain, ["load"])
        XCTAssertEqual(h.errors, [])
        h.checkIsolation()
    } }

    func testAModelThatFailsToLoadIsReportedOnceAndBlocksPicking() async throws { try await onMain {
        let h = Harness(try Self.vectorCase(), loadFails: true)
        await h.ready()
        XCTAssertEqual(h.session.state.model, .failed("no model in the bundle"))
        XCTAssertEqual(h.errors, ["no model in the bundle"])
        XCTAssertFalse(h.session.state.canPick)
        await h.session.pick("photo").value
        XCTAssertEqual(h.errors, ["no model in the bundle", "The model is not loaded yet."])
        XCTAssertEqual(h.runner.calls, 0)
    } }

    func testPickThenUpscaleMatchesThePythonDriver() async throws { try await onMain {
        let c = try Self.vectorCase()
        let h = Harness(c)
        await h.ready()
        await h.session.pick("photo").value
        XCTAssertEqual(h.session.state.input, c.image)
        XCTAssertNil(h.session.state.output)
        XCTAssertEqual(h.runner.calls, 0, "upscaleOnPick is off")
        XCTAssertTrue(h.session.state.canUpscale)
        await h.session.upscale().value
        let s = h.session.state
        XCTAssertEqual(s.output?.bytes, c.expected)
        XCTAssertEqual(h.runner.calls, 1 + c.tiles)
        XCTAssertEqual(s.tilesTotal, c.tiles)
        XCTAssertNotNil(s.latency)
        XCTAssertNil(s.message)
        XCTAssertTrue(s.canSave && s.canPick && !s.canCancel)
        XCTAssertEqual(h.errors, [])
        XCTAssertEqual(h.recorder.ranOffMain.filter { $0 != "runner" }, ["load", "decode 5000"])
        h.checkIsolation()
    } }

    func testProgressIsMonotoneAndComplete() async throws { try await onMain {
        let c = try Self.vectorCase()
        let h = Harness(c, upscaleOnPick: true)
        await h.ready()
        await h.session.pick("photo").value
        let seen = h.tileProgress
        XCTAssertEqual(seen.first, 0)
        XCTAssertEqual(seen.last, c.tiles)
        XCTAssertTrue(zip(seen, seen.dropFirst()).allSatisfy { $0 <= $1 }, "not monotone: \(seen)")
        XCTAssertTrue(h.states.filter { $0.phase == .running }.allSatisfy { $0.tilesTotal == c.tiles })
        XCTAssertTrue(h.states.allSatisfy { (0...1).contains($0.progress) })
        XCTAssertEqual(h.session.state.output?.bytes, c.expected)
    } }

    /// Cancel while call `at` (0 = the context program, i = tile i) runs: no call after it starts.
    func testCancelAtEveryStage() async throws { try await onMain {
        let c = try Self.vectorCase()
        for at in 0...c.tiles {
            let h = Harness(c, holdAt: at)
            await h.ready()
            await h.session.pick("photo").value
            let run = h.session.upscale()
            await h.runner.reached.wait()
            h.session.cancel()
            h.session.cancel()  // a second press changes nothing
            XCTAssertTrue(h.session.state.cancelling && !h.session.state.canCancel, "at \(at)")
            XCTAssertEqual(h.session.state.phase, .running)
            await h.runner.release.open()
            await run.value
            let s = h.session.state
            XCTAssertEqual(h.runner.calls, at + 1, "at \(at): a program call started after cancel")
            XCTAssertEqual(s.message, "Cancelled.", "at \(at)")
            XCTAssertNil(s.output)
            XCTAssertEqual(s.phase, .idle)
            XCTAssertFalse(s.cancelling)
            XCTAssertTrue(s.canUpscale, "the input stays, ready to run again")
            XCTAssertEqual(h.errors, [], "at \(at): a cancellation is not an error")
            XCTAssertEqual(h.states.filter { $0.message == "Cancelled." }.count, 1)
            // The tile in flight when Cancel was pressed completes and counts; none after it.
            XCTAssertTrue(h.tileProgress.allSatisfy { $0 <= at }, "at \(at): \(h.tileProgress)")
            h.checkIsolation()
        }
    } }

    func testCancelWhileDecodingDropsThePhotoAndNeverRunsTheModel() async throws { try await onMain {
        let h = Harness(try Self.vectorCase(), holdDecode: true, upscaleOnPick: true)
        await h.ready()
        let pick = h.session.pick("photo")
        await h.decodeReached.wait()
        XCTAssertEqual(h.session.state.phase, .decoding)
        h.session.cancel()
        await h.decodeRelease.open()
        await pick.value
        XCTAssertEqual(h.session.state.message, "Cancelled.")
        XCTAssertNil(h.session.state.input)
        XCTAssertEqual(h.runner.calls, 0)
        XCTAssertEqual(h.errors, [])
    } }

    func testCancelWhenIdleDoesNothing() async throws { try await onMain {
        let h = Harness(try Self.vectorCase(), upscaleOnPick: true)
        await h.ready()
        let count = h.states.count
        h.session.cancel()
        XCTAssertEqual(h.states.count, count)
        await h.session.pick("photo").value
        h.session.cancel()
        XCTAssertNotNil(h.session.state.output)
        XCTAssertNil(h.session.state.message)
    } }

    func testARunnerErrorIsReportedExactlyOnceAndTheNextRunWorks() async throws { try await onMain {
        let c = try Self.vectorCase()
        let h = Harness(c, failAt: 3, upscaleOnPick: true)
        await h.ready()
        await h.session.pick("photo").value
        let line = "Upscaling failed: \(CocoaError(.featureUnsupported).localizedDescription)"
        XCTAssertEqual(h.errors, [line])
        XCTAssertEqual(h.session.state.message, line)
        XCTAssertEqual(h.runner.calls, 4, "no call after the failing one")
        XCTAssertNil(h.session.state.output)
        await h.session.upscale().value  // call 3 is past: this run goes through
        XCTAssertEqual(h.session.state.output?.bytes, c.expected)
        XCTAssertEqual(h.errors.count, 1)
    } }

    func testADecoderErrorIsReportedExactlyOnce() async throws { try await onMain {
        let h = Harness(try Self.vectorCase(), decodeFails: true, upscaleOnPick: true)
        await h.ready()
        await h.session.pick("clip.mov").value
        XCTAssertEqual(h.errors, ["Could not open the photo: not an image: clip.mov"])
        XCTAssertNil(h.session.state.input)
        XCTAssertEqual(h.runner.calls, 0)
        XCTAssertTrue(h.session.state.canPick)
    } }

    func testSavingRunsOffMainAndSaysWhere() async throws { try await onMain {
        let h = Harness(try Self.vectorCase(), upscaleOnPick: true)
        await h.ready()
        await h.session.save().value  // nothing to save yet
        XCTAssertFalse(h.recorder.ranOffMain.contains("save"))
        await h.session.pick("photo").value
        await h.session.save().value
        XCTAssertEqual(h.session.state.message, "Saved 132x92.")
        XCTAssertTrue(h.recorder.ranOffMain.contains("save"))
        XCTAssertTrue(h.states.contains { $0.phase == .saving })
        XCTAssertEqual(h.errors, [])
        h.checkIsolation()
    } }

    func testASaveErrorIsReportedExactlyOnceAndKeepsTheResult() async throws { try await onMain {
        let h = Harness(try Self.vectorCase(), saveFails: true, upscaleOnPick: true)
        await h.ready()
        await h.session.pick("photo").value
        await h.session.save().value
        XCTAssertEqual(h.errors, ["Not saved: library full"])
        XCTAssertNotNil(h.session.state.output)
        XCTAssertTrue(h.session.state.canSave)
    } }

    func testPickingDuringARunSupersedesItWithoutOverlap() async throws { try await onMain {
        let c = try Self.vectorCase()
        let h = Harness(c, holdAt: 4, upscaleOnPick: true)
        await h.ready()
        let first = h.session.pick("first")
        await h.runner.reached.wait()
        let second = h.session.pick("second")
        await h.runner.release.open()
        await first.value
        await second.value
        XCTAssertEqual(h.session.state.output?.bytes, c.expected)
        XCTAssertEqual(h.runner.maxConcurrent, 1, "two runs overlapped in the runtime")
        XCTAssertEqual(h.runner.calls, 5 + 1 + c.tiles, "the first run stopped after its 5th call")
        XCTAssertNil(h.session.state.message, "the superseded run reports nothing")
        XCTAssertEqual(h.errors, [])
    } }

    func testTheCoreMLModelLineComesFromTheManifest() throws {
        let v = try Conformance.vectors()
        let c = try XCTUnwrap(v.manifests.valid.first { $0.name == "coreml_fp16" })
        let hash = try XCTUnwrap(c.loaded).artifact_sha256
        let m = try Manifest.parse(Data(c.manifest_text.utf8), runtime: "coreml", scale: nil) { hash }
        XCTAssertEqual(ModelLabel.coreML(m), "mossnet-xs x4 · Core ML fp16 · tiles 64+8")
    }
}

import SRCore
import XCTest

/// The driver's contract beyond the vectors: progress, cancellation and bad model output.
final class UpscalerTests: XCTestCase {
    private let tiling = try! TilingConfig(scale: 2, patch: 8, halo: 2, align: 2, thumb: 4)

    private func image(_ h: Int, _ w: Int) -> RGBImage {
        RGBImage(width: w, height: h, bytes: (0..<(h * w * 3)).map { UInt8(truncatingIfNeeded: $0 * 7) })
    }

    func testProgressCountsEveryTile() async throws {
        let log = Log()
        let runner = FakeRunner(tiling: tiling, modulation: [1])
        let out = try await Upscaler(tiling: tiling, runner: runner).upscale(image(20, 17)) { log.append($0) }
        let total = try tiling.planTiles(height: 20, width: 17).count
        XCTAssertEqual(out.width, 34)
        XCTAssertEqual(log.items.map(\.completed), Array(0...total))
        XCTAssertTrue(log.items.allSatisfy { $0.total == total })
        XCTAssertEqual(log.items.last?.fraction, 1)
    }

    func testCancellationStopsBetweenTiles() async throws {
        let runner = FakeRunner(tiling: tiling, modulation: [1])
        let upscaler = Upscaler(tiling: tiling, runner: runner)
        let input = image(40, 40)
        // The hook runs inside the upscaling task, so it cancels that task itself; it is set
        // before the task starts (setting it afterwards raced with the first tiles).
        runner.onPatch = { n in if n == 2 { withUnsafeCurrentTask { $0?.cancel() } } }
        let task = Task { try await upscaler.upscale(input) }
        do {
            _ = try await task.value
            XCTFail("not cancelled")
        } catch is CancellationError {
            XCTAssertEqual(runner.patchCalls, 3, "the tile in flight finishes, no new one starts")
        }
    }

    func testCancelledBeforeStartCallsNothing() async throws {
        let runner = FakeRunner(tiling: tiling, modulation: [1])
        let (upscaler, input) = (Upscaler(tiling: tiling, runner: runner), image(9, 9))  // no `self` in the task
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await upscaler.upscale(input)
        }
        await XCTAssertThrowsAsync(try await task.value)
        XCTAssertEqual(runner.patchCalls, 0)
    }

    func testWrongOutputSizeIsAnError() async throws {
        struct Short: PatchRunner {
            func context(thumbnail: [Float]) async throws -> [Float] { [0] }
            func upscalePatch(_ patch: [Float], modulation: [Float]) async throws -> [Float] { [0, 1] }
        }
        do {
            _ = try await Upscaler(tiling: tiling, runner: Short()).upscale(image(3, 3))
            XCTFail("accepted a short output")
        } catch let error as UpscaleError {
            XCTAssertEqual(error, .badOutput(program: "upscale_patch", count: 2, expected: 3 * 16 * 16))
        }
    }
}

final class Log: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [UpscaleProgress] = []
    func append(_ p: UpscaleProgress) { lock.withLock { stored.append(p) } }
    var items: [UpscaleProgress] { lock.withLock { stored } }
}

func XCTAssertThrowsAsync<T>(_ body: @autoclosure () async throws -> T, file: StaticString = #filePath,
                             line: UInt = #line) async {
    do {
        _ = try await body()
        XCTFail("did not throw", file: file, line: line)
    } catch {}
}

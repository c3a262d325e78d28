#if canImport(CoreML)
import CoreML
import Foundation
import SRCore
import XCTest

/// The exported Core ML artifact's self-test (what the app's "Verify model" runs) through Core ML
/// on every compute unit. Needs an artifact exported with its self-test
/// (`python -m targets.coreml export --precision fp16 --out ios_demo/App/Resources`), named by
/// `MOSSNET_COREML_ARTIFACT`; skipped without it (`.github/workflows/ios.yml` sets it). Compiled
/// only where Core ML exists: not on Linux.
final class CoreMLSelfTestTests: XCTestCase {
    func testTheSelfTestPassesOnEveryComputeUnit() async throws {
        guard let path = ProcessInfo.processInfo.environment["MOSSNET_COREML_ARTIFACT"] else {
            throw XCTSkip("MOSSNET_COREML_ARTIFACT is not set (export a Core ML artifact first)")
        }
        let artifact = URL(fileURLWithPath: path)
        let manifest = try Manifest.load(artifact: artifact, runtime: "coreml")
        let name = try XCTUnwrap(SelfTestFile.fileName(in: manifest), "the manifest names no self-test")
        let data = try Data(contentsOf: artifact.deletingLastPathComponent().appendingPathComponent(name))
        let file = try SelfTestFile(manifest: manifest, data: data)
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("srcore-coreml-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: cache) }
        let units: [(String, MLComputeUnits)] = [("cpuOnly", .cpuOnly), ("cpuAndGPU", .cpuAndGPU),
                                                 ("cpuAndNeuralEngine", .cpuAndNeuralEngine), ("all", .all)]
        for (label, unit) in units {
            let runner = try await CoreMLPatchRunner.load(artifact: artifact, cacheDirectory: cache, computeUnits: unit)
            let report = try await SelfTest.run(file, manifest: manifest, runner: runner)
            print("[\(label)] \(report.summary)")
            XCTAssertTrue(report.passed, "[\(label)]\n\(report.summary)")
        }
    }
}
#endif

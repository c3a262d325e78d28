import Foundation
import SRCore
import XCTest

/// The self-test logic on the conformance fixture (a self-test file made by targets.selftest with
/// the fake models as the reference): the fake runner passes every case at the cap, a perturbed
/// one fails every case, a tampered file is refused before anything runs.
final class SelfTestTests: XCTestCase {
    private struct Perturbed: PatchRunner {
        let inner: FakeRunner
        func context(thumbnail: [Float]) async throws -> [Float] {
            try await inner.context(thumbnail: thumbnail).map { $0 * 1.2 }
        }
        func upscalePatch(_ patch: [Float], modulation: [Float]) async throws -> [Float] {
            try await inner.upscalePatch(patch, modulation: modulation).map { $0 + 0.05 }
        }
    }

    private struct Broken: PatchRunner {
        struct Failure: Error, CustomStringConvertible { var description: String { "delegate failed" } }
        func context(thumbnail: [Float]) async throws -> [Float] { throw Failure() }
        func upscalePatch(_ patch: [Float], modulation: [Float]) async throws -> [Float] { [0, 0, 0] }
    }

    private func load() throws -> (SelfTestFixture, Manifest, Data) {
        let f = try Conformance.vectors().selftest
        let artifact = try Conformance.bytes(f.artifact.b64)
        let m = try Manifest.parse(Data(f.manifest_text.utf8), runtime: "executorch", scale: 4) { SHA256.hex(artifact) }
        return (f, m, Data(f.selftest_text.utf8))
    }

    func testTheRightRunnerPassesEveryCaseAtTheCap() async throws {
        let (f, m, data) = try load()
        let file = try SelfTestFile(manifest: m, data: data)
        let report = try await SelfTest.run(file, manifest: m, runner: FakeRunner(tiling: m.tiling, modulation: f.modulation))
        XCTAssertEqual(report.cases.count, f.cases)
        XCTAssertTrue(report.passed, report.summary)
        XCTAssertTrue(report.cases.allSatisfy { $0.db == f.cap_db }, report.summary)
        XCTAssertEqual(report.boundDB, f.bound_db)
        XCTAssertTrue(report.cases.last?.name.hasPrefix("photo (EXIF 6") == true)
    }

    func testAPerturbedRunnerFailsEveryCase() async throws {
        let (f, m, data) = try load()
        let file = try SelfTestFile(manifest: m, data: data)
        let runner = Perturbed(inner: FakeRunner(tiling: m.tiling, modulation: f.modulation))
        let report = try await SelfTest.run(file, manifest: m, runner: runner)
        XCTAssertFalse(report.passed)
        XCTAssertTrue(report.cases.allSatisfy { !$0.passed && $0.db < report.boundDB }, report.summary)
    }

    func testARunnerThatThrowsFailsItsCasesWithTheMessage() async throws {
        let (_, m, data) = try load()
        let report = try await SelfTest.run(try SelfTestFile(manifest: m, data: data), manifest: m, runner: Broken())
        XCTAssertTrue(report.cases.allSatisfy { !$0.passed })
        XCTAssertEqual(report.cases.first?.detail, "delegate failed")
    }

    func testATamperedFileIsRefused() throws {
        let (_, m, data) = try load()
        var tampered = data
        tampered[tampered.count / 2] &+= 1
        XCTAssertThrowsError(try SelfTestFile(manifest: m, data: tampered)) { error in
            XCTAssertTrue("\(error)".contains("SHA-256"), "\(error)")
        }
    }

    func testAManifestWithoutSelfTestIsRefused() throws {
        let (_, _, data) = try load()
        let valid = try Conformance.vectors().manifests.valid[0]
        let m = try Manifest.parse(Data(valid.manifest_text.utf8), runtime: "executorch", scale: 4) {
            valid.loaded!.artifact_sha256
        }
        XCTAssertThrowsError(try SelfTestFile(manifest: m, data: data))
    }
}

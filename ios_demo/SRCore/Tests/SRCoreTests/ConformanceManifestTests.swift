import SRCore
import XCTest

/// Manifest schema constants, loading and refusals against the vectors.
final class ConformanceManifestTests: XCTestCase {
    func testSchemaConstants() throws {
        let schema = try Conformance.vectors().schema
        XCTAssertEqual(Manifest.schemaName, schema.name)
        XCTAssertEqual(Manifest.schemaVersion, schema.version)
        XCTAssertEqual(Manifest.precisions, schema.precisions)
    }

    func testValidManifestsLoad() throws {
        let cases = try Conformance.vectors().manifests.valid
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let artifact = try c.materialize(in: try temporaryFolder(self))
            let m: Manifest
            do {
                m = try Manifest.load(artifact: artifact, runtime: c.expect.runtime, scale: c.expect.scale)
            } catch {
                XCTFail("\(c.name): refused: \(error)")
                continue
            }
            let want = try XCTUnwrap(c.loaded, c.name)
            XCTAssertEqual(m.runtime, want.runtime, c.name)
            XCTAssertEqual(m.precision, want.precision, c.name)
            XCTAssertEqual(m.scale, want.scale, c.name)
            XCTAssertEqual(m.tiling, try want.tiling.config(), c.name)
            XCTAssertEqual(m.artifactSHA256, want.artifact_sha256, c.name)
            XCTAssertEqual(try ArtifactHash.sha256(of: artifact), want.artifact_sha256, "\(c.name): artifact hash")

            let io = try m.ioQuantization()
            let wantIO = try want.io_quantization?.mapValues { tensors in
                try tensors.mapValues { try TensorQuantization(dtype: $0.dtype, scale: Float($0.scale), zeroPoint: $0.zero_point) }
            }
            XCTAssertEqual(io, wantIO, "\(c.name): io_quantization")

            let programs = try m.programs().mapValues { p in
                ["inputs": p.inputs.map(pair), "outputs": p.outputs.map(pair)]
            }
            XCTAssertEqual(programs, try XCTUnwrap(c.programs, c.name), "\(c.name): programs")
        }
    }

    func testInvalidManifestsAreRefused() throws {
        let cases = try Conformance.vectors().manifests.invalid
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let artifact = try c.materialize(in: try temporaryFolder(self))
            XCTAssertThrowsError(try Manifest.load(artifact: artifact, runtime: c.expect.runtime, scale: c.expect.scale),
                                 c.name) { error in
                XCTAssertEqual((error as? ManifestError)?.kind.rawValue, c.refusal, "\(c.name): \(error)")
            }
        }
    }

    func testMissingArtifactOrManifest() throws {
        let folder = try temporaryFolder(self)
        let artifact = folder.appendingPathComponent("model.pte")
        XCTAssertThrowsError(try Manifest.load(artifact: artifact, runtime: "executorch")) {
            XCTAssertEqual(($0 as? ManifestError)?.kind, .missing)
        }
        try Data([1, 2, 3]).write(to: artifact)
        XCTAssertThrowsError(try Manifest.load(artifact: artifact, runtime: "executorch")) {
            XCTAssertEqual(($0 as? ManifestError)?.kind, .missing)
            XCTAssertTrue($0.localizedDescription.hasSuffix("no manifest beside it (model.pte.manifest.json)"),
                          "the app shows this message: \($0.localizedDescription)")
        }
    }

    /// The hash is the last, most expensive check: not computed for a manifest refused earlier.
    func testHashIsNotComputedForEarlyRefusals() throws {
        let text = #"{"schema": "mossnet-artifact-manifest", "schema_version": 1, "runtime": "coreml", "precision": "int4"}"#
        XCTAssertThrowsError(try Manifest.parse(Data(text.utf8), runtime: "coreml", scale: nil) {
            XCTFail("hashed")
            return ""
        }) { XCTAssertEqual(($0 as? ManifestError)?.kind, .precision) }
    }

    private func pair(_ t: TensorSignature) -> JSONValue {
        .array([.string(t.name), .array(t.shape.map { .int($0) })])
    }
}

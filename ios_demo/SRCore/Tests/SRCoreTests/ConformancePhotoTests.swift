import Foundation
import SRCore
import XCTest

/// The shipped 64 / 8 tiling, EXIF orientations, Pillow-bicubic alpha, whole photos and a real
/// exported manifest against Python (docs/conformance.md): byte-exact, by SHA-256 where large.
final class ConformancePhotoTests: XCTestCase {
    func testShippedUpscales() async throws {
        let cases = try Conformance.vectors().shipped_upscales
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let t = try c.tiling.config()
            XCTAssertEqual(t, try TilingConfig(scale: 4, patch: 64, halo: 8, align: 2, thumb: 64))
            let runner = FakeRunner(tiling: t, modulation: c.modulation)
            let out = try await Upscaler(tiling: t, runner: runner).upscale(
                try Conformance.image(height: c.height, width: c.width, b64: c.image_b64))
            XCTAssertEqual(runner.patchCalls, c.tiles, c.name)
            XCTAssertEqual(SHA256.hex(out.bytes), c.output_sha256, c.name)
        }
    }

    func testOrientations() throws {
        let cases = try Conformance.vectors().orientations
        XCTAssertEqual(cases.count, 8)
        for c in cases {
            let stored = RGBAImage(width: c.width, height: c.height, bytes: try Conformance.bytes(c.rgba_b64))
            let upright = ExifOrientation.apply(stored, orientation: c.orientation)
            XCTAssertEqual([upright.width, upright.height], [c.out_width, c.out_height], c.name)
            XCTAssertEqual(upright.bytes, try Conformance.bytes(c.expected_rgba_b64), c.name)
        }
    }

    func testAlphaResizes() throws {
        let cases = try Conformance.vectors().alpha_resizes
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let out = AlphaResize.bicubic(try Conformance.bytes(c.alpha_b64), width: c.width, height: c.height,
                                          outWidth: c.width * c.scale, outHeight: c.height * c.scale)
            XCTAssertEqual(out, try Conformance.bytes(c.expected_b64), c.name)
        }
    }

    func testPhotos() async throws {
        let cases = try Conformance.vectors().photos
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let t = try c.tiling.config()
            let runner = FakeRunner(tiling: t, modulation: c.modulation)
            let stored = RGBAImage(width: c.width, height: c.height, bytes: try Conformance.bytes(c.rgba_b64))
            let out = try await Upscaler(tiling: t, runner: runner).upscalePhoto(stored, orientation: c.orientation)
            XCTAssertEqual([out.width, out.height], [c.out_width, c.out_height], c.name)
            XCTAssertEqual(runner.patchCalls, c.tiles, c.name)
            XCTAssertEqual(SHA256.hex(out.rgb.bytes), c.rgb_sha256, "\(c.name): RGB")
            XCTAssertEqual(SHA256.hex(out.alpha), c.alpha_sha256, "\(c.name): alpha")
        }
    }

    func testRealManifests() throws {
        let cases = try Conformance.vectors().real_manifests
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let m = try Manifest.parse(Data(c.manifest_text.utf8), runtime: c.expect.runtime, scale: c.expect.scale,
                                       name: c.name) { c.artifact_sha256 }
            XCTAssertEqual(m.precision, c.loaded.precision)
            XCTAssertEqual(m.tiling, try c.loaded.tiling.config())
            XCTAssertEqual(m.document["parity"]?["bound_db"]?.number, c.loaded.bound_db)
            XCTAssertEqual(m.document["toolkit"]?.object?.compactMapValues(\.string), c.loaded.toolkit)
            XCTAssertEqual(SelfTestFile.fileName(in: m), c.loaded.selftest?.file)
            XCTAssertEqual(try m.programs()["upscale_patch"]?.inputs.first?.shape, [1, 3, 80, 80])
        }
    }
}

import SRCore
import XCTest

/// The whole tiled driver through the fake models: output bytes equal Python's exactly.
final class ConformanceUpscaleTests: XCTestCase {
    func testUpscales() async throws {
        let cases = try Conformance.vectors().upscales
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let t = try c.tiling.config()
            let runner = FakeRunner(tiling: t, modulation: c.modulation)
            let image = try Conformance.image(height: c.height, width: c.width, b64: c.image_b64)
            let out = try await Upscaler(tiling: t, runner: runner).upscale(image)
            let expected = try Conformance.bytes(c.output_b64)
            XCTAssertEqual(runner.patchCalls, c.tiles, "\(c.name): patch calls")
            XCTAssertEqual([out.width, out.height], [c.width * t.scale, c.height * t.scale], c.name)
            XCTAssertEqual(SHA256.hex(out.bytes), c.output_sha256, "\(c.name): \(firstDifference(out, expected))")
            XCTAssertEqual(SHA256.hex(expected), c.output_sha256, "\(c.name): SHA-256 of the expected bytes")
        }
    }

    private func firstDifference(_ got: RGBImage, _ expected: [UInt8]) -> String {
        guard got.bytes.count == expected.count else { return "\(got.bytes.count) bytes, expected \(expected.count)" }
        guard let i = expected.indices.first(where: { got.bytes[$0] != expected[$0] }) else { return "bytes equal" }
        let pixel = i / 3
        return "first difference at HR (y \(pixel / got.width), x \(pixel % got.width), c \(i % 3)): " +
            "\(got.bytes[i]) != \(expected[i])"
    }
}

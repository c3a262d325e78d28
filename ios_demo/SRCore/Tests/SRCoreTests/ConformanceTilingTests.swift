import SRCore
import XCTest

/// Rules 1-4 against the vectors: plans, refused configs and tile input windows.
final class ConformanceTilingTests: XCTestCase {
    func testPlans() throws {
        let cases = try Conformance.vectors().plans
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let t = try c.tiling.config()
            XCTAssertEqual([t.canvasSize(c.height), t.canvasSize(c.width)], c.canvas, "\(c.name): canvas")
            XCTAssertEqual(t.inputSize, c.input_size, "\(c.name): input size")
            XCTAssertEqual(t.outputSize, c.output_size, "\(c.name): output size")
            XCTAssertEqual(try t.planTiles(height: c.height, width: c.width), c.tiles.map(tile), "\(c.name): tiles")
        }
    }

    func testInvalidTilings() throws {
        let cases = try Conformance.vectors().invalid_tilings
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            switch c.error {
            case "config":
                XCTAssertThrowsError(try c.tiling.config(), c.name) { error in
                    guard case TilingError.config = error else { return XCTFail("\(c.name): \(error)") }
                }
            case "empty_image":
                let t = try c.tiling.config()
                XCTAssertThrowsError(try t.planTiles(height: c.height, width: c.width), c.name) { error in
                    XCTAssertEqual(error as? TilingError, .emptyImage(width: c.width, height: c.height), c.name)
                }
            default:
                XCTFail("\(c.name): unknown error kind \(c.error)")
            }
        }
    }

    func testPatchExtraction() throws {
        let cases = try Conformance.vectors().patches
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let t = try c.tiling.config()
            let image = try Conformance.image(height: c.height, width: c.width, b64: c.image_b64)
            XCTAssertEqual(image.extractPatch(tile(c.tile), t), try Conformance.bytes(c.patch_b64), c.name)
        }
    }
}

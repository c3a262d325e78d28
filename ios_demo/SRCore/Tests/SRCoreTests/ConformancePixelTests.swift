import SRCore
import XCTest

/// Rules 5 and 6 and the int8 I/O arithmetic against the vectors.
final class ConformancePixelTests: XCTestCase {
    func testThumbnails() throws {
        let v = try Conformance.vectors()
        let tolerance = try XCTUnwrap(v.tolerances["thumbnail_abs"])
        XCTAssertFalse(v.thumbnails.isEmpty)
        for c in v.thumbnails {
            let image = try Conformance.image(height: c.height, width: c.width, b64: c.image_b64)
            let got = image.thumbnail(side: c.thumb)
            XCTAssertEqual(got.count, c.values.count, c.name)
            let worst = zip(got, c.values).map { abs(Double($0) - Double(Float($1))) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst, tolerance, "\(c.name): max |diff| \(worst)")
        }
    }

    func testToModelInputIsBitExact() throws {
        let pairs = try Conformance.vectors().normalization.to_model_input
        XCTAssertEqual(pairs.count, 256)
        for p in pairs {
            let got = Normalization.toModelInput(UInt8(p[0]))
            XCTAssertEqual(got.bitPattern, Float(p[1]).bitPattern, "byte \(p[0]): \(got) != \(Float(p[1]))")
        }
    }

    func testToUInt8() throws {
        let pairs = try Conformance.vectors().normalization.to_uint8
        XCTAssertFalse(pairs.isEmpty)
        for p in pairs {
            XCTAssertEqual(Normalization.toUInt8(Float(p[0])), UInt8(p[1]), "value \(Float(p[0]))")
        }
    }

    func testPlanarRoundTrip() {
        let hwc: [UInt8] = (0..<(3 * 5 * 2)).map { UInt8($0 * 8) }
        let chw = Planar.modelInput(hwc: hwc, height: 2, width: 5)
        XCTAssertEqual(chw[10], Normalization.toModelInput(hwc[1]), "channel 1 starts a plane later")
        XCTAssertEqual(Planar.bytes(chw: chw, height: 2, width: 5), hwc)
    }

    func testRGBAConversion() {
        let image = RGBImage(width: 2, height: 1, bytes: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(image.rgbaBytes(), [1, 2, 3, 255, 4, 5, 6, 255])
        // straight alpha is kept beside the colour (the alpha policy); 255 everywhere is none
        let translucent = RGBImage(rgba: [1, 2, 3, 0, 4, 5, 6, 9], width: 2, height: 1)
        XCTAssertEqual(translucent.bytes, image.bytes)
        XCTAssertEqual(translucent.alpha, [0, 9])
        XCTAssertEqual(translucent.rgbaBytes(), [1, 2, 3, 0, 4, 5, 6, 9])
        XCTAssertEqual(RGBImage(rgba: [1, 2, 3, 255, 4, 5, 6, 255], width: 2, height: 1), image)
    }

    func testInt8IO() throws {
        let cases = try Conformance.vectors().int8
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let q = try TensorQuantization(dtype: c.dtype, scale: Float(c.scale), zeroPoint: c.zero_point)
            for p in c.quantize {
                XCTAssertEqual(q.quantize(Float(p[0])), Int8(p[1]), "\(c.name): quantize \(Float(p[0]))")
            }
            for p in c.dequantize {
                let got = q.dequantize(Int8(p[0]))
                XCTAssertEqual(got.bitPattern, Float(p[1]).bitPattern, "\(c.name): dequantize \(p[0]): \(got)")
            }
        }
    }

    func testInt8RefusesOtherDtypes() {
        XCTAssertThrowsError(try TensorQuantization(dtype: "uint8", scale: 0.5, zeroPoint: 0))
        XCTAssertNoThrow(try TensorQuantization(dtype: "float32", scale: 0, zeroPoint: 0))
    }
}

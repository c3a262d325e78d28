import Foundation
import SRCore
import XCTest

/// `tests/conformance/vectors.json` (docs/conformance.md), found from this file's path so that
/// `swift test` needs no arguments. `MOSSNET_CONFORMANCE_VECTORS` points elsewhere if set.
enum Conformance {
    static let url: URL = {
        if let path = ProcessInfo.processInfo.environment["MOSSNET_CONFORMANCE_VECTORS"] {
            return URL(fileURLWithPath: path)
        }
        var repo = URL(fileURLWithPath: #filePath)  // <repo>/ios_demo/SRCore/Tests/SRCoreTests/x.swift
        for _ in 0..<5 { repo.deleteLastPathComponent() }
        return repo.appendingPathComponent("tests/conformance/vectors.json")
    }()

    private static let loaded: Result<Vectors, Error> = Result {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw VectorsError("\(url.path) is missing: run `.venv/bin/python -m mossnet.tools.conformance`")
        }
        let v = try JSONDecoder().decode(Vectors.self, from: data)
        guard v.format == "mossnet-conformance", v.format_version == 1 else {
            throw VectorsError("unsupported vectors format \(v.format) v\(v.format_version)")
        }
        return v
    }

    /// The parsed vectors; a missing or malformed file fails the calling test.
    static func vectors() throws -> Vectors { try loaded.get() }

    static func bytes(_ b64: String) throws -> [UInt8] {
        guard let data = Data(base64Encoded: b64) else { throw VectorsError("bad base64") }
        return [UInt8](data)
    }

    static func image(height: Int, width: Int, b64: String) throws -> RGBImage {
        RGBImage(width: width, height: height, bytes: try bytes(b64))
    }
}

struct VectorsError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

// The file's sections; property names follow its snake_case keys.

struct Vectors: Decodable {
    let format: String
    let format_version: Int
    let tolerances: [String: Double]
    let schema: SchemaSection
    let plans: [PlanCase]
    let invalid_tilings: [InvalidTilingCase]
    let patches: [PatchCase]
    let thumbnails: [ThumbnailCase]
    let normalization: NormalizationSection
    let int8: [Int8Case]
    let upscales: [UpscaleCase]
    let manifests: ManifestSection
    let shipped_upscales: [ShippedUpscaleCase]
    let orientations: [OrientationCase]
    let alpha_resizes: [AlphaResizeCase]
    let photos: [PhotoCase]
    let real_manifests: [RealManifestCase]
    let selftest: SelfTestFixture
}

struct ShippedUpscaleCase: Decodable {
    let name: String, tiling: TilingJSON, height: Int, width: Int, image_b64: String
    let modulation: [Int], tiles: Int, output_sha256: String
}

struct OrientationCase: Decodable {
    let name: String, orientation: Int, height: Int, width: Int, rgba_b64: String
    let out_height: Int, out_width: Int, expected_rgba_b64: String
}

struct AlphaResizeCase: Decodable {
    let name: String, height: Int, width: Int, scale: Int, alpha_b64: String, expected_b64: String
}

struct PhotoCase: Decodable {
    let name: String, tiling: TilingJSON, height: Int, width: Int, orientation: Int, rgba_b64: String
    let modulation: [Int], tiles: Int, out_height: Int, out_width: Int, rgb_sha256: String, alpha_sha256: String
}

struct RealManifestCase: Decodable {
    struct Expect: Decodable { let runtime: String; let scale: Int }
    struct SelfTestRef: Decodable { let file: String; let sha256: String }
    struct Loaded: Decodable {
        let runtime: String, precision: String, scale: Int, tiling: TilingJSON, artifact_sha256: String
        let bound_db: Double, toolkit: [String: String], selftest: SelfTestRef?
    }
    let name: String, expect: Expect, manifest_text: String, artifact_sha256: String, loaded: Loaded
}

struct SelfTestFixture: Decodable {
    struct Artifact: Decodable { let kind: String; let b64: String }
    let artifact: Artifact, file_name: String, manifest_text: String, modulation: [Int]
    let selftest_text: String, selftest_sha256: String, cases: Int, cap_db: Double, bound_db: Double
}

struct TilingJSON: Decodable {
    let scale: Int, patch: Int, halo: Int, align: Int, thumb: Int
    func config() throws -> TilingConfig {
        try TilingConfig(scale: scale, patch: patch, halo: halo, align: align, thumb: thumb)
    }
}

func tile(_ row: [Int]) -> Tile {
    Tile(y: row[0], x: row[1], ownY0: row[2], ownY1: row[3], ownX0: row[4], ownX1: row[5])
}

struct SchemaSection: Decodable {
    let name: String
    let version: Int
    let precisions: [String: [String]]
}

struct PlanCase: Decodable {
    let name: String, tiling: TilingJSON, height: Int, width: Int
    let canvas: [Int], input_size: Int, output_size: Int, tiles: [[Int]]
}

struct InvalidTilingCase: Decodable {
    let name: String, tiling: TilingJSON, height: Int, width: Int, error: String
}

struct PatchCase: Decodable {
    let name: String, tiling: TilingJSON, height: Int, width: Int
    let image_b64: String, tile: [Int], patch_b64: String
}

struct ThumbnailCase: Decodable {
    let name: String, height: Int, width: Int, image_b64: String, thumb: Int, values: [Double]
}

struct NormalizationSection: Decodable {
    let to_model_input: [[Double]]
    let to_uint8: [[Double]]
}

struct Int8Case: Decodable {
    let name: String, scale: Double, zero_point: Int, dtype: String
    let quantize: [[Double]]
    let dequantize: [[Double]]
}

struct UpscaleCase: Decodable {
    let name: String, tiling: TilingJSON, height: Int, width: Int, image_b64: String
    let modulation: [Int], tiles: Int, output_b64: String, output_sha256: String
}

struct ManifestSection: Decodable {
    let valid: [ManifestCase]
    let invalid: [ManifestCase]
}

struct ManifestCase: Decodable {
    struct Expect: Decodable { let runtime: String; let scale: Int? }
    struct Artifact: Decodable {
        struct File: Decodable { let path: String; let b64: String }
        let kind: String
        let b64: String?
        let files: [File]?
    }
    struct Loaded: Decodable {
        let runtime: String, precision: String, scale: Int, tiling: TilingJSON, artifact_sha256: String
        let io_quantization: [String: [String: Quantization]]?
    }
    struct Quantization: Decodable { let dtype: String; let scale: Double; let zero_point: Int }

    let name: String
    let expect: Expect
    let manifest_text: String
    let artifact: Artifact
    let file_name: String?
    let loaded: Loaded?
    let programs: [String: [String: [JSONValue]]]?  // program -> inputs/outputs -> [[name, shape]]
    let refusal: String?

    /// Writes the artifact and its manifest into `folder` as the Python generator did.
    func materialize(in folder: URL) throws -> URL {
        let path = folder.appendingPathComponent(file_name ?? "artifact")
        let fm = FileManager.default
        if artifact.kind == "file" {
            try Data(try Conformance.bytes(artifact.b64 ?? "")).write(to: path)
        } else {
            for f in artifact.files ?? [] {
                let target = path.appendingPathComponent(f.path)
                try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(try Conformance.bytes(f.b64)).write(to: target)
            }
        }
        try Data(manifest_text.utf8).write(to: Manifest.manifestURL(for: path))
        return path
    }
}

/// A fresh empty folder for one test, removed afterwards.
func temporaryFolder(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("srcore-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

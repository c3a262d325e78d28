import Foundation

/// Why an artifact was refused. The kinds and their order are those of
/// `targets.manifest.load_manifest` (docs/conformance.md, "manifests").
public struct ManifestError: LocalizedError, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case missing         // no artifact, or no manifest beside it
        case json, schema, runtime, precision, scale, sha256, tiling
        case programs, ioQuantization  // malformed optional sections, read on demand
    }

    public let kind: Kind
    public let message: String
    public init(_ kind: Kind, _ message: String) { (self.kind, self.message) = (kind, message) }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// A tensor of one program, as the manifest names and shapes it (float32 NCHW here).
public struct TensorSignature: Equatable, Sendable {
    public let name: String
    public let shape: [Int]
    public let dtype: String
    public let layout: String
}

public struct ProgramSignature: Equatable, Sendable {
    public let inputs: [TensorSignature]
    public let outputs: [TensorSignature]
}

/// The artifact manifest, schema v1 (`targets/manifest.py`): everything the app needs about a
/// model (tiling, tensor names and shapes, I/O quantization) comes from here.
public struct Manifest: Sendable {
    public static let schemaName = "mossnet-artifact-manifest"
    public static let schemaVersion = 1
    public static let precisions: [String: [String]] = [
        "executorch": ["fp32", "int8-ptq", "int8-qat"],
        "coreml": ["fp32", "fp16", "w8", "w8a8"],
        "tflite": ["fp32", "int8"],
    ]

    public let runtime: String
    public let precision: String
    public let scale: Int
    public let tiling: TilingConfig
    public let artifactSHA256: String
    /// The whole document, for display-only fields (`model.arch`, `parity`, `toolkit`).
    public let document: JSONValue

    /// `<artifact>.manifest.json`, beside the artifact.
    public static func manifestURL(for artifact: URL) -> URL {
        artifact.deletingLastPathComponent().appendingPathComponent(artifact.lastPathComponent + ".manifest.json")
    }

    /// Loads and checks the manifest of an artifact (file or folder), hashing the artifact.
    public static func load(artifact: URL, runtime: String, scale: Int? = nil) throws -> Manifest {
        let fm = FileManager.default
        guard fm.fileExists(atPath: artifact.path) else {
            throw ManifestError(.missing, "\(artifact.lastPathComponent): no such artifact")
        }
        let path = manifestURL(for: artifact)
        guard let data = fm.contents(atPath: path.path) else {
            throw ManifestError(.missing, "\(artifact.lastPathComponent): no manifest beside it (\(path.lastPathComponent))")
        }
        return try parse(data, runtime: runtime, scale: scale, name: artifact.lastPathComponent) {
            try ArtifactHash.sha256(of: artifact)
        }
    }

    /// Checks manifest text in the loader's order; `artifactSHA256` is only called once every
    /// cheaper check has passed. `name` only appears in messages.
    public static func parse(_ data: Data, runtime: String, scale expectedScale: Int?, name: String = "artifact",
                             artifactSHA256: () throws -> String) throws -> Manifest {
        guard let doc = try? JSONValue.parse(data), case .object = doc else {
            throw ManifestError(.json, "\(name): manifest is not a JSON object")
        }
        guard doc["schema"]?.string == schemaName, doc["schema_version"]?.number == Double(schemaVersion) else {
            throw ManifestError(.schema, "\(name): unsupported manifest schema \(show(doc["schema"])) v\(show(doc["schema_version"]))")
        }
        guard doc["runtime"]?.string == runtime else {
            throw ManifestError(.runtime, "\(name): a \(show(doc["runtime"])) artifact, not \(runtime)")
        }
        guard let precision = doc["precision"]?.string, precisions[runtime]?.contains(precision) == true else {
            throw ManifestError(.precision, "\(name): unsupported precision \(show(doc["precision"])) for \(runtime)")
        }
        let modelScale = doc["model"]?["scale"]
        guard let scale = modelScale?.number.flatMap(Int.init(exactly:)),
              expectedScale == nil || Double(expectedScale!) == modelScale?.number else {
            throw ManifestError(.scale, "\(name): an x\(show(modelScale)) model, expected x\(expectedScale.map(String.init) ?? "?")")
        }
        guard let expectedHash = doc["artifact"]?["sha256"]?.string, try artifactSHA256() == expectedHash else {
            throw ManifestError(.sha256, "\(name): SHA-256 does not match its manifest (modified or corrupt)")
        }
        let tiling = try parseTiling(doc["tiling"], name: name)
        return Manifest(runtime: runtime, precision: precision, scale: scale, tiling: tiling,
                        artifactSHA256: expectedHash, document: doc)
    }

    /// `TilingConfig(**manifest["tiling"])`: exactly the five integer fields, validated.
    static func parseTiling(_ value: JSONValue?, name: String) throws -> TilingConfig {
        let keys = ["scale", "patch", "halo", "align", "thumb"]
        guard let o = value?.object, Set(o.keys) == Set(keys) else {
            throw ManifestError(.tiling, "\(name): tiling must have exactly the fields \(keys.joined(separator: ", "))")
        }
        let v = keys.compactMap { o[$0]?.int }
        guard v.count == keys.count else { throw ManifestError(.tiling, "\(name): tiling fields must be integers") }
        do {
            return try TilingConfig(scale: v[0], patch: v[1], halo: v[2], align: v[3], thumb: v[4])
        } catch {
            throw ManifestError(.tiling, "\(name): bad tiling: \(error)")
        }
    }

    private static func show(_ v: JSONValue?) -> String {
        switch v {
        case .string(let s)?: return s
        case .int(let i)?: return String(i)
        case .double(let d)?: return String(d)
        case .bool(let b)?: return String(b)
        case nil, .null?: return "None"
        default: return "?"
        }
    }
}

public extension Manifest {
    var arch: String? { document["model"]?["arch"]?.string }

    /// File of each program inside a folder artifact (`artifact.programs`), e.g.
    /// `upscale_patch` -> `upscale_patch.mlpackage`.
    var programFiles: [String: String] {
        (document["artifact"]?["programs"]?.object ?? [:]).compactMapValues(\.string)
    }

    /// Names, shapes, dtypes and layouts of every program's tensors.
    func programs() throws -> [String: ProgramSignature] {
        guard let o = document["programs"]?.object else { throw ManifestError(.programs, "manifest: no programs") }
        func tensors(_ v: JSONValue?) throws -> [TensorSignature] {
            guard let list = v?.array else { throw ManifestError(.programs, "manifest: bad tensor list") }
            return try list.map { t in
                guard let name = t["name"]?.string, let dims = t["shape"]?.array else {
                    throw ManifestError(.programs, "manifest: tensor without name or shape")
                }
                let shape = dims.compactMap(\.int)
                guard shape.count == dims.count else { throw ManifestError(.programs, "manifest: \(name): bad shape") }
                return TensorSignature(name: name, shape: shape, dtype: t["dtype"]?.string ?? "float32",
                                       layout: t["layout"]?.string ?? "NCHW")
            }
        }
        return try o.mapValues { try ProgramSignature(inputs: tensors($0["inputs"]), outputs: tensors($0["outputs"])) }
    }

    /// `io_quantization`: `nil` for float I/O, else `{program: {tensor: quantization}}`.
    func ioQuantization() throws -> [String: [String: TensorQuantization]]? {
        guard let value = document["io_quantization"], value != .null else { return nil }
        guard let programs = value.object else { throw ManifestError(.ioQuantization, "manifest: bad io_quantization") }
        return try programs.mapValues { tensors in
            guard let tensors = tensors.object else { throw ManifestError(.ioQuantization, "manifest: bad io_quantization") }
            return try tensors.mapValues { q in
                guard let dtype = q["dtype"]?.string, let scale = q["scale"]?.number, let zp = q["zero_point"]?.int else {
                    throw ManifestError(.ioQuantization, "manifest: io_quantization entry needs dtype, scale, zero_point")
                }
                return try TensorQuantization(dtype: dtype, scale: Float(scale), zeroPoint: zp)
            }
        }
    }
}

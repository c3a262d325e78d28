import Foundation

/// One case of a self-test run: PSNR (SNR for the modulation) in dB against the reference.
public struct SelfTestCase: Equatable, Sendable {
    public let name: String
    public let db: Double
    public let passed: Bool
    public let detail: String

    public init(name: String, db: Double, passed: Bool, detail: String = "") {
        (self.name, self.db, self.passed, self.detail) = (name, db, passed, detail)
    }

    /// e.g. `46.20 dB  ok    china.jpg tile at (8, 24)`.
    public var line: String {
        String(format: "%6.2f dB  ", db) + (passed ? "ok    " : "FAIL  ") + name + (detail.isEmpty ? "" : " (\(detail))")
    }
}

public struct SelfTestReport: Equatable, Sendable {
    public let cases: [SelfTestCase]
    public let boundDB: Double
    public let reference: String
    public var passed: Bool { !cases.isEmpty && cases.allSatisfy(\.passed) }

    public var summary: String {
        (["self-test against \(reference), bound " + String(format: "%.1f", boundDB) + " dB: " + (passed ? "PASS" : "FAIL")]
            + cases.map(\.line)).joined(separator: "\n")
    }
}

public struct SelfTestError: LocalizedError, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
    public var errorDescription: String? { description }
}

/// The on-device self-test file (`targets/selftest.py` writes it beside each artifact and its
/// SHA-256 into the manifest's `selftest`): reference inputs and outputs of the artifact's own
/// reference program, run here through the phone's runtime behind `PatchRunner`.
///
/// Cases: the context program (SNR of the modulation, at least the file's `min_snr_db`: a working
/// program), single patch calls (PSNR of the uint8 output, fed the reference modulation), and one
/// whole photo at the artifact's tiling, stored sideways with EXIF orientation and alpha
/// (`Upscaler.upscalePhoto`, with the runtime's own modulation: RGB PSNR, alpha exact). Tiles and
/// photo pass at or above the manifest's `selftest.bound_db` (else `parity.bound_db`).
public struct SelfTestFile: Sendable {
    public static let format = "mossnet-selftest"
    public static let formatVersion = 1

    public let tiling: TilingConfig
    public let reference: String
    let doc: JSONValue

    /// The name of the self-test file beside an artifact, from its manifest.
    public static func fileName(in manifest: Manifest) -> String? { manifest.document["selftest"]?["file"]?.string }

    /// Parses `data` after checking that it is the file `manifest` names (by SHA-256).
    public init(manifest: Manifest, data: Data) throws {
        guard let expected = manifest.document["selftest"]?["sha256"]?.string else {
            throw SelfTestError("the manifest names no self-test (exported before it existed?)")
        }
        let actual = SHA256.hex(data)
        guard actual == expected.lowercased() else {
            throw SelfTestError("self-test file SHA-256 \(actual) does not match its manifest (\(expected))")
        }
        guard let doc = try? JSONValue.parse(data), doc["format"]?.string == Self.format,
              doc["format_version"]?.int == Self.formatVersion else {
            throw SelfTestError("not a self-test file of format \(Self.format) v\(Self.formatVersion)")
        }
        guard doc["artifact_sha256"]?.string?.lowercased() == manifest.artifactSHA256.lowercased() else {
            throw SelfTestError("the self-test was made for another artifact")
        }
        let t = try Manifest.parseTiling(doc["tiling"], name: "self-test")
        guard t == manifest.tiling else { throw SelfTestError("self-test tiling differs from the manifest's") }
        (self.tiling, self.reference, self.doc) = (t, doc["reference"]?.string ?? "?", doc)
    }

    func bytes(_ v: JSONValue?, _ key: String) throws -> [UInt8] {
        guard let s = v?[key]?.string, let d = Data(base64Encoded: s) else { throw SelfTestError("self-test: bad \(key)") }
        return [UInt8](d)
    }

    func floats(_ v: JSONValue?, _ key: String) throws -> [Float] {
        let b = try bytes(v, key)
        var out = [Float](repeating: 0, count: b.count / 4)
        for i in out.indices {
            var bits = UInt32(b[4 * i])
            bits |= UInt32(b[4 * i + 1]) << 8
            bits |= UInt32(b[4 * i + 2]) << 16
            bits |= UInt32(b[4 * i + 3]) << 24
            out[i] = Float(bitPattern: bits)
        }
        return out
    }

    func int(_ v: JSONValue?, _ key: String) throws -> Int {
        guard let i = v?[key]?.int else { throw SelfTestError("self-test: bad \(key)") }
        return i
    }
}

public enum SelfTest {
    public static let psnrCap = 200.0

    /// PSNR (peak 255) of two byte arrays, capped at `psnrCap` (identical: the cap).
    public static func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
        precondition(a.count == b.count && !a.isEmpty, "size mismatch")
        var sum = 0.0
        for i in a.indices { let d = Double(a[i]) - Double(b[i]); sum += d * d }
        if sum == 0 { return psnrCap }
        return min(psnrCap, 10 * log10(255.0 * 255.0 / (sum / Double(a.count))))
    }

    /// Signal-to-noise of a float vector against its reference, capped like `psnr`.
    public static func snr(_ reference: [Float], _ got: [Float]) -> Double {
        precondition(reference.count == got.count, "size mismatch")
        var signal = 0.0, noise = 0.0
        for i in reference.indices {
            let r = Double(reference[i]), d = r - Double(got[i])
            signal += r * r
            noise += d * d
        }
        if noise == 0 { return psnrCap }
        return min(psnrCap, 10 * log10(max(signal, 1e-30) / noise))
    }

    /// Runs every case through `runner`; `onCase` sees each result as it comes. A runner that
    /// throws fails its case with the message; cancellation (`CancellationError`) ends the run.
    public static func run(_ file: SelfTestFile, manifest: Manifest, runner: PatchRunner,
                           onCase: @Sendable (SelfTestCase) -> Void = { _ in }) async throws -> SelfTestReport {
        guard let bound = manifest.document["selftest"]?["bound_db"]?.number
                ?? manifest.document["parity"]?["bound_db"]?.number else {
            throw SelfTestError("the manifest has no selftest.bound_db or parity.bound_db")
        }
        let t = file.tiling
        var cases: [SelfTestCase] = []
        func add(_ c: SelfTestCase) { cases.append(c); onCase(c) }
        func guarded(_ name: String, _ body: () async throws -> SelfTestCase) async throws {
            do {
                add(try await body())
            } catch is CancellationError {
                throw CancellationError()
            } catch let e as SelfTestError {
                throw e
            } catch {
                add(SelfTestCase(name: name, db: 0, passed: false, detail: "\(error)"))
            }
        }

        let ctx = file.doc["context"]
        let modulation = try file.floats(ctx, "modulation_f32_b64")
        let thumb = try file.floats(ctx, "thumbnail_f32_b64")
        guard let contextFloor = ctx?["min_snr_db"]?.number else { throw SelfTestError("self-test: bad min_snr_db") }
        let contextName = "context (modulation SNR)"
        try await guarded(contextName) {
            try Task.checkCancellation()
            let got = try await runner.context(thumbnail: thumb)
            guard got.count == modulation.count else {
                return SelfTestCase(name: contextName, db: 0, passed: false,
                                    detail: "\(got.count) values, expected \(modulation.count)")
            }
            let db = snr(modulation, got)
            return SelfTestCase(name: contextName, db: db, passed: db >= contextFloor)
        }
        let n = t.inputSize, o = t.outputSize
        for c in file.doc["tiles"]?.array ?? [] {
            let name = c["name"]?.string ?? "tile"
            let patch = try file.bytes(c, "patch_u8_b64"), expected = try file.bytes(c, "expected_u8_b64")
            try await guarded(name) {
                try Task.checkCancellation()
                let hr = try await runner.upscalePatch(Planar.modelInput(hwc: patch, height: n, width: n),
                                                       modulation: modulation)
                guard hr.count == 3 * o * o else {
                    return SelfTestCase(name: name, db: 0, passed: false, detail: "\(hr.count) values, expected \(3 * o * o)")
                }
                let db = psnr(Planar.bytes(chw: hr, height: o, width: o), expected)
                return SelfTestCase(name: name, db: db, passed: db >= bound)
            }
        }
        let p = file.doc["photo"]
        let orientation = try file.int(p, "orientation")
        let photoName = "photo (EXIF \(orientation), alpha)"
        let stored = RGBAImage(width: try file.int(p, "width"), height: try file.int(p, "height"),
                               bytes: try file.bytes(p, "rgba_b64"))
        let expected = try file.bytes(p, "expected_rgba_b64")
        let outW = try file.int(p, "out_width"), outH = try file.int(p, "out_height")
        try await guarded(photoName) {
            let out = try await Upscaler(tiling: t, runner: runner).upscalePhoto(stored, orientation: orientation)
            guard out.width == outW, out.height == outH else {
                return SelfTestCase(name: photoName, db: 0, passed: false,
                                    detail: "\(out.width)x\(out.height), expected \(outW)x\(outH)")
            }
            var gotRGB = [UInt8](), wantRGB = [UInt8]()
            gotRGB.reserveCapacity(3 * outW * outH)
            wantRGB.reserveCapacity(3 * outW * outH)
            var alphaDiff = 0
            for i in 0..<(outW * outH) {
                gotRGB.append(contentsOf: out.bytes[(4 * i)..<(4 * i + 3)])
                wantRGB.append(contentsOf: expected[(4 * i)..<(4 * i + 3)])
                if out.bytes[4 * i + 3] != expected[4 * i + 3] { alphaDiff += 1 }
            }
            let db = psnr(gotRGB, wantRGB)
            return SelfTestCase(name: photoName, db: db, passed: db >= bound && alphaDiff == 0,
                                detail: alphaDiff == 0 ? "" : "\(alphaDiff) alpha values differ")
        }
        return SelfTestReport(cases: cases, boundDB: bound, reference: file.reference)
    }
}

import Foundation
@testable import SRCore
import XCTest

/// SHA-256 known answers (FIPS 180-4 examples) and the folder-digest file order.
final class HashTests: XCTestCase {
    func testKnownAnswers() {
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testIncrementalEqualsOneShot() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 31) }
        var h = SHA256()
        for chunk in stride(from: 0, to: bytes.count, by: 37) { h.update(bytes[chunk..<min(chunk + 37, bytes.count)]) }
        XCTAssertEqual(h.hexDigest(), SHA256.hex(bytes))
    }

    /// Python sorts paths component-wise: `a/b` < `a-b/c` < `a.b`, unlike a plain string sort.
    func testFolderOrderIsComponentWise() throws {
        let folder = try temporaryFolder(self)
        for path in ["a.b", "a-b/c", "a/b"] {
            let url = folder.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(path.utf8).write(to: url)
        }
        XCTAssertEqual(try ArtifactHash.regularFiles(under: folder), [["a", "b"], ["a-b", "c"], ["a.b"]])
        XCTAssertEqual(try ArtifactHash.sha256(of: folder), SHA256.hex(Array("a/ba/ba-b/ca-b/ca.ba.b".utf8)))
    }
}

import Foundation
import SRCore

/// The fake context and patch models of docs/conformance.md ("The fake models"): integer-exact
/// outputs, so that any misplaced tile, wrong halo, ownership, clamping or rounding shows.
final class FakeRunner: PatchRunner, @unchecked Sendable {
    let tiling: TilingConfig
    let modulation: [Float]
    private let lock = NSLock()
    private var calls = 0
    /// Called before every patch call with the number of patch calls so far.
    var onPatch: (@Sendable (Int) -> Void)?

    init(tiling: TilingConfig, modulation: [Int]) {
        self.tiling = tiling
        self.modulation = modulation.map(Float.init)
    }

    var patchCalls: Int { lock.withLock { calls } }

    func context(thumbnail: [Float]) async throws -> [Float] {
        precondition(thumbnail.count == 3 * tiling.thumb * tiling.thumb, "thumbnail shape")
        return modulation
    }

    func upscalePatch(_ x: [Float], modulation m: [Float]) async throws -> [Float] {
        let n: Int = lock.withLock {
            defer { calls += 1 }
            return calls
        }
        onPatch?(n)
        let (s, p, h, size) = (tiling.scale, tiling.patch, tiling.halo, tiling.inputSize)
        precondition(x.count == 3 * size * size, "patch shape")
        func q(_ c: Int, _ y: Int, _ xx: Int) -> Int {
            let scaled: Float = x[(c * size + y) * size + xx] * 255
            return Int((scaled + 0.5).rounded(.down))
        }
        let side = s * p
        var out = [Float](repeating: 0, count: 3 * side * side)
        for c in 0..<3 {
            let mc = Int(m[c % m.count])
            for yy in 0..<side {
                for xx in 0..<side {
                    let (u, v, a, b) = (yy / s, xx / s, yy % s, xx % s)
                    let centre = q(c, u + h, v + h)
                    let before = q((c + 1) % 3, u, v)
                    let after = q((c + 2) % 3, u + 2 * h, v + 2 * h)
                    let d = (before + 2 * after + 3 * a + 5 * b + 7 * u + 11 * v + mc) % 17 - 8
                    let r = [0, 1, 3][(u + v + a + b) % 3]
                    out[(c * side + yy) * side + xx] = Float(4 * (centre + d) + r) / 1020
                }
            }
        }
        return out
    }
}

import Foundation

/// The tiling rules of docs/tiling.md (rules 1-4), ported from `mossnet/core/tiling.py`. The values
/// always come from an artifact's manifest, never from constants in the app.
public struct TilingConfig: Equatable, Hashable, Sendable {
    public let scale: Int
    public let patch: Int  // LR side of a tile's core
    public let halo: Int   // LR pixels of context on each side of the core
    public let align: Int  // core starts and the canvas are multiples of this
    public let thumb: Int  // side of the context thumbnail

    /// Refuses what `TilingConfig.__post_init__` refuses (patch not a positive multiple of
    /// `align`, halo negative or not a multiple of it), and the sizes Python would crash on.
    public init(scale: Int, patch: Int, halo: Int, align: Int, thumb: Int) throws {
        guard align >= 1, scale >= 1, thumb >= 1 else {
            throw TilingError.config("scale \(scale), align \(align) and thumb \(thumb) must be positive")
        }
        guard patch > 0, patch % align == 0 else {
            throw TilingError.config("patch \(patch) must be a positive multiple of \(align)")
        }
        guard halo >= 0, halo % align == 0 else {
            throw TilingError.config("halo \(halo) must be a non-negative multiple of \(align)")
        }
        (self.scale, self.patch, self.halo, self.align, self.thumb) = (scale, patch, halo, align, thumb)
    }

    /// Side of a tile's input window: the fixed input size of the patch program.
    public var inputSize: Int { patch + 2 * halo }
    /// Side of a tile's output: the fixed output size of the patch program.
    public var outputSize: Int { patch * scale }
}

public enum TilingError: LocalizedError, Equatable, CustomStringConvertible {
    case config(String)
    case emptyImage(width: Int, height: Int)

    public var description: String {
        switch self {
        case .config(let why): return why
        case .emptyImage(let w, let h): return "cannot tile an empty image (\(w)x\(h))"
        }
    }

    public var errorDescription: String? { description }
}

/// One tile: its core origin and the LR rectangle it owns, `[ownY0, ownY1) x [ownX0, ownX1)`.
public struct Tile: Equatable, Hashable, Sendable {
    public let y: Int, x: Int
    public let ownY0: Int, ownY1: Int, ownX0: Int, ownX1: Int

    public init(y: Int, x: Int, ownY0: Int, ownY1: Int, ownX0: Int, ownX1: Int) {
        (self.y, self.x, self.ownY0, self.ownY1, self.ownX0, self.ownX1) = (y, x, ownY0, ownY1, ownX0, ownX1)
    }
}

public extension TilingConfig {
    /// Rule 1: the side extended to a multiple of `align`, and at least one patch.
    func canvasSize(_ side: Int) -> Int {
        max((side + align - 1) / align * align, patch)
    }

    /// Rule 2: core starts along one axis; a last core flush with the canvas end if needed.
    func axisStarts(_ side: Int) -> [Int] {
        let canvas = canvasSize(side)
        var starts = Array(stride(from: 0, through: canvas - patch, by: patch))
        if starts[starts.count - 1] + patch < canvas { starts.append(canvas - patch) }
        return starts
    }

    /// Rule 4 along one axis: (start, ownFrom, ownTo) per tile; tiles owning nothing dropped.
    func axisOwnership(_ side: Int) -> [(start: Int, from: Int, to: Int)] {
        var out: [(start: Int, from: Int, to: Int)] = []
        var covered = 0
        for start in axisStarts(side) {
            let to = min(start + patch, side)
            if to > covered {
                out.append((start, covered, to))
                covered = to
            }
        }
        return out
    }

    /// The whole plan: rows top to bottom, columns left to right within a row.
    func planTiles(height: Int, width: Int) throws -> [Tile] {
        guard height >= 1, width >= 1 else { throw TilingError.emptyImage(width: width, height: height) }
        let rows = axisOwnership(height), cols = axisOwnership(width)
        return rows.flatMap { r in
            cols.map { c in Tile(y: r.start, x: c.start, ownY0: r.from, ownY1: r.to, ownX0: c.from, ownX1: c.to) }
        }
    }
}

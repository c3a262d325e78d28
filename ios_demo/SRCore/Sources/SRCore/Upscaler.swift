import Foundation

/// How far an upscale is: `completed` of `total` patch-program calls.
public struct UpscaleProgress: Equatable, Sendable {
    public let completed: Int
    public let total: Int
    public var fraction: Double { total == 0 ? 1 : Double(completed) / Double(total) }
}

public enum UpscaleError: LocalizedError, Equatable, CustomStringConvertible {
    case badOutput(program: String, count: Int, expected: Int)

    public var description: String {
        switch self {
        case .badOutput(let p, let n, let e): return "\(p) returned \(n) values, expected \(e)"
        }
    }

    public var errorDescription: String? { description }
}

/// The tiled driver (`upscale_tiled` in mossnet/core/tiling.py): one context call on the thumbnail,
/// then per tile in plan order: extract (rule 3), normalize (rule 6), run the patch program,
/// round (rule 6) and write only the owned pixels (rule 4). Only one tile's tensors are alive
/// at a time, so memory stays bounded at any image size (the output image aside).
public struct Upscaler: Sendable {
    public let tiling: TilingConfig
    public let runner: PatchRunner

    public init(tiling: TilingConfig, runner: PatchRunner) {
        (self.tiling, self.runner) = (tiling, runner)
    }

    /// Upscales `image` by `tiling.scale`. Checks for cancellation before every program call
    /// (throws `CancellationError`) and reports progress after the context and every tile.
    public func upscale(_ image: RGBImage,
                        progress: @Sendable (UpscaleProgress) -> Void = { _ in }) async throws -> RGBImage {
        let t = tiling, s = t.scale
        let tiles = try t.planTiles(height: image.height, width: image.width)
        try Task.checkCancellation()
        let modulation = try await runner.context(thumbnail: image.thumbnail(side: t.thumb))
        progress(UpscaleProgress(completed: 0, total: tiles.count))

        let outW = image.width * s, o = t.outputSize, plane = o * o
        var out = [UInt8](repeating: 0, count: outW * image.height * s * 3)
        for (index, tile) in tiles.enumerated() {
            try Task.checkCancellation()
            let input = Planar.modelInput(hwc: image.extractPatch(tile, t), height: t.inputSize, width: t.inputSize)
            let hr = try await runner.upscalePatch(input, modulation: modulation)
            guard hr.count == 3 * plane else {
                throw UpscaleError.badOutput(program: "upscale_patch", count: hr.count, expected: 3 * plane)
            }
            // Owned rectangle, in HR pixels: inside the tile's output, and inside the image.
            let oy = (tile.ownY0 - tile.y) * s, ox = (tile.ownX0 - tile.x) * s
            let rows = (tile.ownY1 - tile.ownY0) * s, cols = (tile.ownX1 - tile.ownX0) * s
            for r in 0..<rows {
                let dstRow = ((tile.ownY0 * s + r) * outW + tile.ownX0 * s) * 3
                let srcRow = (oy + r) * o + ox
                for c in 0..<cols {
                    for ch in 0..<3 {
                        out[dstRow + 3 * c + ch] = Normalization.toUInt8(hr[ch * plane + srcRow + c])
                    }
                }
            }
            progress(UpscaleProgress(completed: index + 1, total: tiles.count))
        }
        // The alpha policy: Pillow's bicubic on the alpha alone, apart from the model.
        let alpha = image.alpha.map {
            AlphaResize.bicubic($0, width: image.width, height: image.height, outWidth: outW, outHeight: image.height * s)
        }
        return RGBImage(width: outW, height: image.height * s, bytes: out, alpha: alpha)
    }
}

import Foundation

/// The two fixed-shape programs of an artifact, behind one protocol so that the tiled driver
/// does not know the runtime: the Core ML shell implements it on device, the tests with a fake.
/// Tensors are float32 NCHW with N = 1, flattened in C order; shapes come from the manifest.
public protocol PatchRunner: Sendable {
    /// `thumbnail` (1, 3, T, T) -> modulation (1, M, 1, 1).
    func context(thumbnail: [Float]) async throws -> [Float]
    /// `patch` (1, 3, P + 2h, P + 2h) and the modulation -> the core's output (1, 3, sP, sP).
    func upscalePatch(_ patch: [Float], modulation: [Float]) async throws -> [Float]
}

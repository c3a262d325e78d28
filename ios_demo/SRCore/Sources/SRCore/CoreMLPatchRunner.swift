#if canImport(CoreML)
import CoreML
import Foundation

public enum CoreMLRunnerError: LocalizedError, CustomStringConvertible {
    case missingProgram(String)
    case tensorMismatch(program: String, tensor: String)
    case badInput(program: String, tensor: String, count: Int, expected: Int)
    case noOutput(program: String, tensor: String)

    public var description: String {
        switch self {
        case .missingProgram(let p): return "manifest names no \(p) program"
        case .tensorMismatch(let p, let t): return "\(p): the model has no tensor \(t) (manifest and model disagree)"
        case .badInput(let p, let t, let n, let e): return "\(p).\(t): \(n) values, expected \(e)"
        case .noOutput(let p, let t): return "\(p) produced no \(t)"
        }
    }

    public var errorDescription: String? { description }
}

/// The Core ML shell of `PatchRunner`: the artifact's two `.mlpackage`s (`context`,
/// `upscale_patch`), compiled on device once and cached by the artifact's SHA-256. Tensor names
/// and shapes come from the manifest, which is checked (schema, runtime, hash) before loading.
/// `@unchecked Sendable`: the models are immutable after loading and the driver calls them
/// from one task at a time.
public final class CoreMLPatchRunner: PatchRunner, @unchecked Sendable {
    struct Program {
        let name: String
        let model: MLModel
        let inputs: [TensorSignature]
        let output: TensorSignature
    }

    public let manifest: Manifest
    private let contextProgram: Program
    private let patchProgram: Program

    private init(manifest: Manifest, context: Program, patch: Program) {
        (self.manifest, self.contextProgram, self.patchProgram) = (manifest, context, patch)
    }

    /// Loads a `*.coreml` artifact folder whose manifest lies beside it. `cacheDirectory` keeps
    /// the compiled `.mlmodelc` (compiling takes seconds, loading a cached one milliseconds).
    public static func load(artifact: URL, cacheDirectory: URL,
                            computeUnits: MLComputeUnits = .all) async throws -> CoreMLPatchRunner {
        let manifest = try Manifest.load(artifact: artifact, runtime: "coreml")
        let signatures = try manifest.programs()
        let configuration = MLModelConfiguration()
        configuration.computeUnits = computeUnits
        let cache = cacheDirectory.appendingPathComponent(manifest.artifactSHA256, isDirectory: true)

        func program(_ name: String) async throws -> Program {
            guard let signature = signatures[name], let output = signature.outputs.first,
                  let file = manifest.programFiles[name] else { throw CoreMLRunnerError.missingProgram(name) }
            let compiled = try await compiledModel(artifact.appendingPathComponent(file), name: name, cache: cache)
            let model = try await MLModel.load(contentsOf: compiled, configuration: configuration)
            let description = model.modelDescription
            for tensor in signature.inputs where description.inputDescriptionsByName[tensor.name] == nil {
                throw CoreMLRunnerError.tensorMismatch(program: name, tensor: tensor.name)
            }
            guard description.outputDescriptionsByName[output.name] != nil else {
                throw CoreMLRunnerError.tensorMismatch(program: name, tensor: output.name)
            }
            return Program(name: name, model: model, inputs: signature.inputs, output: output)
        }
        return CoreMLPatchRunner(manifest: manifest, context: try await program("context"),
                                 patch: try await program("upscale_patch"))
    }

    /// `<cache>/<name>.mlmodelc`, compiled from the `.mlpackage` on first use.
    static func compiledModel(_ package: URL, name: String, cache: URL) async throws -> URL {
        let fm = FileManager.default
        let target = cache.appendingPathComponent("\(name).mlmodelc", isDirectory: true)
        if fm.fileExists(atPath: target.path) { return target }
        let compiled = try await MLModel.compileModel(at: package)
        defer { try? fm.removeItem(at: compiled) }
        try fm.createDirectory(at: cache, withIntermediateDirectories: true)
        try fm.copyItem(at: compiled, to: target)
        return target
    }

    public func context(thumbnail: [Float]) async throws -> [Float] {
        try run(contextProgram, [thumbnail])
    }

    public func upscalePatch(_ patch: [Float], modulation: [Float]) async throws -> [Float] {
        try run(patchProgram, [patch, modulation])
    }

    /// Float32 NCHW in, float32 out (the exporter fixes both I/O dtypes to float32; any other
    /// output type is converted rather than misread).
    private func run(_ program: Program, _ inputs: [[Float]]) throws -> [Float] {
        var features: [String: MLFeatureValue] = [:]
        for (tensor, values) in zip(program.inputs, inputs) {
            let expected = tensor.shape.reduce(1, *)
            guard values.count == expected else {
                throw CoreMLRunnerError.badInput(program: program.name, tensor: tensor.name, count: values.count, expected: expected)
            }
            let array = MLMultiArray(MLShapedArray<Float>(scalars: values, shape: tensor.shape))
            features[tensor.name] = MLFeatureValue(multiArray: array)
        }
        let result = try program.model.prediction(from: MLDictionaryFeatureProvider(dictionary: features))
        guard let output = result.featureValue(for: program.output.name)?.multiArrayValue else {
            throw CoreMLRunnerError.noOutput(program: program.name, tensor: program.output.name)
        }
        return MLShapedArray<Float>(converting: output).scalars
    }
}
#endif

// Core ML behind InvDNCore's TileRunner (a thin adapter: tiling, ensembles, caching and timing are InvDNCore's):
// loading a compiled model for a compute-unit choice through the app's ModelCache, and one runner per I/O contract
// of the export (docs/export.md, "I/O contract"):
//   - constant-z artifact (the default): RGB *image* in and out, T x T, the model scales by 1/255 inside and returns
//     clip(x) * 255; fed as 32BGRA pixel buffers from a CVPixelBufferPool (IOSurface-backed, reused: no new buffer
//     per tile) through InvDNCore's writePixels / readPixels;
//   - `-zin` twin: tensors (float32 for ios-fp32, float16 for ios-fp16 and ios-int8, as the manifest's dtype says),
//     image [1, 3, T, T] in [0, 1] and z [1, 45, T/4, T/4]; InvDNCore.EnsembleRunner draws z and averages samples.
// Several tiles may be at the model at once (InvDNCore.runTiled inFlight): MLModel's async prediction may be called
// concurrently, and a CVPixelBufferPool hands each call its own buffer.

import CoreML
import CoreVideo
import Foundation
import InvDNCore

struct RunnerError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

extension ComputeUnitChoice {
    /// MLModelConfiguration.computeUnits for this choice.
    var mlComputeUnits: MLComputeUnits {
        switch self {
        case .all: return .all
        case .ane: return .cpuAndNeuralEngine
        case .gpu: return .cpuAndGPU
        case .cpu: return .cpuOnly
        }
    }
}

/// A loaded model, shared between tasks: MLModel's predictions are safe to call from several threads (Core ML
/// serialises what must be), it is never mutated after loading.
final class LoadedModel: @unchecked Sendable {
    let model: MLModel
    init(_ model: MLModel) { self.model = model }
}

/// Every model the app has loaded, per (artifact, compute units): loaded once, reused by Denoise and the benchmark.
let loadedModels = ModelCache<LoadedModel>(capacity: 2)

/// The loaded model of a bundled artifact for the given compute units (from the cache, or loaded now).
func loadModel(_ model: BundledModel, units: ComputeUnitChoice) async throws -> LoadedModel {
    let url = model.url
    return try await loadedModels.model(ModelKey(artifact: model.entry.file, units: units)) {
        let configuration = MLModelConfiguration()
        configuration.computeUnits = units.mlComputeUnits
        return LoadedModel(try await MLModel.load(contentsOf: url, configuration: configuration))
    }
}

/// The runner for a loaded model: the image runner for the constant-z artifact, the ensemble of the tensor
/// predictor (with `samples` z draws per tile) for a -zin twin.
func makeRunner(_ loaded: LoadedModel, _ entry: ManifestEntry, samples: Int = 1, seed: UInt64 = 0) throws -> any TileRunner {
    if entry.takesImage { return try ImageTileRunner(loaded, entry: entry) }
    return EnsembleRunner(try CoreMLTensorPredictor(loaded, entry: entry), z: entry.z, samples: samples, seed: seed)
}

/// The constant-z artifact: one tile as a 32BGRA pixel buffer in, a pixel buffer out.
final class ImageTileRunner: TileRunner, @unchecked Sendable {  // immutable; the pool is thread-safe
    let loaded: LoadedModel
    let input: String
    let output: String
    let size: Int
    let pool: CVPixelBufferPool

    init(_ loaded: LoadedModel, entry: ManifestEntry) throws {
        self.loaded = loaded
        self.input = entry.inputs[0].name
        self.output = entry.outputs[0].name
        self.size = entry.tiling.tile
        let attributes: [String: Any] = [
            kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_32BGRA,
            kCVPixelBufferWidthKey as String: entry.tiling.tile,
            kCVPixelBufferHeightKey as String: entry.tiling.tile,
            kCVPixelBufferIOSurfacePropertiesKey as String: [String: Any](),  // so the GPU / Neural Engine can read it
        ]
        var pool: CVPixelBufferPool?
        let status = CVPixelBufferPoolCreate(kCFAllocatorDefault, nil, attributes as CFDictionary, &pool)
        guard status == kCVReturnSuccess, let pool else { throw RunnerError("cannot make a pixel buffer pool (\(status))") }
        self.pool = pool
    }

    func run(_ tile: [Float], index: Int) async throws -> [Float] {
        var made: CVPixelBuffer?
        let status = CVPixelBufferPoolCreatePixelBuffer(kCFAllocatorDefault, pool, &made)
        guard status == kCVReturnSuccess, let buffer = made else { throw RunnerError("no pixel buffer from the pool (\(status))") }
        CVPixelBufferLockBaseAddress(buffer, [])
        if let base = CVPixelBufferGetBaseAddress(buffer) {
            writePixels(tile, size: size, to: base, rowBytes: CVPixelBufferGetBytesPerRow(buffer), order: .bgra)
        }
        CVPixelBufferUnlockBaseAddress(buffer, [])
        let features = try MLDictionaryFeatureProvider(dictionary: [input: MLFeatureValue(pixelBuffer: buffer)])
        let result = try await loaded.model.prediction(from: features)
        guard let out = result.featureValue(for: output)?.imageBufferValue else {
            throw RunnerError("the model returned no image '\(output)'")
        }
        return try readTile(out)
    }

    func readTile(_ buffer: CVPixelBuffer) throws -> [Float] {
        guard CVPixelBufferGetWidth(buffer) == size, CVPixelBufferGetHeight(buffer) == size else {
            throw RunnerError("the model returned a \(CVPixelBufferGetWidth(buffer))x\(CVPixelBufferGetHeight(buffer)) image")
        }
        let order: PixelOrder
        switch CVPixelBufferGetPixelFormatType(buffer) {
        case kCVPixelFormatType_32BGRA: order = .bgra
        case kCVPixelFormatType_32ARGB: order = .argb
        case kCVPixelFormatType_32RGBA: order = .rgba
        case let other: throw RunnerError("unexpected output pixel format \(other)")
        }
        CVPixelBufferLockBaseAddress(buffer, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(buffer, .readOnly) }
        guard let base = CVPixelBufferGetBaseAddress(buffer) else { throw RunnerError("unreadable output image") }
        return readPixels(size: size, from: base, rowBytes: CVPixelBufferGetBytesPerRow(buffer), order: order)
    }
}

/// The `-zin` twin's model call: float32 or float16 tensors as the manifest says (the FP16 and INT8 exports take
/// float16), output read back in logical NCHW order whatever its strides and type.
struct CoreMLTensorPredictor: TensorPredictor {
    let loaded: LoadedModel
    let entry: ManifestEntry
    let type: TensorType

    init(_ loaded: LoadedModel, entry: ManifestEntry) throws {
        guard let type = entry.inputs[0].type, type != .image else {
            throw RunnerError("\(entry.file) does not take tensors")
        }
        self.loaded = loaded
        self.entry = entry
        self.type = type
    }

    func tensor(_ values: [Float], shape: [Int]) -> MLMultiArray {
        switch type {
        case .float16: return MLMultiArray(MLShapedArray<Float16>(scalars: values.map { Float16($0) }, shape: shape))
        default: return MLMultiArray(MLShapedArray<Float>(scalars: values, shape: shape))
        }
    }

    func predict(image: [Float], z: [Float]) async throws -> [Float] {
        let t = entry.tiling.tile
        let features = try MLDictionaryFeatureProvider(dictionary: [
            entry.inputs[0].name: MLFeatureValue(multiArray: tensor(image, shape: [1, 3, t, t])),
            entry.inputs[1].name: MLFeatureValue(multiArray: tensor(z, shape: entry.z.shape)),
        ])
        let result = try await loaded.model.prediction(from: features)
        guard let out = result.featureValue(for: entry.outputs[0].name)?.multiArrayValue else {
            throw RunnerError("the model returned no tensor '\(entry.outputs[0].name)'")
        }
        return out.dataType == .float32 ? MLShapedArray<Float>(out).scalars : MLShapedArray<Float>(converting: out).scalars
    }
}

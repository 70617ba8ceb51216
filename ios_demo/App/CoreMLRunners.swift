// Core ML behind InvDNCore's TileRunner: loading a compiled model with a compute-unit choice, and one runner per
// I/O contract of the export (docs/export.md, "I/O contract"):
//   - constant-z artifact (the default): RGB *image* in and out, T x T, the model scales by 1/255 inside and returns
//     clip(x) * 255; fed and read as 32BGRA pixel buffers through InvDNCore's writePixels / readPixels;
//   - `-zin` twin: float32 tensors, image [1, 3, T, T] in [0, 1] and z [1, 45, T/4, T/4] (standard normal x the
//     manifest's scale); output denoised [1, 3, T, T]. Used for the Monte-Carlo self-ensemble (several z samples,
//     outputs averaged) and, with --zin, by the benchmark.

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

/// Load a compiled model (.mlmodelc) for the given compute units, asynchronously.
func loadModel(_ model: BundledModel, units: ComputeUnitChoice) async throws -> MLModel {
    let configuration = MLModelConfiguration()
    configuration.computeUnits = units.mlComputeUnits
    return try await MLModel.load(contentsOf: model.url, configuration: configuration)
}

/// The runner for a bundled model: the image runner for the constant-z artifact, the tensor runner (with `samples`
/// z draws per tile) for a -zin twin.
func makeRunner(_ mlModel: MLModel, _ model: BundledModel, samples: Int = 1, seed: UInt64 = 0) -> any TileRunner {
    if model.entry.takesImage { return ImageTileRunner(model: mlModel, entry: model.entry) }
    return TensorTileRunner(model: mlModel, entry: model.entry, samples: samples, seed: seed)
}

/// The constant-z artifact: one tile as a 32BGRA pixel buffer in, a pixel buffer out.
final class ImageTileRunner: TileRunner {
    let model: MLModel
    let input: String
    let output: String
    let size: Int

    init(model: MLModel, entry: ManifestEntry) {
        self.model = model
        self.input = entry.inputs[0].name
        self.output = entry.outputs[0].name
        self.size = entry.tiling.tile
    }

    func run(_ tile: [Float], index: Int) async throws -> [Float] {
        let buffer = try makePixelBuffer(size: size)
        CVPixelBufferLockBaseAddress(buffer, [])
        if let base = CVPixelBufferGetBaseAddress(buffer) {
            writePixels(tile, size: size, to: base, rowBytes: CVPixelBufferGetBytesPerRow(buffer), order: .bgra)
        }
        CVPixelBufferUnlockBaseAddress(buffer, [])
        let features = try MLDictionaryFeatureProvider(dictionary: [input: MLFeatureValue(pixelBuffer: buffer)])
        let result = try await model.prediction(from: features)
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

/// A size x size 32BGRA pixel buffer (IOSurface-backed, so Core ML can hand it to the GPU or Neural Engine).
func makePixelBuffer(size: Int) throws -> CVPixelBuffer {
    var buffer: CVPixelBuffer?
    let attributes = [kCVPixelBufferIOSurfacePropertiesKey as String: [String: Any]()] as CFDictionary
    let status = CVPixelBufferCreate(kCFAllocatorDefault, size, size, kCVPixelFormatType_32BGRA, attributes, &buffer)
    guard status == kCVReturnSuccess, let buffer else { throw RunnerError("cannot make a pixel buffer (\(status))") }
    return buffer
}

/// The `-zin` twin: float32 tensors in and out; `samples` z draws per tile, outputs averaged (samples 1: one draw).
final class TensorTileRunner: TileRunner {
    let model: MLModel
    let entry: ManifestEntry
    let samples: Int
    private var sampler: NormalSampler

    init(model: MLModel, entry: ManifestEntry, samples: Int, seed: UInt64) {
        self.model = model
        self.entry = entry
        self.samples = max(1, samples)
        self.sampler = NormalSampler(seed: seed)
    }

    func run(_ tile: [Float], index: Int) async throws -> [Float] {
        let t = entry.tiling.tile
        let image = MLMultiArray(MLShapedArray<Float>(scalars: tile, shape: [1, 3, t, t]))
        let zCount = entry.z.shape.reduce(1, *)
        var sum = [Float](repeating: 0, count: tile.count)
        for _ in 0..<samples {
            let z = MLMultiArray(MLShapedArray<Float>(scalars: sampler.fill(zCount, scale: entry.z.scale), shape: entry.z.shape))
            let features = try MLDictionaryFeatureProvider(dictionary: [
                entry.inputs[0].name: MLFeatureValue(multiArray: image),
                entry.inputs[1].name: MLFeatureValue(multiArray: z),
            ])
            let result = try await model.prediction(from: features)
            guard let out = result.featureValue(for: entry.outputs[0].name)?.multiArrayValue else {
                throw RunnerError("the model returned no tensor '\(entry.outputs[0].name)'")
            }
            // logical (row-major NCHW) order whatever the strides; FP16 outputs are converted
            let values = out.dataType == .float32 ? MLShapedArray<Float>(out).scalars : MLShapedArray<Float>(converting: out).scalars
            guard values.count == sum.count else { throw RunnerError("the model returned \(values.count) values") }
            for i in 0..<sum.count { sum[i] += values[i] }
        }
        let n = Float(samples)
        return sum.map { $0 / n }
    }
}

// Stand-in of CoreML for the Linux type-check (see Package.swift): only what the checked app files use, with the
// SDK's names and signatures. MLModel is a class without a Sendable promise, as the SDK declares it.

@_exported import CoreVideo

public enum MLComputeUnits: Int, Sendable {
    case cpuOnly, cpuAndGPU, all, cpuAndNeuralEngine
}

public class MLModelConfiguration {
    public var computeUnits = MLComputeUnits.all
    public init() {}
}

public protocol MLFeatureProvider {
    func featureValue(for featureName: String) -> MLFeatureValue?
}

public class MLModel {
    public class func load(contentsOf url: URL, configuration: MLModelConfiguration = MLModelConfiguration())
        async throws -> MLModel
    { MLModel() }
    public func prediction(from input: MLFeatureProvider) async throws -> MLFeatureProvider { input }
}

public class MLDictionaryFeatureProvider: MLFeatureProvider {
    public init(dictionary: [String: Any]) throws {}
    public func featureValue(for featureName: String) -> MLFeatureValue? { nil }
}

public class MLFeatureValue {
    public init(pixelBuffer: CVPixelBuffer) {}
    public init(multiArray: MLMultiArray) {}
    public var imageBufferValue: CVPixelBuffer? { nil }
    public var multiArrayValue: MLMultiArray? { nil }
}

public enum MLMultiArrayDataType: Int, Sendable {
    case double, float64, float32, float16, float, int32
}

public protocol MLShapedArrayScalar {}
extension Float: MLShapedArrayScalar {}
extension Float16: MLShapedArrayScalar {}

public class MLMultiArray {
    public init<Scalar: MLShapedArrayScalar>(_ shapedArray: MLShapedArray<Scalar>) {}
    public var dataType: MLMultiArrayDataType { .float32 }
}

public struct MLShapedArray<Scalar: MLShapedArrayScalar> {
    public var scalars: [Scalar] = []
    public init(scalars: some Sequence<Scalar>, shape: [Int]) {}
    public init(_ multiArray: MLMultiArray) {}
    public init(converting multiArray: MLMultiArray) {}
}

import Foundation

// The export manifest (`invdn export ios-* -o DIR` writes DIR/manifest.json; invdn_mobile/export/run.py `describe`
// writes one entry per artifact). Only what the app needs is decoded; unknown keys are ignored, so a newer export
// with more facts still loads. What the app cannot honour is refused with one ManifestError line: JSON that does
// not parse or lacks a key, and a contract version this port does not implement (a tiling padding or window other
// than "symmetric" / "linear-feather", a strength estimator other than donoho-haar-diagonal-mad-v1, a tensor layout
// other than NCHW), and a top-level "version" other than Contract.version (absent in manifests written before the
// field existed: those are version 1).

import Foundation

/// Every problem with a manifest, as one line naming the file and the JSON path: "manifest.json: artifacts[0].tiling:
/// missing key 'padding'".
public struct ManifestError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Contract names this port implements (invdn_mobile/tiling.py PADDING, WINDOW; strength.py ESTIMATOR).
public enum Contract {
    public static let version = 1  // invdn_mobile/export/manifest.py MANIFEST_VERSION
    public static let padding = "symmetric"
    public static let window = "linear-feather"
    public static let layout = "NCHW"
}

public struct TensorSpec: Codable, Equatable, Sendable {
    public let name: String
    public let shape: [Int]
    public let dtype: String  // "image" (constant-z Core ML artifact: 8-bit RGB image) or "float32"
}

/// The manifest entry's "tiling" (invdn_mobile/tiling.py tiling_spec): how the app must tile a photo for it.
public struct TilingSpec: Codable, Equatable, Sendable {
    public let tile: Int
    public let overlap: Int
    public let multiple: Int
    public let padding: String
    public let window: String

    /// The plan of a height x width photo for this artifact.
    public func plan(height: Int, width: Int) throws -> TilePlan {
        try InvDNCore.plan(height: height, width: width, tile: tile, overlap: overlap, multiple: multiple)
    }
}

/// The manifest entry's "z": the seeded z_HF baked into the constant artifact, or the shape the `-zin` twin takes.
public struct ZSpec: Codable, Equatable, Sendable {
    public let seed: Int
    public let scale: Double
    public let shape: [Int]
    public let asInput: Bool

    enum CodingKeys: String, CodingKey {
        case seed, scale, shape
        case asInput = "as_input"
    }
}

public struct MACs: Codable, Equatable, Sendable {
    public let graph: Int?  // multiply-accumulates of one tile, counted on the exported graph

    enum CodingKeys: String, CodingKey {
        case graph
    }
}

/// The weights' noise-adaptive strength curve (manifest "strength", strength.py StrengthCurve.to_dict).
public struct StrengthCurve: Codable, Equatable, Sendable {
    public let estimator: String
    public let sigma: [Double]
    public let strength: [Double]

    public init(estimator: String = sigmaEstimator, sigma: [Double], strength: [Double]) {
        self.estimator = estimator
        self.sigma = sigma
        self.strength = strength
    }

    enum CodingKeys: String, CodingKey {
        case estimator, sigma, strength
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        estimator = try c.decodeIfPresent(String.self, forKey: .estimator) ?? sigmaEstimator  // as StrengthCurve.from_dict
        sigma = try c.decode([Double].self, forKey: .sigma)
        strength = try c.decode([Double].self, forKey: .strength)
    }

    /// The checks of strength.py StrengthCurve.from_dict; nil when the curve is usable.
    public func problem() -> String? {
        if estimator != sigmaEstimator {
            return "estimator '\(estimator)' is not '\(sigmaEstimator)' (written by a newer invdn-mobile?)"
        }
        if sigma.isEmpty || sigma.count != strength.count {
            return "sigma and strength must be lists of the same, non-zero length"
        }
        if !(sigma + strength).allSatisfy({ $0.isFinite }) { return "values must be finite numbers" }
        if sigma[0] < 0 || zip(sigma, sigma.dropFirst()).contains(where: { pair in pair.1 <= pair.0 }) {
            return "sigma must be increasing from >= 0, got \(sigma)"
        }
        if strength.contains(where: { !(0...1).contains($0) }) { return "values must lie in [0, 1], got \(strength)" }
        return nil
    }
}

/// One artifact of the manifest (invdn_mobile/export/run.py describe).
public struct ManifestEntry: Codable, Equatable, Sendable {
    public let file: String  // e.g. invdn-compact-256-fp16.mlpackage (run.py artifact_name)
    public let format: String
    public let precision: String
    public let tile: [Int]
    public let layout: String
    public let inputs: [TensorSpec]
    public let outputs: [TensorSpec]
    public let tiling: TilingSpec
    public let z: ZSpec
    public let variant: String
    public let macs: MACs?
    public let bytes: Int?
    public let minDeploymentTarget: String?
    public let strength: StrengthCurve?  // null for weights never calibrated

    enum CodingKeys: String, CodingKey {
        case file, format, precision, tile, layout, inputs, outputs, tiling, z, variant, macs, bytes, strength
        case minDeploymentTarget = "min_deployment_target"
    }

    /// The constant-z artifact takes an RGB image; the `-zin` twin takes float32 tensors (image and z).
    public var takesImage: Bool { inputs.first?.dtype == "image" }

    /// The file name without its extension (a compiled model is `<stem>.mlmodelc`).
    public var stem: String {
        file.hasSuffix(".mlpackage") ? String(file.dropLast(".mlpackage".count)) : file
    }

    // Contract checks; nil when the app can run this entry.
    func problem() -> String? {
        if tiling.padding != Contract.padding {
            return "tiling.padding is '\(tiling.padding)'; this app implements '\(Contract.padding)' (update the app)"
        }
        if tiling.window != Contract.window {
            return "tiling.window is '\(tiling.window)'; this app implements '\(Contract.window)' (update the app)"
        }
        let validTile = tiling.multiple >= 1 && tiling.tile >= tiling.multiple && tiling.tile % tiling.multiple == 0
        if !validTile || !(0..<tiling.tile).contains(tiling.overlap) || tile != [tiling.tile, tiling.tile] {
            let given = "tile \(tiling.tile), overlap \(tiling.overlap), multiple \(tiling.multiple)"
            return "tiling: \(given) (artifact tile \(tile)) is not a valid plan"
        }
        if layout != Contract.layout { return "layout is '\(layout)'; Core ML artifacts are \(Contract.layout)" }
        let t = tiling.tile
        guard let image = inputs.first, image.shape == [1, 3, t, t], ["image", "float32"].contains(image.dtype) else {
            return "inputs[0] must be the [1, 3, \(t), \(t)] image (dtype image or float32)"
        }
        guard let output = outputs.first, output.shape == [1, 3, t, t] else {
            return "outputs[0] must be [1, 3, \(t), \(t)]"
        }
        if z.asInput && (inputs.count != 2 || inputs[1].shape != z.shape || inputs[1].dtype != "float32") {
            return "a z-input artifact needs inputs[1] = float32 z of shape \(z.shape)"
        }
        if let strength, let why = strength.problem() { return "strength: " + why }
        return nil
    }
}

/// A decoded, checked manifest.json.
public struct Manifest: Codable, Equatable, Sendable {
    public let version: Int?
    public let artifacts: [ManifestEntry]

    /// Decode and check `data` (the text of manifest.json); every problem is one ManifestError naming `source`.
    public static func decode(_ data: Data, source: String = "manifest.json") throws -> Manifest {
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: data)
        } catch let error as DecodingError {
            throw ManifestError("\(source): \(describe(error))")
        }
        if let version = manifest.version, version != Contract.version {
            throw ManifestError(
                "\(source): version: \(version) is not \(Contract.version) (written by a newer invdn-mobile? update the app)")
        }
        if manifest.artifacts.isEmpty { throw ManifestError("\(source): artifacts: the manifest lists no artifact") }
        for (i, entry) in manifest.artifacts.enumerated() {
            if let why = entry.problem() { throw ManifestError("\(source): artifacts[\(i)] (\(entry.file)): \(why)") }
        }
        return manifest
    }

    /// The entry of an artifact file name, if listed.
    public func entry(file: String) -> ManifestEntry? {
        artifacts.first { $0.file == file }
    }
}

func describe(_ error: DecodingError) -> String {
    func path(_ keys: [CodingKey]) -> String {
        let text = keys.map { key in key.intValue.map { index in "[\(index)]" } ?? ".\(key.stringValue)" }.joined()
        return text.hasPrefix(".") ? String(text.dropFirst()) : (text.isEmpty ? "(top level)" : text)
    }
    switch error {
    case .keyNotFound(let key, let context):
        return "\(path(context.codingPath)): missing key '\(key.stringValue)'"
    case .typeMismatch(let type, let context):
        return "\(path(context.codingPath)): expected \(type)"
    case .valueNotFound(let type, let context):
        return "\(path(context.codingPath)): expected \(type), found null"
    case .dataCorrupted(let context):
        return context.codingPath.isEmpty ? "not valid JSON" : "\(path(context.codingPath)): \(context.debugDescription)"
    @unknown default:
        return "cannot be read (\(error))"
    }
}

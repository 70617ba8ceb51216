// The export manifest (`invdn export ios-* -o DIR` writes DIR/manifest.json; invdn_mobile/export/run.py `describe`
// writes one entry per artifact). Only what the app needs is decoded; unknown keys are ignored, so a newer export
// with more facts still loads. Problems are judged per entry: an entry the app cannot honour (a missing or mistyped
// key, a tensor type it cannot feed, a tiling padding or window other than "symmetric" / "linear-feather", a strength
// curve that is not valid, a layout other than NCHW) is listed in `refused` with its reason, and the other entries
// load. Only a file that cannot be read as a whole is one ManifestError: JSON that does not parse, no artifact list,
// or a top-level "version" other than Contract.version (absent in manifests written before the field existed: those
// are version 1).

import Foundation

/// A manifest (or a curve) that cannot be used, as one line naming the file and the JSON path: "manifest.json:
/// version: 2 is not 1 (...)".
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

/// The element types of the Core ML exports' tensors (manifest "dtype"): the constant-z artifact takes and returns an
/// 8-bit RGB image; the `-zin` twins take tensors, float32 for ios-fp32 and float16 for ios-fp16 and ios-int8.
public enum TensorType: String, CaseIterable, Sendable {
    case image, float32, float16
}

public struct TensorSpec: Codable, Equatable, Sendable {
    public let name: String
    public let shape: [Int]
    public let dtype: String

    /// The dtype as a type the app can feed; nil for one it cannot (the entry is refused).
    public var type: TensorType? { TensorType(rawValue: dtype) }
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

/// The weights' noise-adaptive strength curve (manifest "strength", strength.py StrengthCurve.to_dict). Checked when
/// made (the checks of StrengthCurve.from_dict), so a curve that exists is usable: strengthAt cannot meet an empty
/// or unordered one.
public struct StrengthCurve: Codable, Equatable, Sendable {
    public let estimator: String
    public let sigma: [Double]
    public let strength: [Double]

    public init(estimator: String = sigmaEstimator, sigma: [Double], strength: [Double]) throws {
        if let why = StrengthCurve.problem(estimator, sigma, strength) { throw ManifestError("strength: " + why) }
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
        if let why = StrengthCurve.problem(estimator, sigma, strength) {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: why))
        }
    }

    /// The checks of strength.py StrengthCurve.from_dict; nil when the curve is usable.
    static func problem(_ estimator: String, _ sigma: [Double], _ strength: [Double]) -> String? {
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

    /// The constant-z artifact takes an RGB image; the `-zin` twin takes tensors (image and z, float32 or float16).
    public var takesImage: Bool { inputs.first?.type == .image }

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
        let tensors: [TensorType] = z.asInput ? [.float32, .float16] : [.image]
        let kinds = tensors.map(\.rawValue).joined(separator: " or ")
        guard inputs.count == (z.asInput ? 2 : 1) else {
            return "\(inputs.count) inputs; a \(z.asInput ? "z-input" : "constant-z") artifact has \(z.asInput ? 2 : 1)"
        }
        guard inputs[0].shape == [1, 3, t, t], let type = inputs[0].type, tensors.contains(type) else {
            return "inputs[0] must be the [1, 3, \(t), \(t)] image of dtype \(kinds), got \(inputs[0].shape) \(inputs[0].dtype)"
        }
        if z.asInput, inputs[1].shape != z.shape || !(inputs[1].type.map(tensors.contains) ?? false) {
            return "inputs[1] must be z of shape \(z.shape) and dtype \(kinds), got \(inputs[1].shape) \(inputs[1].dtype)"
        }
        guard outputs.count == 1, outputs[0].shape == [1, 3, t, t], let out = outputs[0].type, tensors.contains(out) else {
            return "outputs must be one [1, 3, \(t), \(t)] tensor of dtype \(kinds)"
        }
        return nil
    }
}

/// An entry of the manifest the app cannot use, and why (shown in the app beside the model it would have been).
public struct RefusedEntry: Equatable, Sendable, CustomStringConvertible {
    public let index: Int
    public let file: String?  // nil when the entry has no readable "file"
    public let reason: String

    public var description: String { "artifacts[\(index)]\(file.map { " (\($0))" } ?? ""): \(reason)" }
}

/// A decoded manifest.json: the entries the app can run, and the refused ones with their reasons.
public struct Manifest: Equatable, Sendable {
    public let version: Int?
    public let artifacts: [ManifestEntry]
    public let refused: [RefusedEntry]

    /// Decode `data` (the text of manifest.json) entry by entry; a file that cannot be read as a whole is one
    /// ManifestError naming `source`.
    public static func decode(_ data: Data, source: String = "manifest.json") throws -> Manifest {
        let raw: RawManifest
        do {
            raw = try JSONDecoder().decode(RawManifest.self, from: data)
        } catch let error as DecodingError {
            throw ManifestError("\(source): \(describe(error))")
        }
        if let version = raw.version, version != Contract.version {
            throw ManifestError(
                "\(source): version: \(version) is not \(Contract.version) (written by a newer invdn-mobile? update the app)")
        }
        if raw.artifacts.isEmpty { throw ManifestError("\(source): artifacts: the manifest lists no artifact") }
        var usable: [ManifestEntry] = []
        var refused: [RefusedEntry] = []
        for (i, slot) in raw.artifacts.enumerated() {
            switch slot.entry {
            case .success(let entry):
                if let why = entry.problem() {
                    refused.append(RefusedEntry(index: i, file: entry.file, reason: why))
                } else {
                    usable.append(entry)
                }
            case .failure(let error):
                refused.append(RefusedEntry(index: i, file: slot.file, reason: error.message))
            }
        }
        return Manifest(version: raw.version, artifacts: usable, refused: refused)
    }

    /// The usable entry of an artifact file name, if listed and usable.
    public func entry(file: String) -> ManifestEntry? {
        artifacts.first { $0.file == file }
    }

    /// Why an artifact file listed in the manifest was refused; nil when it is usable or not listed.
    public func refusal(file: String) -> RefusedEntry? {
        refused.first { $0.file == file }
    }
}

// The file as read before the per-entry judgement: each entry decoded on its own, its failure kept.
private struct RawManifest: Decodable {
    let version: Int?
    let artifacts: [Slot]

    struct Slot: Decodable {
        let file: String?
        let entry: Result<ManifestEntry, ManifestError>

        enum FileKey: String, CodingKey { case file }

        init(from decoder: Decoder) throws {
            file = try? decoder.container(keyedBy: FileKey.self).decode(String.self, forKey: .file)
            do {
                entry = .success(try ManifestEntry(from: decoder))
            } catch let error as DecodingError {
                entry = .failure(ManifestError(describe(error, below: decoder.codingPath.count)))
            }
        }
    }
}

/// One line for a decoding error: the JSON path (below the first `below` keys of the coding path) and what is wrong.
func describe(_ error: DecodingError, below: Int = 0) -> String {
    func path(_ keys: [CodingKey]) -> String {
        let keys = keys.dropFirst(below)
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

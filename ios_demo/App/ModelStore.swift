// The models the app ships: the iOS recipes' export output, compiled into the bundle by scripts/copy_models.sh (a
// build phase in project.yml) as Models/<target>/<name>.mlmodelc beside each target's manifest.json. Each
// manifest is judged entry by entry (InvDNCore.Manifest): a model whose entry is refused is listed as missing with
// the manifest's reason, and the other models of the same file load.

import Foundation
import InvDNCore

/// One artifact the iOS export recipes write (invdn_mobile/export/targets/ios-*.toml; the file name is
/// invdn_mobile/export/run.py artifact_name: invdn-<variant>-<tile>-<precision>[-zin].mlpackage).
struct CatalogArtifact: Hashable, Sendable {
    let target: String
    let precision: String
    let file: String
    let zin: Bool
}

/// Every artifact of the iOS recipes, by the exact names the export writes. tests/test_ios.py derives the same list
/// from the recipes and artifact_name, so a recipe change that this list misses fails there.
enum ModelCatalog {
    static let artifacts: [CatalogArtifact] = [
        CatalogArtifact(target: "ios-fp32", precision: "fp32", file: "invdn-compact-256-fp32.mlpackage", zin: false),
        CatalogArtifact(target: "ios-fp32", precision: "fp32", file: "invdn-compact-256-fp32-zin.mlpackage", zin: true),
        CatalogArtifact(target: "ios-fp16", precision: "fp16", file: "invdn-compact-256-fp16.mlpackage", zin: false),
        CatalogArtifact(target: "ios-fp16", precision: "fp16", file: "invdn-compact-256-fp16-zin.mlpackage", zin: true),
        CatalogArtifact(target: "ios-int8", precision: "int8", file: "invdn-compact-256-int8.mlpackage", zin: false),
        CatalogArtifact(target: "ios-int8", precision: "int8", file: "invdn-compact-256-int8-zin.mlpackage", zin: true),
    ]
}

/// A bundled, compiled model with its manifest entry.
struct BundledModel: Identifiable, Hashable, Sendable {
    let artifact: CatalogArtifact
    let entry: ManifestEntry
    let url: URL  // the compiled .mlmodelc

    var id: String { artifact.file }
    var label: String { "\(artifact.precision.uppercased())\(artifact.zin ? " (z input)" : "")" }

    static func == (a: BundledModel, b: BundledModel) -> Bool { a.id == b.id }
    func hash(into hasher: inout Hasher) { hasher.combine(id) }
}

/// What the bundle holds: the models found and, for each catalog artifact that is not there, why.
struct ModelStore: Sendable {
    var models: [BundledModel] = []
    var missing: [String: String] = [:]  // file -> reason

    /// The constant-z (image I/O) model of a precision, or its -zin tensor twin.
    func model(precision: String, zin: Bool) -> BundledModel? {
        models.first { $0.artifact.precision == precision && $0.artifact.zin == zin }
    }

    /// Why the model of (precision, zin) is not in this build.
    func missingReason(precision: String, zin: Bool) -> String {
        let file = ModelCatalog.artifacts.first { $0.precision == precision && $0.zin == zin }?.file
        return file.flatMap { missing[$0] } ?? "no \(precision) model in this build"
    }

    static func load(bundle: Bundle = .main) -> ModelStore {
        var store = ModelStore()
        var manifests: [String: Result<Manifest, Error>] = [:]
        for artifact in ModelCatalog.artifacts {
            let folder = "Models/\(artifact.target)"
            if manifests[artifact.target] == nil {
                manifests[artifact.target] = Result {
                    guard let url = bundle.url(forResource: "manifest", withExtension: "json", subdirectory: folder) else {
                        throw ManifestError("\(folder)/manifest.json is not in the app (export \(artifact.target) and rebuild)")
                    }
                    return try Manifest.decode(Data(contentsOf: url), source: "\(folder)/manifest.json")
                }
            }
            do {
                let manifest = try manifests[artifact.target]!.get()
                if let refused = manifest.refusal(file: artifact.file) {
                    throw ManifestError("\(folder)/manifest.json: \(refused)")
                }
                guard let entry = manifest.entry(file: artifact.file) else {
                    throw ManifestError("\(artifact.file) is not in \(folder)/manifest.json (rejected by its parity gate?)")
                }
                guard let url = bundle.url(forResource: entry.stem, withExtension: "mlmodelc", subdirectory: folder) else {
                    throw ManifestError("\(entry.stem).mlmodelc was not compiled into the app")
                }
                store.models.append(BundledModel(artifact: artifact, entry: entry, url: url))
            } catch {
                store.missing[artifact.file] = "\(error)"
            }
        }
        return store
    }
}

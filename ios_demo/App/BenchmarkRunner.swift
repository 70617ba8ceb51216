// The benchmark screen's runner: a thin @MainActor adapter over InvDNCore.runBenchmark (every model x compute unit
// x size of the options, each model call timed apart from the whole photo, rows in the results schema, skipped and
// failed ones included), with the app's Core ML models as its BenchBackend, the device's facts, and one JSON file in
// the app's Documents folder (Files app, or `xcrun devicectl device copy from`), ready for `invdn bench ingest`.
// A Debug build is refused unless --allow-debug (InvDNCore.benchRefusal); the file records the build either way.

import Foundation
import Observation

import InvDNCore

/// The app's bundled models, loaded through the model cache.
struct CoreMLBenchBackend: BenchBackend {
    let store: ModelStore

    struct Missing: Error, CustomStringConvertible { let description: String }

    func model(precision: String, zin: Bool) throws -> BenchModel {
        guard let model = store.model(precision: precision, zin: zin) else {
            throw Missing(description: store.missingReason(precision: precision, zin: zin))
        }
        return BenchModel(entry: model.entry, target: model.artifact.target)
    }

    func runner(_ model: BenchModel, units: ComputeUnitChoice) async throws -> any TileRunner {
        guard let bundled = store.models.first(where: { $0.entry.file == model.entry.file }) else {
            throw Missing(description: "\(model.entry.file) is not bundled")
        }
        return try makeRunner(try await loadModel(bundled, units: units), bundled.entry)
    }
}

@MainActor
@Observable
final class BenchmarkRunner {
    private(set) var running = false
    var log = ""
    private(set) var resultURL: URL?
    @ObservationIgnored private var job: Task<Void, Never>?
    @ObservationIgnored private let store = ModelStore.load()

    func start(_ options: BenchOptions) {
        guard !running else { return }
        resultURL = nil
        if let refusal = benchRefusal(options) {
            log = refusal + "\n"
            print("INVDN_BENCH_REFUSED \(refusal)")  // for `devicectl … --console`
            return
        }
        running = true
        let sizes = options.sizes.map(\.description).joined(separator: ", ")
        let units = options.units.map(\.rawValue).joined(separator: ", ")
        let models = options.precisions.joined(separator: ", ")
        log = "sizes \(sizes); models \(models); units \(units); warm-up \(options.warmup), repeats \(options.repeats);"
            + " \(options.inFlight) in flight; InvDNCore \(coreBuild) build\n"
        let backend = CoreMLBenchBackend(store: store)
        job = Task {
            do {
                let rows = try await runBenchmark(options, backend: backend) { line in await self.append(line) }
                let doc = benchDocument(rows: rows, machine: DeviceFacts.machine(named: options.machine), date: Date())
                let folder = try FileManager.default.url(
                    for: .documentDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
                let url = try writeResults(doc, to: folder)
                print("INVDN_BENCH_RESULTS Documents/\(url.lastPathComponent)")  // for `devicectl … --console`
                finish(url, "Wrote Documents/\(url.lastPathComponent) (\(doc.rows.count) rows).")
            } catch is CancellationError {
                finish(nil, "Cancelled: no results written.")
            } catch {
                finish(nil, "Cannot write the results: \(error)")
            }
        }
    }

    func cancel() {
        job?.cancel()
    }

    private func append(_ line: String) {
        log += line + "\n"
    }

    private func finish(_ url: URL?, _ line: String) {
        resultURL = url
        log += line + "\n"
        running = false
        job = nil
    }
}

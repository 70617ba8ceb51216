// The benchmark run: every model x compute unit x size of the options, each a warm-up and timed repeats of the
// whole image through the tiler (InvDNCore.timeTiled: web_demo's worker `bench`), rows in the results schema (one
// per combination, skipped or failed ones included), the device's facts, and one JSON file in the app's Documents
// folder (Files app, or `xcrun devicectl device copy from`), ready for `invdn bench ingest`.

import Foundation
import Observation

import InvDNCore

@Observable
final class BenchmarkRunner {
    var running = false
    var log = ""
    var resultURL: URL?
    private var job: Task<Void, Never>?
    private let store = ModelStore.load()

    @MainActor
    func start(_ options: BenchOptions) {
        guard !running else { return }
        running = true
        resultURL = nil
        let sizes = options.sizes.map(\.description).joined(separator: ", ")
        let units = options.units.map(\.rawValue).joined(separator: ", ")
        let models = options.precisions.joined(separator: ", ")
        log = "sizes \(sizes); models \(models); units \(units); warm-up \(options.warmup), repeats \(options.repeats)\n"
        let store = self.store
        job = Task.detached(priority: .userInitiated) { [weak self] in
            guard let doc = await BenchmarkRunner.measure(options, store: store, log: { await self?.append($0) }) else {
                await self?.finish(nil, "Cancelled: no results written.")
                return
            }
            do {
                let folder = try FileManager.default.url(
                    for: .documentDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
                let url = try writeResults(doc, to: folder)
                print("INVDN_BENCH_RESULTS Documents/\(url.lastPathComponent)")  // for `devicectl … --console`
                await self?.finish(url, "Wrote Documents/\(url.lastPathComponent) (\(doc.rows.count) rows).")
            } catch {
                await self?.finish(nil, "Cannot write the results: \(error)")
            }
        }
    }

    @MainActor
    func cancel() {
        job?.cancel()
    }

    @MainActor
    private func append(_ line: String) {
        log += line + "\n"
    }

    @MainActor
    private func finish(_ url: URL?, _ line: String) {
        resultURL = url
        log += line + "\n"
        running = false
        job = nil
    }

    /// The rows of one run, nil when cancelled.
    static func measure(_ options: BenchOptions, store: ModelStore, log: (String) async -> Void) async -> BenchDocument? {
        var rows: [BenchRow] = []
        var images: [Int: FloatImage] = [:]  // the synthetic input of each size, made once
        for unit in options.units {
            for precision in options.precisions {
                for zin in options.includeZin ? [false, true] : [false] {
                    let backend = unit.backend + (zin ? "-zin" : "")
                    guard let model = store.model(precision: precision, zin: zin) else {
                        let file = ModelCatalog.artifacts.first { $0.precision == precision && $0.zin == zin }?.file
                        let why = file.flatMap { store.missing[$0] } ?? "no \(precision) model in this build"
                        for size in options.sizes {
                            var row = BenchRow(
                                backend: backend, precision: precision, height: size.height, width: size.width,
                                status: "skipped", device: unit.device)
                            row.error = why
                            rows.append(row)
                        }
                        await log("\(backend) \(precision): skipped (\(why))")
                        continue
                    }
                    func row(_ size: BenchSize, _ status: String) -> BenchRow {
                        var row = BenchRow(
                            backend: backend, precision: precision, height: size.height, width: size.width,
                            status: status, variant: model.entry.variant, artifact: model.entry.file,
                            target: model.artifact.target, device: unit.device, tile: model.entry.tiling.tile)
                        row.bytes = model.entry.bytes
                        return row
                    }
                    let runner: any TileRunner
                    do {
                        runner = makeRunner(try await loadModel(model, units: unit), model)
                    } catch {
                        for size in options.sizes {
                            var failed = row(size, "failed")
                            failed.error = "cannot load \(model.entry.file) for \(unit.label): \(error)"
                            rows.append(failed)
                        }
                        await log("\(backend) \(precision): cannot load (\(error))")
                        continue
                    }
                    for (i, size) in options.sizes.enumerated() {
                        if Task.isCancelled { return nil }
                        var timed = row(size, "failed")
                        do {
                            let plan = try model.entry.tiling.plan(height: size.height, width: size.width)
                            timed.tiles = plan.count
                            let image = images[i] ?? syntheticImage(height: size.height, width: size.width)
                            images[i] = image
                            await log("\(backend) \(precision) \(size): \(plan.count) tile(s)…")
                            let times = try await timeTiled(
                                image, plan: plan, runner: runner, warmup: options.warmup, repeats: options.repeats)
                            timed.record(times: times, tiles: plan.count, warmup: options.warmup, macsPerTile: model.entry.macs?.graph)
                            await log("  median \(timed.medianMs ?? 0) ms, p90 \(timed.p90Ms ?? 0) ms")
                        } catch is CancellationError {
                            return nil
                        } catch {
                            timed.error = "\(error)"
                            await log("  failed: \(error)")
                        }
                        rows.append(timed)
                    }
                }
            }
        }
        return BenchDocument(date: Date(), machine: DeviceFacts.machine(named: options.machine), rows: addSpeedups(rows))
    }
}

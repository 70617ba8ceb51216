// The benchmark run (the app's benchmark mode; web_demo's app.js runBenchmark): every compute unit x model x size of
// the options, each a warm-up and timed repeats of the whole image through the tiler, with every model call timed
// apart (predict_ms: Core ML's time, apart from median_ms, the whole photo's), one results row per combination
// (skipped and failed ones included). The app supplies the models through BenchBackend (Core ML there; stand-in
// runners in the tests).
//
// A Debug build of InvDNCore times the Swift tiler more than Core ML (ios_demo/TilerSpeed: denoisePhoto of a 3 MP
// photo through an identity runner took 7.4 s Debug vs 0.55 s Release on Linux, see ios_demo/README.md), so a
// benchmark is refused in a Debug build unless --allow-debug is given, and the build is written into the results
// file either way (machine.libraries.invdncore).

import Foundation

/// How InvDNCore was compiled: "debug" or "release" (the app's scheme: Run is Debug, InvDNDemo-Benchmark Release).
public var coreBuild: String {
    #if DEBUG
        return "debug"
    #else
        return "release"
    #endif
}

/// Why a benchmark must not run in this build, nil when it may.
public func benchRefusal(_ options: BenchOptions, build: String = coreBuild) -> String? {
    if build == "release" || options.allowDebug { return nil }
    return "This is a Debug build: its timings measure unoptimised Swift, not Core ML. Run the InvDNDemo-Benchmark"
        + " scheme (Release), or pass --allow-debug to time it anyway (the results file says debug)."
}

/// A bundled model the benchmark can time.
public struct BenchModel: Sendable {
    public let entry: ManifestEntry
    public let target: String  // the export recipe, e.g. ios-fp16

    public init(entry: ManifestEntry, target: String) {
        self.entry = entry
        self.target = target
    }
}

/// What the benchmark needs from the app.
public protocol BenchBackend: Sendable {
    /// The model of a precision (its -zin twin when `zin`), or why this build has none (thrown as its message).
    func model(precision: String, zin: Bool) throws -> BenchModel
    /// A runner of `model` on `units` (loading it, or taking it from the app's model cache).
    func runner(_ model: BenchModel, units: ComputeUnitChoice) async throws -> any TileRunner
}

/// One (compute units, precision, z input) combination of the run, in the order the rows are written.
public struct BenchJob: Equatable, Sendable {
    public let units: ComputeUnitChoice
    public let precision: String
    public let zin: Bool

    public var backend: String { units.backend + (zin ? "-zin" : "") }
}

/// The combinations of the options: compute units outer, then precision, then the constant-z artifact and (with
/// --zin) its z-input twin; every size is timed for each.
public func benchPlan(_ options: BenchOptions) -> [BenchJob] {
    options.units.flatMap { units in
        options.precisions.flatMap { precision in
            (options.includeZin ? [false, true] : [false]).map { BenchJob(units: units, precision: precision, zin: $0) }
        }
    }
}

/// Run the benchmark: the rows of every job and size (speed-ups vs FP32 filled in). Throws CancellationError when
/// the task is cancelled (no partial file).
public func runBenchmark<B: BenchBackend>(
    _ options: BenchOptions, backend: B, log: @escaping @Sendable (String) async -> Void = { _ in }
) async throws -> [BenchRow] {
    var rows: [BenchRow] = []
    var images: [Int: FloatImage] = [:]  // the synthetic input of each size, made once
    for job in benchPlan(options) {
        try Task.checkCancellation()
        let model: BenchModel
        do {
            model = try backend.model(precision: job.precision, zin: job.zin)
        } catch {
            for size in options.sizes {
                var row = BenchRow(
                    backend: job.backend, precision: job.precision, height: size.height, width: size.width,
                    status: "skipped", device: job.units.device)
                row.error = "\(error)"
                rows.append(row)
            }
            await log("\(job.backend) \(job.precision): skipped (\(error))")
            continue
        }
        func row(_ size: BenchSize, _ status: String) -> BenchRow {
            var row = BenchRow(
                backend: job.backend, precision: job.precision, height: size.height, width: size.width, status: status,
                variant: model.entry.variant, artifact: model.entry.file, target: model.target,
                device: job.units.device, tile: model.entry.tiling.tile)
            row.bytes = model.entry.bytes
            return row
        }
        let runner: any TileRunner
        do {
            runner = try await backend.runner(model, units: job.units)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            for size in options.sizes {
                var failed = row(size, "failed")
                failed.error = "cannot load \(model.entry.file) for \(job.units.label): \(error)"
                rows.append(failed)
            }
            await log("\(job.backend) \(job.precision): cannot load (\(error))")
            continue
        }
        for (i, size) in options.sizes.enumerated() {
            try Task.checkCancellation()
            var timed = row(size, "failed")
            do {
                let plan = try model.entry.tiling.plan(height: size.height, width: size.width)
                timed.tiles = plan.count
                let image = images[i] ?? syntheticImage(height: size.height, width: size.width)
                images[i] = image
                await log("\(job.backend) \(job.precision) \(size): \(plan.count) tile(s)…")
                let times = try await timeTiled(
                    image, plan: plan, runner: runner, warmup: options.warmup, repeats: options.repeats,
                    inFlight: options.inFlight)
                timed.record(times, tiles: plan.count, warmup: options.warmup, macsPerTile: model.entry.macs?.graph)
                await log("  median \(timed.medianMs ?? 0) ms (prediction \(timed.predictMs ?? 0) ms per tile)")
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                timed.error = "\(error)"
                await log("  failed: \(error)")
            }
            rows.append(timed)
        }
    }
    return addSpeedups(rows)
}

/// The results document of a run: the rows, and the machine with the build of InvDNCore among its libraries.
public func benchDocument(rows: [BenchRow], machine: BenchMachine, date: Date, build: String = coreBuild) -> BenchDocument {
    var machine = machine
    machine.libraries = (machine.libraries ?? [:]).merging(["invdncore": build]) { _, new in new }
    return BenchDocument(date: date, machine: machine, rows: rows)
}

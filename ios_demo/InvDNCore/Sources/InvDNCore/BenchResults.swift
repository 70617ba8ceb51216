// The benchmark results document, exactly in the schema of benchmarks/schema/results.schema.json (contract version
// 1; the same file as invdn_mobile/bench/results.schema.json). The web demo writes the same document from app.js
// (benchRow, runBenchmark); `invdn bench ingest FILE` validates a file and adds it to benchmarks/results/.
//
// The schema rejects unknown keys and requires some keys to be present even when null (median_ms, p90_ms,
// speedup_vs_torch_eager, macs, bytes): BenchRow's encoder writes those as null and leaves out unset optional ones.
// Tests/InvDNCoreTests/BenchResultsTests.swift checks a written document against the schema file's own key lists.

import Foundation

public let resultsSchemaVersion = 1
public let resultsSource = "ios_demo"

/// The Core ML compute-unit choices (MLModelConfiguration.computeUnits) and the schema's backend and device names for
/// them (benchmarks/schema/README.md: coreml-ane, coreml-gpu, coreml-cpu, coreml-all).
public enum ComputeUnitChoice: String, CaseIterable, Codable, Sendable {
    case all  // .all: Core ML picks (Neural Engine, GPU, CPU)
    case ane  // .cpuAndNeuralEngine
    case gpu  // .cpuAndGPU
    case cpu  // .cpuOnly

    public var backend: String { "coreml-\(rawValue)" }
    public var device: String { rawValue }
    public var label: String {
        switch self {
        case .all: return "All (Core ML decides)"
        case .ane: return "CPU + Neural Engine"
        case .gpu: return "CPU + GPU"
        case .cpu: return "CPU only"
        }
    }
}

public struct BenchMachine: Codable, Equatable, Sendable {
    public var name: String  // file-name-safe label: see machineName(_:)
    public var kind: String  // "phone" or "tablet"
    public var cpu: String  // SoC name
    public var cores: Int
    public var gpu: String?
    public var os: String?
    public var deviceModel: String?  // model identifier, e.g. iPhone16,1
    public var libraries: [String: String]?

    public init(
        name: String, kind: String, cpu: String, cores: Int, gpu: String? = nil, os: String? = nil,
        deviceModel: String? = nil, libraries: [String: String]? = nil
    ) {
        self.name = name
        self.kind = kind
        self.cpu = cpu
        self.cores = cores
        self.gpu = gpu
        self.os = os
        self.deviceModel = deviceModel
        self.libraries = libraries
    }

    enum CodingKeys: String, CodingKey {
        case name, kind, cpu, cores, gpu, os, libraries
        case deviceModel = "device_model"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(kind, forKey: .kind)
        try c.encode(cpu, forKey: .cpu)
        try c.encode(cores, forKey: .cores)
        try c.encode(gpu, forKey: .gpu)  // null when unknown, as the web demo writes it
        try c.encodeIfPresent(os, forKey: .os)
        try c.encodeIfPresent(deviceModel, forKey: .deviceModel)
        try c.encodeIfPresent(libraries, forKey: .libraries)
    }
}

/// One (backend, artifact, size) measurement: app.js benchRow. A model that could not run is a row with status
/// "failed" or "skipped" and an error, never a missing row.
public struct BenchRow: Codable, Equatable, Sendable {
    public var backend: String
    public var format = "coreml"
    public var precision: String
    public var variant: String?
    public var artifact: String?
    public var target: String?
    public var device: String?
    public var size: String  // "HxW"
    public var height: Int
    public var width: Int
    public var tiles: Int?
    public var tile: Int?
    public var status: String  // ok, failed, skipped
    public var error: String?
    public var medianMs: Double?
    public var p90Ms: Double?
    public var minMs: Double?
    public var predictMs: Double?  // median wall time of one model call (one tile), apart from the whole photo
    public var repeats: Int?
    public var warmup: Int?
    public var threads: Int?
    public var batch: Int? = 1
    public var speedupVsTorchEager: Double? = nil  // no PyTorch on a phone: always null
    public var speedupVsFp32: Double?
    public var macs: Int?
    public var gmacsPerS: Double?
    public var bytes: Int?

    public init(
        backend: String, precision: String, height: Int, width: Int, status: String, variant: String? = nil,
        artifact: String? = nil, target: String? = nil, device: String? = nil, tile: Int? = nil
    ) {
        self.backend = backend
        self.precision = precision
        self.size = "\(height)x\(width)"
        self.height = height
        self.width = width
        self.status = status
        self.variant = variant
        self.artifact = artifact
        self.target = target
        self.device = device
        self.tile = tile
    }

    enum CodingKeys: String, CodingKey {
        case backend, format, precision, variant, artifact, target, device, size, height, width, tiles, tile, status
        case error, repeats, warmup, threads, batch, macs, bytes
        case medianMs = "median_ms"
        case p90Ms = "p90_ms"
        case minMs = "min_ms"
        case predictMs = "predict_ms"
        case speedupVsTorchEager = "speedup_vs_torch_eager"
        case speedupVsFp32 = "speedup_vs_fp32"
        case gmacsPerS = "gmacs_per_s"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(backend, forKey: .backend)
        try c.encode(format, forKey: .format)
        try c.encode(precision, forKey: .precision)
        try c.encodeIfPresent(variant, forKey: .variant)
        try c.encode(artifact, forKey: .artifact)  // null: no artifact of this precision was bundled
        try c.encodeIfPresent(target, forKey: .target)
        try c.encodeIfPresent(device, forKey: .device)
        try c.encode(size, forKey: .size)
        try c.encode(height, forKey: .height)
        try c.encode(width, forKey: .width)
        try c.encodeIfPresent(tiles, forKey: .tiles)
        try c.encode(tile, forKey: .tile)
        try c.encode(status, forKey: .status)
        try c.encodeIfPresent(error, forKey: .error)
        // required by the schema even when null
        try c.encode(medianMs, forKey: .medianMs)
        try c.encode(p90Ms, forKey: .p90Ms)
        try c.encode(speedupVsTorchEager, forKey: .speedupVsTorchEager)
        try c.encode(macs, forKey: .macs)
        try c.encode(bytes, forKey: .bytes)
        // optional
        try c.encodeIfPresent(minMs, forKey: .minMs)
        try c.encodeIfPresent(predictMs, forKey: .predictMs)
        try c.encodeIfPresent(repeats, forKey: .repeats)
        try c.encodeIfPresent(warmup, forKey: .warmup)
        try c.encode(threads, forKey: .threads)  // null: Core ML does not expose a thread count
        try c.encodeIfPresent(batch, forKey: .batch)
        try c.encode(speedupVsFp32, forKey: .speedupVsFp32)
        try c.encode(gmacsPerS, forKey: .gmacsPerS)
    }

    /// Fill the timing columns from a measurement (app.js runBenchmark: median, p90 and min of the whole image,
    /// rounded to the microsecond; GMAC/s from the manifest's MACs per tile), and predict_ms, the median of the
    /// model calls timed apart.
    public mutating func record(_ times: TiledTimes, tiles: Int, warmup: Int, macsPerTile: Int?) {
        let sorted = times.whole.sorted()
        let median = quantile(sorted, 0.5)
        status = "ok"
        self.tiles = tiles
        self.warmup = warmup
        repeats = sorted.count
        medianMs = round3(median)
        p90Ms = round3(quantile(sorted, 0.9))
        minMs = round3(sorted[0])
        predictMs = times.predict.isEmpty ? nil : round3(quantile(times.predict.sorted(), 0.5))
        macs = macsPerTile.map { $0 * tiles }
        gmacsPerS = macs.map { round3(Double($0) / 1e9 / (median / 1000)) }
    }
}

/// One benchmark run on one device: the document `invdn bench ingest` takes.
public struct BenchDocument: Codable, Equatable, Sendable {
    public var schemaVersion = resultsSchemaVersion
    public var source = resultsSource
    public var date: String  // ISO 8601 UTC, see isoDate(_:)
    public var machine: BenchMachine
    public var rows: [BenchRow]

    public init(date: Date, machine: BenchMachine, rows: [BenchRow]) {
        self.date = isoDate(date)
        self.machine = machine
        self.rows = rows
    }

    enum CodingKeys: String, CodingKey {
        case date, machine, rows, source
        case schemaVersion = "schema_version"
    }

    /// The file name app.js offers: <machine>-<yyyy-mm-dd>.json (invdn bench ingest renames it anyway).
    public var fileName: String { "\(machine.name)-\(date.prefix(10)).json" }
}

/// numpy's default quantile of sorted values: linear interpolation between the closest ranks (app.js quantile).
public func quantile(_ sorted: [Double], _ q: Double) -> Double {
    let pos = Double(sorted.count - 1) * q
    let lo = Int(pos.rounded(.down))
    let hi = Int(pos.rounded(.up))
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - Double(lo))
}

/// app.js round3: to the thousandth.
public func round3(_ v: Double) -> Double {
    (v * 1000).rounded() / 1000
}

/// The schema's date form, e.g. 2026-11-26T10:15:00Z.
public func isoDate(_ date: Date) -> String {
    let f = ISO8601DateFormatter()
    f.timeZone = TimeZone(identifier: "UTC")
    return f.string(from: date)
}

/// A machine label the schema accepts (becomes the results file name): letters, digits, ".", "_", "-", starting
/// with a letter or digit, at most 64 characters. "iPhone16,1" -> "iPhone16-1".
public func machineName(_ text: String) -> String {
    let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    var name = String(text.map { allowed.contains($0) ? $0 : "-" })
    while let first = name.first, !(first.isLetter || first.isNumber) { name.removeFirst() }
    name = String(name.prefix(64))
    return name.isEmpty ? "ios-device" : name
}

/// app.js: speedup_vs_fp32 = the same backend's FP32 median at the same size / this row's median (ok rows only).
public func addSpeedups(_ rows: [BenchRow]) -> [BenchRow] {
    rows.map { row in
        var row = row
        let fp32 = rows.first {
            $0.backend == row.backend && $0.size == row.size && $0.precision == "fp32" && $0.status == "ok"
        }
        if row.status == "ok", let base = fp32?.medianMs, let mine = row.medianMs, mine > 0 {
            row.speedupVsFp32 = round3(base / mine)
        } else {
            row.speedupVsFp32 = nil
        }
        return row
    }
}

/// The document as the JSON text written to disk (pretty, keys sorted, trailing newline).
public func encodeResults(_ doc: BenchDocument) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    var data = try encoder.encode(doc)
    data.append(0x0A)
    return data
}

/// Write the document into `folder` under its file name, atomically; the file's URL.
@discardableResult
public func writeResults(_ doc: BenchDocument, to folder: URL) throws -> URL {
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let url = folder.appendingPathComponent(doc.fileName)
    try encodeResults(doc).write(to: url, options: .atomic)
    return url
}

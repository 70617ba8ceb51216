// The benchmark results writer against the schema file itself (benchmarks/schema/results.schema.json): every key it
// writes is one the schema lists, every required key is there (null where the schema allows), enums and patterns
// hold. testWritesAResultsFileForIngest leaves the file it wrote where a Mac user can run
// `invdn bench ingest FILE` on it (the full JSON Schema validation): $INVDN_RESULTS_DIR, or the temporary folder.
// Its rows time a stub (identity) runner on this machine, labelled so: it proves the format, not a phone.

import Foundation
import XCTest

@testable import InvDNCore

final class BenchResultsTests: XCTestCase {
    func object(_ value: Any?, _ path: String) throws -> [String: Any] {
        try XCTUnwrap(value as? [String: Any], path)
    }

    /// `doc` (a JSON object) against the schema node `node`: unknown keys, missing required keys, enums, consts,
    /// patterns (the checks a typo or a missing null would fail).
    func check(_ doc: [String: Any], against node: [String: Any], _ path: String) throws {
        let properties = try object(node["properties"], "\(path).properties")
        let required = node["required"] as? [String] ?? []
        XCTAssertEqual(Set(doc.keys).subtracting(properties.keys), [], "\(path): keys the schema does not list")
        XCTAssertEqual(Set(required).subtracting(doc.keys), [], "\(path): required keys missing")
        for (key, value) in doc {
            let spec = try object(properties[key], "\(path).\(key)")
            if let allowed = spec["enum"] as? [String] {
                XCTAssertTrue(allowed.contains(value as? String ?? ""), "\(path).\(key) = \(value) not in \(allowed)")
            }
            if let constant = spec["const"] as? Int { XCTAssertEqual(value as? Int, constant, "\(path).\(key)") }
            if let pattern = spec["pattern"] as? String, let text = value as? String {
                let regex = try NSRegularExpression(pattern: pattern)
                let range = NSRange(text.startIndex..., in: text)
                XCTAssertNotNil(regex.firstMatch(in: text, range: range), "\(path).\(key) = \(text) !~ \(pattern)")
            }
            if value is NSNull {
                let types = spec["type"] as? [String] ?? [spec["type"] as? String ?? ""]
                XCTAssertTrue(types.contains("null"), "\(path).\(key) is null but the schema says \(types)")
            }
        }
    }

    /// A results document of real timings of the identity stub on this machine, plus a skipped and a failed row.
    func stubDocument() async throws -> BenchDocument {
        let size = BenchSize(height: 64, width: 80)
        let p = try plan(height: size.height, width: size.width, tile: 32, overlap: 8)
        let times = try await timeTiled(
            syntheticImage(height: size.height, width: size.width), plan: p, runner: IdentityRunner(), warmup: 1,
            repeats: 4)
        var ok = BenchRow(
            backend: "swift-test-identity", precision: "fp32", height: size.height, width: size.width, status: "ok",
            variant: "stub", device: "cpu", tile: 32)
        ok.record(times, tiles: p.count, warmup: 1, macsPerTile: nil)
        var skipped = BenchRow(
            backend: "swift-test-identity", precision: "int8", height: size.height, width: size.width,
            status: "skipped")
        skipped.error = "no int8 artifact bundled"
        var failed = BenchRow(
            backend: "swift-test-identity", precision: "fp16", height: size.height, width: size.width, status: "failed",
            artifact: "invdn-compact-256-fp16.mlpackage", target: "ios-fp16", device: "cpu", tile: 32)
        failed.error = "cannot load the model"
        failed.tiles = p.count
        let machine = BenchMachine(
            name: "swift-test-stub", kind: "desktop",
            cpu: "the machine running swift test", cores: ProcessInfo.processInfo.activeProcessorCount,
            os: ProcessInfo.processInfo.operatingSystemVersionString, libraries: ["app": "InvDNCore tests"])
        return BenchDocument(date: Date(), machine: machine, rows: addSpeedups([ok, skipped, failed]))
    }

    func testWritesAResultsFileForIngest() async throws {
        let doc = try await stubDocument()
        let folder = ProcessInfo.processInfo.environment["INVDN_RESULTS_DIR"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("invdn-ios-results")
        let url = try writeResults(doc, to: folder)
        print("results for `invdn bench ingest`: \(url.path)")

        let schemaURL = repositoryRoot.appendingPathComponent("benchmarks/schema/results.schema.json")
        let schema = try object(JSONSerialization.jsonObject(with: Data(contentsOf: schemaURL)), "schema")
        let written = try object(JSONSerialization.jsonObject(with: Data(contentsOf: url)), "document")
        try check(written, against: schema, "document")
        let machineSchema = try object(try object(schema["properties"], "properties")["machine"], "machine")
        try check(try object(written["machine"], "machine"), against: machineSchema, "machine")
        let rowSchema = try object(try object(schema["$defs"], "$defs")["row"], "row")
        let rows = try XCTUnwrap(written["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 3)
        for (i, row) in rows.enumerated() { try check(row, against: rowSchema, "rows[\(i)]") }

        XCTAssertEqual(written["source"] as? String, "ios_demo")
        let ok = rows[0]
        XCTAssertEqual(ok["status"] as? String, "ok")
        XCTAssertEqual(ok["tiles"] as? Int, 9)  // 3 x 3 tiles of 32 with overlap 8
        XCTAssertEqual(ok["repeats"] as? Int, 4)
        let median = try XCTUnwrap(ok["median_ms"] as? Double)
        let p90 = try XCTUnwrap(ok["p90_ms"] as? Double)
        let minimum = try XCTUnwrap(ok["min_ms"] as? Double)
        XCTAssertTrue(0 <= minimum && minimum <= median && median <= p90)
        XCTAssertEqual(ok["speedup_vs_fp32"] as? Double, 1)
        XCTAssertTrue(ok["speedup_vs_torch_eager"] is NSNull)
        XCTAssertTrue(ok["macs"] is NSNull)  // required, null when unknown
        let skipped = rows[1]
        XCTAssertEqual(skipped["status"] as? String, "skipped")
        XCTAssertEqual(skipped["error"] as? String, "no int8 artifact bundled")
        for key in ["median_ms", "p90_ms", "bytes", "artifact"] { XCTAssertTrue(skipped[key] is NSNull, key) }
        XCTAssertNil(skipped["min_ms"])  // optional and unset: left out

        // the file decodes back to the same document
        XCTAssertEqual(try JSONDecoder().decode(BenchDocument.self, from: Data(contentsOf: url)), doc)
        XCTAssertEqual(url.lastPathComponent, "\(doc.machine.name)-\(doc.date.prefix(10)).json")
    }

    func testQuantileRoundingAndSpeedups() {
        XCTAssertEqual(quantile([1, 2, 3, 4], 0.5), 2.5)
        XCTAssertEqual(quantile([1, 2, 3, 4], 0.9), 3.7, accuracy: 1e-12)
        XCTAssertEqual(quantile([5], 0.9), 5)
        XCTAssertEqual(round3(1.23456), 1.235)
        func row(_ backend: String, _ precision: String, _ median: Double?, _ status: String = "ok") -> BenchRow {
            var r = BenchRow(backend: backend, precision: precision, height: 8, width: 8, status: status)
            r.medianMs = median
            return r
        }
        let rows = addSpeedups([
            row("coreml-ane", "fp32", 10), row("coreml-ane", "fp16", 4), row("coreml-gpu", "fp16", 5),
            row("coreml-ane", "int8", nil, "failed"),
        ])
        XCTAssertEqual(rows.map(\.speedupVsFp32), [1, 2.5, nil, nil])
    }

    func testMachineNamesAreFileNameSafe() {
        XCTAssertEqual(machineName("iPhone16,1"), "iPhone16-1")
        XCTAssertEqual(machineName("  my phone"), "my-phone")
        XCTAssertEqual(machineName(""), "ios-device")
        XCTAssertEqual(machineName(String(repeating: "a", count: 100)).count, 64)
        XCTAssertEqual(ComputeUnitChoice.allCases.map(\.backend), ["coreml-all", "coreml-ane", "coreml-gpu", "coreml-cpu"])
    }

    func testDatesAreTheSchemasForm() {
        XCTAssertEqual(isoDate(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00Z")
    }
}

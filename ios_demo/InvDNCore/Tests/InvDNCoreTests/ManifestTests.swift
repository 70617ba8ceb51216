// Manifest decoding against the real manifests of `invdn export ios-fp32`, `ios-fp16` and `ios-int8` (Fixtures/,
// the weights path made relative to the repository; tests/test_ios.py checks they still match what the exporter's
// describe() writes): every entry of each loads, float16 tensors included. Per-entry judgement: an entry the app
// cannot use is listed with its reason and the others load; only a file unreadable as a whole is one error.

import Foundation
import XCTest

@testable import InvDNCore

final class ManifestTests: XCTestCase {
    let fixture = fixturesDir.appendingPathComponent("manifest-ios-fp32.json")

    /// A fixture with its entry `index` changed by `change`.
    func mutated(_ name: String = "manifest-ios-fp32.json", index: Int = 0, _ change: (inout [String: Any]) -> Void)
        throws -> Data
    {
        let url = fixturesDir.appendingPathComponent(name)
        var root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var artifacts = try XCTUnwrap(root["artifacts"] as? [[String: Any]])
        change(&artifacts[index])
        root["artifacts"] = artifacts
        return try JSONSerialization.data(withJSONObject: root)
    }

    /// The whole file is refused with one line naming `source`.
    func assertRefused(_ data: Data, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Manifest.decode(data, source: "m.json"), file: file, line: line) { error in
            guard let error = error as? ManifestError else {
                return XCTFail("not a ManifestError: \(error)", file: file, line: line)
            }
            XCTAssertTrue(error.message.hasPrefix("m.json: "), error.message, file: file, line: line)
            XCTAssertFalse(error.message.contains("\n"), "one line", file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(error.message.contains(fragment), "\(error.message) lacks \(fragment)", file: file, line: line)
            }
        }
    }

    /// Entry 0 of the FP32 fixture (the image artifact) is refused with a reason holding `fragments`; entry 1 (its
    /// -zin twin) still loads.
    func assertEntryRefused(_ data: Data, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line)
        throws
    {
        let manifest = try Manifest.decode(data, source: "m.json")
        XCTAssertEqual(manifest.artifacts.map(\.file), ["invdn-compact-256-fp32-zin.mlpackage"], file: file, line: line)
        XCTAssertEqual(manifest.refused.count, 1, file: file, line: line)
        guard let refused = manifest.refused.first else { return }
        XCTAssertEqual(refused.index, 0, file: file, line: line)
        XCTAssertFalse(refused.description.contains("\n"), "one line", file: file, line: line)
        XCTAssertTrue(refused.description.hasPrefix("artifacts[0]"), refused.description, file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(refused.reason.contains(fragment), "\(refused.reason) lacks \(fragment)", file: file, line: line)
        }
        XCTAssertNil(manifest.entry(file: "invdn-compact-256-fp32.mlpackage"), file: file, line: line)
    }

    /// A real export manifest: both entries load, nothing refused; the tensor types of the image artifact and of its
    /// -zin twin are `zinType`.
    func assertLoads(_ precision: String, zinType: TensorType) throws {
        let manifest = try Manifest.decode(
            Data(contentsOf: fixturesDir.appendingPathComponent("manifest-ios-\(precision).json")))
        let image = "invdn-compact-256-\(precision).mlpackage"
        let zinFile = "invdn-compact-256-\(precision)-zin.mlpackage"
        XCTAssertEqual(manifest.refused, [])
        XCTAssertEqual(Set(manifest.artifacts.map(\.file)), [image, zinFile])
        let constant = try XCTUnwrap(manifest.entry(file: image))
        let zin = try XCTUnwrap(manifest.entry(file: zinFile))
        XCTAssertEqual(manifest.version, 1)
        for entry in [constant, zin] {
            XCTAssertEqual(entry.precision, precision)
            XCTAssertEqual(entry.variant, "compact")
            XCTAssertEqual(entry.format, "coreml")
            XCTAssertEqual(entry.tiling.tile, 256)
            XCTAssertEqual(entry.tiling.overlap, 32)
            XCTAssertGreaterThan(entry.macs?.graph ?? 0, 0)
            XCTAssertGreaterThan(entry.bytes ?? 0, 0)
            let curve = try XCTUnwrap(entry.strength)
            XCTAssertEqual(curve.estimator, sigmaEstimator)
            XCTAssertTrue((0...1).contains(strengthAt(curve, 10)))
            XCTAssertEqual(try entry.tiling.plan(height: 3024, width: 4032).count, 252)  // 14 x 18 tiles
        }
        XCTAssertTrue(constant.takesImage)
        XCTAssertFalse(constant.z.asInput)
        XCTAssertEqual(constant.stem, "invdn-compact-256-\(precision)")
        XCTAssertEqual(constant.inputs.map(\.type), [.image])
        XCTAssertEqual(constant.outputs.map(\.type), [.image])
        XCTAssertFalse(zin.takesImage)
        XCTAssertTrue(zin.z.asInput)
        XCTAssertEqual(zin.inputs.map(\.name), ["image", "z"])
        XCTAssertEqual(zin.inputs[1].shape, [1, 45, 64, 64])
        XCTAssertEqual(zin.inputs.map(\.type), [zinType, zinType])
        XCTAssertEqual(zin.outputs.map(\.type), [zinType])
    }

    func testRealFP32ExportManifestLoads() throws {
        try assertLoads("fp32", zinType: .float32)
    }

    func testRealFP16ExportManifestLoadsWithFloat16Tensors() throws {
        try assertLoads("fp16", zinType: .float16)
    }

    func testRealINT8ExportManifestLoadsWithFloat16Tensors() throws {
        try assertLoads("int8", zinType: .float16)
    }

    func testMalformedFileIsOneClearError() throws {
        assertRefused(Data("{\"artifacts\": [".utf8), ["not valid JSON"])
        assertRefused(Data("[]".utf8), ["(top level)"])
        assertRefused(Data("{\"artifacts\": []}".utf8), ["lists no artifact"])
        assertRefused(Data("{\"artifacts\": 3}".utf8), ["artifacts"])
        var root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: fixture)) as? [String: Any])
        root["version"] = 2
        assertRefused(try JSONSerialization.data(withJSONObject: root), ["version: 2 is not 1"])
        root["version"] = 1
        XCTAssertNoThrow(try Manifest.decode(JSONSerialization.data(withJSONObject: root)))
    }

    func testMissingOrMistypedKeyRefusesOnlyThatEntry() throws {
        try assertEntryRefused(
            try mutated { entry in
                var tiling = entry["tiling"] as? [String: Any] ?? [:]
                tiling["padding"] = nil
                entry["tiling"] = tiling
            }, ["tiling: missing key 'padding'"])
        try assertEntryRefused(try mutated { $0["tile"] = "256" }, ["tile: expected"])
        let noFile = try Manifest.decode(try mutated { $0["file"] = nil })
        XCTAssertEqual(noFile.refused.map(\.index), [0])
        XCTAssertNil(noFile.refused[0].file)
        XCTAssertTrue(noFile.refused[0].reason.contains("missing key 'file'"), noFile.refused[0].reason)
        XCTAssertEqual(noFile.artifacts.count, 1)
    }

    func testUnsupportedTensorTypeRefusesOnlyThatEntry() throws {
        // a -zin twin in a dtype the app cannot feed: listed with its reason, the image artifact still loads
        let data = try mutated("manifest-ios-fp16.json", index: 1) { entry in
            var inputs = entry["inputs"] as? [[String: Any]] ?? []
            inputs[1]["dtype"] = "bfloat16"
            entry["inputs"] = inputs
        }
        let manifest = try Manifest.decode(data)
        XCTAssertEqual(manifest.artifacts.map(\.file), ["invdn-compact-256-fp16.mlpackage"])
        let refused = try XCTUnwrap(manifest.refusal(file: "invdn-compact-256-fp16-zin.mlpackage"))
        XCTAssertEqual(refused.index, 1)
        XCTAssertTrue(refused.reason.contains("inputs[1]") && refused.reason.contains("bfloat16"), refused.reason)
        XCTAssertNil(manifest.refusal(file: "invdn-compact-256-fp16.mlpackage"))
        // an image artifact whose input is a tensor, and one with a second input, are not what it claims to be
        try assertEntryRefused(
            try mutated { entry in
                var inputs = entry["inputs"] as? [[String: Any]] ?? []
                inputs[0]["dtype"] = "float16"
                entry["inputs"] = inputs
            }, ["inputs[0]", "dtype image"])
        try assertEntryRefused(
            try mutated { entry in
                let inputs = entry["inputs"] as? [[String: Any]] ?? []
                entry["inputs"] = inputs + inputs
            }, ["2 inputs"])
    }

    func testUnknownContractVersionsRefuseTheEntry() throws {
        func tiling(_ key: String, _ value: Any) throws -> Data {
            try mutated { entry in
                var tiling = entry["tiling"] as? [String: Any] ?? [:]
                tiling[key] = value
                entry["tiling"] = tiling
            }
        }
        try assertEntryRefused(try tiling("padding", "reflect"), ["tiling.padding is 'reflect'", "implements 'symmetric'"])
        try assertEntryRefused(try tiling("window", "cosine"), ["tiling.window is 'cosine'"])
        try assertEntryRefused(try tiling("overlap", 256), ["not a valid plan"])
        try assertEntryRefused(try mutated { $0["layout"] = "NHWC" }, ["layout is 'NHWC'"])
        try assertEntryRefused(
            try mutated { entry in
                var strength = entry["strength"] as? [String: Any] ?? [:]
                strength["estimator"] = "donoho-haar-diagonal-mad-v2"
                entry["strength"] = strength
            }, ["strength: estimator 'donoho-haar-diagonal-mad-v2'"])
        try assertEntryRefused(
            try mutated { entry in
                var strength = entry["strength"] as? [String: Any] ?? [:]
                strength["sigma"] = [3.0, 2.0]
                strength["strength"] = [0.1, 0.2]
                entry["strength"] = strength
            }, ["sigma must be increasing"])
    }

    func testEmptyStrengthCurveIsRefusedNotACrash() throws {
        // before: an empty curve decoded fine and strengthAt indexed xs[0] of an empty array
        try assertEntryRefused(
            try mutated { $0["strength"] = ["estimator": sigmaEstimator, "sigma": [Double](), "strength": [Double]()] },
            ["strength: sigma and strength must be lists of the same, non-zero length"])
        XCTAssertThrowsError(try StrengthCurve(sigma: [], strength: []))
        XCTAssertThrowsError(try StrengthCurve(sigma: [0, 1], strength: [0.5]))
        XCTAssertThrowsError(try StrengthCurve(sigma: [0], strength: [1.5]))
        XCTAssertThrowsError(try StrengthCurve(sigma: [.nan], strength: [0.5]))
        let curve = try StrengthCurve(sigma: [0, 10], strength: [0.2, 0.6])
        XCTAssertEqual(strengthAt(curve, 5), 0.4, accuracy: 1e-12)
    }

    func testNullStrengthMeansNoCurve() throws {
        let manifest = try Manifest.decode(try mutated { $0["strength"] = NSNull() })
        XCTAssertNil(manifest.artifacts[0].strength)
        XCTAssertEqual(manifest.refused, [])
    }
}

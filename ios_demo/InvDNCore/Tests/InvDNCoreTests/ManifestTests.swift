// Manifest decoding against a real `invdn export ios-fp32 --variant compact` manifest (Fixtures/, the weights path
// shortened; tests/test_ios.py checks it still matches what the exporter's describe() writes), and the one clear
// error for malformed files and for contract versions this port does not implement.

import Foundation
import XCTest

@testable import InvDNCore

final class ManifestTests: XCTestCase {
    let fixture = fixturesDir.appendingPathComponent("manifest-ios-fp32.json")

    /// The fixture with its first artifact changed by `change`.
    func mutated(_ change: (inout [String: Any]) -> Void) throws -> Data {
        var root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: fixture)) as? [String: Any])
        var artifacts = try XCTUnwrap(root["artifacts"] as? [[String: Any]])
        change(&artifacts[0])
        root["artifacts"] = artifacts
        return try JSONSerialization.data(withJSONObject: root)
    }

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

    func testDecodesARealExportManifest() throws {
        let manifest = try Manifest.decode(Data(contentsOf: fixture))
        XCTAssertEqual(manifest.artifacts.map(\.file), ["invdn-compact-256-fp32.mlpackage", "invdn-compact-256-fp32-zin.mlpackage"])
        let image = try XCTUnwrap(manifest.entry(file: "invdn-compact-256-fp32.mlpackage"))
        let zin = try XCTUnwrap(manifest.entry(file: "invdn-compact-256-fp32-zin.mlpackage"))
        XCTAssertTrue(image.takesImage)
        XCTAssertFalse(image.z.asInput)
        XCTAssertEqual(image.stem, "invdn-compact-256-fp32")
        XCTAssertFalse(zin.takesImage)
        XCTAssertTrue(zin.z.asInput)
        XCTAssertEqual(zin.inputs.map(\.name), ["image", "z"])
        XCTAssertEqual(zin.inputs[1].shape, [1, 45, 64, 64])
        XCTAssertEqual(image.tiling.tile, 256)
        XCTAssertEqual(image.tiling.overlap, 32)
        XCTAssertEqual(image.precision, "fp32")
        XCTAssertEqual(image.variant, "compact")
        XCTAssertGreaterThan(image.macs?.graph ?? 0, 0)
        XCTAssertGreaterThan(image.bytes ?? 0, 0)
        let curve = try XCTUnwrap(image.strength)
        XCTAssertNil(curve.problem())
        XCTAssertEqual(try image.tiling.plan(height: 3024, width: 4032).count, 252)  // 14 x 18 tiles
    }

    func testMalformedJSONIsOneClearError() {
        assertRefused(Data("{\"artifacts\": [".utf8), ["not valid JSON"])
        assertRefused(Data("[]".utf8), ["(top level)"])
        assertRefused(Data("{\"artifacts\": []}".utf8), ["lists no artifact"])
    }

    func testMissingOrMistypedKeyNamesItsPath() throws {
        assertRefused(
            try mutated { entry in
                var tiling = entry["tiling"] as? [String: Any] ?? [:]
                tiling["padding"] = nil
                entry["tiling"] = tiling
            }, ["artifacts[0].tiling", "missing key 'padding'"])
        assertRefused(try mutated { $0["tile"] = "256" }, ["artifacts[0].tile"])
        assertRefused(try mutated { $0["file"] = nil }, ["missing key 'file'"])
    }

    func testUnknownContractVersionsAreRefused() throws {
        func tiling(_ key: String, _ value: Any) throws -> Data {
            try mutated { entry in
                var tiling = entry["tiling"] as? [String: Any] ?? [:]
                tiling[key] = value
                entry["tiling"] = tiling
            }
        }
        assertRefused(try tiling("padding", "reflect"), ["tiling.padding is 'reflect'", "implements 'symmetric'"])
        assertRefused(try tiling("window", "cosine"), ["tiling.window is 'cosine'"])
        assertRefused(try tiling("overlap", 256), ["not a valid plan"])
        assertRefused(try mutated { $0["layout"] = "NHWC" }, ["layout is 'NHWC'"])
        var root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: fixture)) as? [String: Any])
        root["version"] = 2
        assertRefused(try JSONSerialization.data(withJSONObject: root), ["version: 2 is not 1"])
        root["version"] = 1
        XCTAssertNoThrow(try Manifest.decode(JSONSerialization.data(withJSONObject: root)))
        assertRefused(
            try mutated { entry in
                var strength = entry["strength"] as? [String: Any] ?? [:]
                strength["estimator"] = "donoho-haar-diagonal-mad-v2"
                entry["strength"] = strength
            }, ["strength: estimator 'donoho-haar-diagonal-mad-v2'"])
        assertRefused(
            try mutated { entry in
                var strength = entry["strength"] as? [String: Any] ?? [:]
                strength["sigma"] = [3.0, 2.0]
                strength["strength"] = [0.1, 0.2]
                entry["strength"] = strength
            }, ["sigma must be increasing"])
    }

    func testNullStrengthMeansNoCurve() throws {
        let manifest = try Manifest.decode(try mutated { $0["strength"] = NSNull() })
        XCTAssertNil(manifest.artifacts[0].strength)
    }
}

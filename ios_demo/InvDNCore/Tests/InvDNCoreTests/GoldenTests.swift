// The Swift port against the golden vectors in golden/tiling/ (written by invdn_mobile/golden.py; the web port's
// tests read the same files in Chromium: tests/test_web.py). Tolerances: plans and padding exactly equal, windows
// within 1e-12, the stub blend within 1e-6 (whole and streamed), sigma within 3e-6, the curve and the strength blend
// exactly equal.

import Foundation
import XCTest

@testable import InvDNCore

final class GoldenTests: XCTestCase {
    func testPlansMatchGolden() throws {
        let doc = try loadJSON(PlansDoc.self, goldenDir.appendingPathComponent("plans.json"))
        XCTAssertFalse(doc.cases.isEmpty)
        var windowErr = 0.0
        for c in doc.cases {
            let label = "\(c.height)x\(c.width) tile \(c.tile) overlap \(c.overlap)"
            let p = try plan(height: c.height, width: c.width, tile: c.tile, overlap: c.overlap, multiple: c.multiple)
            XCTAssertEqual([p.paddedHeight, p.paddedWidth], c.padded, label)
            XCTAssertEqual(p.ys, c.ys, label)
            XCTAssertEqual(p.xs, c.xs, label)
            XCTAssertEqual(p.count, c.tiles.count, label)
            XCTAssertEqual(p.origins.map { [$0.y, $0.x, c.tile, c.tile] }, c.tiles, label)
            let pairs = Array(zip(axisWindows(p.ys, c.tile), c.windowY)) + Array(zip(axisWindows(p.xs, c.tile), c.windowX))
            XCTAssertEqual(pairs.count, c.windowY.count + c.windowX.count, label)
            for (got, want) in pairs {
                XCTAssertEqual(got.count, want.count, label)
                for (g, w) in zip(got, want) { windowErr = max(windowErr, abs(g - w)) }
            }
        }
        XCTAssertLessThanOrEqual(windowErr, 1e-12)
    }

    func testPlanRejectsWhatPythonRejects() {
        XCTAssertThrowsError(try plan(height: 0, width: 5, tile: 16, overlap: 4))
        XCTAssertThrowsError(try plan(height: 5, width: 5, tile: 18, overlap: 4))  // not a multiple of 4
        XCTAssertThrowsError(try plan(height: 5, width: 5, tile: 16, overlap: 16))  // overlap >= tile
        XCTAssertThrowsError(try plan(height: 5, width: 5, tile: 16, overlap: -1))
    }

    func testPaddingMatchesGolden() throws {
        let doc = try loadJSON(PaddingDoc.self, goldenDir.appendingPathComponent("padding.json"))
        XCTAssertEqual(doc.padding, Contract.padding)
        XCTAssertFalse(doc.cases.isEmpty)
        for c in doc.cases {
            let img = FloatImage(data: decodeF32(c.image), height: c.height, width: c.width, channels: 3)
            let p = try plan(height: c.height, width: c.width, tile: c.tile, overlap: 0)
            XCTAssertEqual([p.paddedHeight, p.paddedWidth], c.padded)
            XCTAssertEqual(padImage(img, p), decodeF32(c.expected), "\(c.height)x\(c.width) to tile \(c.tile)")
        }
    }

    func testBlendMatchesGoldenWholeAndStreamed() async throws {
        let doc = try loadJSON(BlendDoc.self, goldenDir.appendingPathComponent("blend.json"))
        let img = FloatImage(data: decodeF32(doc.image), height: doc.height, width: doc.width, channels: doc.channels)
        XCTAssertFalse(doc.cases.isEmpty)
        XCTAssertLessThanOrEqual(doc.tolerance, 1e-6)
        for c in doc.cases {
            let label = "tile \(c.tile) overlap \(c.overlap)"
            let p = try plan(height: doc.height, width: doc.width, tile: c.tile, overlap: c.overlap)
            XCTAssertEqual(p.count, c.tiles, label)
            let expected = decodeF32(c.expected)
            let stub = GoldenStub(tile: c.tile, channels: doc.channels)

            let whole = try await runTiled(img, stub, p)
            XCTAssertLessThanOrEqual(maxAbsDiff(whole ?? [], expected), 1e-6, label)

            // the row-streaming form the app uses: rows arrive in order, each once, and blend to the same values
            var streamed = [Float](repeating: .nan, count: expected.count)
            var nextRow = 0
            let rowValues = doc.width * doc.channels
            let none = try await runTiled(img, stub, p, onRows: { y0, rows, values in
                XCTAssertEqual(y0, nextRow, label)
                XCTAssertEqual(values.count, rows * rowValues, label)
                streamed.replaceSubrange((y0 * rowValues)..<((y0 + rows) * rowValues), with: values)
                nextRow = y0 + rows
            })
            XCTAssertNil(none)
            XCTAssertEqual(nextRow, doc.height, label)
            XCTAssertLessThanOrEqual(maxAbsDiff(streamed, expected), 1e-6, label)
        }
    }

    func testSigmaMatchesGolden() throws {
        let doc = try loadJSON(StrengthDoc.self, goldenDir.appendingPathComponent("strength.json"))
        XCTAssertEqual(doc.estimator, sigmaEstimator)
        XCTAssertFalse(doc.cases.isEmpty)
        for c in doc.cases {
            let img = FloatImage(data: decodeF32(c.image), height: c.height, width: c.width, channels: 3)
            let sigma = estimateSigma(img)
            XCTAssertLessThanOrEqual(abs(sigma - c.expected), min(3e-6, doc.tolerance.sigma), "\(c.height)x\(c.width)")
        }
    }

    func testCurveMatchesGolden() throws {
        let doc = try loadJSON(StrengthDoc.self, goldenDir.appendingPathComponent("strength.json"))
        XCTAssertFalse(doc.queries.isEmpty)
        for q in doc.queries {
            XCTAssertEqual(strengthAt(doc.curve, q.sigma), q.expected, "sigma \(q.sigma)")
        }
    }

    func testStrengthBlendMatchesGolden() throws {
        let doc = try loadJSON(StrengthDoc.self, goldenDir.appendingPathComponent("strength.json"))
        let b = doc.blend
        let noisy = FloatImage(data: decodeF32(b.noisy), height: b.height, width: b.width, channels: 3)
        XCTAssertFalse(b.cases.isEmpty)
        for c in b.cases {
            var values = decodeF32(b.denoised)
            blendRows(noisy, 0, b.height, &values, c.strength)
            XCTAssertEqual(values, decodeF32(c.expected), "strength \(c.strength)")
        }
    }
}

// Test support: where the shared files are (found from this file's path, so the tests read the repository's own
// golden/tiling/ and results schema, never copies), their JSON shapes, and stub tile runners.

import Foundation
import XCTest

@testable import InvDNCore

/// The repository root: this file is ios_demo/InvDNCore/Tests/InvDNCoreTests/Support.swift.
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // InvDNCoreTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()  // InvDNCore
    .deletingLastPathComponent()  // ios_demo
    .deletingLastPathComponent()

/// golden/tiling/: the vectors written by invdn_mobile/golden.py that web_demo's tests read too.
let goldenDir = repositoryRoot.appendingPathComponent("golden/tiling")

/// This package's own fixtures (a real `invdn export ios-fp32` manifest).
let fixturesDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

func loadJSON<T: Decodable>(_ type: T.Type, _ url: URL) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
}

/// golden.py decode_f32: base64 of little-endian float32.
func decodeF32(_ text: String) -> [Float] {
    guard let data = Data(base64Encoded: text) else {
        XCTFail("not base64")
        return []
    }
    let bytes = [UInt8](data)
    return stride(from: 0, to: bytes.count, by: 4).map { i in
        let b0 = UInt32(bytes[i])
        let b1 = UInt32(bytes[i + 1]) << 8
        let b2 = UInt32(bytes[i + 2]) << 16
        let b3 = UInt32(bytes[i + 3]) << 24
        return Float(bitPattern: b0 | b1 | b2 | b3)
    }
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    XCTAssertEqual(a.count, b.count)
    return zip(a, b).map { abs($0.0 - $0.1) }.max() ?? 0
}

// ---- golden/tiling/*.json

struct PlanCase: Decodable {
    let height, width, tile, overlap, multiple: Int
    let padded, ys, xs: [Int]
    let tiles: [[Int]]
    let windowY, windowX: [[Double]]

    enum CodingKeys: String, CodingKey {
        case height, width, tile, overlap, multiple, padded, ys, xs, tiles
        case windowY = "window_y"
        case windowX = "window_x"
    }
}

struct PlansDoc: Decodable {
    let cases: [PlanCase]
}

struct PaddingCase: Decodable {
    let height, width, tile: Int
    let padded: [Int]
    let image, expected: String
}

struct PaddingDoc: Decodable {
    let padding: String
    let cases: [PaddingCase]
}

struct BlendCase: Decodable {
    let tile, overlap, tiles: Int
    let expected: String
}

struct BlendDoc: Decodable {
    let height, width, channels: Int
    let image: String
    let tolerance: Double
    let cases: [BlendCase]
}

struct SigmaCase: Decodable {
    let height, width: Int
    let image: String
    let expected: Double
}

struct CurveQuery: Decodable {
    let sigma, expected: Double
}

struct StrengthBlendCase: Decodable {
    let strength: Double
    let expected: String
}

struct StrengthBlend: Decodable {
    let height, width: Int
    let noisy, denoised: String
    let cases: [StrengthBlendCase]
}

struct StrengthTolerance: Decodable {
    let sigma, strength, blend: Double
}

struct StrengthDoc: Decodable {
    let estimator: String
    let tolerance: StrengthTolerance
    let curve: StrengthCurve
    let queries: [CurveQuery]
    let blend: StrengthBlend
    let cases: [SigmaCase]
}

// ---- tile runners

/// golden.py golden_stub (blend.json "stub_formula"): out[c, i, j] = 0.5 * x[c, i, j] + float32((i + 2j + 3c) / (4T)),
/// pointwise but position-dependent, so overlapping tiles disagree and the blend weights decide the result.
struct GoldenStub: TileRunner {
    let tile: Int
    let channels: Int

    func run(_ x: [Float], index: Int) async throws -> [Float] {
        let t = tile
        var out = [Float](repeating: 0, count: x.count)
        for c in 0..<channels {
            for i in 0..<t {
                for j in 0..<t {
                    let q = c * t * t + i * t + j
                    let offset = Float(Double(i + 2 * j + 3 * c) / Double(4 * t))
                    out[q] = Float(0.5) * x[q] + offset
                }
            }
        }
        return out
    }
}

/// Returns each tile as it came: a pointwise function, which the feathered blend must reproduce.
struct IdentityRunner: TileRunner {
    func run(_ tile: [Float], index: Int) async throws -> [Float] { tile }
}

/// Returns zeros of the right shape.
struct ZeroRunner: TileRunner {
    func run(_ tile: [Float], index: Int) async throws -> [Float] { [Float](repeating: 0, count: tile.count) }
}

/// Returns one value too few: a model with the wrong output shape.
struct ShortRunner: TileRunner {
    func run(_ tile: [Float], index: Int) async throws -> [Float] { Array(tile.dropLast()) }
}

/// Counts its calls (thread-safe: tiles may be in flight together).
final class CountingRunner: TileRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    var calls: Int { lock.withLock { count } }

    func run(_ tile: [Float], index: Int) async throws -> [Float] {
        lock.withLock { count += 1 }
        return tile
    }
}

/// A deterministic 8-bit RGBA photo (alpha 255).
func testPhoto(height: Int, width: Int) -> RGBAImage {
    var data = [UInt8](repeating: 255, count: height * width * 4)
    for y in 0..<height {
        for x in 0..<width {
            for c in 0..<3 { data[(y * width + x) * 4 + c] = UInt8((x * 7 + y * 13 + c * 61 + x * y) % 256) }
        }
    }
    return RGBAImage(data: data, height: height, width: width)
}

// The whole-photo pipeline (denoisePhoto: 8-bit photo in, 8-bit photo out, streaming), the pixel-buffer layout of
// the image-I/O artifact, the benchmark loop and launch arguments, and the z sampler of the -zin twin.

import Foundation
import XCTest

@testable import InvDNCore

final class PipelineTests: XCTestCase {
    // A photo larger than a tile in both directions: 3 x 4 tiles of 32 with overlap 8.
    let photo = testPhoto(height: 70, width: 90)

    func testIdentityModelGivesThePhotoBackByteForByte() async throws {
        let p = try plan(height: 70, width: 90, tile: 32, overlap: 8)
        XCTAssertEqual(p.count, 12)
        var progress: [Int] = []
        let result = try await denoisePhoto(
            photo, plan: p, runner: IdentityRunner(), curve: nil,
            onProgress: { done, total in
                XCTAssertEqual(total, 12)
                progress.append(done)
            })
        XCTAssertEqual(progress, Array(1...12))
        XCTAssertEqual(result.tiles, 12)
        XCTAssertEqual(result.strength, 1)
        XCTAssertEqual(result.rgba, photo.data)  // feathered weights sum to 1: a pointwise model is reproduced
    }

    func testStrengthCurveBlendsTowardsThePhoto() async throws {
        let p = try plan(height: 70, width: 90, tile: 32, overlap: 8)
        let zero = try await denoisePhoto(photo, plan: p, runner: ZeroRunner(), curve: nil)
        XCTAssertTrue(stride(from: 0, to: zero.rgba.count, by: 4).allSatisfy { zero.rgba[$0] == 0 })
        XCTAssertTrue(stride(from: 3, to: zero.rgba.count, by: 4).allSatisfy { zero.rgba[$0] == 255 })

        let keepNothing = try StrengthCurve(sigma: [0], strength: [0])  // s = 0 at any sigma: the photo itself
        let kept = try await denoisePhoto(photo, plan: p, runner: ZeroRunner(), curve: keepNothing)
        XCTAssertEqual(kept.strength, 0)
        XCTAssertEqual(kept.rgba, photo.data)

        let half = try StrengthCurve(sigma: [0], strength: [0.5])
        let halfway = try await denoisePhoto(photo, plan: p, runner: ZeroRunner(), curve: half)
        XCTAssertEqual(halfway.sigma, estimateSigma(photo))
        for q in [0, 1, 2, 400, 18_001] where q % 4 != 3 {
            let expected = toByte(Float(photo.data[q]) / 255 * 0.5)
            XCTAssertEqual(halfway.rgba[q], expected, "byte \(q)")
        }
    }

    /// Runs denoisePhoto of the 12-tile plan with `inFlight` tiles at once and cancels it once the third tile is
    /// blended; the runner's calls (a run that finishes is a failure).
    func callsWhenCancelledAfterThreeTiles(inFlight: Int) async throws -> Int {
        let p = try plan(height: 70, width: 90, tile: 32, overlap: 8)
        let runner = CountingRunner()
        let photo = self.photo
        let task = Task {
            try await denoisePhoto(
                photo, plan: p, runner: runner, curve: nil, inFlight: inFlight,
                onProgress: { done, _ in
                    if done == 3 { withUnsafeCurrentTask { task in task?.cancel() } }
                })
        }
        do {
            _ = try await task.value
            XCTFail("a cancelled run must not finish")
        } catch is CancellationError {}
        return runner.calls
    }

    func testCancelStopsBeforeTheNextTile() async throws {
        let calls = try await callsWhenCancelledAfterThreeTiles(inFlight: 1)
        XCTAssertEqual(calls, 3)
    }

    func testWrongModelOutputIsAnError() async throws {
        let p = try plan(height: 70, width: 90, tile: 32, overlap: 8)
        do {
            _ = try await denoisePhoto(photo, plan: p, runner: ShortRunner(), curve: nil)
            XCTFail("a short output must be refused")
        } catch let error as TilingError {
            XCTAssertTrue(error.message.contains("expected 3072"), error.message)
        }
    }

    func testBlendBandDoesNotGrowWithThePhoto() throws {
        // memory: tile rows x padded width, whatever the height (no Float copy of the whole photo)
        for height in [40, 400, 4000] {
            let p = try plan(height: height, width: 50, tile: 16, overlap: 4)
            let blender = Blender(p, channels: 3) { _, _, _ in }
            XCTAssertEqual(blender.bandValues, 16 * 50 * 3 + 16 * 50)
        }
        let blender = Blender(try plan(height: 40, width: 50, tile: 16, overlap: 4), channels: 3) { _, _, _ in }
        XCTAssertThrowsError(try blender.add(1, [Float](repeating: 0, count: 3 * 16 * 16)))  // out of order
    }

    func testPixelBufferRoundTripIsExactInEveryOrder() {
        let t = 4
        let rowBytes = 4 * t + 8  // padded rows, as pixel buffers may have
        var bytes = [UInt8](repeating: 7, count: rowBytes * t)
        let tile = (0..<(3 * t * t)).map { Float(($0 * 37) % 256) / 255 }
        for order in [PixelOrder.rgba, .bgra, .argb] {
            bytes.withUnsafeMutableBytes { writePixels(tile, size: t, to: $0.baseAddress!, rowBytes: rowBytes, order: order) }
            let back = bytes.withUnsafeBytes { readPixels(size: t, from: $0.baseAddress!, rowBytes: rowBytes, order: order) }
            XCTAssertEqual(back, tile)
            XCTAssertEqual(bytes[order.offsets.alpha], 255)
            XCTAssertEqual(bytes[4 * t], 7, "row padding untouched")
        }
        // channel placement: BGRA puts R third; R of pixel (0, 0) is tile[0]
        bytes.withUnsafeMutableBytes { writePixels(tile, size: t, to: $0.baseAddress!, rowBytes: rowBytes, order: .bgra) }
        XCTAssertEqual(bytes[2], toByte(tile[0]))
        XCTAssertEqual(bytes[0], toByte(tile[2 * t * t]))
    }

    func testToByteClipsAndInvertsEightBitValues() {
        XCTAssertEqual(toByte(-0.2), 0)
        XCTAssertEqual(toByte(1.7), 255)
        XCTAssertEqual(toByte(.nan), 0)
        for b in 0...255 { XCTAssertEqual(toByte(Float(b) / 255), UInt8(b)) }
    }

    func testTimedLoopRunsWarmupAndRepeats() async throws {
        let img = syntheticImage(height: 40, width: 50)
        XCTAssertEqual(img.data, syntheticImage(height: 40, width: 50).data)  // deterministic
        XCTAssertTrue(img.data.allSatisfy { (0...1).contains($0) })
        let p = try plan(height: 40, width: 50, tile: 16, overlap: 4)
        let runner = CountingRunner()
        let times = try await timeTiled(img, plan: p, runner: runner, warmup: 2, repeats: 3)
        XCTAssertEqual(times.whole.count, 3)
        XCTAssertTrue(times.whole.allSatisfy { $0 >= 0 })
        XCTAssertEqual(times.predict.count, 3 * p.count)  // every call of the timed repeats, none of the warm-up
        XCTAssertEqual(runner.calls, 5 * p.count)
    }

    func testLaunchArguments() throws {
        XCTAssertNil(try BenchOptions.parse(["/app", "-NSDocumentRevisionsDebugMode", "YES"]))
        let defaults = try XCTUnwrap(BenchOptions.parse(["/app", "--benchmark"]))
        XCTAssertEqual(defaults, BenchOptions())
        let options = try XCTUnwrap(
            BenchOptions.parse([
                "/app", "-NSDocumentRevisionsDebugMode", "YES", "--benchmark", "--sizes", "256,3024x4032",
                "--repeats", "3", "--warmup", "0", "--units", "ane,cpu", "--models", "fp16", "--zin",
                "--machine", "iPhone16,1",
            ]))
        XCTAssertEqual(options.sizes, [BenchSize(height: 256, width: 256), BenchSize(height: 3024, width: 4032)])
        XCTAssertEqual(options.repeats, 3)
        XCTAssertEqual(options.warmup, 0)
        XCTAssertEqual(options.units, [.ane, .cpu])
        XCTAssertEqual(options.precisions, ["fp16"])
        XCTAssertTrue(options.includeZin)
        XCTAssertEqual(options.machine, "iPhone16-1")
        for bad in [["--sizes", "0x5"], ["--repeats", "0"], ["--units", "npu"], ["--models", "bf16"], ["--speed"], ["--sizes"]] {
            XCTAssertThrowsError(try BenchOptions.parse(["/app", "--benchmark"] + bad), "\(bad)")
        }
    }

    func testNormalSamplerIsSeededAndStandard() {
        var a = NormalSampler(seed: 7)
        var b = NormalSampler(seed: 7)
        var c = NormalSampler(seed: 8)
        let x = a.fill(100_001)
        XCTAssertEqual(x, b.fill(100_001))
        XCTAssertNotEqual(x, c.fill(100_001))
        let mean = x.reduce(0.0) { $0 + Double($1) } / Double(x.count)
        let variance = x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(x.count)
        XCTAssertEqual(mean, 0, accuracy: 0.02)
        XCTAssertEqual(variance, 1, accuracy: 0.02)
        var d = NormalSampler(seed: 7)
        XCTAssertEqual(d.fill(10, scale: 2), Array(x.prefix(10)).map { $0 * 2 })
    }

    func testTilesInFlightGiveTheSameResultWhateverOrderTheyFinishIn() async throws {
        // a position-dependent stub that finishes tiles out of order: blended in the plan's order all the same
        let p = try plan(height: 70, width: 90, tile: 32, overlap: 8)
        let stub = ShuffledRunner(inner: GoldenStub(tile: 32, channels: 3))
        let one = try await denoisePhoto(photo, plan: p, runner: GoldenStub(tile: 32, channels: 3), curve: nil)
        var progress: [Int] = []
        let three = try await denoisePhoto(
            photo, plan: p, runner: stub, curve: nil, inFlight: 3, onProgress: { done, _ in progress.append(done) })
        XCTAssertEqual(three.rgba, one.rgba)
        XCTAssertEqual(progress, Array(1...12))
        let most = await stub.tracker.most
        XCTAssertEqual(most, 3, "three tiles at the model at once, never more")
        XCTAssertNotEqual(one.rgba, photo.data, "the stub changes the photo")
    }

    func testCancelWithTilesInFlightStopsWithinTheWindow() async throws {
        // cancelled after 3 tiles with up to 3 in flight: no new tile is started, the ones at the model finish
        let calls = try await callsWhenCancelledAfterThreeTiles(inFlight: 3)
        XCTAssertGreaterThanOrEqual(calls, 3)
        XCTAssertLessThanOrEqual(calls, 6, "at most the window beyond the third tile")
        XCTAssertLessThan(calls, 12)
    }

    func testEnsembleRunnerRefusesAWrongOutputSize() async throws {
        struct Short: TensorPredictor {
            func predict(image: [Float], z: [Float]) async throws -> [Float] { Array(image.dropLast()) }
        }
        let z = ZSpec(seed: 0, scale: 1, shape: [1, 2, 2, 2], asInput: true)
        do {
            _ = try await EnsembleRunner(Short(), z: z, samples: 2).run([Float](repeating: 0, count: 12), index: 4)
            XCTFail("a short output must be refused")
        } catch let error as TilingError {
            XCTAssertTrue(error.message.contains("tile 4") && error.message.contains("expected 12"), error.message)
        }
    }

    func testEnsembleRunnerAveragesSeededDrawsPerTile() async throws {
        // the -zin twin's runner: samples z draws per tile from a sampler seeded by (seed, tile), outputs averaged
        let z = ZSpec(seed: 0, scale: 0.5, shape: [1, 2, 2, 2], asInput: true)
        let runner = EnsembleRunner(AddFirstZ(), z: z, samples: 4, seed: 9)
        let tile = [Float](repeating: 0.25, count: 12)
        let out = try await runner.run(tile, index: 5)
        let again = try await runner.run(tile, index: 5)
        let other = try await runner.run(tile, index: 6)
        XCTAssertEqual(again, out, "same tile, same draws")
        XCTAssertNotEqual(other, out, "another tile, other draws")
        var sampler = NormalSampler(seed: 9 ^ (UInt64(5) &* 0xD1B5_4A32_D192_ED03))
        let draws = (0..<4).map { _ in sampler.fill(8, scale: 0.5)[0] }
        let expected = Float(0.25) + draws.reduce(0, +) / 4
        XCTAssertEqual(out[0], expected, accuracy: 1e-6)
        XCTAssertTrue(out.allSatisfy { $0 == out[0] })
        let single = try await EnsembleRunner(AddFirstZ(), z: z, samples: 0).run(tile, index: 0)
        XCTAssertEqual(single.count, 12, "samples < 1 means one draw")
    }

    func testMemoryStaysBoundedFor48MegapixelPhotos() {
        // 8064 x 6048 (48.8 MP): the photo and the output as 8-bit RGBA, one blend band, 3 tiles in flight and two
        // downsampled display images; four full-size copies (the old app) were 780 MB
        let budget = MemoryBudget(height: 6048, width: 8064, tile: 256, inFlight: 3)
        XCTAssertEqual(budget.photoBytes, 195_084_288)
        XCTAssertEqual(4 * budget.photoBytes / 1_000_000, 780)
        XCTAssertLessThan(budget.peakBytes, 2 * budget.photoBytes + 100_000_000)
        XCTAssertLessThan(budget.peakBytes, 500_000_000)
        let display = MemoryBudget.displaySize(height: 6048, width: 8064)
        XCTAssertEqual(display.width, 2048)
        XCTAssertEqual(display.height, 1536)
        XCTAssertEqual(MemoryBudget.displaySize(height: 300, width: 200).height, 300, "never enlarged")
        // the band matches the Blender's own buffers
        let blender = Blender(try! plan(height: 6048, width: 8064, tile: 256, overlap: 32), channels: 3) { _, _, _ in }
        XCTAssertLessThanOrEqual(blender.bandValues * 4, budget.bandBytes)
        XCTAssertNil(budget.problem(available: 2_000_000_000))
        let refusal = budget.problem(available: 400_000_000)
        XCTAssertTrue(refusal?.contains("8064 × 6048") ?? false, refusal ?? "")
        XCTAssertFalse(refusal?.contains("\n") ?? true)
    }
}

/// Counts the calls at the model at once.
actor InFlightTracker {
    private(set) var now = 0
    private(set) var most = 0

    func enter() {
        now += 1
        most = max(most, now)
    }

    func leave() { now -= 1 }
}

/// Runs `inner`, but takes longer for even tiles, so tiles in flight finish out of order.
struct ShuffledRunner<R: TileRunner>: TileRunner {
    let inner: R
    let tracker = InFlightTracker()

    func run(_ tile: [Float], index: Int) async throws -> [Float] {
        await tracker.enter()
        try await Task.sleep(for: .milliseconds(index % 2 == 0 ? 30 : 5))
        let out = try await inner.run(tile, index: index)
        await tracker.leave()
        return out
    }
}

/// A -zin stand-in: the image plus the first z value, everywhere.
struct AddFirstZ: TensorPredictor {
    func predict(image: [Float], z: [Float]) async throws -> [Float] {
        image.map { $0 + z[0] }
    }
}


// The whole-photo pipeline and the benchmark loop: the port of web_demo/worker.js `denoise` and `bench`, on top of
// Tiling.swift and Strength.swift. No Core ML here: the app passes a TileRunner.

import Foundation

/// What denoisePhoto returns: the output photo (RGBA bytes, same size, alpha 255 as the web demo) and the facts the
/// app shows.
public struct DenoiseResult: Sendable {
    public let rgba: [UInt8]
    public let sigma: Double  // estimated noise, 8-bit levels
    public let strength: Double  // share of the model's change kept (1: all of it)
    public let tiles: Int
}

/// worker.js denoise: the whole photo at full resolution through the tiler. The input stays 8-bit (no Float copy of
/// the photo); finished rows are blended with the photo by the strength curve at the photo's estimated sigma
/// (`curve` nil: the model's output as is) and written straight into the 8-bit output. `onProgress(done, total)` is
/// awaited after each tile; cancelling the task stops before the next tile with CancellationError. Up to `inFlight`
/// tiles are at the runner at once (see runTiled). Memory: the photo's bytes, the output's bytes, one blend band and
/// `inFlight` tiles (MemoryBudget).
public func denoisePhoto<R: TileRunner>(
    _ photo: RGBAImage, plan p: TilePlan, runner: R, curve: StrengthCurve?, inFlight: Int = 1,
    onProgress: ((Int, Int) async -> Void)? = nil
) async throws -> DenoiseResult {
    precondition(p.height == photo.height && p.width == photo.width, "the plan is for another photo size")
    let sigma = estimateSigma(photo)
    let strength = curve.map { strengthAt($0, sigma) } ?? 1
    var rgba = [UInt8](repeating: 255, count: photo.height * photo.width * 4)
    let width = photo.width
    _ = try await runTiled(
        photo, runner, p, inFlight: inFlight,
        onTile: { k in await onProgress?(k + 1, p.count) },
        onRows: { y0, rows, values in
            var values = values
            blendRows(photo, y0, rows, &values, strength)
            for q in 0..<(rows * width) {
                let o = (y0 * width + q) * 4
                rgba[o] = toByte(values[q * 3])
                rgba[o + 1] = toByte(values[q * 3 + 1])
                rgba[o + 2] = toByte(values[q * 3 + 2])
            }
        })
    return DenoiseResult(rgba: rgba, sigma: sigma, strength: strength, tiles: p.count)
}

/// worker.js syntheticImage: a deterministic photo-like test image (smooth gradients plus seeded noise), HWC Floats
/// in [0, 1], the input of the benchmark (the same generator as the web demo's, so sizes compare).
public func syntheticImage(height: Int, width: Int) -> FloatImage {
    var data = [Float](repeating: 0, count: height * width * 3)
    var s: UInt32 = 12345
    for y in 0..<height {
        for x in 0..<width {
            for c in 0..<3 {
                s = s &* 1_103_515_245 &+ 12345
                let noise = (Double(s) / 4_294_967_296 - 0.5) * 0.2
                let base = 0.5 + 0.3 * sin(Double(x * (c + 1)) / 37 + Double(y) / 53)
                data[(y * width + x) * 3 + c] = Float(min(1, max(0, base + noise)))
            }
        }
    }
    return FloatImage(data: data, height: height, width: width, channels: 3)
}

/// The timings of one benchmark measurement, in milliseconds: `whole` the whole image through the tiler per timed
/// repeat (tiles, pixel conversion, blend: what a user waits for), `predict` every model call of the timed repeats
/// on its own (one tile's prediction, its wall time: the model, apart from the Swift around it).
public struct TiledTimes: Sendable, Equatable {
    public var whole: [Double]
    public var predict: [Double]
}

/// Wall times of the calls of a runner (thread-safe: several tiles may be in flight).
public final class CallTimes: @unchecked Sendable {
    private let lock = NSLock()
    private var times: [Double] = []

    public init() {}

    func record(_ ms: Double) {
        lock.lock()
        times.append(ms)
        lock.unlock()
    }

    /// The times recorded so far, and start again.
    public func take() -> [Double] {
        lock.lock()
        defer { lock.unlock() }
        let out = times
        times = []
        return out
    }
}

/// A runner that times each call of `inner` into `times`.
public struct TimedRunner<R: TileRunner>: TileRunner {
    public let inner: R
    public let times: CallTimes

    public init(_ inner: R, times: CallTimes) {
        self.inner = inner
        self.times = times
    }

    public func run(_ tile: [Float], index: Int) async throws -> [Float] {
        let clock = ContinuousClock()
        let started = clock.now
        let out = try await inner.run(tile, index: index)
        times.record(milliseconds(started.duration(to: clock.now)))
        return out
    }
}

func milliseconds(_ d: Duration) -> Double {
    let c = d.components
    return Double(c.seconds) * 1000 + Double(c.attoseconds) / 1e15
}

/// worker.js bench: `warmup` untimed runs, then `repeats` timed runs of the whole image through the tiler (all tiles
/// plus the blend), with each model call of the timed runs timed apart (TiledTimes). `onRepeat(i)` is awaited after
/// each timed run.
public func timeTiled<R: TileRunner>(
    _ img: FloatImage, plan p: TilePlan, runner: R, warmup: Int, repeats: Int, inFlight: Int = 1,
    onRepeat: ((Int) async -> Void)? = nil
) async throws -> TiledTimes {
    let calls = CallTimes()
    let timed = TimedRunner(runner, times: calls)
    for _ in 0..<warmup { _ = try await runTiled(img, timed, p, inFlight: inFlight) }
    _ = calls.take()
    let clock = ContinuousClock()
    var whole: [Double] = []
    for i in 0..<repeats {
        let started = clock.now
        _ = try await runTiled(img, timed, p, inFlight: inFlight)
        whole.append(milliseconds(started.duration(to: clock.now)))
        await onRepeat?(i + 1)
    }
    return TiledTimes(whole: whole, predict: calls.take())
}

/// The `-zin` twin's model call: the image tile and one z sample in, the denoised tile out (NCHW Floats; the app
/// converts to and from the artifact's float32 or float16 tensors).
public protocol TensorPredictor: Sendable {
    func predict(image: [Float], z: [Float]) async throws -> [Float]
}

/// The `-zin` twin as a TileRunner: `samples` z draws per tile (N(0, 1) x the manifest's z scale), outputs averaged
/// (the paper's Monte-Carlo self-ensemble; samples 1: one draw). Tile k's draws come from a sampler seeded by
/// (seed, k), so the result does not depend on the order tiles run in.
public struct EnsembleRunner<P: TensorPredictor>: TileRunner {
    public let predictor: P
    public let z: ZSpec
    public let samples: Int
    public let seed: UInt64

    public init(_ predictor: P, z: ZSpec, samples: Int, seed: UInt64 = 0) {
        self.predictor = predictor
        self.z = z
        self.samples = max(1, samples)
        self.seed = seed
    }

    public func run(_ tile: [Float], index: Int) async throws -> [Float] {
        var sampler = NormalSampler(seed: seed ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03))
        let count = z.shape.reduce(1, *)
        var sum = [Float](repeating: 0, count: tile.count)
        for _ in 0..<samples {
            let out = try await predictor.predict(image: tile, z: sampler.fill(count, scale: z.scale))
            guard out.count == sum.count else {
                throw TilingError("tile \(index): the model returned \(out.count) values, expected \(sum.count)")
            }
            for i in 0..<sum.count { sum[i] += out[i] }
        }
        let n = Float(samples)
        return sum.map { $0 / n }
    }
}

/// Seeded standard-normal Floats (SplitMix64 + Box-Muller) for the `-zin` artifacts' z: the paper's Monte-Carlo
/// self-ensemble feeds several independent z samples and averages the outputs. (torch.randn's exact stream, which
/// the constant artifact bakes in, is not reproduced: use the constant artifact for that.)
public struct NormalSampler: Sendable {
    var state: UInt64

    public init(seed: UInt64) { state = seed }

    mutating func nextUInt64() -> UInt64 {
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    // Uniform in (0, 1]: 53 random bits, shifted off zero so log() is finite.
    mutating func nextUniform() -> Double {
        (Double(nextUInt64() >> 11) + 1) / 9_007_199_254_740_992
    }

    /// `count` samples of N(0, 1) times `scale`.
    public mutating func fill(_ count: Int, scale: Double = 1) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        var i = 0
        while i < count {
            let r = (-2 * log(nextUniform())).squareRoot()
            let theta = 2 * Double.pi * nextUniform()
            out[i] = Float(r * cos(theta) * scale)
            if i + 1 < count { out[i + 1] = Float(r * sin(theta) * scale) }
            i += 2
        }
        return out
    }
}

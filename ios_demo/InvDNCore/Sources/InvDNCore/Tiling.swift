// Port of web_demo/tiling.js (itself the port of invdn_mobile/tiling.py), function by function and under the same
// names where Swift allows, so one can be read against the other:
//
//   tiling.js            tiling.py          here
//   roundHalfEven        round()            roundHalfEven
//   axisOrigins          _axis_origins      axisOrigins
//   plan                 plan               plan(height:width:tile:overlap:multiple:)
//   ramp                 _ramp              ramp
//   axisWindows          axis_windows       axisWindows
//   tileWindow/windows   windows            tileWindow / windows
//   mirrorIndex          (numpy symmetric)  mirrorIndex
//   floatImage/rgbaImage                    FloatImage / RGBAImage (TileSource)
//   readPixel                               TileSource.readPixel
//   padImage             pad_image          padImage
//   extractTile          iter_tiles         extractTile
//   Blender              run_tiled's blend  Blender
//   runTiled             run_tiled          runTiled
//   toByte               encode_png         toByte
//
// The arithmetic is the same as there: origins in Double with round-half-to-even (Python's round), 1-D windows in
// Double, their product rounded to Float, and the blend accumulated in Float (numpy's float32 arrays; Math.fround
// after every operation in the JS). Swift's Float operations are IEEE single precision and are not fused, so no
// fround is needed. Tested against golden/tiling/{plans,padding,blend}.json by Tests/InvDNCoreTests/GoldenTests.swift.

import Foundation

/// Tile sides are multiples of this (the model's two Haar downscales). tiling.js: MULTIPLE.
public let tileMultiple = 4

/// A plan or a blend that cannot be made (tiling.js: TilingError).
public struct TilingError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Python's round() of a Double: half to even. tiling.js: roundHalfEven.
public func roundHalfEven(_ v: Double) -> Double {
    v.rounded(.toNearestOrEven)
}

/// One tile's top-left corner in the padded photo.
public struct TileOrigin: Equatable, Sendable {
    public let y: Int
    public let x: Int

    public init(y: Int, x: Int) {
        self.y = y
        self.x = x
    }
}

/// The object tiling.js's plan() returns (tiling.py: TilePlan).
public struct TilePlan: Equatable, Sendable {
    public let height: Int  // the photo's size
    public let width: Int
    public let tile: Int
    public let overlap: Int
    public let ys: [Int]  // tile origins in the padded photo
    public let xs: [Int]

    /// tiling.js: padded[0], padded[1]. At least one tile each way.
    public var paddedHeight: Int { max(height, tile) }
    public var paddedWidth: Int { max(width, tile) }

    /// Tile origins in row-major order (y outer, x inner). tiling.js: origins.
    public var origins: [TileOrigin] {
        ys.flatMap { y in xs.map { x in TileOrigin(y: y, x: x) } }
    }

    /// Number of tiles. tiling.js: length.
    public var count: Int { ys.count * xs.count }
}

// tiling.js axisOrigins (tiling.py _axis_origins).
func axisOrigins(_ length: Int, _ tile: Int, _ overlap: Int) -> [Int] {
    if length <= tile { return [0] }
    let n = Int((Double(length - overlap) / Double(tile - overlap)).rounded(.up))
    return (0..<n).map { i in Int(roundHalfEven(Double(i * (length - tile)) / Double(n - 1))) }
}

/// Tile plan for a height x width photo and square tile (a multiple of `multiple`). tiling.js: plan.
public func plan(height: Int, width: Int, tile: Int, overlap: Int, multiple: Int = tileMultiple) throws -> TilePlan {
    if height < 1 || width < 1 { throw TilingError("cannot tile an empty \(height)x\(width) image") }
    if multiple < 1 || tile < multiple || tile % multiple != 0 {
        throw TilingError("tile must be a positive multiple of \(multiple), got \(tile)")
    }
    if !(overlap >= 0 && overlap < tile) {
        throw TilingError("overlap must be in [0, tile), got \(overlap) for tile \(tile)")
    }
    let ph = max(height, tile)
    let pw = max(width, tile)
    return TilePlan(
        height: height, width: width, tile: tile, overlap: overlap,
        ys: axisOrigins(ph, tile, overlap), xs: axisOrigins(pw, tile, overlap))
}

// tiling.js ramp (tiling.py _ramp): 1-D window, ramps over `before` pixels at the start and `after` at the end, 1
// elsewhere (Double).
func ramp(_ tile: Int, _ before: Int, _ after: Int) -> [Double] {
    (0..<tile).map { d in
        var v = 1.0
        if before > 0 { v = min(v, (Double(d) + 0.5) / Double(before)) }
        if after > 0 { v = min(v, (Double(tile - 1 - d) + 0.5) / Double(after)) }
        return v
    }
}

/// tiling.js axisWindows (tiling.py axis_windows): the 1-D window of every tile along one axis.
public func axisWindows(_ origins: [Int], _ tile: Int) -> [[Double]] {
    origins.indices.map { i in
        let o = origins[i]
        let before = i > 0 ? origins[i - 1] + tile - o : 0
        let after = i + 1 < origins.count ? o + tile - origins[i + 1] : 0
        return ramp(tile, before, after)
    }
}

/// Blend weight (tile * tile Floats, row-major) of tile k of the plan (order of p.origins). tiling.js: tileWindow.
public func tileWindow(_ p: TilePlan, _ wy: [[Double]], _ wx: [[Double]], _ k: Int) -> [Float] {
    let a = wy[k / p.xs.count]
    let b = wx[k % p.xs.count]
    let t = p.tile
    var w = [Float](repeating: 0, count: t * t)
    for i in 0..<t {
        for j in 0..<t { w[i * t + j] = Float(a[i] * b[j]) }  // Double product -> Float
    }
    return w
}

/// The blend weight of every tile, in the order of p.origins. tiling.js: windows.
public func windows(_ p: TilePlan) -> [[Float]] {
    let wy = axisWindows(p.ys, p.tile)
    let wx = axisWindows(p.xs, p.tile)
    return (0..<p.count).map { tileWindow(p, wy, wx, $0) }
}

/// numpy.pad(mode="symmetric") source index of padded index i on an axis of n pixels (any pad width).
/// tiling.js: mirrorIndex.
public func mirrorIndex(_ i: Int, _ n: Int) -> Int {
    if i < n { return i }
    let k = i % (2 * n)
    return k < n ? k : 2 * n - 1 - k
}

/// An image the tiler reads, HWC: tiling.js's floatImage / rgbaImage objects with readPixel.
public protocol TileSource {
    var height: Int { get }
    var width: Int { get }
    var channels: Int { get }
    /// The value of channel `ch` at row `y`, column `x` (tiling.js: readPixel).
    func readPixel(_ y: Int, _ x: Int, _ ch: Int) -> Float
}

/// Float values, HWC row-major, `channels` per pixel (tiling.js: floatImage).
public struct FloatImage: TileSource, Sendable {
    public let data: [Float]
    public let height: Int
    public let width: Int
    public let channels: Int

    public init(data: [Float], height: Int, width: Int, channels: Int) {
        precondition(data.count == height * width * channels, "FloatImage: \(data.count) values for \(height)x\(width)x\(channels)")
        self.data = data
        self.height = height
        self.width = width
        self.channels = channels
    }

    public func readPixel(_ y: Int, _ x: Int, _ ch: Int) -> Float {
        data[(y * width + x) * channels + ch]
    }
}

/// 8-bit RGBA bytes, row-major without row padding, read as 3 channels of v / 255 in Float (tiling.js: rgbaImage).
/// A whole photo stays in this form: the tiler never makes a Float copy of it.
public struct RGBAImage: TileSource, Sendable {
    public let data: [UInt8]
    public let height: Int
    public let width: Int
    public var channels: Int { 3 }

    public init(data: [UInt8], height: Int, width: Int) {
        precondition(data.count == height * width * 4, "RGBAImage: \(data.count) bytes for \(height)x\(width) RGBA")
        self.data = data
        self.height = height
        self.width = width
    }

    public func readPixel(_ y: Int, _ x: Int, _ ch: Int) -> Float {
        Float(data[(y * width + x) * 4 + ch]) / 255  // Float division, as numpy's astype(float32) / 255
    }
}

/// The mirror-padded HWC Floats (bottom and right) of an image, to the plan's padded size. tiling.js: padImage.
public func padImage<S: TileSource>(_ img: S, _ p: TilePlan) -> [Float] {
    let ph = p.paddedHeight
    let pw = p.paddedWidth
    let c = img.channels
    var out = [Float](repeating: 0, count: ph * pw * c)
    for y in 0..<ph {
        let sy = mirrorIndex(y, img.height)
        for x in 0..<pw {
            let sx = mirrorIndex(x, img.width)
            for ch in 0..<c { out[(y * pw + x) * c + ch] = img.readPixel(sy, sx, ch) }
        }
    }
    return out
}

/// One tile at origin (y0, x0) of the padded image, as NCHW (1, C, T, T) Floats, without padding the whole image.
/// tiling.js: extractTile.
public func extractTile<S: TileSource>(_ img: S, _ p: TilePlan, _ y0: Int, _ x0: Int) -> [Float] {
    let t = p.tile
    let c = img.channels
    var tile = [Float](repeating: 0, count: c * t * t)
    tile.withUnsafeMutableBufferPointer { out in
        for i in 0..<t {
            let sy = mirrorIndex(y0 + i, img.height)
            for j in 0..<t {
                let sx = mirrorIndex(x0 + j, img.width)
                for ch in 0..<c { out[ch * t * t + i * t + j] = img.readPixel(sy, sx, ch) }
            }
        }
    }
    return tile
}

/// Streaming form of run_tiled's blend (tiling.js: Blender). Tiles are added in the plan's order, one tile row (all
/// tiles of one y origin) after another; photo rows no later tile touches are finished and handed to
/// `onRows(y0, rows, values)` (values: HWC Floats, `rows` x width x channels, the blended result). Memory: one band
/// of `tile` rows of the padded width instead of the whole photo. Arithmetic and order per pixel are run_tiled's.
public final class Blender {
    let p: TilePlan
    let c: Int
    let onRows: (Int, Int, [Float]) throws -> Void
    let wy: [[Double]]
    let wx: [[Double]]
    let pw: Int
    var bandY = 0  // padded row of band row 0
    var acc: [Float]
    var weight: [Float]
    var next = 0  // index of the next tile expected
    var done = 0  // photo rows finished

    public init(_ p: TilePlan, channels: Int, onRows: @escaping (Int, Int, [Float]) throws -> Void) {
        self.p = p
        self.c = channels
        self.onRows = onRows
        self.wy = axisWindows(p.ys, p.tile)
        self.wx = axisWindows(p.xs, p.tile)
        self.pw = p.paddedWidth
        self.acc = [Float](repeating: 0, count: p.tile * p.paddedWidth * channels)
        self.weight = [Float](repeating: 0, count: p.tile * p.paddedWidth)
    }

    /// Floats the band holds (accumulator and weights): tile rows of the padded width, whatever the photo's height.
    public var bandValues: Int { acc.count + weight.count }

    /// Add tile k's output (NCHW (1, C, T, T) Floats), k = 0, 1, ... in order. tiling.js: Blender.add.
    public func add(_ k: Int, _ out: [Float]) throws {
        if k != next { throw TilingError("tiles must be added in order: got \(k), expected \(next)") }
        let t = p.tile
        if out.count != c * t * t {
            throw TilingError("tile \(k): the model returned \(out.count) values, expected \(c * t * t)")
        }
        let nx = p.xs.count
        let row = k / nx
        let y0 = p.ys[row]
        let x0 = p.xs[k % nx]
        if k % nx == 0 && y0 != bandY { try shift(y0) }
        let a = wy[row]
        let b = wx[k % nx]
        let c = self.c
        let pw = self.pw
        let by = y0 - bandY
        acc.withUnsafeMutableBufferPointer { acc in
            weight.withUnsafeMutableBufferPointer { weight in
                out.withUnsafeBufferPointer { out in
                    for i in 0..<t {
                        let base = (by + i) * pw + x0
                        for j in 0..<t {
                            let w = Float(a[i] * b[j])
                            let q = base + j
                            for ch in 0..<c {
                                acc[q * c + ch] = acc[q * c + ch] + out[ch * t * t + i * t + j] * w
                            }
                            weight[q] = weight[q] + w
                        }
                    }
                }
            }
        }
        next = k + 1
        if next == p.count { try flush(p.height) }
    }

    // The next tile row starts at padded row y0: rows above it are final; move the band down to start at y0.
    func shift(_ y0: Int) throws {
        try flush(min(y0, p.height))
        let keep = p.tile - (y0 - bandY)  // rows of the band still open
        var acc = [Float](repeating: 0, count: self.acc.count)
        var weight = [Float](repeating: 0, count: self.weight.count)
        if keep > 0 {
            let from = (y0 - bandY) * pw
            acc.replaceSubrange(0..<(keep * pw * c), with: self.acc[(from * c)..<((from + keep * pw) * c)])
            weight.replaceSubrange(0..<(keep * pw), with: self.weight[from..<(from + keep * pw)])
        }
        self.acc = acc
        self.weight = weight
        bandY = y0
    }

    // Hand the finished photo rows [done, until) to onRows: acc / weight, cropped to the photo's width.
    func flush(_ until: Int) throws {
        if until <= done { return }
        let width = p.width
        let rows = until - done
        var values = [Float](repeating: 0, count: rows * width * c)
        for r in 0..<rows {
            let q0 = (done + r - bandY) * pw
            for x in 0..<width {
                let q = q0 + x
                for ch in 0..<c { values[(r * width + x) * c + ch] = acc[q * c + ch] / weight[q] }
            }
        }
        try onRows(done, rows, values)
        done = until
    }
}

/// What runs the model on one tile: NCHW (1, 3, T, T) Floats in [0, 1] in, the same shape out. `index` is the
/// tile's place in the plan (tiling.js: the per-tile function `fn(tile, k)` of runTiled). The app's Core ML runners
/// and the tests' stubs implement it. Sendable: runTiled may have several tiles in flight at once.
public protocol TileRunner: Sendable {
    func run(_ tile: [Float], index: Int) async throws -> [Float]
}

/// tiling.js runTiled (tiling.py run_tiled): run `runner` tile by tile and blend. Returns the HWC Floats of the
/// photo's size, or, with `onRows`, hands finished rows to it as they complete (see Blender) and returns nil.
/// `onTile(k)` is awaited after tile k is blended. Up to `inFlight` tiles run at once (Core ML overlaps one
/// prediction's compute with the next one's input); they are blended in the plan's order whatever order they finish
/// in, so the result does not depend on `inFlight`, and no more than `inFlight` tiles are held at any time. Task
/// cancellation is checked before each tile is started (tiling.js: shouldStop) and throws CancellationError.
public func runTiled<S: TileSource, R: TileRunner>(
    _ img: S, _ runner: R, _ p: TilePlan, inFlight: Int = 1,
    onTile: ((Int) async -> Void)? = nil,
    onRows: ((Int, Int, [Float]) throws -> Void)? = nil
) async throws -> [Float]? {
    var result = onRows == nil ? [Float](repeating: 0, count: p.height * p.width * img.channels) : []
    let rowValues = p.width * img.channels
    let blender = Blender(p, channels: img.channels) { y0, rows, values in
        if let onRows {
            try onRows(y0, rows, values)
        } else {
            result.replaceSubrange((y0 * rowValues)..<((y0 + rows) * rowValues), with: values)
        }
    }
    let origins = p.origins
    let window = max(1, inFlight)
    try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
        var started = 0  // tiles handed to the runner
        var added = 0  // tiles blended
        var finished: [Int: [Float]] = [:]  // outputs that came back before an earlier tile's
        func startTiles() throws {
            while started < origins.count && started - added < window {
                try Task.checkCancellation()
                let k = started
                let tile = extractTile(img, p, origins[k].y, origins[k].x)
                group.addTask { (k, try await runner.run(tile, index: k)) }
                started += 1
            }
        }
        try startTiles()
        while let (k, out) = try await group.next() {
            finished[k] = out
            while let out = finished.removeValue(forKey: added) {
                try blender.add(added, out)
                added += 1
                if let onTile { await onTile(added - 1) }
            }
            try startTiles()
        }
    }
    return onRows == nil ? result : nil
}

/// Float output in [0, 1] -> 8 bits like invdn_mobile.imageio.encode_png: round_half_even(clip(v) * 255), NaN -> 0.
/// tiling.js: toByte.
public func toByte(_ v: Float) -> UInt8 {
    if v.isNaN { return 0 }
    let c: Float = v < 0 ? 0 : (v > 1 ? 1 : v)
    return UInt8((c * 255).rounded(.toNearestOrEven))
}

// 8-bit pixels <-> the artifact's Float tiles (NCHW (1, 3, T, T), values in [0, 1]; manifest "layout": "NCHW").
//
// The constant-z Core ML artifact takes and returns an RGB *image* (a 32-bit pixel buffer; the model scales by
// 1/255 inside and returns clip(x) * 255), so the app's image runner writes each Float tile into a pixel buffer and
// reads the result back; the `-zin` twin takes the Float tile itself. Tile values come from 8-bit photos as v / 255,
// so writing them back with toByte (round half to even of v * 255) gives the same bytes: the image path loses
// nothing on the way in, and the model's 8-bit output is read as v / 255 like the photo.

import Foundation

/// Where R, G and B sit in a 4-byte pixel (the alpha or padding byte is the fourth).
public enum PixelOrder: Sendable {
    case rgba  // kCVPixelFormatType_32RGBA, and RGBAImage
    case bgra  // kCVPixelFormatType_32BGRA
    case argb  // kCVPixelFormatType_32ARGB

    /// Byte offsets of R, G, B within a pixel.
    public var offsets: (r: Int, g: Int, b: Int, alpha: Int) {
        switch self {
        case .rgba: return (0, 1, 2, 3)
        case .bgra: return (2, 1, 0, 3)
        case .argb: return (1, 2, 3, 0)
        }
    }
}

/// Write a Float tile (NCHW (1, 3, T, T)) into a T x T 32-bit pixel buffer at `base` (`rowBytes` per row, which may
/// exceed 4 * T), channel by channel through toByte, alpha 255.
public func writePixels(_ tile: [Float], size t: Int, to base: UnsafeMutableRawPointer, rowBytes: Int, order: PixelOrder) {
    precondition(tile.count == 3 * t * t && rowBytes >= 4 * t, "writePixels: \(tile.count) values for a \(t)x\(t) tile")
    let o = order.offsets
    let bytes = base.assumingMemoryBound(to: UInt8.self)
    for i in 0..<t {
        let row = bytes + i * rowBytes
        for j in 0..<t {
            let px = row + 4 * j
            px[o.r] = toByte(tile[i * t + j])
            px[o.g] = toByte(tile[t * t + i * t + j])
            px[o.b] = toByte(tile[2 * t * t + i * t + j])
            px[o.alpha] = 255
        }
    }
}

/// Read a T x T 32-bit pixel buffer at `base` into a Float tile (NCHW (1, 3, T, T)), each channel as v / 255.
public func readPixels(size t: Int, from base: UnsafeRawPointer, rowBytes: Int, order: PixelOrder) -> [Float] {
    precondition(rowBytes >= 4 * t, "readPixels: \(rowBytes) bytes per row for a \(t)-pixel row")
    let o = order.offsets
    let bytes = base.assumingMemoryBound(to: UInt8.self)
    var tile = [Float](repeating: 0, count: 3 * t * t)
    for i in 0..<t {
        let row = bytes + i * rowBytes
        for j in 0..<t {
            let px = row + 4 * j
            tile[i * t + j] = Float(px[o.r]) / 255
            tile[t * t + i * t + j] = Float(px[o.g]) / 255
            tile[2 * t * t + i * t + j] = Float(px[o.b]) / 255
        }
    }
    return tile
}

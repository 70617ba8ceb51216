// Memory for a whole photo at full resolution. A 48 MP photo (8064 x 6048) is 195 MB as 8-bit RGBA; the app keeps
// exactly two such buffers (the photo's bytes the tiler reads, the output's bytes Save encodes) and shows both
// through downsampled images (at most displayMaxSide on the long side), instead of full-size images beside the
// buffers (four full-size copies, ~780 MB at 48 MP, before). The tiler adds one blend band (tile rows of the padded
// width) and the tiles in flight. MemoryBudget is that arithmetic; the app refuses a photo whose peak would not fit
// in the memory iOS grants it (os_proc_available_memory), with one clear line, before decoding it at full size.

import Foundation

public struct MemoryBudget: Equatable, Sendable {
    /// The long side of the before / after images shown on screen (a 12.9" iPad is 2732 points wide at 2x).
    public static let displayMaxSide = 2048

    public let height: Int
    public let width: Int
    public let tile: Int
    public let inFlight: Int

    public init(height: Int, width: Int, tile: Int, inFlight: Int) {
        self.height = height
        self.width = width
        self.tile = tile
        self.inFlight = max(1, inFlight)
    }

    /// One 8-bit RGBA copy of the photo.
    public var photoBytes: Int { height * width * 4 }

    /// The blend band (Blender: Float accumulator of 3 channels and a Float weight, tile rows of the padded width)
    /// and the rows handed out of it at once (at most tile rows of 3 Floats).
    public var bandBytes: Int { tile * max(width, tile) * (3 + 1) * 4 + tile * width * 3 * 4 }

    /// Tiles at the model at once: input and output Floats, and the model's own input / output buffers (8-bit
    /// pixel buffers or float32 tensors: at most as large as the Floats).
    public var tileBytes: Int { inFlight * 4 * (3 * tile * tile * 4) }

    /// The two on-screen images (before, after), 8-bit RGBA at most displayMaxSide on the long side.
    public var displayBytes: Int {
        let (h, w) = MemoryBudget.displaySize(height: height, width: width)
        return 2 * h * w * 4
    }

    /// The peak of a run: the photo, the output, the band, the tiles in flight and the two display images.
    public var peakBytes: Int { 2 * photoBytes + bandBytes + tileBytes + displayBytes }

    /// The size a photo is shown at: scaled to at most `maxSide` on its long side, never enlarged.
    public static func displaySize(height: Int, width: Int, maxSide: Int = displayMaxSide) -> (height: Int, width: Int) {
        let long = max(height, width)
        if long <= maxSide { return (height, width) }
        let scale = Double(maxSide) / Double(long)
        return (max(1, Int((Double(height) * scale).rounded())), max(1, Int((Double(width) * scale).rounded())))
    }

    /// Why the run would not fit in `available` bytes (keeping a quarter of it for the app itself and the system's
    /// image decoder), nil when it fits.
    public func problem(available: Int) -> String? {
        let usable = available / 4 * 3
        if peakBytes <= usable { return nil }
        let mb = { (bytes: Int) in (Double(bytes) / 1_048_576).rounded() }
        return "A \(width) × \(height) photo needs about \(Int(mb(peakBytes))) MB to denoise; this device grants the"
            + " app \(Int(mb(available))) MB now. Close other apps, or pick a smaller photo."
    }
}

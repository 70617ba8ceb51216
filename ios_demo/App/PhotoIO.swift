// Photos in and out at full resolution, with bounded memory (InvDNCore.MemoryBudget): decode the picked file's bytes
// (ImageIO) into 8-bit RGBA in the file's own RGB color space (the model takes the file's values as they are, like
// invdn denoise and the web demo), keep its EXIF orientation for display and for saving, and save the result to the
// photo library with that orientation. Full size, only two buffers live: the photo's bytes and the output's bytes;
// the screen shows downsampled images (at most MemoryBudget.displayMaxSide on the long side), and the JPEG is
// encoded straight from the output's bytes.

import CoreGraphics
import Foundation
import ImageIO
import Photos
import SwiftUI
import UniformTypeIdentifiers

import InvDNCore

struct PhotoError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// A decoded photo: its pixels as the tiler reads them, as stored (not rotated), and how to show them.
struct DecodedPhoto: @unchecked Sendable {  // immutable; CGImage and CGColorSpace are immutable CF objects
    let image: RGBAImage
    let display: CGImage  // the same pixels downsampled, for the "before" view
    let orientation: CGImagePropertyOrientation
    let colorSpace: CGColorSpace

    /// Width and height as displayed (a quarter turn swaps them), in display pixels.
    var displaySize: CGSize {
        switch orientation {
        case .left, .leftMirrored, .right, .rightMirrored:
            return CGSize(width: display.height, height: display.width)
        default:
            return CGSize(width: display.width, height: display.height)
        }
    }
}

/// A denoised photo: the output's bytes (full size, for Save) and a downsampled image for the "after" view.
struct DenoisedPhoto: @unchecked Sendable {  // immutable
    let rgba: [UInt8]
    let display: CGImage
    let result: String  // what the run says about itself (sigma, strength, tiles, time)
}

enum PhotoIO {
    /// The pixel size of an image file without decoding it (for the memory check before the full decode).
    static func pixelSize(_ data: Data) throws -> (height: Int, width: Int) {
        guard let source = CGImageSourceCreateWithData(data as CFData, nil),
            let properties = CGImageSourceCopyPropertiesAtIndex(source, 0, nil) as? [String: Any],
            let width = properties[kCGImagePropertyPixelWidth as String] as? Int,
            let height = properties[kCGImagePropertyPixelHeight as String] as? Int
        else { throw PhotoError("This file is not an image iOS can decode.") }
        return (height, width)
    }

    /// Decode an image file's bytes (HEIC, JPEG, PNG, ...) at full resolution.
    static func decode(_ data: Data) throws -> DecodedPhoto {
        guard let source = CGImageSourceCreateWithData(data as CFData, nil),
            let decoded = CGImageSourceCreateImageAtIndex(source, 0, nil)
        else { throw PhotoError("This file is not an image iOS can decode.") }
        let properties = CGImageSourceCopyPropertiesAtIndex(source, 0, nil) as? [String: Any]
        let raw = properties?[kCGImagePropertyOrientation as String] as? UInt32 ?? 1
        let orientation = CGImagePropertyOrientation(rawValue: raw) ?? .up
        // the file's own RGB space, so drawing converts nothing; gray, other models and spaces an 8-bit context
        // cannot take (extended range) are converted to sRGB
        let sRGB = CGColorSpace(name: CGColorSpace.sRGB)!
        let own = decoded.colorSpace.flatMap { $0.model == .rgb ? $0 : nil }
        let width = decoded.width
        let height = decoded.height
        var bytes = [UInt8](repeating: 255, count: width * height * 4)
        let space = bytes.withUnsafeMutableBytes { buffer -> CGColorSpace? in
            for candidate in [own, sRGB].compactMap({ $0 }) {
                guard let context = CGContext(
                    data: buffer.baseAddress, width: width, height: height, bitsPerComponent: 8,
                    bytesPerRow: width * 4, space: candidate, bitmapInfo: CGImageAlphaInfo.noneSkipLast.rawValue)
                else { continue }
                context.draw(decoded, in: CGRect(x: 0, y: 0, width: width, height: height))
                return candidate
            }
            return nil
        }
        guard let space else { throw PhotoError("Cannot draw this photo into 8-bit RGB.") }
        guard let display = displayImage(bytes, width: width, height: height, colorSpace: space) else {
            throw PhotoError("Cannot show this photo.")
        }
        return DecodedPhoto(
            image: RGBAImage(data: bytes, height: height, width: width), display: display, orientation: orientation,
            colorSpace: space)
    }

    /// Run `body` with a CGImage over 8-bit RGBA bytes (alpha ignored), without copying them; the image must not
    /// outlive `body`.
    static func withImage<T>(
        _ rgba: [UInt8], width: Int, height: Int, colorSpace: CGColorSpace, _ body: (CGImage) throws -> T
    ) throws -> T {
        try rgba.withUnsafeBytes { raw in
            guard let base = raw.baseAddress,
                let provider = CGDataProvider(dataInfo: nil, data: base, size: raw.count, releaseData: { _, _, _ in }),
                let image = CGImage(
                    width: width, height: height, bitsPerComponent: 8, bitsPerPixel: 32, bytesPerRow: width * 4,
                    space: colorSpace, bitmapInfo: CGBitmapInfo(rawValue: CGImageAlphaInfo.noneSkipLast.rawValue),
                    provider: provider, decode: nil, shouldInterpolate: true, intent: .defaultIntent)
            else { throw PhotoError("Cannot make an image of \(width) × \(height) pixels.") }
            return try body(image)
        }
    }

    /// The photo's bytes downsampled for the screen (MemoryBudget.displaySize), as a small CGImage of its own.
    static func displayImage(_ rgba: [UInt8], width: Int, height: Int, colorSpace: CGColorSpace) -> CGImage? {
        let size = MemoryBudget.displaySize(height: height, width: width)
        return try? withImage(rgba, width: width, height: height, colorSpace: colorSpace) { full in
            guard let context = CGContext(
                data: nil, width: size.width, height: size.height, bitsPerComponent: 8, bytesPerRow: 0,
                space: colorSpace, bitmapInfo: CGImageAlphaInfo.noneSkipLast.rawValue)
            else { return nil }
            context.interpolationQuality = .high
            context.draw(full, in: CGRect(x: 0, y: 0, width: size.width, height: size.height))
            return context.makeImage()
        }
    }

    /// JPEG bytes of 8-bit RGBA pixels carrying `orientation` (the pixels stay as stored; viewers rotate them as the
    /// original), encoded from the bytes themselves (no full-size copy).
    static func encodeJPEG(
        _ rgba: [UInt8], width: Int, height: Int, colorSpace: CGColorSpace, orientation: CGImagePropertyOrientation,
        quality: Double = 0.95
    ) throws -> Data {
        let output = NSMutableData()
        guard let destination = CGImageDestinationCreateWithData(output as CFMutableData, UTType.jpeg.identifier as CFString, 1, nil)
        else { throw PhotoError("Cannot write JPEG.") }
        let properties: [String: Any] = [
            kCGImagePropertyOrientation as String: orientation.rawValue,
            kCGImageDestinationLossyCompressionQuality as String: quality,
        ]
        try withImage(rgba, width: width, height: height, colorSpace: colorSpace) { image in
            CGImageDestinationAddImage(destination, image, properties as CFDictionary)
            guard CGImageDestinationFinalize(destination) else { throw PhotoError("Cannot write JPEG.") }
        }
        return output as Data
    }

    /// Add a photo (file bytes) to the library; asks for add-only access the first time.
    static func saveToLibrary(_ data: Data) async throws {
        let status = await withCheckedContinuation { (done: CheckedContinuation<PHAuthorizationStatus, Never>) in
            PHPhotoLibrary.requestAuthorization(for: .addOnly) { done.resume(returning: $0) }
        }
        guard status == .authorized || status == .limited else {
            throw PhotoError("Photos access was not granted (Settings > Privacy & Security > Photos).")
        }
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, Error>) in
            PHPhotoLibrary.shared().performChanges({
                PHAssetCreationRequest.forAsset().addResource(with: .photo, data: data, options: nil)
            }, completionHandler: { success, error in
                if success {
                    done.resume()
                } else {
                    done.resume(throwing: error ?? PhotoError("Photos did not save the picture."))
                }
            })
        }
    }
}

extension Image.Orientation {
    /// SwiftUI's orientation of an EXIF orientation (same names, same meaning).
    init(_ orientation: CGImagePropertyOrientation) {
        switch orientation {
        case .up: self = .up
        case .upMirrored: self = .upMirrored
        case .down: self = .down
        case .downMirrored: self = .downMirrored
        case .left: self = .left
        case .leftMirrored: self = .leftMirrored
        case .right: self = .right
        case .rightMirrored: self = .rightMirrored
        }
    }
}

// Stand-in of the parts of ios_demo/App/PhotoIO.swift that the checked files use (PhotoIO.swift itself needs ImageIO
// and Photos): the same declarations, signatures and Sendable promises; tests/test_ios.py checks that they match.

import CoreGraphics
import Foundation
import InvDNCore

struct PhotoError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

struct DecodedPhoto: @unchecked Sendable {
    let image: RGBAImage
    let display: CGImage
    let orientation: CGImagePropertyOrientation
    let colorSpace: CGColorSpace
}

struct DenoisedPhoto: @unchecked Sendable {
    let rgba: [UInt8]
    let display: CGImage
    let result: String
}

enum PhotoIO {
    static func pixelSize(_ data: Data) throws -> (height: Int, width: Int) { (0, 0) }
    static func decode(_ data: Data) throws -> DecodedPhoto { throw PhotoError("stand-in") }
    static func displayImage(_ rgba: [UInt8], width: Int, height: Int, colorSpace: CGColorSpace) -> CGImage? { nil }
    static func encodeJPEG(
        _ rgba: [UInt8], width: Int, height: Int, colorSpace: CGColorSpace, orientation: CGImagePropertyOrientation,
        quality: Double = 0.95
    ) throws -> Data { Data() }
    static func saveToLibrary(_ data: Data) async throws {}
}

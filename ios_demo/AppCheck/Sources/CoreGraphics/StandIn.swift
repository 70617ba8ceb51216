// Stand-in of CoreGraphics / ImageIO for the Linux type-check (see Package.swift): only what the checked app files use.

/// An immutable bitmap image (a CF type: the SDK makes no Sendable promise the app relies on).
public final class CGImage {
    public let width: Int
    public let height: Int
    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }
}

public final class CGColorSpace {
    public init() {}
}

public enum CGImagePropertyOrientation: UInt32, Sendable {
    case up = 1, upMirrored, down, downMirrored, leftMirrored, right, rightMirrored, left
}

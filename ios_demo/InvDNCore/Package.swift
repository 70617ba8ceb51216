// swift-tools-version:6.0
// InvDNCore: the iOS app's port of the shared contract (tiling plan, mirror padding, streaming feathered blend,
// noise-adaptive strength, manifest, benchmark results). Foundation only, so `swift test` runs on macOS and on
// Linux with a Swift toolchain; the tests read the golden vectors in ../../golden/tiling/ (the same files the web
// port is tested against).
import PackageDescription

let package = Package(
    name: "InvDNCore",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "InvDNCore", targets: ["InvDNCore"])
    ],
    targets: [
        .target(name: "InvDNCore"),
        .testTarget(name: "InvDNCoreTests", dependencies: ["InvDNCore"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)

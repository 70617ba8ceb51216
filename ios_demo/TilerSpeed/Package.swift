// swift-tools-version:6.0
// TilerSpeed: how long InvDNCore's own Swift (tiling, pixel conversion, blend) takes around a model call, Debug
// against Release: `denoisePhoto` of a photo through an identity runner (no model at all). Why the benchmark runs
// in the Release scheme. `swift run -c debug` / `swift run -c release` (on Linux: scripts/swift_toolchain.sh
// swift-in ios_demo/TilerSpeed run -c release); arguments: HEIGHT WIDTH (default 1512 2016).
import PackageDescription

let package = Package(
    name: "TilerSpeed",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "../InvDNCore")],
    targets: [
        .executableTarget(name: "TilerSpeed", dependencies: [.product(name: "InvDNCore", package: "InvDNCore")])
    ],
    swiftLanguageModes: [.v6]
)

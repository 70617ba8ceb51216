// swift-tools-version:6.0
// AppCheck: the app's view models and Core ML adapters (ios_demo/App, linked here file by file) type-checked by the
// Linux Swift 6 compiler in Swift 6 language mode, against small stand-ins of the Apple frameworks they import
// (Sources/<framework>/StandIn.swift: only the declarations those files use, with the SDK's signatures and, where it
// matters for concurrency, without Sendable conformances the SDK does not promise). A type-check only: nothing here
// runs, and the stand-ins prove nothing about Apple's frameworks themselves. SwiftUI views and PhotoIO.swift (ImageIO,
// Photos) are left to the syntax check of tests/test_ios.py and to Xcode.
import PackageDescription

// The stand-ins play the SDK's part: its C and Objective-C declarations are not checked as Swift 6 code.
let sdk: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "AppCheck",
    dependencies: [.package(path: "../InvDNCore")],
    targets: [
        .target(name: "CoreML", dependencies: ["CoreVideo"], swiftSettings: sdk),
        .target(name: "CoreGraphics", swiftSettings: sdk),
        .target(name: "CoreVideo", swiftSettings: sdk),
        .target(name: "Metal", swiftSettings: sdk),
        .target(name: "PhotosUI", swiftSettings: sdk),
        .target(name: "SwiftUI", swiftSettings: sdk),
        .target(name: "os", swiftSettings: sdk),
        .target(
            name: "AppCheck",
            dependencies: [
                .product(name: "InvDNCore", package: "InvDNCore"), "CoreGraphics", "CoreML", "CoreVideo", "Metal", "PhotosUI", "SwiftUI",
                "os",
            ]),
    ],
    swiftLanguageModes: [.v6]
)

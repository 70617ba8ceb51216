// The app: the denoise screen, or, when launched with --benchmark (xcrun devicectl device process launch … --
// --benchmark …, or the scheme's arguments in Xcode), the benchmark screen running unattended.

import SwiftUI

import InvDNCore

@main
struct InvDNApp: App {
    /// The benchmark options of the launch arguments; nil for a normal launch.
    private let launch: Result<BenchOptions, Error>? = {
        do {
            return try BenchOptions.parse(ProcessInfo.processInfo.arguments).map { Result<BenchOptions, Error>.success($0) }
        } catch {
            return .failure(error)
        }
    }()

    var body: some Scene {
        WindowGroup {
            if let launch {
                NavigationStack { BenchmarkView(launch: launch) }
            } else {
                ContentView()
            }
        }
    }
}

// The benchmark mode's settings, from the app's launch arguments (ProcessInfo.arguments) so a run needs nobody at
// the phone:
//
//   xcrun devicectl device process launch --device UDID org.invdn-mobile.demo -- \
//       --benchmark --sizes 256,3024x4032 --repeats 5 --warmup 2 --units all,ane,gpu,cpu --models fp32,fp16,int8
//
// (--in-flight N: predictions at the model at once, default 2; --allow-debug: time a Debug build anyway.)
//
// (the web demo's equivalent is its URL query: sizes, repeats, warmup, models, backends). Arguments that do not
// start with "--" are left alone (Xcode adds its own, such as -NSDocumentRevisionsDebugMode YES); an unknown "--"
// option or a bad value is an error the benchmark screen shows.

import Foundation

public struct BenchOptionsError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One input size of the benchmark (rows, columns).
public struct BenchSize: Equatable, Sendable, CustomStringConvertible {
    public let height: Int
    public let width: Int

    public init(height: Int, width: Int) {
        self.height = height
        self.width = width
    }

    public var description: String { "\(height)x\(width)" }

    /// "N" (N x N) or "HxW"; nil when not that form or not positive.
    public static func parse(_ text: String) -> BenchSize? {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard (1...2).contains(parts.count), let h = parts[0], let w = parts.last ?? nil, h > 0, w > 0 else {
            return nil
        }
        return BenchSize(height: h, width: w)
    }
}

public struct BenchOptions: Equatable, Sendable {
    public var sizes = [BenchSize(height: 256, width: 256), BenchSize(height: 3024, width: 4032)]
    public var repeats = 5
    public var warmup = 2
    public var units = ComputeUnitChoice.allCases
    public var precisions = ["fp32", "fp16", "int8"]
    public var includeZin = false  // also time the -zin tensor twins (one z sample per tile)
    public var machine: String?  // machine.name; default: from the model identifier
    public var inFlight = 2  // tiles at the model at once (1: one prediction at a time)
    public var allowDebug = false  // time a Debug build (refused otherwise: benchRefusal)

    public init() {}

    /// The options of a benchmark launch, nil when `arguments` has no --benchmark (a normal launch).
    public static func parse(_ arguments: [String]) throws -> BenchOptions? {
        var args = arguments.dropFirst()[...]  // [0] is the executable
        guard args.contains("--benchmark") else { return nil }
        var options = BenchOptions()
        func value(_ flag: String) throws -> String {
            guard let v = args.popFirst(), !v.hasPrefix("--") else { throw BenchOptionsError("\(flag) needs a value") }
            return v
        }
        func count(_ flag: String, _ text: String, minimum: Int) throws -> Int {
            guard let n = Int(text), n >= minimum else {
                throw BenchOptionsError("\(flag) must be an integer >= \(minimum), got '\(text)'")
            }
            return n
        }
        func list(_ text: String) -> [String] {
            text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        while let arg = args.popFirst() {
            guard arg.hasPrefix("--") else { continue }
            switch arg {
            case "--benchmark":
                continue
            case "--sizes":
                let text = try value(arg)
                let sizes = list(text).map { BenchSize.parse($0) }
                guard !sizes.isEmpty, !sizes.contains(nil) else {
                    throw BenchOptionsError("--sizes must be N or HxW, comma-separated, got '\(text)'")
                }
                options.sizes = sizes.compactMap { $0 }
            case "--repeats":
                options.repeats = try count(arg, try value(arg), minimum: 1)
            case "--warmup":
                options.warmup = try count(arg, try value(arg), minimum: 0)
            case "--units":
                let text = try value(arg)
                let units = list(text).map { ComputeUnitChoice(rawValue: $0) }
                guard !units.isEmpty, !units.contains(nil) else {
                    throw BenchOptionsError("--units must be from all, ane, gpu, cpu, got '\(text)'")
                }
                options.units = units.compactMap { $0 }
            case "--models":
                let text = try value(arg)
                let precisions = list(text)
                guard !precisions.isEmpty, precisions.allSatisfy({ ["fp32", "fp16", "int8"].contains($0) }) else {
                    throw BenchOptionsError("--models must be from fp32, fp16, int8, got '\(text)'")
                }
                options.precisions = precisions
            case "--zin":
                options.includeZin = true
            case "--machine":
                options.machine = machineName(try value(arg))
            case "--in-flight":
                options.inFlight = try count(arg, try value(arg), minimum: 1)
            case "--allow-debug":
                options.allowDebug = true
            default:
                throw BenchOptionsError(
                    "unknown option \(arg) (known: --benchmark --sizes --repeats --warmup --units --models --zin --machine"
                        + " --in-flight --allow-debug)")
            }
        }
        return options
    }
}

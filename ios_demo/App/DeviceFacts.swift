// The device facts of a results file's "machine": model identifier (utsname), chip, GPU (Metal's device name),
// iOS version, cores. iOS has no API for the SoC name: it comes from the model identifier's family, else from the
// GPU's name ("Apple A17 Pro GPU"), else it says it is unknown.

import Foundation
import Metal

import InvDNCore

enum DeviceFacts {
    /// e.g. iPhone16,1 (the simulator reports the model it simulates).
    static var modelIdentifier: String {
        if let simulated = ProcessInfo.processInfo.environment["SIMULATOR_MODEL_IDENTIFIER"] { return simulated }
        var info = utsname()
        uname(&info)
        return withUnsafeBytes(of: info.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    static var gpuName: String? { MTLCreateSystemDefaultDevice()?.name }

    /// iPhone families and their SoCs (identifiers 12 to 17: iPhone 11 to iPhone 16 generations).
    static let chips: [(prefix: String, chip: String)] = [
        ("iPhone12,", "Apple A13 Bionic"),
        ("iPhone13,", "Apple A14 Bionic"),
        ("iPhone14,", "Apple A15 Bionic"),
        ("iPhone15,", "Apple A16 Bionic"),
        ("iPhone16,", "Apple A17 Pro"),
        ("iPhone17,1", "Apple A18 Pro"),
        ("iPhone17,2", "Apple A18 Pro"),
        ("iPhone17,", "Apple A18"),
    ]

    static func chip(identifier: String, gpu: String?) -> String {
        if let known = chips.first(where: { identifier == $0.prefix || (identifier.hasPrefix($0.prefix) && $0.prefix.hasSuffix(",")) }) {
            return known.chip
        }
        if let gpu, gpu.hasSuffix(" GPU") { return String(gpu.dropLast(" GPU".count)) }
        return "unknown Apple SoC (\(identifier))"
    }

    static var osVersion: String {
        let v = ProcessInfo.processInfo.operatingSystemVersion
        return "\(v.majorVersion).\(v.minorVersion).\(v.patchVersion)"
    }

    /// The results file's "machine"; `name` (from --machine) overrides the label made from the identifier.
    static func machine(named name: String?) -> BenchMachine {
        let identifier = modelIdentifier
        let gpu = gpuName
        let app = Bundle.main.object(forInfoDictionaryKey: "CFBundleShortVersionString") as? String ?? "unknown"
        return BenchMachine(
            name: name ?? machineName(identifier),
            kind: identifier.hasPrefix("iPad") ? "tablet" : "phone",
            cpu: chip(identifier: identifier, gpu: gpu),
            cores: ProcessInfo.processInfo.activeProcessorCount,
            gpu: gpu,
            os: "iOS \(osVersion)",
            deviceModel: identifier,
            libraries: ["coreml": "iOS \(osVersion)", "app": app])
    }
}

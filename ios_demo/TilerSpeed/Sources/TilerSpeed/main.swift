// denoisePhoto of a deterministic photo through an identity runner: InvDNCore's time alone, in this build.

import Foundation
import InvDNCore

struct Identity: TileRunner {
    func run(_ tile: [Float], index: Int) async throws -> [Float] { tile }
}

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let height = arguments.first ?? 1512
let width = arguments.dropFirst().first ?? 2016
var bytes = [UInt8](repeating: 255, count: height * width * 4)
for i in 0..<bytes.count where i % 4 != 3 { bytes[i] = UInt8((i * 7) % 251) }
let photo = RGBAImage(data: bytes, height: height, width: width)
let tiles = try plan(height: height, width: width, tile: 256, overlap: 32)
let clock = ContinuousClock()
let started = clock.now
let result = try await denoisePhoto(photo, plan: tiles, runner: Identity(), curve: nil)
let elapsed = started.duration(to: clock.now)
print("InvDNCore \(coreBuild): \(height)x\(width), \(tiles.count) tiles of 256: \(elapsed); photo back unchanged: \(result.rgba == bytes)")
// the process's peak resident memory (Linux: VmHWM), against InvDNCore.MemoryBudget's arithmetic for the same photo
if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
    let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
{
    let budget = MemoryBudget(height: height, width: width, tile: 256, inFlight: 1)
    let core = budget.peakBytes - budget.displayBytes
    print("peak resident memory \(line.dropFirst(6).trimmingCharacters(in: .whitespaces)); budget without the display images \(core / 1024) kB")
}

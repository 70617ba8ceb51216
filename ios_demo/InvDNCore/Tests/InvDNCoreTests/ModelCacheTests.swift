// The model cache: one load per (artifact, compute units), shared by concurrent requests, failures not kept, the
// least recently used model let go beyond the capacity.

import Foundation
import XCTest

@testable import InvDNCore

/// A stand-in loaded model: which key it was loaded for, and a serial number.
struct LoadedStub: Equatable, Sendable {
    let key: ModelKey
    let serial: Int
}

actor LoadCounter {
    private(set) var count = 0
    func next() -> Int {
        count += 1
        return count
    }
}

final class ModelCacheTests: XCTestCase {
    let fp16 = ModelKey(artifact: "invdn-compact-256-fp16.mlpackage", units: .all)

    func testSameKeyLoadsOnceOtherUnitsLoadAgain() async throws {
        let cache = ModelCache<LoadedStub>()
        let counter = LoadCounter()
        let key = fp16
        let first = try await cache.model(key) { LoadedStub(key: key, serial: await counter.next()) }
        let again = try await cache.model(key) { LoadedStub(key: key, serial: await counter.next()) }
        XCTAssertEqual(first, again)
        let ane = ModelKey(artifact: key.artifact, units: .ane)
        let onANE = try await cache.model(ane) { LoadedStub(key: ane, serial: await counter.next()) }
        XCTAssertEqual(onANE.key.units, .ane)
        XCTAssertNotEqual(onANE.serial, first.serial)
        let loads = await cache.loads
        let counted = await counter.count
        XCTAssertEqual(loads, 2)
        XCTAssertEqual(counted, 2)
    }

    func testConcurrentRequestsShareOneLoad() async throws {
        let cache = ModelCache<LoadedStub>()
        let counter = LoadCounter()
        let key = fp16
        let models = try await withThrowingTaskGroup(of: LoadedStub.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await cache.model(key) {
                        try await Task.sleep(for: .milliseconds(50))
                        return LoadedStub(key: key, serial: await counter.next())
                    }
                }
            }
            return try await group.reduce(into: [LoadedStub]()) { $0.append($1) }
        }
        XCTAssertEqual(models.count, 8)
        XCTAssertEqual(Set(models.map(\.serial)), [1])
        let counted = await counter.count
        XCTAssertEqual(counted, 1)
    }

    func testFailedLoadIsNotKeptAndOldModelsAreLetGo() async throws {
        struct LoadFailed: Error {}
        let cache = ModelCache<LoadedStub>(capacity: 2)
        let key = fp16
        do {
            _ = try await cache.model(key) { throw LoadFailed() }
            XCTFail("the load failed")
        } catch is LoadFailed {}
        let retried = try await cache.model(key) { LoadedStub(key: key, serial: 2) }
        XCTAssertEqual(retried.serial, 2, "a failed load is tried again")
        let keys = [ModelKey(artifact: "a", units: .cpu), ModelKey(artifact: "b", units: .cpu)]
        for k in keys { _ = try await cache.model(k) { LoadedStub(key: k, serial: 0) } }
        let held = await cache.held
        XCTAssertEqual(held, keys, "fp16 was the least recently used: let go")
        let reloaded = try await cache.model(key) { LoadedStub(key: key, serial: 3) }
        XCTAssertEqual(reloaded.serial, 3)
        let loads = await cache.loads
        XCTAssertEqual(loads, 5)
    }
}

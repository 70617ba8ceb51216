// Loaded models, kept: loading a compiled Core ML model for a compute-unit choice takes from tens of milliseconds
// to seconds (the Neural Engine compiles it on first use), so the app loads each (artifact, compute units) once
// and reuses it for every Denoise and every benchmark size. Concurrent requests for the same key share one load; a
// failed load is not kept (the next request tries again); beyond `capacity` models the least recently used is let go.

import Foundation

/// What a loaded model is: which artifact, for which compute units.
public struct ModelKey: Hashable, Sendable, CustomStringConvertible {
    public let artifact: String
    public let units: ComputeUnitChoice

    public init(artifact: String, units: ComputeUnitChoice) {
        self.artifact = artifact
        self.units = units
    }

    public var description: String { "\(artifact) (\(units.rawValue))" }
}

public actor ModelCache<Model: Sendable> {
    public let capacity: Int
    private var entries: [ModelKey: Task<Model, Error>] = [:]
    private var recent: [ModelKey] = []  // least recently used first
    /// Loads started so far (a shared or cached answer does not count).
    public private(set) var loads = 0

    public init(capacity: Int = 2) {
        self.capacity = max(1, capacity)
    }

    /// The model of `key`, loaded by `load` only when it is not held (or being loaded) already.
    public func model(_ key: ModelKey, load: @escaping @Sendable () async throws -> Model) async throws -> Model {
        let task: Task<Model, Error>
        if let held = entries[key] {
            task = held
        } else {
            loads += 1
            task = Task { try await load() }
            entries[key] = task
        }
        touch(key)
        do {
            return try await task.value
        } catch {
            if entries[key] == task { entries[key] = nil }
            recent.removeAll { $0 == key }
            throw error
        }
    }

    /// The keys held now, least recently used first.
    public var held: [ModelKey] { recent }

    public func removeAll() {
        entries = [:]
        recent = []
    }

    private func touch(_ key: ModelKey) {
        recent.removeAll { $0 == key }
        recent.append(key)
        while recent.count > capacity {
            let old = recent.removeFirst()
            entries[old] = nil
        }
    }
}

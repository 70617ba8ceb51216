// The denoise screen's state machine: one photo, one run at a time, results only for the run and photo they belong
// to. Every load and run gets a ticket; a result, a progress report or an error that arrives with a ticket that is
// no longer current (the user picked another photo, pressed Denoise again or cancelled) is refused. The result is
// kept together with the photo it was computed from, so Save writes the output's own pixels with their own
// orientation: photo A's result can never be shown over photo B or saved with B's orientation.
//
// RunFlow is the pure state (a value, tested step by step); Runs drives it with real tasks on the main actor (the
// app's view model mirrors Runs.flow into its observed state through onChange).

import Foundation

/// Where the screen is.
public enum RunPhase: Equatable, Sendable {
    case empty, loading, ready, running, done, cancelled
    case failed(String)
}

/// The ticket of one photo load.
public struct LoadTicket: Hashable, Sendable {
    public let id: Int
}

/// The ticket of one run: its id and the photo load it runs on.
public struct RunTicket: Hashable, Sendable {
    public let id: Int
    public let photo: Int
}

/// A finished run's output and the photo it was made from.
public struct RunOutput<Photo: Sendable, Output: Sendable>: Sendable {
    public let photo: Photo
    public let output: Output
}

public struct RunFlow<Photo: Sendable, Output: Sendable>: Sendable {
    public private(set) var phase = RunPhase.empty
    public private(set) var photo: Photo?
    public private(set) var result: RunOutput<Photo, Output>?
    public private(set) var progress = 0.0
    private var loadID = 0  // the current (or last) photo load
    private var photoID = 0  // the load whose photo is shown; 0: none
    private var runID = 0
    private var current: RunTicket?  // the run whose results are accepted

    public init() {}

    /// The current run's ticket, nil when none runs.
    public var running: RunTicket? { current }

    /// Denoise is offered only with a photo and no load or run under way.
    public var canRun: Bool { photo != nil && phase != .loading && phase != .running }

    /// Save is offered only for a result of the photo shown.
    public var saveable: RunOutput<Photo, Output>? { phase == .done ? result : nil }

    /// A new photo is being loaded: the run in flight (if any) and the old result no longer count.
    public mutating func beginLoading() -> LoadTicket {
        loadID += 1
        current = nil
        result = nil
        progress = 0
        phase = .loading
        return LoadTicket(id: loadID)
    }

    @discardableResult
    public mutating func loaded(_ photo: Photo, for ticket: LoadTicket) -> Bool {
        guard ticket.id == loadID, phase == .loading else { return false }
        self.photo = photo
        photoID = ticket.id
        phase = .ready
        return true
    }

    @discardableResult
    public mutating func loadFailed(_ message: String, for ticket: LoadTicket) -> Bool {
        guard ticket.id == loadID, phase == .loading else { return false }
        photo = nil
        photoID = 0
        phase = .failed(message)
        return true
    }

    /// Start a run on the photo shown; nil when no run can start now (no photo, a load or a run under way).
    public mutating func start() -> RunTicket? {
        guard canRun else { return nil }
        runID += 1
        let ticket = RunTicket(id: runID, photo: photoID)
        current = ticket
        result = nil
        progress = 0
        phase = .running
        return ticket
    }

    func isCurrent(_ ticket: RunTicket) -> Bool {
        current == ticket && ticket.photo == photoID && phase == .running
    }

    @discardableResult
    public mutating func report(_ fraction: Double, for ticket: RunTicket) -> Bool {
        guard isCurrent(ticket) else { return false }
        progress = min(1, max(progress, fraction))
        return true
    }

    /// Accept a run's output: only the current run's, on the photo it was started on.
    @discardableResult
    public mutating func finish(_ output: Output, for ticket: RunTicket) -> Bool {
        guard isCurrent(ticket), let photo else { return false }
        result = RunOutput(photo: photo, output: output)
        current = nil
        progress = 1
        phase = .done
        return true
    }

    @discardableResult
    public mutating func fail(_ message: String, for ticket: RunTicket) -> Bool {
        guard isCurrent(ticket) else { return false }
        current = nil
        progress = 0
        phase = .failed(message)
        return true
    }

    /// The user cancelled: the current run's results are refused from now on.
    @discardableResult
    public mutating func cancel() -> Bool {
        guard phase == .running else { return false }
        current = nil
        progress = 0
        phase = .cancelled
        return true
    }
}

/// RunFlow driven by tasks: a load or a run is started from the main actor, its work runs off it, and what comes
/// back is applied through the flow's tickets. Starting a load cancels the run in flight; so does cancel().
@MainActor
public final class Runs<Photo: Sendable, Output: Sendable> {
    public private(set) var flow = RunFlow<Photo, Output>() {
        didSet { onChange?(flow) }
    }
    /// Called on every change of `flow` (the app copies it into its @Observable view model).
    public var onChange: ((RunFlow<Photo, Output>) -> Void)?
    private var task: Task<Void, Never>?
    private var previous: Task<Void, Never>?  // the one `task` replaced (a run a new load made stale)

    public init() {}

    private func replace(_ next: Task<Void, Never>) {
        previous = task
        task = next
    }

    /// Load a photo with `work` (off the main actor); the run in flight is cancelled and its result will be refused.
    public func load(_ work: @escaping @Sendable () async throws -> Photo) {
        task?.cancel()
        let ticket = flow.beginLoading()
        replace(Task {
            do {
                let photo = try await work()
                flow.loaded(photo, for: ticket)
            } catch {
                flow.loadFailed("\(error)", for: ticket)
            }
        })
    }

    /// Run `work` on the photo shown (off the main actor), reporting progress in [0, 1]; false when no run can start.
    @discardableResult
    public func run(
        _ work: @escaping @Sendable (Photo, _ progress: @escaping @Sendable (Double) async -> Void) async throws -> Output
    ) -> Bool {
        guard let photo = flow.photo, let ticket = flow.start() else { return false }
        task?.cancel()
        replace(Task {
            do {
                let output = try await work(photo) { fraction in
                    await MainActor.run { [weak self] in _ = self?.flow.report(fraction, for: ticket) }
                }
                flow.finish(output, for: ticket)
            } catch is CancellationError {
                // cancel() or a new load has moved the flow on already
            } catch {
                flow.fail("\(error)", for: ticket)
            }
        })
        return true
    }

    public func cancel() {
        task?.cancel()
        flow.cancel()
    }

    /// Wait for the current load or run, and the one it replaced, to end (what they brought back applied or
    /// refused).
    public func settle() async {
        await previous?.value
        await task?.value
    }
}

// The denoise screen's state machine (RunFlow) step by step, and driven by real tasks (Runs): the race of the old
// app (photo A's result landing on photo B, Save writing A's pixels with B's orientation) refused.

import Foundation
import XCTest

@testable import InvDNCore

/// A photo as the app holds it: which picture, and its orientation.
struct Shot: Equatable, Sendable {
    let name: String
    let orientation: Int
}

/// A one-shot gate a test opens when it wants a piece of work to go on.
actor Gate {
    private var open = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        if open { return }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        open = true
        for w in waiting { w.resume() }
        waiting = []
    }
}

final class RunFlowTests: XCTestCase {
    typealias Flow = RunFlow<Shot, String>
    let a = Shot(name: "A", orientation: 1)
    let b = Shot(name: "B", orientation: 6)

    func testOneRunAtATimeOnALoadedPhoto() throws {
        var flow = Flow()
        XCTAssertNil(flow.start(), "no photo yet")
        let load = flow.beginLoading()
        XCTAssertFalse(flow.canRun, "Denoise is disabled while a photo loads")
        XCTAssertNil(flow.start())
        XCTAssertTrue(flow.loaded(a, for: load))
        let run = try XCTUnwrap(flow.start())
        XCTAssertEqual(flow.phase, .running)
        XCTAssertNil(flow.start(), "one run at a time")
        XCTAssertTrue(flow.report(0.5, for: run))
        XCTAssertEqual(flow.progress, 0.5)
        XCTAssertTrue(flow.finish("A denoised", for: run))
        XCTAssertEqual(flow.phase, .done)
        XCTAssertEqual(flow.saveable?.output, "A denoised")
        XCTAssertEqual(flow.saveable?.photo, a)
        XCTAssertFalse(flow.finish("again", for: run), "a ticket is used once")
    }

    func testResultOfAnOldPhotoIsRefused() throws {
        // the old app's race: Denoise on A, then B is picked while A's run is still going; A's result arrives
        var flow = Flow()
        let loadA = flow.beginLoading()
        flow.loaded(a, for: loadA)
        let runA = try XCTUnwrap(flow.start())
        let loadB = flow.beginLoading()
        XCTAssertFalse(flow.report(0.9, for: runA))
        XCTAssertTrue(flow.loaded(b, for: loadB))
        XCTAssertFalse(flow.finish("A denoised", for: runA), "A's result must not land on B")
        XCTAssertEqual(flow.photo, b)
        XCTAssertNil(flow.result)
        XCTAssertNil(flow.saveable, "nothing to save: Save cannot write A's pixels with B's orientation")
        XCTAssertEqual(flow.phase, .ready)
        XCTAssertFalse(flow.fail("late error", for: runA))
        XCTAssertEqual(flow.phase, .ready)
    }

    func testStaleLoadAndRepeatedDenoiseAreRefused() throws {
        var flow = Flow()
        let loadA = flow.beginLoading()
        let loadB = flow.beginLoading()  // picked B before A finished decoding
        XCTAssertTrue(flow.loaded(b, for: loadB))
        XCTAssertFalse(flow.loaded(a, for: loadA), "A's late decode must not replace B")
        XCTAssertEqual(flow.photo, b)
        let first = try XCTUnwrap(flow.start())
        XCTAssertTrue(flow.cancel())
        XCTAssertEqual(flow.phase, .cancelled)
        XCTAssertFalse(flow.finish("first", for: first), "a cancelled run's result is refused")
        let second = try XCTUnwrap(flow.start())
        XCTAssertNotEqual(first, second)
        XCTAssertTrue(flow.finish("second", for: second))
        XCTAssertEqual(flow.saveable?.output, "second")
        // a failed load leaves no photo to run on
        let bad = flow.beginLoading()
        XCTAssertTrue(flow.loadFailed("not an image", for: bad))
        XCTAssertEqual(flow.phase, .failed("not an image"))
        XCTAssertNil(flow.photo)
        XCTAssertNil(flow.start())
    }

    // Runs lives on the main actor; the test bodies run there (static: the test case itself stays where XCTest has it)
    func testRunsWithRealTasksRefuseTheStaleResult() async throws {
        try await RunFlowTests.staleResultScenario(a, b)
    }

    func testRunsCancelStopsTheWorkAndFailuresAreShown() async throws {
        try await RunFlowTests.cancelScenario(a)
    }

    @MainActor
    static func staleResultScenario(_ a: Shot, _ b: Shot) async throws {
        let runs = Runs<Shot, String>()
        var phases: [RunPhase] = []
        runs.onChange = { phases.append($0.phase) }
        runs.load { a }
        await runs.settle()
        XCTAssertEqual(runs.flow.photo, a)
        let gate = Gate()
        let started = Gate()
        XCTAssertTrue(
            runs.run { photo, progress in
                await started.release()
                await progress(0.5)
                await gate.wait()  // photo A's run is slow
                return "\(photo.name) denoised"
            })
        await started.wait()
        runs.load { b }  // the user picks B while A's run goes on
        await gate.release()  // A's run comes back now, and does not check cancellation
        await runs.settle()  // B's load and A's run both ended: A's result was applied or refused
        XCTAssertEqual(runs.flow.photo, b)
        XCTAssertNil(runs.flow.result, "photo A's result landed on photo B")
        XCTAssertNil(runs.flow.saveable)
        XCTAssertEqual(runs.flow.phase, .ready)
        // a run on B is accepted, with B as its photo
        XCTAssertTrue(runs.run { photo, _ in "\(photo.name) denoised" })
        await runs.settle()
        XCTAssertEqual(runs.flow.saveable?.output, "B denoised")
        XCTAssertEqual(runs.flow.saveable?.photo.orientation, 6)
        XCTAssertEqual(phases.first, .loading)
        XCTAssertEqual(phases.last, .done)
    }

    @MainActor
    static func cancelScenario(_ a: Shot) async throws {
        let runs = Runs<Shot, String>()
        runs.load { a }
        await runs.settle()
        let started = Gate()
        runs.run { _, _ in
            await started.release()
            try await Task.sleep(for: .seconds(30))  // ends early only by cancellation
            return "never"
        }
        await started.wait()
        let clock = ContinuousClock()
        let t0 = clock.now
        runs.cancel()
        await runs.settle()
        XCTAssertLessThan(t0.duration(to: clock.now), .seconds(5), "cancel stops the work")
        XCTAssertEqual(runs.flow.phase, .cancelled)
        XCTAssertNil(runs.flow.result)
        struct Broken: Error, CustomStringConvertible { var description: String { "the model failed" } }
        runs.run { _, _ in throw Broken() }
        await runs.settle()
        XCTAssertEqual(runs.flow.phase, .failed("the model failed"))
        XCTAssertTrue(runs.flow.canRun, "a failed run can be retried")
    }
}

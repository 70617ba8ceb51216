// The denoise screen's state: the picked photo, the model and compute-unit choice, the run (off the main thread,
// with progress and cancel) and saving. The work itself is InvDNCore.denoisePhoto (worker.js `denoise` in the web
// demo): the whole photo at full resolution, tile by tile, 8-bit in and out.

import CoreGraphics
import CoreML
import Foundation
import Observation
import PhotosUI
import SwiftUI

import InvDNCore

@Observable
final class DenoiseModel {
    enum Phase: Equatable {
        case empty, loading, ready, running, done, cancelled
        case failed(String)
    }

    let store = ModelStore.load()
    var precision = "fp16"  // the constant-z image artifact of this precision
    var units = ComputeUnitChoice.all
    var adapt = true  // noise-adaptive strength (the manifest's curve); off: the model's output as is
    var ensemble = 1  // z samples per tile; > 1 runs the -zin twin and averages (Monte-Carlo self-ensemble)
    var phase = Phase.empty
    var progress = 0.0
    var status = "Pick a photo."
    var photo: DecodedPhoto?
    var after: CGImage?
    private var job: Task<Void, Never>?

    init() {
        if !precisions.contains(precision), let first = precisions.first { precision = first }
    }

    var precisions: [String] { ["fp32", "fp16", "int8"].filter { store.model(precision: $0, zin: false) != nil } }
    var canEnsemble: Bool { store.model(precision: precision, zin: true) != nil }

    /// The artifact a run uses: the constant-z image model, or its -zin twin for an ensemble.
    var selected: BundledModel? {
        ensemble > 1 ? store.model(precision: precision, zin: true) : store.model(precision: precision, zin: false)
    }

    @MainActor
    func open(_ item: PhotosPickerItem?) async {
        guard let item else { return }
        cancel()
        phase = .loading
        status = "Loading the photo…"
        after = nil
        do {
            guard let data = try await item.loadTransferable(type: Data.self) else {
                throw PhotoError("The photo library gave no data for this item.")
            }
            let decoded = try await Task.detached(priority: .userInitiated) { try PhotoIO.decode(data) }.value
            photo = decoded
            phase = .ready
            status = "\(decoded.image.width) × \(decoded.image.height) pixels. Ready."
        } catch {
            phase = .failed("\(error)")
            status = "\(error)"
        }
    }

    @MainActor
    func run() {
        guard let photo, let model = selected else { return }
        job?.cancel()
        phase = .running
        progress = 0
        after = nil
        status = "Loading \(model.entry.file) (\(units.label))…"
        let units = self.units
        let curve = adapt ? model.entry.strength : nil
        let samples = ensemble
        job = Task.detached(priority: .userInitiated) { [weak self] in
            do {
                let started = ContinuousClock.now
                let mlModel = try await loadModel(model, units: units)
                let runner = makeRunner(mlModel, model, samples: samples)
                let plan = try model.entry.tiling.plan(height: photo.image.height, width: photo.image.width)
                await self?.show("Denoising \(plan.count) tiles…")
                let result = try await denoisePhoto(
                    photo.image, plan: plan, runner: runner, curve: curve,
                    onProgress: { done, total in await self?.setProgress(Double(done) / Double(total)) })
                guard let image = PhotoIO.makeImage(
                    result.rgba, width: photo.image.width, height: photo.image.height, colorSpace: photo.colorSpace)
                else { throw PhotoError("Cannot show the result.") }
                let seconds = started.duration(to: .now).components.seconds
                await self?.finish(image, result, seconds: Int(seconds))
            } catch is CancellationError {
                await self?.stop(.cancelled, "Cancelled.")
            } catch {
                await self?.stop(.failed("\(error)"), "\(error)")
            }
        }
    }

    @MainActor
    func cancel() {
        job?.cancel()
        job = nil
    }

    @MainActor
    func save() async {
        guard let photo, let after else { return }
        status = "Saving…"
        do {
            let data = try PhotoIO.encodeJPEG(after, orientation: photo.orientation)
            try await PhotoIO.saveToLibrary(data)
            status = "Saved to Photos."
        } catch {
            status = "\(error)"
        }
    }

    @MainActor
    private func show(_ text: String) { status = text }

    @MainActor
    private func setProgress(_ value: Double) { progress = value }

    @MainActor
    private func finish(_ image: CGImage, _ result: DenoiseResult, seconds: Int) {
        after = image
        phase = .done
        progress = 1
        let kept = result.strength < 1 ? ", kept \(Int((result.strength * 100).rounded()))% of the model's change" : ""
        let sigma = String(format: "%.1f", result.sigma)
        status = "Done in \(seconds) s: \(result.tiles) tiles, noise sigma \(sigma)\(kept)."
    }

    @MainActor
    private func stop(_ phase: Phase, _ text: String) {
        self.phase = phase
        status = text
        progress = 0
    }
}

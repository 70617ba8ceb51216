// The denoise screen's view model: a thin @MainActor adapter over InvDNCore. The state machine (one run at a time,
// results only for the run and photo they belong to, cancel) is InvDNCore.Runs / RunFlow; the work is
// InvDNCore.denoisePhoto (worker.js `denoise` in the web demo: the whole photo at full resolution, tile by tile, a
// few tiles in flight, 8-bit in and out); models come from the app's cache (loaded once per artifact and compute
// units); memory is checked against InvDNCore.MemoryBudget before a photo is decoded.

import CoreGraphics
import Foundation
import Observation
import PhotosUI
import os
import SwiftUI

import InvDNCore

@MainActor
@Observable
final class DenoiseModel {
    let store = ModelStore.load()
    var precision = "fp16"  // the constant-z image artifact of this precision
    var units = ComputeUnitChoice.all
    var adapt = true  // noise-adaptive strength (the manifest's curve); off: the model's output as is
    var ensemble = 1  // z samples per tile; > 1 runs the -zin twin and averages (Monte-Carlo self-ensemble)
    private(set) var flow = RunFlow<DecodedPhoto, DenoisedPhoto>()
    private(set) var status = "Pick a photo."
    @ObservationIgnored private let runs = Runs<DecodedPhoto, DenoisedPhoto>()
    nonisolated static let inFlight = 2  // tiles at the model at once

    init() {
        // no silent fallback: when the default model is not usable, the screen says why and which one is used
        if !precisions.contains(precision), let first = precisions.first {
            let why = store.missingReason(precision: precision, zin: false)
            status = "\(precision.uppercased()) cannot be used (\(why)); \(first.uppercased()) is selected. Pick a photo."
            precision = first
        }
        runs.onChange = { [weak self] flow in self?.changed(flow) }
    }

    var precisions: [String] { ["fp32", "fp16", "int8"].filter { store.model(precision: $0, zin: false) != nil } }
    var canEnsemble: Bool { store.model(precision: precision, zin: true) != nil }
    var photo: DecodedPhoto? { flow.photo }
    var after: DenoisedPhoto? { flow.saveable?.output }

    /// The artifact a run uses: the constant-z image model, or its -zin twin for an ensemble; why not, when missing.
    var selected: BundledModel? {
        store.model(precision: precision, zin: ensemble > 1)
    }

    func open(_ item: PhotosPickerItem?) {
        guard let item else { return }
        status = "Loading the photo…"
        runs.load {
            guard let data = try await item.loadTransferable(type: Data.self) else {
                throw PhotoError("The photo library gave no data for this item.")
            }
            let size = try PhotoIO.pixelSize(data)
            let budget = MemoryBudget(height: size.height, width: size.width, tile: 256, inFlight: DenoiseModel.inFlight)
            if let why = budget.problem(available: Int(os_proc_available_memory())) { throw PhotoError(why) }
            return try PhotoIO.decode(data)
        }
    }

    func run() {
        guard let model = selected else {
            status = store.missingReason(precision: precision, zin: ensemble > 1)
            return
        }
        let units = self.units
        let curve = adapt ? model.entry.strength : nil
        let samples = ensemble
        status = "Loading \(model.entry.file) (\(units.label))…"
        runs.run { photo, progress in
            let started = ContinuousClock.now
            let runner = try makeRunner(try await loadModel(model, units: units), model.entry, samples: samples)
            let plan = try model.entry.tiling.plan(height: photo.image.height, width: photo.image.width)
            let result = try await denoisePhoto(
                photo.image, plan: plan, runner: runner, curve: curve, inFlight: DenoiseModel.inFlight,
                onProgress: { done, total in await progress(Double(done) / Double(total)) })
            guard let display = PhotoIO.displayImage(
                result.rgba, width: photo.image.width, height: photo.image.height, colorSpace: photo.colorSpace)
            else { throw PhotoError("Cannot show the result.") }
            let seconds = started.duration(to: .now).components.seconds
            let kept = result.strength < 1 ? ", kept \(Int((result.strength * 100).rounded()))% of the model's change" : ""
            let sigma = String(format: "%.1f", result.sigma)
            let line = "Done in \(seconds) s: \(result.tiles) tiles, noise sigma \(sigma)\(kept)."
            return DenoisedPhoto(rgba: result.rgba, display: display, result: line)
        }
    }

    func cancel() {
        runs.cancel()
    }

    /// Save the result with the orientation of the photo it was made from (RunFlow keeps them together).
    func save() async {
        guard let saved = flow.saveable else { return }
        status = "Saving…"
        do {
            let photo = saved.photo
            let data = try PhotoIO.encodeJPEG(
                saved.output.rgba, width: photo.image.width, height: photo.image.height, colorSpace: photo.colorSpace,
                orientation: photo.orientation)
            try await PhotoIO.saveToLibrary(data)
            status = "Saved to Photos."
        } catch {
            status = "\(error)"
        }
    }

    private func changed(_ flow: RunFlow<DecodedPhoto, DenoisedPhoto>) {
        self.flow = flow
        switch flow.phase {
        case .empty: status = "Pick a photo."
        case .loading: status = "Loading the photo…"
        case .ready:
            if let image = flow.photo?.image { status = "\(image.width) × \(image.height) pixels. Ready." }
        case .running: if flow.progress > 0 { status = "Denoising… \(Int(flow.progress * 100))%" }
        case .done: status = flow.saveable?.output.result ?? "Done."
        case .cancelled: status = "Cancelled."
        case .failed(let message): status = message
        }
    }
}

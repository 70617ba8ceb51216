// The denoise screen: pick a photo, choose the model (precision) and compute units, run with progress and cancel,
// compare before / after, save to Photos. The benchmark screen is one tap away.

import PhotosUI
import SwiftUI

import InvDNCore

@MainActor
struct ContentView: View {
    @State private var model = DenoiseModel()
    @State private var pick: PhotosPickerItem?

    var body: some View {
        NavigationStack {
            VStack(spacing: 12) {
                if let photo = model.photo {
                    BeforeAfterView(
                        before: photo.display, after: model.after?.display,
                        orientation: Image.Orientation(photo.orientation), size: photo.displaySize)
                } else {
                    ContentUnavailableView {
                        Label("No photo", systemImage: "photo")
                    } description: {
                        Text("Pick a photo: it is denoised whole, at full resolution, on this device.")
                    }
                }
                controls
            }
            .padding()
            .navigationTitle("InvDN")
            .navigationBarTitleDisplayMode(.inline)
            .toolbar {
                ToolbarItem(placement: .topBarLeading) {
                    // .current: the file as stored (HEIC stays HEIC), not a transcoded JPEG whose noise differs
                    PhotosPicker(selection: $pick, matching: .images, preferredItemEncoding: .current) {
                        Label("Photo", systemImage: "photo.on.rectangle")
                    }
                }
                ToolbarItem(placement: .topBarTrailing) {
                    NavigationLink(destination: BenchmarkView(launch: nil)) {
                        Label("Benchmark", systemImage: "speedometer")
                    }
                }
            }
            .onChange(of: pick) { _, item in
                model.open(item)
            }
        }
    }

    @ViewBuilder
    private var controls: some View {
        if model.precisions.isEmpty {
            Text("No Core ML model is in this build: export the iOS recipes (invdn export ios-fp16 …) and build again.")
                .font(.footnote)
        } else {
            Picker("Model", selection: $model.precision) {
                ForEach(model.precisions, id: \.self) { Text($0.uppercased()).tag($0) }
            }
            .pickerStyle(.segmented)
        }
        Picker("Compute units", selection: $model.units) {
            ForEach(ComputeUnitChoice.allCases, id: \.self) { Text($0.label).tag($0) }
        }
        Toggle("Adapt to noise level", isOn: $model.adapt)
        if model.canEnsemble {
            Stepper("z samples (ensemble): \(model.ensemble)", value: $model.ensemble, in: 1...8)
        }
        HStack {
            if model.flow.phase == .running {
                ProgressView(value: model.flow.progress)
                Button("Cancel", role: .cancel) { model.cancel() }
            } else {
                Button(model.after == nil ? "Denoise" : "Denoise again") { model.run() }
                    .buttonStyle(.borderedProminent)
                    .disabled(!model.flow.canRun || model.selected == nil)  // off while a photo loads
                if model.after != nil {
                    Button("Save to Photos") { Task { await model.save() } }
                }
            }
        }
        Text(model.status)
            .font(.footnote)
            .foregroundStyle(.secondary)
    }
}

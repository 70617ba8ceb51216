// Benchmark mode: the screen (settings, run, cancel, log, share the results) and, for unattended runs, the same run
// started from the launch arguments (InvDNCore.BenchOptions; see ios_demo/README.md, "Benchmark mode").

import SwiftUI

import InvDNCore

@MainActor
struct BenchmarkView: View {
    let launch: Result<BenchOptions, Error>?  // from the launch arguments: run at once

    @State private var bench = BenchmarkRunner()
    @State private var sizes = "256, 3024x4032"
    @State private var repeats = 5
    @State private var warmup = 2
    @State private var units = Set(ComputeUnitChoice.allCases)
    @State private var precisions: Set<String> = ["fp32", "fp16", "int8"]
    @State private var zin = false
    @State private var launched = false

    var body: some View {
        Form {
            Section("Settings") {
                TextField("Sizes: N or HxW, comma-separated", text: $sizes)
                Stepper("Repeats: \(repeats)", value: $repeats, in: 1...50)
                Stepper("Warm-up runs: \(warmup)", value: $warmup, in: 0...10)
                ForEach(ComputeUnitChoice.allCases, id: \.self) { unit in
                    Toggle(unit.label, isOn: member(unit, of: $units))
                }
                ForEach(["fp32", "fp16", "int8"], id: \.self) { precision in
                    Toggle(precision.uppercased(), isOn: member(precision, of: $precisions))
                }
                Toggle("Also the z-input (tensor) twins", isOn: $zin)
            }
            Section {
                if bench.running {
                    Button("Cancel", role: .cancel) { bench.cancel() }
                } else {
                    Button("Run benchmark") { start() }
                }
            }
            if let url = bench.resultURL {
                Section("Results (for invdn bench ingest)") {
                    Text(url.lastPathComponent).font(.caption.monospaced())
                    ShareLink(item: url)
                }
            }
            Section("Log") {
                Text(bench.log)
                    .font(.caption.monospaced())
                    .textSelection(.enabled)
            }
        }
        .navigationTitle("Benchmark")
        .task {
            guard !launched, let launch else { return }
            launched = true
            switch launch {
            case .success(let options):
                bench.start(options)
            case .failure(let error):
                bench.log = "Launch arguments: \(error)\n"
            }
        }
    }

    /// The settings as launch arguments, through the same parser (one place for the checks).
    private func start() {
        var arguments = ["InvDNDemo", "--benchmark", "--sizes", sizes, "--repeats", "\(repeats)", "--warmup", "\(warmup)"]
        arguments += ["--units", ComputeUnitChoice.allCases.filter { units.contains($0) }.map(\.rawValue).joined(separator: ",")]
        arguments += ["--models", ["fp32", "fp16", "int8"].filter { precisions.contains($0) }.joined(separator: ",")]
        if zin { arguments.append("--zin") }
        do {
            if let options = try BenchOptions.parse(arguments) { bench.start(options) }
        } catch {
            bench.log = "\(error)\n"
        }
    }
}

/// A toggle's binding for membership of `value` in a set.
func member<T: Hashable>(_ value: T, of set: Binding<Set<T>>) -> Binding<Bool> {
    Binding(
        get: { set.wrappedValue.contains(value) },
        set: { on in
            if on { set.wrappedValue.insert(value) } else { set.wrappedValue.remove(value) }
        })
}

import PhotosUI
import SwiftUI

/// The one screen: pick a photo, upscale it (progress, cancel), compare, save.
struct ContentView: View {
    @StateObject private var model = UpscaleViewModel()
    @State private var split = 0.5
    @State private var zoom: CGFloat = 1

    var body: some View {
        NavigationStack {
            VStack(spacing: 12) {
                viewer
                labels
                if model.state.phase == .running {
                    HStack {
                        ProgressView(value: model.state.progress)
                        Button("Cancel", role: .cancel) { model.cancel() }
                            .disabled(!model.state.canCancel)
                    }
                } else if model.after != nil {
                    controls
                }
                actions
                selfTest
            }
            .padding()
            .navigationTitle("MossNet x4")
            .toolbar { modelMenu }
            .task {
                // `-verify` launch argument (Xcode scheme, `simctl launch ... -verify`): run once.
                if ProcessInfo.processInfo.arguments.contains("-verify") { model.verify() }
            }
        }
    }

    @ViewBuilder private var selfTest: some View {
        HStack {
            Button("Verify model") { model.verify() }
                .disabled(model.selfTestRunning || model.artifact == nil)
            Spacer()
        }
        if !model.selfTestLines.isEmpty {
            Text(model.selfTestLines.joined(separator: "\n"))
                .font(.caption2.monospaced())
                .foregroundStyle(model.selfTestPassed == false ? .red : .primary)
                .frame(maxWidth: .infinity, alignment: .leading)
                .accessibilityIdentifier("selftest")
        }
    }

    @ViewBuilder private var viewer: some View {
        if let before = model.before {
            BeforeAfterView(before: before, after: model.after, split: $split, zoom: zoom)
                .background(Color(uiColor: .secondarySystemBackground))
                .clipShape(RoundedRectangle(cornerRadius: 8))
        } else {
            ContentUnavailableView("No photo", systemImage: "photo",
                                   description: Text("Pick a photo, then tap Upscale."))
        }
    }

    private var labels: some View {
        VStack(alignment: .leading, spacing: 4) {
            Text(model.modelLabel).font(.footnote.monospaced())
            if !model.resultLabel.isEmpty {
                Text("Latency: \(model.resultLabel)").font(.footnote.monospaced())
            }
            Text(model.status).font(.footnote).foregroundStyle(.secondary)
        }
        .frame(maxWidth: .infinity, alignment: .leading)
    }

    private var controls: some View {
        VStack(spacing: 6) {
            Slider(value: $split, in: 0...1) { Text("Before/after divider") }
            Picker("Zoom", selection: $zoom) {
                Text("Fit").tag(CGFloat(1))
                Text("2×").tag(CGFloat(2))
                Text("4×").tag(CGFloat(4))
                Text("8×").tag(CGFloat(8))
            }
            .pickerStyle(.segmented)
        }
    }

    private var actions: some View {
        HStack {
            PhotosPicker(selection: $model.pickerItem, matching: .images) {
                Label("Photo", systemImage: "photo.on.rectangle")
            }
            .disabled(!model.state.canPick)
            Spacer()
            Button {
                zoom = 1
                model.upscale()
            } label: {
                Label("Upscale", systemImage: "wand.and.stars")
            }
            .buttonStyle(.borderedProminent)
            .disabled(!model.state.canUpscale)
            Spacer()
            Button { model.save() } label: { Label("Save", systemImage: "square.and.arrow.down") }
                .disabled(!model.state.canSave)
        }
    }

    @ToolbarContentBuilder private var modelMenu: some ToolbarContent {
        if model.artifacts.count > 1 {
            ToolbarItem(placement: .topBarTrailing) {
                Picker("Model", selection: $model.artifact) {
                    ForEach(model.artifacts, id: \.self) { url in
                        Text(url.deletingPathExtension().lastPathComponent).tag(Optional(url))
                    }
                }
                .disabled(model.state.isBusy)
            }
        }
    }
}

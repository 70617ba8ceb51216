// Before / after: the result, with the original over its left part up to a divider that the slider moves. Fit to
// the screen or 1:1 (one pixel of the shown images per screen pixel: they are the photo downsampled to at most
// InvDNCore.MemoryBudget.displayMaxSide on the long side), pinch to zoom in between; scroll when larger.

import SwiftUI

@MainActor
struct BeforeAfterView: View {
    let before: CGImage
    let after: CGImage?
    let orientation: Image.Orientation
    let size: CGSize  // pixels of the shown images, as displayed (rotated)

    @State private var split: CGFloat = 0.5
    @State private var zoom: CGFloat?  // points per photo pixel; nil: fit
    @GestureState private var pinch: CGFloat = 1
    @Environment(\.displayScale) private var displayScale

    var body: some View {
        VStack(spacing: 8) {
            GeometryReader { geometry in
                let fit = min(geometry.size.width / size.width, geometry.size.height / size.height)
                let scale = (zoom ?? fit) * pinch
                let width = size.width * scale
                let height = size.height * scale
                ScrollView([.horizontal, .vertical]) {
                    ZStack(alignment: .topLeading) {
                        photo(after ?? before, scale: scale)
                        if after != nil {
                            photo(before, scale: scale)
                                .mask(alignment: .leading) { Rectangle().frame(width: width * split) }
                            Rectangle()
                                .fill(.white)
                                .frame(width: 2, height: height)
                                .offset(x: width * split - 1)
                        }
                    }
                    .frame(width: width, height: height)
                }
                .gesture(
                    MagnifyGesture()
                        .updating($pinch) { value, state, _ in state = value.magnification }
                        .onEnded { value in
                            let wanted = (zoom ?? fit) * value.magnification
                            zoom = max(fit / 2, min(8 / displayScale, wanted))
                        })
            }
            HStack {
                if after != nil {
                    Text("Before").font(.caption)
                    Slider(value: $split, in: 0...1)
                    Text("After").font(.caption)
                } else {
                    Spacer()
                }
                Button("Fit") { zoom = nil }
                Button("1:1") { zoom = 1 / displayScale }
            }
        }
    }

    // Pixels stay sharp from 1:1 up; smaller, they are filtered.
    private func photo(_ image: CGImage, scale: CGFloat) -> some View {
        Image(decorative: image, scale: 1, orientation: orientation)
            .resizable()
            .interpolation(scale * displayScale >= 1 ? .none : .medium)
    }
}

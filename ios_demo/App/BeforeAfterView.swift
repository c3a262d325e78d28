import SwiftUI

/// Before/after comparison: the upscaled image with the input drawn over its left part up to a
/// divider. Drag across the image (at fit zoom) or use the slider to move the divider; zoom in
/// to see pixels (the input is drawn with nearest-neighbour so its pixels stay visible).
struct BeforeAfterView: View {
    let before: UIImage
    let after: UIImage?
    @Binding var split: Double  // fraction of the width that shows "before"
    let zoom: CGFloat

    var body: some View {
        GeometryReader { geo in
            let size = fitted(before.size, in: geo.size)
            ScrollView([.horizontal, .vertical]) {
                comparison(CGSize(width: size.width * zoom, height: size.height * zoom))
                    .frame(minWidth: geo.size.width, minHeight: geo.size.height)
            }
        }
    }

    private func comparison(_ size: CGSize) -> some View {
        ZStack(alignment: .topLeading) {
            Image(uiImage: after ?? before).resizable().interpolation(after == nil ? .none : .high)
            if after != nil {
                Image(uiImage: before).resizable().interpolation(.none)
                    .mask(alignment: .leading) { Rectangle().frame(width: size.width * split) }
                Rectangle().fill(.white).frame(width: 2).shadow(radius: 2)
                    .offset(x: size.width * split - 1)
                HStack {
                    tag("Before")
                    Spacer()
                    tag("After x4")
                }
                .padding(8)
            }
        }
        .frame(width: size.width, height: size.height)
        .contentShape(Rectangle())
        .gesture(DragGesture(minimumDistance: 0).onChanged { drag in
            split = min(max(drag.location.x / size.width, 0), 1)
        }, including: zoom == 1 && after != nil ? .all : .subviews)
    }

    private func tag(_ text: String) -> some View {
        Text(text).font(.caption.bold()).padding(.horizontal, 6).padding(.vertical, 2)
            .background(.ultraThinMaterial, in: Capsule())
    }

    private func fitted(_ image: CGSize, in box: CGSize) -> CGSize {
        guard image.width > 0, image.height > 0 else { return box }
        let f = min(box.width / image.width, box.height / image.height)
        return CGSize(width: image.width * f, height: image.height * f)
    }
}

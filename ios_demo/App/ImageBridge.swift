import SRCore
import UIKit

/// UIKit images <-> SRCore's pixels. Draws with the photo's orientation applied, in sRGB, into a
/// transparent premultiplied bitmap (Core Graphics draws nothing else) and un-premultiplies it:
/// SRCore keeps the alpha beside the colour and resizes it apart from the model (the alpha
/// policy of docs/conformance.md, as in the Python CLI and the Android app). Colour under
/// alpha < 255 is only as precise as the premultiplied bitmap; under alpha 0 it is lost.
enum ImageBridge {
    /// Upright pixels of `image`, scaled down (aspect kept) to at most `maxPixels`.
    static func rgbImage(from image: UIImage, maxPixels: Int) -> RGBImage? {
        var width = Int((image.size.width * image.scale).rounded())
        var height = Int((image.size.height * image.scale).rounded())
        guard width > 0, height > 0 else { return nil }
        if width * height > maxPixels {
            let f = (Double(maxPixels) / Double(width * height)).squareRoot()
            width = max(1, Int(Double(width) * f))
            height = max(1, Int(Double(height) * f))
        }
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        let drawn = rgba.withUnsafeMutableBytes { buffer -> Bool in
            guard let space = CGColorSpace(name: CGColorSpace.sRGB),
                  let context = CGContext(data: buffer.baseAddress, width: width, height: height,
                                          bitsPerComponent: 8, bytesPerRow: width * 4, space: space,
                                          bitmapInfo: CGImageAlphaInfo.premultipliedLast.rawValue) else { return false }
            context.interpolationQuality = .high
            // UIKit draws top-down; flip the bitmap context so the first row is the top one.
            context.translateBy(x: 0, y: CGFloat(height))
            context.scaleBy(x: 1, y: -1)
            UIGraphicsPushContext(context)
            image.draw(in: CGRect(x: 0, y: 0, width: width, height: height))
            UIGraphicsPopContext()
            return true
        }
        guard drawn else { return nil }
        for i in stride(from: 0, to: rgba.count, by: 4) where rgba[i + 3] != 255 {
            let a = Int(rgba[i + 3])
            for c in 0..<3 { rgba[i + c] = a == 0 ? 0 : UInt8(min(255, (Int(rgba[i + c]) * 255 + a / 2) / a)) }
        }
        return RGBImage(rgba: rgba, width: width, height: height)
    }

    static func uiImage(from rgb: RGBImage) -> UIImage? {
        guard let space = CGColorSpace(name: CGColorSpace.sRGB),
              let provider = CGDataProvider(data: Data(rgb.rgbaBytes()) as CFData),
              let cgImage = CGImage(width: rgb.width, height: rgb.height, bitsPerComponent: 8, bitsPerPixel: 32,
                                    bytesPerRow: rgb.width * 4, space: space,
                                    bitmapInfo: CGBitmapInfo(rawValue: (rgb.alpha == nil ? CGImageAlphaInfo.noneSkipLast
                                                                        : CGImageAlphaInfo.last).rawValue),
                                    provider: provider, decode: nil, shouldInterpolate: false,
                                    intent: .defaultIntent) else { return nil }
        return UIImage(cgImage: cgImage)
    }
}

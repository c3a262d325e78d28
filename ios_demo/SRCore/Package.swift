// swift-tools-version:6.0
// SRCore: the platform-free part of the MossNet iOS demo (Foundation only), so that it builds
// and is tested on Linux too. Core ML code is compiled only where Core ML exists.
// Swift 6 language mode: complete strict concurrency checking, data races are errors.
import PackageDescription

let package = Package(
    name: "SRCore",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [.library(name: "SRCore", targets: ["SRCore"])],
    targets: [
        .target(name: "SRCore"),
        .testTarget(name: "SRCoreTests", dependencies: ["SRCore"]),
    ],
    swiftLanguageModes: [.v6]
)

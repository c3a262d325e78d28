import SwiftUI

/// Entry point: one window with the upscaling screen.
@main
struct MossNetDemoApp: App {
    var body: some Scene {
        WindowGroup {
            ContentView()
        }
    }
}

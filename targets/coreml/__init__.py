"""Core ML target: two mlprogram .mlpackage files (context, upscale_patch), iOS 17+."""

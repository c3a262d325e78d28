"""LiteRT (TFLite) target: one .tflite with two signatures, converted by litert-torch."""

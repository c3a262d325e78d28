"""``python -m targets.tflite export|upscale`` (see ``targets.cli``)."""
import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main("tflite"))

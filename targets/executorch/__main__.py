"""``python -m targets.executorch export|upscale|build-runner`` (see ``targets.cli``)."""
import sys

from mossnet.core.errors import quiet_interrupts

if __name__ == "__main__":  # before torch imports (seconds): Ctrl-C there is one line too
    quiet_interrupts()

from ..cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("executorch"))

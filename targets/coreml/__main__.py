"""``python -m targets.coreml export|upscale`` (see ``targets.cli``), ``verify`` (``verify``) and
``fp16-range`` (``fp16_range``)."""
import sys

from mossnet.core.errors import quiet_interrupts

if __name__ == "__main__":  # before torch imports (seconds): Ctrl-C there is one line too
    quiet_interrupts()
    if sys.argv[1:2] == ["verify"]:  # before any heavy import: off macOS it is one line
        from .verify import main as verify
        sys.exit(verify(sys.argv[2:]))
    if sys.argv[1:2] == ["fp16-range"]:
        from .fp16_range import main as fp16_range
        sys.exit(fp16_range(sys.argv[2:]))

from ..cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("coreml"))

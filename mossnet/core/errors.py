"""One base class for every problem a user can cause, so that every command has one error path.

Each layer raises its own subclass (``ImageError``, ``CheckpointError``, ``ManifestError``, ...)
with a one-line message that names the file or flag at fault; a command runs its body through
``run_cli``, which prints ``error: <message>`` and exits 2. A failed write (``OSError``) is one
line and exit 1; Ctrl-C and SIGTERM are one line and exit 130 / 143, after the ``finally`` and
``except BaseException`` blocks of the writers have removed their temporaries. Anything else is
a bug and keeps its traceback."""
from __future__ import annotations

import signal
import sys
from typing import Callable


class UserError(ValueError):
    """A one-line, user-facing problem (bad input file, flag, checkpoint or artifact)."""


class ImageError(UserError):
    """A one-line, user-facing problem with an input or output image (``mossnet.core.image_io``
    re-exports it; here so that the PNG reader below it can raise it too)."""


class FlagError(UserError):
    """A flag's value that only the model or data can show to be wrong (``--patch 33`` for a
    model aligned to 2): reported like an argument error, as one line naming the flag."""


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like ``KeyboardInterrupt`` so that cleanup runs
    (the default action kills the process on the spot and leaves temporaries behind)."""


def _raise_terminated(signum, frame):
    raise Terminated()


def one_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's text (library errors can span pages)."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[:limit - 3] + "..."


def run_cli(command: Callable[[], int]) -> int:
    """Run a command's body with the one error path every CLI shares."""
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (a command run from a worker thread): keep the default
        pass
    try:
        return command()
    except UserError as exc:
        print(f"error: {one_line(exc, 400)}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permission denied, a folder where a file should go, ...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def quiet_interrupts() -> None:
    """Ctrl-C before ``run_cli`` starts (while torch imports, seconds on a busy machine) is one
    line too: a command module calls this before its heavy imports. Python still exits by
    SIGINT, so the shell sees 130."""
    hook = sys.excepthook

    def excepthook(kind, value, tb):
        if issubclass(kind, KeyboardInterrupt):
            print("interrupted", file=sys.stderr)
        else:
            hook(kind, value, tb)
    sys.excepthook = excepthook

"""One base class for every problem a user can cause, so that every command has one error path.

Each layer raises its own subclass (``ImageError``, ``CheckpointError``, ``ManifestError``, ...)
with a one-line message that names the file or flag at fault; a command catches
``UserError`` alone, prints ``error: <message>`` and exits 2. Anything else is a bug and keeps
its traceback."""
from __future__ import annotations

import sys
from typing import Callable


class UserError(ValueError):
    """A one-line, user-facing problem (bad input file, flag, checkpoint or artifact)."""


def run_cli(command: Callable[[], int]) -> int:
    """Run a command's body with the one error path every CLI shares: a ``UserError`` or a
    failed write is one line on stderr and exit 2 (1 for a write), Ctrl-C is one line and exit
    130. Anything else is a bug and keeps its traceback."""
    try:
        return command()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permission denied, a folder where a file should go, ...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


class FlagError(UserError):
    """A flag's value that only the model or data can show to be wrong (``--patch 33`` for a
    model aligned to 2): reported like an argument error, as one line naming the flag."""

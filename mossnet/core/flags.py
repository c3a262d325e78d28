"""argparse types shared by every command line: a bad flag is an argument error (usage line,
exit 2), never an image or checkpoint error."""
from __future__ import annotations

import argparse

MAX_THREADS = 256  # more threads than any phone or desktop has cores: a typo, not a setting


def positive(text: str) -> int:
    """An integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def thread_count(text: str) -> int:
    """``--threads``: 1 .. MAX_THREADS."""
    value = positive(text)
    if value > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"at most {MAX_THREADS}, got {value}")
    return value

"""Writing files and folders so that no reader, and no later run, ever sees a partial one.

A file is written into an unnamed temporary file (Linux ``O_TMPFILE``) in the target's folder
and linked into place only once complete, so even SIGKILL leaves nothing behind. Where the OS
or file system has no unnamed files, and for folders (a ``.coreml`` artifact, a quantized
pipeline), the temporary is a hidden sibling named ``.<name>.<pid>.<tag>``: a run that is
killed leaves it, and the next write to the same target deletes every such sibling whose
process is gone (``sweep_stale``). Everything written gets normal permissions (``0666`` /
``0777`` less the umask), never ``mkstemp``'s 0600/0700."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable

TEMP_TAGS = ("tmp", "partial", "old")


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def normal_permissions(path: Path) -> None:
    """Give ``path`` (and everything below a folder) the permissions a plain ``open``/``mkdir``
    would have given: temporary-file helpers create 0600/0700."""
    mask = umask()
    paths = [path] + (sorted(path.rglob("*")) if path.is_dir() and not path.is_symlink() else [])
    for p in paths:
        if p.is_symlink():
            continue
        executable = p.is_dir() or p.stat().st_mode & 0o100
        os.chmod(p, (0o777 if executable else 0o666) & ~mask)


def temp_sibling(path: Path, tag: str) -> Path:
    """The hidden name a temporary for ``path`` takes: ``.<name>.<pid>.<tag>``."""
    return path.with_name(f".{path.name}.{os.getpid()}.{tag}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(path: Path) -> list[Path]:
    """Delete the temporaries that killed runs left for ``path`` (their process is gone);
    the paths removed. Nothing else is touched: the name pattern is ours alone."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.({'|'.join(TEMP_TAGS)})(\.[^/]*)?$")
    removed = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        if not m or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _unnamed_file(folder: Path) -> int | None:
    """An ``O_TMPFILE`` descriptor in ``folder`` that can be reopened by its /proc path, or
    None where the OS or file system has none."""
    if not hasattr(os, "O_TMPFILE") or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(folder, os.O_TMPFILE | os.O_RDWR, 0o666)
    except OSError:
        return None


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)`` and put the result at ``path`` in one step. ``tmp_path`` has no
    meaningful suffix (a /proc path for an unnamed file): writers must not infer a format
    from it. On any failure or interruption the temporary is gone and ``path`` is untouched."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    sweep_stale(path)
    fd = _unnamed_file(parent)
    if fd is not None:
        named = temp_sibling(path, "tmp")
        try:
            write(f"/proc/self/fd/{fd}")
            os.fsync(fd)
            dir_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
            try:  # linkat(AT_SYMLINK_FOLLOW): CPython's os.link only follows with a dir fd
                os.link(f"/proc/self/fd/{fd}", named.name, dst_dir_fd=dir_fd, follow_symlinks=True)
            finally:
                os.close(dir_fd)
            os.replace(named, path)  # a complete file; swept by the next run if killed here
        except BaseException:
            named.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.tmp.", dir=parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_folder(tmp: Path, folder: Path) -> None:
    """Move the finished folder ``tmp`` onto ``folder``: the old one is renamed aside first and
    deleted only once the new one is in place (restored if that fails)."""
    old = temp_sibling(folder, "old")
    normal_permissions(tmp)
    if folder.exists():
        folder.rename(old)
    try:
        tmp.rename(folder)
    except BaseException:
        if old.exists() and not folder.exists():
            old.rename(folder)
        raise
    shutil.rmtree(old, ignore_errors=True)

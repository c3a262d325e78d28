"""Many images in one call: ``upscale IN_DIR OUT_DIR``, ``upscale a.png b.jpg OUT_DIR``.

``plan_batch`` turns the command line's paths into (input, output) jobs, or says it is the
one-image form; ``run_batch`` upscales the jobs with one loaded ``Upscaler``. Decoding the next
image (a thread) and encoding the previous one (PNG strips in the writer's thread, JPEG and
WebP in a thread) overlap the tiles' compute: Pillow's decoders, zlib and the encoders release
the GIL. A file that fails is one line on stderr and the batch goes on; the exit code says
whether any failed."""
from __future__ import annotations

import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mossnet.core.errors import UserError, one_line
from mossnet.core.image_io import IMAGE_SUFFIXES, OUTPUT_FORMATS, ImageError, iter_image_files, load_image
from mossnet.core.upscaler import Upscaler


@dataclass
class Job:
    src: Path
    dst: Path
    problem: str | None = None  # refused before any work (an input's own output, a name clash)


def is_batch(paths: list[str]) -> bool:
    """The one-image form is ``IN OUT`` with IN not a folder and OUT not an existing folder;
    everything else (several inputs, a folder in, a folder out) is a batch."""
    return not (len(paths) == 2 and not Path(paths[0]).is_dir() and not Path(paths[1]).is_dir())


def plan_batch(paths: list[str], fmt: str = "png") -> tuple[Path, list[Job]]:
    """(output folder, jobs). Inputs are image files and folders (searched recursively; the
    sub-folders are mirrored under the output folder); the output is named after the input
    with the ``fmt`` suffix. An output that would be an input, or the output of an earlier
    input, is refused for that file alone."""
    if len(paths) < 2:
        raise ImageError("give the inputs and then the output folder")
    *inputs, out = paths
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ImageError(f"{out_dir}: is not a folder; with several inputs or a folder in, the last path "
                         "is the output folder")
    if not out_dir.exists() and out_dir.suffix.lower() in IMAGE_SUFFIXES:  # never a folder named out.png
        if len(inputs) == 1:
            raise ImageError(f"{inputs[0]}: is a directory; to upscale a folder, give an output folder, "
                             f"not {out_dir}")
        raise ImageError(f"{out_dir}: names an image file; with several inputs the last path is the output folder")
    suffix = OUTPUT_FORMATS[fmt]
    pairs: list[tuple[Path, Path]] = []
    for name in inputs:
        src = Path(name)
        if src.is_dir():
            files = iter_image_files(src)
            if not files:
                raise ImageError(f"{src}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
            pairs += [(f, out_dir / f.relative_to(src).with_suffix(suffix)) for f in files]
        else:  # a missing or unreadable file is that file's error, reported in its turn
            pairs.append((src, out_dir / (src.stem + suffix)))
    inputs_resolved = {_key(src) for src, _ in pairs}
    seen: dict[Path, Path] = {}
    jobs = []
    for src, dst in pairs:
        job = Job(src, dst)
        if _key(dst) in inputs_resolved:
            job.problem = f"{dst}: is an input; refusing to overwrite it (choose another output folder)"
        elif _key(dst) in seen:
            job.problem = f"{dst}: is also the output of {seen[_key(dst)]}; rename one of them"
        else:
            seen[_key(dst)] = src
        jobs.append(job)
    return out_dir, jobs


def _key(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()


@dataclass
class BatchResult:
    upscaled: int = 0
    skipped: int = 0
    failed: int = 0
    bad_input: bool = False  # some failure was the input's (exit 2) rather than a write's (exit 1)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return 0 if not self.failed else 2 if self.bad_input else 1

    def summary(self) -> str:
        rate = self.upscaled / self.seconds if self.seconds > 0 else 0.0
        return (f"{self.upscaled} upscaled, {self.skipped} skipped, {self.failed} failed in "
                f"{self.seconds:.1f} s, {rate:.2f} images/s")


def run_batch(up: Upscaler, out_dir: Path, jobs: list[Job], *, max_pixels: int, quality: int | None = None,
              skip_existing: bool = False, quiet: bool = False,
              say: Callable[[str], None] | None = None) -> BatchResult:
    """Upscale every job; errors are reported one line each and do not stop the batch."""
    start = time.perf_counter()
    result = BatchResult()
    todo = []
    for job in jobs:
        if skip_existing and job.problem is None and job.dst.exists():
            result.skipped += 1
        else:
            todo.append(job)
    from tqdm import tqdm  # here: importing it costs a one-image command line about 25 ms
    bar = tqdm(total=len(todo), desc="upscaling", unit="img", disable=quiet, file=sys.stderr, dynamic_ncols=True)
    report = say or (lambda msg: tqdm.write(msg, file=sys.stderr))

    def fail(job: Job, exc: BaseException | str) -> None:
        result.failed += 1
        if isinstance(exc, (str, UserError)):
            result.bad_input = True
            message = exc if isinstance(exc, str) else one_line(exc, 400)
        else:  # OSError: a write that failed
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else f"{job.dst}: "
            message = where + (getattr(exc, "strerror", None) or one_line(exc))
        report(f"error: {message}")

    def settle(pending: tuple[Job, Future] | None) -> None:
        if pending is None:
            return
        job, future = pending
        try:
            future.result()
            result.upscaled += 1
        except (UserError, OSError) as exc:
            fail(job, exc)
        bar.update(1)

    decoder = ThreadPoolExecutor(1, thread_name_prefix="decode")
    encoder = ThreadPoolExecutor(1, thread_name_prefix="encode")
    loads: dict[int, Future] = {}

    def prefetch(i: int) -> None:
        if i < len(todo) and todo[i].problem is None:
            loads[i] = decoder.submit(load_image, todo[i].src, max_pixels)

    pending: tuple[Job, Future] | None = None  # the previous image's encode, still running
    try:
        prefetch(0)
        for i, job in enumerate(todo):
            prefetch(i + 1)
            if job.problem is not None:
                fail(job, job.problem)
                bar.update(1)
                continue
            try:
                image = loads.pop(i).result()
                if image.frames > 1:
                    report(f"note: {job.src} is an animation of {image.frames} frames; upscaling its first frame only")
                job.dst.parent.mkdir(parents=True, exist_ok=True)
                future = up.upscale_to_file(image, job.dst, quality=quality, encoder=encoder)
            except (UserError, OSError) as exc:
                fail(job, exc)
                bar.update(1)
                continue
            settle(pending)  # at most one encode in flight: memory holds two results at most
            pending = None
            if future is None:
                result.upscaled += 1
                bar.update(1)
            else:
                pending = (job, future)
        settle(pending)
        pending = None
    finally:
        decoder.shutdown(wait=True, cancel_futures=True)
        encoder.shutdown(wait=True, cancel_futures=True)
        bar.close()
    result.seconds = time.perf_counter() - start
    return result


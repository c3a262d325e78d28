"""The four PNGs (matplotlib, Agg backend), each written atomically."""
from __future__ import annotations

from pathlib import Path

from mossnet.core.image_io import atomic_write

from .inputs import output_megapixels
from .published import BICUBIC_REFERENCE, PUBLISHED


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"))
    _plt().close(fig)


def _size_axis(ax, sizes: dict) -> None:
    mps = [output_megapixels(lr) for lr in sizes.values()]
    ax.set_xscale("log")
    ax.set_xticks(mps)
    ax.set_xticklabels([f"{n}\n{mp:.2g} MP" for n, mp in zip(sizes, mps)])
    ax.minorticks_off()
    ax.set_xlabel("output size (x4)")
    ax.grid(True, alpha=0.3)


def latency(results: dict, path: Path) -> None:
    """Job time vs output size, one line per method (single timed run per size, measured in
    the memory children), log-log."""
    plt, sizes = _plt(), results["settings"]["sizes"]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for key, mem in results.get("memory", {}).items():
        m = results["methods"][key]
        runs = mem.get("stream") or mem.get("ram") or {}  # tiled: the streamed run; else the only one
        pts = [(output_megapixels(sizes[s]), r["seconds"]) for s, r in runs.items() if r.get("seconds") is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", ls="-" if m["tiled"] else "--", label=m["label"])
    _finish_size_plot(fig, ax, sizes, "seconds per image (one run after warm-up)",
                      "Latency vs image size" + _note(results), path)


def memory(results: dict, path: Path) -> None:
    plt, sizes = _plt(), results["settings"]["sizes"]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for key, mem in results.get("memory", {}).items():
        m = results["methods"][key]
        for mode, style in (("stream", "-"), ("ram", "--")):
            runs = mem.get(mode, {})
            pts = [(output_megapixels(sizes[s]), r["peak_mb"]) for s, r in runs.items()]
            if pts:
                suffix = {"stream": "", "ram": " (output held in RAM)"}[mode] if m["tiled"] else ""
                ax.plot(*zip(*pts), style, marker="o", label=m["label"] + suffix)
    _finish_size_plot(fig, ax, sizes, "peak RSS of the process (MB)",
                      "Peak memory vs image size" + _note(results), path)


def _finish_size_plot(fig, ax, sizes: dict, ylabel: str, title: str, path: Path) -> None:
    """The shared frame of the per-size plots: output size on x, log y, legend, save."""
    _size_axis(ax, sizes)
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _legend(ax, fontsize=7)
    _save(fig, path)


def psnr_vs_gflops(results: dict, path: Path) -> None:
    plt = _plt()
    quality = results.get("quality", {})
    sets = [s for s in ("Set5", "Set14", "B100") if any(s in q for q in quality.values())]
    sets = sets or ["Set5", "Set14", "B100"]  # without a quality run: the published points alone
    fig, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 4.4), squeeze=False)
    for ax, s in zip(axes[0], sets):
        for p in PUBLISHED:
            ax.scatter(p["gflops_256"], p["psnr"][s], marker="s", color="gray")
            ax.annotate(f"{p['name']} ({p['parameters'] // 1000}K)", (p["gflops_256"], p["psnr"][s]),
                        fontsize=7, xytext=(4, -10), textcoords="offset points")
        named = False
        for key, m in results["methods"].items():
            q = quality.get(key, {}).get(s)
            if q and m.get("gflops_256"):
                ax.scatter(m["gflops_256"], q["psnr"], marker="o", label=m["label"])
                if not named:
                    ax.annotate(f"MossNet-XS ({m['parameters'] // 1000}K), this run", (m["gflops_256"], q["psnr"]),
                                fontsize=7, xytext=(6, 6), textcoords="offset points")
                    named = True
            elif q and key == "bicubic-matlab":
                ax.axhline(q["psnr"], color="k", ls=":", lw=1, label="bicubic (measured)")
        ax.axhline(BICUBIC_REFERENCE[s], color="gray", ls="--", lw=0.8, label="bicubic (reference)")
        ax.set_xscale("log")
        ax.set_xlim(1, 200)
        ax.margins(y=0.08)
        ax.set_xlabel("GFLOPs at 256x256 LR (2 per multiply-add)")
        ax.set_ylabel(f"{s} Y-PSNR (dB), x4")
        ax.set_title(s)
        ax.grid(True, alpha=0.3)
    _legend(axes[0][-1], fontsize=6, loc="lower right")
    fig.suptitle("Quality vs compute: published small models (squares) and this run (circles)", fontsize=10)
    _save(fig, path)


def grid(rows: list[dict], path: Path) -> None:
    if not rows:
        return
    plt = _plt()
    ncol = len(rows[0]["cells"])
    fig, axes = plt.subplots(len(rows), ncol, figsize=(2.1 * ncol, 2.35 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        for c, (label, img, psnr) in enumerate(row["cells"]):
            ax = axes[r][c]
            ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            title = label if r == 0 else ""
            ax.set_title(title + ("" if psnr is None else f"\n{psnr:.2f} dB"), fontsize=7)
            if c == 0:
                ax.set_ylabel(row["name"], fontsize=7)
    fig.suptitle("x4 crops (Y-PSNR of the whole image under each)", fontsize=9)
    _save(fig, path)


def _legend(ax, **kw) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def _note(results: dict) -> str:
    m, load = results["machine"], results.get("load", {})
    return f"\n{m['cpu']}, {m['cpus']} CPUs, load average {load.get('load_average_start', ['?'])[0]} at start"

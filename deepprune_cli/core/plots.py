"""Figures: sequence logos of motifs (in bits, logomaker) and evaluation plots.

matplotlib and logomaker are imported inside the functions (they cost ~0.5 s). Figures are built
as :class:`matplotlib.figure.Figure` objects, never through pyplot's global state, and written
atomically; the Agg backend is selected unless pyplot was already imported by the caller (a
notebook keeps its own backend). The output format follows the file suffix (``.png``, ``.svg``,
``.pdf``) unless ``fmt`` is given.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from deepprune_cli.core.atomic import atomic_output, output_directory
from deepprune_cli.core.locking import output_lock
from deepprune_cli.core.motifs import Motif

FORMATS = ("png", "svg", "pdf")
_SAFE = re.compile(r"[^A-Za-z0-9._+-]")


def _matplotlib():
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure


def _format(path: Path, fmt: str | None) -> str:
    fmt = (fmt or path.suffix.lstrip(".") or "png").lower()
    if fmt not in FORMATS:
        raise ValueError(f"{path}: unsupported figure format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


# Metadata matplotlib would otherwise embed: the creation date (SVG, PDF) and the software version.
# Without them (and with a fixed SVG id salt) the same figure gives the same bytes on every run.
_METADATA = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "Creator": None, "Producer": None},
}
SVG_HASHSALT = "deepprune"  # SVG element ids are hashes salted with this (matplotlib: a random uuid)


def _write_figure(fig, fh, fmt: str, dpi: int = 150) -> None:
    """Render ``fig`` to a binary stream, byte-identical for identical figures (no date, version or random id)."""
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": SVG_HASHSALT}):
        fig.savefig(fh, format=fmt, dpi=dpi, bbox_inches="tight", metadata=_METADATA[fmt])


def _save(fig, path: str | os.PathLike, fmt: str | None, dpi: int = 150) -> Path:
    """Write ``fig`` atomically (see :func:`_write_figure`)."""
    path = Path(path)
    fmt = _format(path, fmt)
    with atomic_output(path, "wb") as fh:
        _write_figure(fig, fh, fmt, dpi)
    return path


def bits_matrix(probs: np.ndarray, background: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """Letter heights of a logo in bits: ``p[w, c] * IC[w]`` with ``IC[w] = sum_c p log2(p / bg)``.

    ``probs`` ``(W, 4)`` -> float64 ``(W, 4)`` (non-negative; a column's total is its information).
    """
    p = np.asarray(probs, dtype=np.float64)
    bg = np.full(4, 0.25) if background is None else np.asarray(background, dtype=np.float64)
    bg = bg / bg.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        ic = np.where(p > 0, p * np.log2(p / bg), 0.0).sum(axis=1)
    return p * np.maximum(ic, 0.0)[:, None]


def draw_logo(ax, probs: np.ndarray, background=None, title: str | None = None) -> None:
    """Draw a logo of ``probs`` ``(W, 4)`` in bits on a matplotlib ``ax``."""
    import logomaker
    import pandas as pd

    heights = bits_matrix(probs, background)
    df = pd.DataFrame(heights, columns=list("ACGT"))
    logomaker.Logo(df, ax=ax, color_scheme="classic", show_spines=False, baseline_width=0)
    ax.set_ylim(0, 2.0 if background is None else max(2.0, float(heights.sum(axis=1).max()) * 1.05))
    ax.set_ylabel("bits")
    ax.set_xticks(range(len(df)))
    ax.set_xticklabels([str(i + 1) for i in range(len(df))], fontsize=7)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(True)
    if title:
        ax.set_title(title, fontsize=9, loc="left")


def _motif_title(m: Motif) -> str:
    name = f" {m.name}" if m.name and m.name != m.id else ""
    return f"{m.id}{name}  n={m.nsites}"


def save_logo(
    motif: Motif, path: str | os.PathLike, background=None, fmt: str | None = None, title: str | None = None
) -> Path:
    """One motif's logo (bits) to ``path``, written atomically."""
    return _save(_logo_figure(motif, background, title), path, fmt)


def _logo_figure(motif: Motif, background=None, title: str | None = None):
    Figure = _matplotlib()
    fig = Figure(figsize=(max(3.0, 0.35 * motif.width + 1.0), 2.0))
    draw_logo(fig.add_subplot(1, 1, 1), motif.probs, background, title if title is not None else _motif_title(motif))
    return fig


def logo_png(motif: Motif, background=None, title: str | None = None, dpi: int = 100) -> bytes:
    """One motif's logo (bits) as PNG bytes, e.g. to embed in a page; same bytes for the same motif."""
    import io

    buf = io.BytesIO()
    _write_figure(_logo_figure(motif, background, title), buf, "png", dpi)
    return buf.getvalue()


def safe_filename(name: str, ext: str) -> str:
    """``name.ext`` with every character but letters, digits and ``._+-`` replaced by ``_``."""
    return f"{_SAFE.sub('_', name)}.{ext}"


def logo_filename(motif: Motif, fmt: str = "png") -> str:
    """A safe file name for a motif's logo (:func:`safe_filename` of its id)."""
    return safe_filename(motif.id, fmt)


def save_logos(
    motifs: Sequence[Motif], directory: str | os.PathLike, fmt: str = "png", background=None, overview: bool = True
) -> list[Path]:
    """One logo per motif in ``directory`` (``<id>.<fmt>``) plus ``overview.<fmt>`` of all.

    The directory is created if needed and locked while written; every file is written atomically.
    Returns the paths.
    """
    fmt = _format(Path(f"x.{fmt}"), fmt)
    directory = Path(directory)
    with output_lock(directory):  # the directory's lock covers every file written into it
        output_directory(directory)
        paths = [save_logo(m, directory / logo_filename(m, fmt), background, fmt) for m in motifs]
        if overview and motifs:
            paths.append(save_overview(motifs, directory / f"overview.{fmt}", background, fmt))
    return paths


def save_overview(
    motifs: Sequence[Motif],
    path: str | os.PathLike,
    background=None,
    fmt: str | None = None,
    labels: Sequence[str] | None = None,
) -> Path:
    """All motifs' logos stacked in one figure (one row each, aligned on a common x scale)."""
    if not motifs:
        raise ValueError("no motifs to draw")
    Figure = _matplotlib()
    wmax = max(m.width for m in motifs)
    fig = Figure(figsize=(max(4.0, 0.3 * wmax + 1.5), 1.5 * len(motifs) + 0.3))
    for i, m in enumerate(motifs):
        ax = fig.add_subplot(len(motifs), 1, i + 1)
        title = labels[i] if labels is not None else f"{_motif_title(m)}  {m.consensus}"
        draw_logo(ax, m.probs, background, title)
        ax.set_xlim(-0.5, wmax - 0.5)
    fig.tight_layout()
    return _save(fig, path, fmt)


# --------------------------------------------------------------------------------------------
# evaluation figures


def plot_auroc_vs_kernels(
    series: Mapping[str, Sequence[tuple[float, float]]],
    path: str | os.PathLike,
    fmt: str | None = None,
    title: str | None = None,
    ylabel: str = "AUROC",
) -> Path:
    """AUROC against the number of kernels, one line per variant (Deepprune's Figure 2).

    ``series``: variant -> ``[(kernels, auroc), ...]`` (any order; drawn by kernel count on a
    log2 axis, most kernels on the left as pruning proceeds).
    """
    if not series:
        raise ValueError("nothing to plot")
    Figure = _matplotlib()
    fig = Figure(figsize=(5.0, 3.5))
    ax = fig.add_subplot(1, 1, 1)
    ticks: set[float] = set()
    for name, pts in series.items():
        pts = sorted(pts, key=lambda t: -t[0])
        if not pts:
            continue
        x, y = zip(*pts)
        ticks.update(x)
        ax.plot(x, y, marker="o", markersize=4, label=str(name))
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(ticks))
    ax.set_xticklabels([f"{t:g}" for t in sorted(ticks)])
    ax.minorticks_off()
    ax.invert_xaxis()
    ax.set_xlabel("kernels")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return _save(fig, path, fmt)


def plot_paired_scatter(
    baseline: Sequence[float],
    other: Sequence[float],
    path: str | os.PathLike,
    labels: Sequence[str] | None = None,
    xlabel: str = "baseline AUROC",
    ylabel: str = "deepprune AUROC",
    fmt: str | None = None,
    title: str | None = None,
) -> Path:
    """One point per dataset, baseline on x and the other method on y, with the diagonal
    (Deepprune's Figure 6). ``baseline`` and ``other`` are ``(n,)``; ``labels`` name the points."""
    x = np.asarray(baseline, dtype=np.float64)
    y = np.asarray(other, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) == 0:
        raise ValueError("baseline and other must be equally long non-empty sequences")
    Figure = _matplotlib()
    fig = Figure(figsize=(4.0, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    lo = float(min(x.min(), y.min()))
    hi = float(max(x.max(), y.max()))
    pad = max(0.01, 0.05 * (hi - lo))
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", lw=1, ls="--")
    ax.scatter(x, y, s=18, zorder=3)
    if labels is not None:
        for xi, yi, lab in zip(x, y, labels):
            ax.annotate(str(lab), (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path, fmt)


def plot_message(path: str | os.PathLike, text: str, fmt: str | None = None) -> Path:
    """A figure that only says ``text`` (e.g. why there is nothing to draw), so a workflow's
    expected figure still appears and tells the reader why it is empty."""
    Figure = _matplotlib()
    fig = Figure(figsize=(4.0, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.set_axis_off()
    return _save(fig, path, fmt)


__all__ = [
    "plot_message", "safe_filename", "bits_matrix", "draw_logo", "save_logo", "save_logos", "save_overview", "logo_filename",
    "plot_auroc_vs_kernels", "plot_paired_scatter", "FORMATS",
]  # fmt: skip


def plot_mutation_map(
    tokens: np.ndarray, delta: np.ndarray, path: str | os.PathLike, title: str | None = None, fmt: str | None = None
) -> Path:
    """DeepBind-style mutation map: the sequence as a logo over a heat map of Δ logit.

    Args:
        tokens: uint8 ``(L,)`` reference sequence (A, C, G, T, N = 0..4).
        delta: float ``(L, 4)``: logit change when position ``p`` becomes base ``b`` (0 at the
            reference base).
    Each reference letter's height is the mean loss of logit over its three substitutions
    (``-mean Δ``: tall = the model relies on that base; below the axis = mutations raise the
    output). Written atomically and byte-identical for identical inputs.
    """
    import logomaker
    import pandas as pd

    Figure = _matplotlib()
    tokens = np.asarray(tokens, np.uint8)
    delta = np.asarray(delta, np.float64)
    L = len(tokens)
    is_ref = np.zeros((L, 4), bool)
    acgt = tokens < 4
    is_ref[np.flatnonzero(acgt), tokens[acgt]] = True
    n_alt = (~is_ref).sum(axis=1)
    importance = -np.where(is_ref, 0.0, delta).sum(axis=1) / n_alt
    heights = np.zeros((L, 4))
    heights[is_ref] = importance[acgt]
    fig = Figure(figsize=(max(6.0, L * 0.12), 3.2))
    ax_logo, ax_map = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.1], "hspace": 0.05})
    logomaker.Logo(pd.DataFrame(heights, columns=list("ACGT")), ax=ax_logo, color_scheme="classic", show_spines=False)
    ax_logo.axhline(0, color="0.5", linewidth=0.5)
    ax_logo.set_ylabel("-mean Δ")
    if title:
        ax_logo.set_title(title, fontsize=9, loc="left")
    lim = float(np.abs(delta).max()) or 1.0
    image = ax_map.imshow(delta.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                          extent=(-0.5, L - 0.5, 3.5, -0.5))  # fmt: skip
    ax_map.set_yticks(range(4))
    ax_map.set_yticklabels(list("ACGT"))
    step = max(1, L // 20)
    ax_map.set_xticks(range(0, L, step))
    ax_map.set_xticklabels([str(i + 1) for i in range(0, L, step)], fontsize=7)
    ax_map.set_xlabel("position")
    fig.colorbar(image, ax=[ax_logo, ax_map], fraction=0.02, pad=0.01, label="Δ logit")
    return _save(fig, path, fmt)

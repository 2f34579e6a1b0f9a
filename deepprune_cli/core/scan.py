"""Scan sequences with a model's first-layer kernels: every window above a threshold is a hit.

A kernel's *activation* at a window is its pre-ReLU first-layer output (convolution + bias, with
a following batch norm folded in: :func:`interpret.first_layer_filters`), the number a model's
``kernel_activations`` takes the max of. Only whole windows inside a record are scanned (no
'same' padding). Models that read both strands are scanned on both: the reverse strand's hit at
forward position ``p`` is the reverse-complemented kernel matching bases ``[p, p + W)``.

P-values are exact, as FIMO computes them for a PWM: a kernel's activation on a random window is
a sum of independent per-column weights, so its distribution under a background of independent
letters (uniform unless given) follows by convolving the columns' four-point distributions. The
weights are put on a grid of :data:`GRID_STEPS` steps across the kernel's score range, so the
tail probability is exact for the rounded weights (an error of at most ``W / 2`` grid steps in the
score). A p-value is per window and strand, like FIMO's; no multiple-testing correction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from deepprune_cli.core.errors import InputError
from deepprune_cli.core.sequences import SequenceSet, parse_region_id

#: grid steps across a kernel's score range for the exact null distribution
GRID_STEPS = 20_000
#: longest stretch of a record scanned at once (longer records, e.g. chromosomes, are tiled)
TILE_BP = 200_000
#: float32 score map bytes computed at once
_MAP_BYTES = 32 * 2**20
BED_COLUMNS = ("chrom", "start", "end", "name", "score", "strand", "kernel", "motif", "activation", "pvalue")


@dataclass
class NullDistribution:
    """Exact tail probabilities of one kernel's activation on a random window.

    ``tail[i]`` = P(activation >= ``offset + i * step``) for integer grid scores ``i``.
    """

    offset: float
    step: float
    tail: np.ndarray

    def pvalue(self, activation: np.ndarray) -> np.ndarray:
        """P(random window >= activation): float64, same shape as ``activation``."""
        i = np.ceil((np.asarray(activation, np.float64) - self.offset) / self.step - 1e-6)
        i = np.clip(i, 0, len(self.tail)).astype(np.int64)
        tail = np.append(self.tail, 0.0)  # past the maximum: impossible
        return np.maximum(tail[i], 0.0)

    def threshold(self, pvalue: float) -> float:
        """The lowest activation whose p-value is at most ``pvalue`` (+inf when none is)."""
        ok = np.flatnonzero(self.tail <= pvalue)
        return math.inf if len(ok) == 0 else self.offset + int(ok[0]) * self.step


def null_distribution(weight: np.ndarray, bias: float, background=None, steps: int = GRID_STEPS) -> NullDistribution:
    """The exact null distribution of ``sum_w weight[a_w, w] + bias`` for letters drawn
    independently from ``background``.

    Args:
        weight: float ``(4, W)`` (rows A, C, G, T), one kernel.
        background: letter probabilities ``(4,)``; uniform by default.
    """
    bg = np.full(4, 0.25) if background is None else np.asarray(background, np.float64)
    w = np.asarray(weight, np.float64)
    lo = w.min(axis=0)
    span = float((w.max(axis=0) - lo).sum())
    step = span / steps if span > 0 else 1.0
    grid = np.rint((w - lo) / step).astype(np.int64)  # (4, W)
    dist = np.ones(1)
    for col in grid.T:
        new = np.zeros(len(dist) + int(col.max()))
        for a in range(4):
            new[col[a] : col[a] + len(dist)] += bg[a] * dist
        dist = new
    tail = np.cumsum(dist[::-1])[::-1]
    return NullDistribution(float(lo.sum() + bias), step, np.minimum(tail, 1.0))


def parse_background(text: str | None) -> np.ndarray | None:
    """``"0.3,0.2,0.2,0.3"`` -> float64 ``(4,)`` summing to 1 (``None`` stays None: uniform)."""
    if text is None:
        return None
    try:
        values = np.array([float(x) for x in text.split(",")])
    except ValueError:
        raise InputError(f"--background {text}: give four numbers A,C,G,T, e.g. 0.3,0.2,0.2,0.3") from None
    if len(values) != 4 or not np.all(np.isfinite(values)) or (values <= 0).any():
        raise InputError(f"--background {text}: give four positive numbers A,C,G,T")
    return values / values.sum()


def read_kernel_names(path) -> dict[str, str]:
    """Best database match per kernel from a ``logos --match`` table (or Tomtom's text output):
    ``{"kernel3": "CTCF", ...}``, the lowest q-value (then p-value) winning."""
    import csv
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        lines = [line for line in p.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    except UnicodeDecodeError:
        raise InputError(f"{p}: not a text file") from None
    rows = list(csv.DictReader(lines, delimiter="\t"))
    if not rows:
        return {}
    keys = rows[0].keys()
    query = "query" if "query" in keys else "Query_ID"
    target = "target" if "target" in keys else "Target_ID"
    qcol = "q" if "q" in keys else "q-value"
    pcol = "p" if "p" in keys else "p-value"
    if not {query, target, qcol, pcol} <= set(keys):
        raise InputError(f"{p}: not a matches table (needs query, target, p and q columns, as logos --match writes)")
    best: dict[str, tuple] = {}
    for ln, row in enumerate(rows, start=2):
        try:
            key = (float(row[qcol]), float(row[pcol]))
        except (TypeError, ValueError):
            raise InputError(f"{p}: line {ln}: p and q must be numbers") from None
        name = (row.get("target_name") or "").strip() or row[target]
        if row[query] not in best or key < best[row[query]][0]:
            best[row[query]] = (key, name.replace(" ", "_"))
    return {k: v[1] for k, v in best.items()}


@dataclass
class Scanner:
    """A model's active kernels ready to scan, with their thresholds.

    Attributes:
        weight: float32 ``(K2, 4, W)``: the active kernels, then (both strands) their reverse
            complements; bias float32 ``(K2,)``.
        names: ``kernel<id>`` per active kernel ``(K,)``; motifs: matched name or ``.``.
        nulls: :class:`NullDistribution` per active kernel.
        thresholds: float64 ``(K,)`` activation a window needs to be a hit.
        both: scanning both strands.
    """

    weight: np.ndarray
    bias: np.ndarray
    names: list[str]
    motifs: list[str]
    nulls: list[NullDistribution]
    thresholds: np.ndarray
    both: bool

    @property
    def width(self) -> int:
        return self.weight.shape[2]

    @property
    def n_kernels(self) -> int:
        return len(self.names)


def make_scanner(
    model,
    min_activation: float | None = None,
    pvalue: float | None = None,
    background=None,
    kernel_names: dict[str, str] | None = None,
) -> Scanner:
    """The :class:`Scanner` for ``model``'s active kernels: a hit needs activation at least
    ``min_activation``, or a p-value at most ``pvalue`` (exactly one of them)."""
    from deepprune_cli.core.interpret import first_layer_filters
    from deepprune_cli.core.first_layer import reverse_complement_weight
    from deepprune_cli.core.inference import active_kernels, kernel_names as names_of

    if (min_activation is None) == (pvalue is None):
        raise InputError("give exactly one threshold: --min-activation or --pvalue")
    if pvalue is not None and not 0 < pvalue <= 1:
        raise InputError(f"--pvalue must be in (0, 1], got {pvalue}")
    if min_activation is not None and not math.isfinite(min_activation):
        raise InputError(f"--min-activation must be a finite number, got {min_activation}")
    weight, bias = first_layer_filters(model)
    active = active_kernels(model)
    weight, bias = weight[active], bias[active]
    nulls = [null_distribution(weight[k], float(bias[k]), background) for k in range(len(active))]
    if pvalue is not None:
        thresholds = np.array([n.threshold(pvalue) for n in nulls])
    else:
        thresholds = np.full(len(active), float(min_activation))
    names = names_of(model)
    motifs = [(kernel_names or {}).get(n, ".") for n in names]
    both = bool(model.spec.both_strands)
    import torch

    w = torch.from_numpy(weight.astype(np.float32))
    if both:
        w = torch.cat([w, reverse_complement_weight(w)])
        bias = np.concatenate([bias, bias])
    return Scanner(w.numpy(), bias.astype(np.float32), names, motifs, nulls, thresholds, both)


@dataclass
class Hits:
    """Hits of one chunk: int64 ``record`` (index in the chunk), ``start`` (0-based, forward
    strand of the record), int16 ``kernel`` (index among active kernels), bool ``minus``,
    float32 ``activation``; all ``(n_hits,)``."""

    record: np.ndarray
    start: np.ndarray
    kernel: np.ndarray
    minus: np.ndarray
    activation: np.ndarray


def _windows(seqs: SequenceSet, width: int):
    """``(record int64 (m,), offset int64 (m,), tokens uint8 (m, T))`` groups covering every whole
    window of every record: records grouped by length, records longer than :data:`TILE_BP` cut
    into overlapping tiles (``width - 1`` bases shared, so no window is lost or scanned twice)."""
    from deepprune_cli.core.inference import length_groups

    long = seqs.lengths > TILE_BP
    if not long.any():
        for index, mat in length_groups(seqs):
            yield index, np.zeros(len(index), np.int64), mat
        return
    short = np.flatnonzero(~long)
    if len(short):
        sub = seqs.subset(short)
        for index, mat in length_groups(sub):
            yield short[index], np.zeros(len(index), np.int64), mat
    for i in np.flatnonzero(long):
        tokens = seqs.sequence(int(i))
        L = len(tokens)
        for s in range(0, L - width + 1, TILE_BP):
            tile = tokens[s : min(L, s + TILE_BP + width - 1)]
            yield np.array([i]), np.array([s], np.int64), tile[None, :]


def scan_chunk(scanner: Scanner, seqs: SequenceSet) -> Hits:
    """Every window of every record in ``seqs`` at or above its kernel's threshold."""
    import torch
    import torch.nn.functional as F

    from deepprune_cli.core.first_layer import onehot_table_on

    W, K = scanner.width, scanner.n_kernels
    short = np.flatnonzero(seqs.lengths < W)
    if len(short):
        i = int(short[0])
        raise InputError(
            f"{seqs.source}: record '{seqs.ids[i]}' is {int(seqs.lengths[i])} bp, shorter than the kernels ({W} bp)"
        )
    w = torch.from_numpy(scanner.weight)
    b = torch.from_numpy(scanner.bias)
    thr = torch.from_numpy(np.tile(scanner.thresholds, 2 if scanner.both else 1).astype(np.float32))
    table = onehot_table_on("cpu")
    parts = []
    with torch.inference_mode():
        for rec, offset, mat in _windows(seqs, W):
            P = mat.shape[1] - W + 1
            step = max(1, _MAP_BYTES // (4 * len(w) * P))
            for s in range(0, len(mat), step):
                x = table[torch.from_numpy(np.ascontiguousarray(mat[s : s + step])).long()].transpose(1, 2)
                scores = F.conv1d(x, w, b)  # (B, K2, P)
                hit = scores >= thr[None, :, None]
                bi, ki, pi = (t.numpy() for t in torch.nonzero(hit, as_tuple=True))
                if len(bi) == 0:
                    continue
                parts.append(
                    (rec[s + bi], offset[s + bi] + pi, (ki % K).astype(np.int16), ki >= K, scores[hit].numpy())
                )
    if not parts:
        z = np.zeros(0, np.int64)
        return Hits(z, z, z.astype(np.int16), z.astype(bool), z.astype(np.float32))
    cols = [np.concatenate(c) for c in zip(*parts)]
    return Hits(cols[0].astype(np.int64), cols[1].astype(np.int64), cols[2], cols[3], cols[4].astype(np.float32))


def scan(
    scanner: Scanner,
    chunks: Iterable[SequenceSet],
    genome_coords: bool = False,
    progress: Callable[[int], None] | None = None,
) -> "HitTable":
    """Scan every chunk; return all hits sorted as ``sort -k1,1 -k2,2n`` would (then end, kernel,
    strand), ready for bedtools.

    With ``genome_coords`` the record ids must be BED regions (``chrom:start-end[(-)]``, as
    :func:`~deepprune_cli.core.sequences.read_bed` names them) and hits are placed on the genome;
    otherwise the chromosome is the record id and coordinates are within the record.
    Memory: the hits (about 30 bytes each) plus one chunk.
    """
    chrom_ids: dict[str, int] = {}
    cols: list[tuple] = []
    n_done = 0
    W = scanner.width
    for seqs in chunks:
        hits = scan_chunk(scanner, seqs)
        n_done += len(seqs)
        if len(hits.record):
            uniq, inverse = np.unique(hits.record, return_inverse=True)
            chrom = np.empty(len(uniq), np.int64)
            base = np.zeros(len(uniq), np.int64)
            flip = np.zeros(len(uniq), bool)
            rend = np.zeros(len(uniq), np.int64)
            for j, r in enumerate(uniq.tolist()):
                name = seqs.ids[r]
                if genome_coords:
                    region = parse_region_id(name)
                    if region is None:  # pragma: no cover - read_bed always names records so
                        raise InputError(f"{seqs.source}: record '{name}' is not a genome region")
                    name, base[j], rend[j], strand = region
                    flip[j] = strand == "-"
                chrom[j] = chrom_ids.setdefault(name, len(chrom_ids))
            f = flip[inverse]
            start = np.where(f, rend[inverse] - hits.start - W, base[inverse] + hits.start)
            minus = hits.minus ^ f
            cols.append((chrom[inverse], start, hits.kernel, minus, hits.activation))
        if progress is not None:
            progress(n_done)
    names = list(chrom_ids)
    if cols:
        chrom, start, kernel, minus, act = (np.concatenate(c) for c in zip(*cols))
    else:
        chrom = start = np.zeros(0, np.int64)
        kernel, minus, act = np.zeros(0, np.int16), np.zeros(0, bool), np.zeros(0, np.float32)
    rank = np.empty(len(names), np.int64)
    rank[np.argsort(np.array(names, dtype=object), kind="stable")] = np.arange(len(names))
    order = np.lexsort((minus, kernel, start, rank[chrom] if len(names) else chrom))
    return HitTable(scanner, names, chrom[order], start[order], kernel[order], minus[order], act[order])


@dataclass
class HitTable:
    """Sorted hits: ``chrom`` int64 index into ``chrom_names``, ``start`` int64, ``kernel`` int16,
    ``minus`` bool, ``activation`` float32, all ``(n_hits,)``."""

    scanner: Scanner
    chrom_names: list[str]
    chrom: np.ndarray
    start: np.ndarray
    kernel: np.ndarray
    minus: np.ndarray
    activation: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    def pvalues(self) -> np.ndarray:
        """float64 ``(n_hits,)`` exact per-window p-values (see the module docstring)."""
        out = np.empty(len(self), np.float64)
        for k, null in enumerate(self.scanner.nulls):
            sel = self.kernel == k
            out[sel] = null.pvalue(self.activation[sel])
        return out

    def write_bed(self, out, header: bool = False, block: int = 200_000) -> None:
        """BED6+4: chrom, start, end, name (matched motif or kernel), score (0-1000:
        ``min(1000, round(-100 log10 p))``), strand, kernel, motif, activation, p-value."""
        sc = self.scanner
        if header:
            out.write("#" + "\t".join(BED_COLUMNS) + "\n")
        labels = [m if m != "." else n for n, m in zip(sc.names, sc.motifs)]
        pv = self.pvalues()
        W = sc.width
        for s in range(0, len(self), block):
            e = s + block
            p = pv[s:e]
            score = np.minimum(1000, np.rint(-100 * np.log10(np.maximum(p, 1e-300)))).astype(np.int64)
            rows = zip(
                self.chrom[s:e].tolist(), self.start[s:e].tolist(), self.kernel[s:e].tolist(),
                score.tolist(), self.minus[s:e].tolist(), self.activation[s:e].tolist(), p.tolist(),
            )  # fmt: skip
            out.write(
                "".join(
                    f"{self.chrom_names[c]}\t{a}\t{a + W}\t{labels[k]}\t{sco}\t{'-' if m else '+'}\t"
                    f"{sc.names[k]}\t{sc.motifs[k]}\t{v:.6g}\t{q:.3g}\n"
                    for c, a, k, sco, m, v, q in rows
                )
            )

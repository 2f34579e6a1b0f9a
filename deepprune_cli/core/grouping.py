"""Which learned motifs are the same motif (up to shift and strand), and one of each.

A pruned model's few kernels often hold copies of one motif: shifted, reverse-complemented or
partial. :func:`group_motifs` finds them with a Tomtom-style comparison
(:func:`~deepprune_cli.core.compare.compare_motifs`) of the motifs with each other *inside a whole
motif database*: the targets are the database (bundled JASPAR 2024 CORE vertebrates by default,
~880 matrices) plus the motifs themselves, so a p-value uses the columns of a real collection as
its null, as a Tomtom search does. A Tomtom p-value against only a run's own four motifs has no
usable null (four motifs' columns are too few, and they are all alike when they are copies).

Two motifs are *the same* when either one, as a query, matches the other as a target with
p < ``threshold`` (1e-4 by default), on either strand. Taking the smaller of the two directions
keeps the relation symmetric and catches partial copies: a short motif lying inside a longer one
matches it as a query (every one of its columns aligns) even when the longer one, queried
against the short one, has unaligned columns that weaken its score.

Before comparing, each motif's flanking columns with less than ``trim_bits`` (0.5 bits) are
left out: a kernel motif is as wide as the kernel (e.g. 24 columns) and its flanks are close to
uniform; Euclidean column scores find two near-uniform columns very alike compared with JASPAR's
informative columns, so two untrimmed kernels of *different* motifs can reach p < 1e-4 through
their flanks alone (seen on a simulation: Atf1 and Hmx3 kernels, p = 2e-4 .. 1e-6 untrimmed,
0.6 trimmed, while the two Hmx3 kernels stay at 4e-11).

Groups are formed around representatives, most important motif first: the most important motif
not yet in a group starts a new group and takes every motif not yet in a group that is the same
motif as it; repeat. So every member is the same motif as its group's representative, and no two
representatives are the same motif: one motif per group is a set of pairwise different motifs.
Why not the connected components of the relation (single linkage, used before): on ENCODE peaks a
30-kernel model's kernel motifs (E-boxes, CTCF, ETS, GC-rich pieces) chain through shared GC-rich
columns, and the components joined 26 kernels whose pairs were the same motif in only 19 % of
cases into "one motif" (MYC; 32 kernels at 15 % for ELK1). With the full motif C as
representative, its left and right halves A and B (A ~ C ~ B, A and B not overlapping) still
join it; when a half is the more important one, the other half is its own group. Groups do not
depend on the order of the motifs (ties in importance: the earlier one first) or on the strand a
motif is given in; groups are numbered 1, 2, ... by their representatives' importance (then
position), so group 1 holds the most important motif.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from deepprune_cli.core.motifs import Motif, bundled_collection

#: Default database whose columns give the p-values their null (the issue measured with JASPAR 2024).
DEFAULT_DATABASE = "jaspar2024"
#: Default p-value below which two motifs are the same motif (Tomtom-style, either strand).
DEFAULT_THRESHOLD = 1e-4
#: Flanking columns with less information than this (bits) are left out of the comparison.
DEFAULT_TRIM_BITS = 0.5


@dataclass
class Grouping:
    """Result of :func:`group_motifs` over ``n`` motifs.

    Attributes:
        motifs: the motifs, as given.
        group: int64 ``(n,)``, each motif's group number ``1..n_groups``.
        representatives: ``n_groups`` indices into ``motifs``; ``representatives[g - 1]`` stands
            for group ``g``.
        p: float64 ``(n, n)``, symmetric: the smaller of the two Tomtom-style p-values (i as
            query against j as target and the reverse), either strand; the diagonal is 0.
        threshold: pairs with ``p < threshold`` are the same motif.
        n_targets: size of the target set behind the p-values (database + the motifs).
        kernels: int64 ``(n,)`` from :func:`kernel_groups`: the physical kernel each motif comes
            from; None otherwise.
    """

    motifs: list[Motif]
    group: np.ndarray
    representatives: list[int]
    p: np.ndarray
    threshold: float
    n_targets: int
    database: str = field(default="")
    kernels: np.ndarray | None = None

    @property
    def n_groups(self) -> int:
        return len(self.representatives)

    @property
    def same(self) -> np.ndarray:
        """bool ``(n, n)``: motif i and motif j are the same motif (``p < threshold``; diagonal True)."""
        return self.p < self.threshold

    def kernel_same(self, n_kernels: int) -> np.ndarray:
        """bool ``(K, K)`` over a model's physical kernels (needs :attr:`kernels`): the same motif
        (:attr:`same`); a kernel without a motif is the same as none, not even itself (its
        diagonal is False)."""
        if self.kernels is None:
            raise ValueError("kernel_same needs the kernel of each motif (a kernel_groups result)")
        out = np.zeros((n_kernels, n_kernels), dtype=bool)
        out[np.ix_(self.kernels, self.kernels)] = self.same
        return out

    def members(self, g: int) -> list[int]:
        """Indices of the motifs in group ``g`` (1-based), in input order."""
        return [int(i) for i in np.nonzero(self.group == g)[0]]

    def distinct(self) -> list[Motif]:
        """One motif per group (its representative), in group order."""
        return [self.motifs[i] for i in self.representatives]

    def partition(self) -> frozenset[frozenset[str]]:
        """The groups as sets of motif ids (order-free; for comparisons and tests)."""
        return frozenset(frozenset(self.motifs[i].id for i in self.members(g)) for g in range(1, self.n_groups + 1))


def _star_groups(same: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Groups of a symmetric boolean ``(n, n)`` relation around representatives -> labels ``(n,)``
    (each motif's representative index). ``key`` float ``(n,)``: larger first, ties to the earlier."""
    n = len(same)
    labels = np.full(n, -1, dtype=np.int64)
    for i in sorted(range(n), key=lambda i: (-key[i], i)):
        if labels[i] < 0:
            labels[(labels < 0) & same[i]] = i
            labels[i] = i
    return labels


def _trim(motif: Motif, bits: float, background) -> Motif:
    """``motif`` without its flanking columns below ``bits`` of information (at least one column kept)."""
    if bits <= 0:
        return motif
    ic = motif.information_content(background)
    keep = np.nonzero(ic >= bits)[0]
    start, stop = (keep[0], keep[-1] + 1) if len(keep) else (int(np.argmax(ic)), int(np.argmax(ic)) + 1)
    return Motif(motif.id, motif.probs[start:stop], motif.name, motif.nsites)


def group_motifs(
    motifs: Sequence[Motif],
    *,
    importance: Sequence[float] | np.ndarray | None = None,
    database: Sequence[Motif] | str = DEFAULT_DATABASE,
    threshold: float = DEFAULT_THRESHOLD,
    background: Sequence[float] | np.ndarray | None = None,
    trim_bits: float = DEFAULT_TRIM_BITS,
    seed: int = 0,
    n_jobs: int | None = None,
) -> Grouping:
    """Group ``motifs`` that are the same motif up to shift and strand (see the module docstring).

    Args:
        motifs: ``n`` motifs (``probs`` ``(W_i, 4)``), e.g. a model's kernel motifs.
        importance: float ``(n,)``; the most important member represents its group (``nan``
            counts as least important). Default: the earlier motif represents.
        database: the motifs whose columns give the p-values their null: a bundled collection
            name (``jaspar2024`` default, ``jaspar2020``) or a list of motifs (at least ~50).
        threshold: two motifs are the same when the smaller of their two p-values is below it.
        background: A, C, G, T frequencies spreading Tomtom's pseudocount and measuring
            information (uniform by default).
        trim_bits: flanking columns with less information are not compared (0 keeps all; a
            motif with no column that informative keeps its most informative one). The
            returned :attr:`Grouping.motifs` are the motifs as given, untrimmed.
        seed, n_jobs: passed to :func:`~deepprune_cli.core.compare.compare_motifs`.

    Raises:
        ValueError: ``threshold`` outside (0, 1], or ``importance`` of the wrong length.
    """
    from deepprune_cli.core.compare import compare_motifs

    motifs = list(motifs)
    n = len(motifs)
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    imp = np.full(n, np.nan) if importance is None else np.asarray(importance, dtype=np.float64)
    if imp.shape != (n,):
        raise ValueError(f"importance must have one value per motif ({n}), got shape {imp.shape}")
    db_name = database if isinstance(database, str) else f"{len(list(database))} motifs"
    db = bundled_collection(database) if isinstance(database, str) else list(database)
    n_targets = len(db) + n
    if n == 0:
        return Grouping([], np.zeros(0, dtype=np.int64), [], np.zeros((0, 0)), threshold, n_targets, db_name)

    cores = [_trim(m, trim_bits, background) for m in motifs]
    comp = compare_motifs(cores, db + cores, background=background, seed=seed, n_jobs=n_jobs)
    pair = comp.p[:, len(db):]  # (n, n): motif i as query against motif j as target
    p = np.minimum(pair, pair.T)
    np.fill_diagonal(p, 0.0)
    key = np.where(np.isfinite(imp), imp, -np.inf)  # nan ranks last
    labels = _star_groups(p < threshold, key)
    order = sorted(set(labels.tolist()), key=lambda i: (-key[i], i))  # representatives, best first
    number = {r: g + 1 for g, r in enumerate(order)}
    group = np.array([number[labels[i]] for i in range(n)], dtype=np.int64)
    return Grouping(motifs, group, order, p, float(threshold), n_targets, db_name)


def kernel_groups(
    model,
    tokens: np.ndarray,
    *,
    importance: Sequence[float] | np.ndarray | None = None,
    database: Sequence[Motif] | str = DEFAULT_DATABASE,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
) -> tuple[np.ndarray, Grouping]:
    """Which of a model's kernels are the same motif, as ``deepprune logos`` would group them.

    Each active kernel becomes a motif from its sites in ``tokens`` with ``logos``' defaults
    (:func:`~deepprune_cli.core.interpret.kernel_ppms`: windows reaching 0.7 of the kernel's
    largest activation, at least 10 sites, 2 bits beyond chance), and the motifs are grouped by
    :func:`group_motifs` (background: ``tokens``' letters, both strands).

    Args:
        model: a :class:`~deepprune_cli.core.models.MotifCNN`.
        tokens: uint8 ``(n, L)``, the sequences the sites come from (e.g. training positives).
        importance: float ``(K,)`` per physical kernel; the most important member of each group
            gets the lowest group numbers (see :func:`group_motifs`).

    Returns:
        ``labels`` int64 ``(K,)`` per physical kernel: its group (1..G), or 0 for a kernel that
        gives no motif (masked, no sites, near-uniform, flat); and the :class:`Grouping` of the
        live kernels' motifs (in the order of ``kernel_ppms``).
    """
    from deepprune_cli.core import interpret

    K = model.n_kernels
    tokens = np.asarray(tokens, dtype=np.uint8)
    imp = np.zeros(K) if importance is None else np.asarray(importance, dtype=np.float64)
    results, background = interpret.model_kernel_motifs(model, tokens, importance=imp)
    live = [r for r in results if not r.dead]
    grouping = group_motifs(
        [r.to_motif(f"kernel{r.kernel}") for r in live], importance=[r.importance for r in live],
        database=database, threshold=threshold, background=background, seed=seed,
    )  # fmt: skip
    grouping.kernels = np.array([r.kernel for r in live], dtype=np.int64)
    labels = np.zeros(K, dtype=np.int64)
    for r, g in zip(live, grouping.group):
        labels[r.kernel] = g
    return labels, grouping


__all__ = ["Grouping", "group_motifs", "kernel_groups", "DEFAULT_DATABASE", "DEFAULT_THRESHOLD", "DEFAULT_TRIM_BITS"]

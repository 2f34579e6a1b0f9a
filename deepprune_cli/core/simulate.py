"""Synthetic motif datasets with known ground truth (``deepprune simulate``).

Two designs, both from published benchmarks:

``single-site`` (Luo, Chi & Deng 2019, "Deepprune", simulations 1-5), binary labels
    Negatives are i.i.d. uniform bases. Positives are the same with exactly one motif instance
    inserted at a uniformly random position (``0 <= start <= L - W``); the motif is chosen uniformly
    from the set and every letter is sampled from its PWM (not the consensus). With
    ``strands="both"`` the site is reverse-complemented with probability 1/2. Every split is half
    positives (``floor(n_split / 2)``), in random order.

``multi-label`` (Koo & Eddy 2019), one label per motif
    Every sequence gets ``k`` motif sites, ``k`` drawn from ``motif_count_probs`` (default
    1..5 with probabilities 0.50/0.25/0.17/0.05/0.03); motifs drawn uniformly with replacement
    from the set and, with ``strands="both"``, their reverse complements. Sites never overlap and
    keep at least 1 nt from each other and from both ends; given the motifs and their order, every
    such layout is equally likely (the free bases are split by a uniformly random composition). A
    draw whose motifs cannot fit is redrawn. Labels: column ``m`` is 1 if motif ``m`` (either
    strand) was inserted, columns in the order of the motif list.

Generation is vectorised numpy (no per-base Python loop) and fully determined by ``seed`` via
``numpy.random.SeedSequence`` sub-streams, so the same design gives byte-identical files.

:func:`bayes_optimal_log_odds` gives the exact log likelihood ratio of the single-site design, the
best score any classifier can reach on such data (used to report a Bayes-optimal AUROC).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from deepprune_cli.core.errors import InputError
from deepprune_cli.core.motifs import Motif, load_motifs, read_meme, write_meme
from deepprune_cli.core.sequences import COMPLEMENT, SequenceSet, format_fasta

SINGLE_SITE = "single-site"
MULTI_LABEL = "multi-label"
DESIGNS = (SINGLE_SITE, MULTI_LABEL)
STRANDS = ("forward", "both")
#: Koo & Eddy (2019): probability of 1, 2, 3, 4, 5 motif sites per sequence.
KOO2019_COUNT_PROBS = (0.50, 0.25, 0.17, 0.05, 0.03)
#: File names in an output directory, in the order the splits are written.
SPLITS = ("train", "valid", "test")

# JASPAR2020 CORE vertebrates stand-ins for the TRANSFAC matrices of Luo et al. (2019).
_SIM1 = ("MA0691.1", "MA0500.2")  # TFAP4, MYOG
_SIM2 = ("MA1633.1", "MA0014.3")  # BACH1, PAX5
_SIM3 = ("MA0819.1", "MA1148.1")  # CLOCK, PPARA::RXRA

#: Preset name -> the design parameters it fixes (every one can be overridden).
PRESETS: dict[str, dict] = {
    **{
        f"deepprune-sim{i}": dict(
            design=SINGLE_SITE,
            motifs="jaspar2020",
            motif_ids=ids,
            n=6000,
            length=101,
            strands="forward",
            test_fraction=0.5,
            valid_fraction=0.0,
        )
        for i, ids in enumerate(
            (_SIM1, _SIM2, _SIM3, _SIM1 + _SIM2, _SIM1 + _SIM2 + _SIM3 + ("MA1146.1", "MA0009.2")), start=1
        )
    },
    "koo2019": dict(
        design=MULTI_LABEL,
        motifs="koo2019",
        motif_ids=None,
        n=25000,
        length=200,
        strands="both",
        test_fraction=0.2,
        valid_fraction=0.1,
        motif_count_probs=KOO2019_COUNT_PROBS,
    ),
}

#: A custom design (no preset) is single-site with these defaults; ``motifs`` must be given.
CUSTOM_DEFAULTS = dict(
    design=SINGLE_SITE, n=6000, length=101, strands="forward", test_fraction=0.5, valid_fraction=0.0
)


@dataclass(frozen=True)
class SimulationDesign:
    """Every parameter of a simulated dataset (written to ``dataset.json``).

    Attributes:
        motifs: motif spec for :func:`~deepprune_cli.core.motifs.load_motifs` (path or bundled).
        motif_ids: ids to take from ``motifs`` (``None``: all of them), in label order.
        design: ``"single-site"`` or ``"multi-label"`` (see the module docstring).
        n: total number of sequences across all splits.
        length: sequence length in bp.
        strands: ``"forward"`` (sites on the + strand only) or ``"both"``.
        test_fraction, valid_fraction: shares of ``n`` in the test and validation splits
            (rounded to whole sequences); the train split gets the rest.
        motif_count_probs: multi-label only: probability of 1, 2, ... sites per sequence.
        seed: random seed.
        preset: the preset the design started from, if any (informational).
    """

    motifs: str
    motif_ids: tuple[str, ...] | None = None
    design: str = SINGLE_SITE
    n: int = 6000
    length: int = 101
    strands: str = "forward"
    test_fraction: float = 0.5
    valid_fraction: float = 0.0
    motif_count_probs: tuple[float, ...] | None = None
    seed: int = 0
    preset: str | None = None

    def split_sizes(self) -> dict[str, int]:
        """Number of sequences per split, in file order (splits of size 0 are left out)."""
        n_test = int(round(self.n * self.test_fraction))
        n_valid = int(round(self.n * self.valid_fraction))
        sizes = {"train": self.n - n_test - n_valid, "valid": n_valid, "test": n_test}
        return {name: sizes[name] for name in SPLITS if sizes[name] > 0}

    def to_json(self) -> dict:
        out = asdict(self)
        out["motif_ids"] = None if self.motif_ids is None else list(self.motif_ids)
        out["motif_count_probs"] = None if self.motif_count_probs is None else list(self.motif_count_probs)
        return out


def make_design(preset: str | None = None, **overrides) -> SimulationDesign:
    """A :class:`SimulationDesign` from a preset name (or none) plus overrides (``None`` = keep).

    Raises:
        InputError: unknown preset, or no ``motifs`` for a custom design.
    """
    if preset is None:
        params = dict(CUSTOM_DEFAULTS)
    else:
        if preset not in PRESETS:
            raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        params = dict(PRESETS[preset])
    for key, value in overrides.items():
        if value is not None:
            params[key] = value
    if "motifs" not in params:
        raise InputError("--motifs is required without --preset (e.g. --motifs jaspar:MA0139.1,MA0048.2)")
    # A preset's own id list belongs to its own motif collection: new motifs drop it.
    if preset is not None and overrides.get("motifs") is not None and overrides.get("motif_ids") is None:
        params["motif_ids"] = None
    if params.get("motif_ids") is not None:
        params["motif_ids"] = tuple(params["motif_ids"])
    if params.get("design") == MULTI_LABEL and params.get("motif_count_probs") is None:
        params["motif_count_probs"] = KOO2019_COUNT_PROBS
    if params.get("motif_count_probs") is not None:
        params["motif_count_probs"] = tuple(float(p) for p in params["motif_count_probs"])
    return SimulationDesign(preset=preset, **params)


@dataclass
class SimulatedDataset:
    """A simulated dataset held in memory.

    Attributes:
        design: the parameters it was made with.
        motifs: the motifs used, in label order.
        tokens: uint8 ``(n, length)``, all splits one after the other in :data:`SPLITS` order.
        labels: float32 ``(n, 1)`` (single-site) or ``(n, n_motifs)`` (multi-label), 0/1.
        split_sizes: split name -> number of sequences, in file order.
        site_seq: int64 ``(n_sites,)``: row of ``tokens`` holding each inserted site.
        site_motif: int64 ``(n_sites,)``: index into ``motifs``.
        site_start: int64 ``(n_sites,)``: 0-based start; the site covers ``[start, start + W)``.
        site_strand: int8 ``(n_sites,)``: 0 for ``+``, 1 for ``-`` (reverse complement inserted).
        Sites are sorted by row, then start.
    """

    design: SimulationDesign
    motifs: list[Motif]
    tokens: np.ndarray
    labels: np.ndarray
    split_sizes: dict[str, int]
    site_seq: np.ndarray
    site_motif: np.ndarray
    site_start: np.ndarray
    site_strand: np.ndarray
    ids: list[str] = field(default_factory=list)

    def split_bounds(self) -> dict[str, tuple[int, int]]:
        """Split name -> ``(first_row, end_row)`` into ``tokens``."""
        bounds, first = {}, 0
        for name, size in self.split_sizes.items():
            bounds[name] = (first, first + size)
            first += size
        return bounds

    def split(self, name: str) -> SequenceSet:
        """One split as a labelled :class:`SequenceSet` (tokens are a view, not a copy)."""
        first, end = self.split_bounds()[name]
        length = self.tokens.shape[1]
        return SequenceSet(
            ids=self.ids[first:end],
            tokens=self.tokens[first:end].reshape(-1),
            offsets=np.arange(end - first + 1, dtype=np.int64) * length,
            labels=self.labels[first:end],
            source=f"simulated {name}",
        )

    def site_ends(self) -> np.ndarray:
        """int64 ``(n_sites,)``: exclusive end of every site."""
        widths = np.array([m.width for m in self.motifs], dtype=np.int64)
        return self.site_start + widths[self.site_motif]


# --------------------------------------------------------------------------------------------
# generation


def simulate(design: SimulationDesign, motifs: Sequence[Motif] | None = None) -> SimulatedDataset:
    """Generate the dataset ``design`` describes (motifs loaded from ``design.motifs`` unless given).

    Raises:
        InputError: unknown motif ids, duplicate ids, a motif that does not fit the sequence,
            impossible sizes or fractions (one line each, before anything is generated).
    """
    motifs = list(motifs) if motifs is not None else load_motifs(design.motifs, design.motif_ids)
    sizes = _validate(design, motifs)
    n, length = design.n, design.length
    background_seq, layout_seq, letters_seq = np.random.SeedSequence(design.seed).spawn(3)
    tokens = uniform_background(n, length, np.random.default_rng(background_seq))
    layout_rng = np.random.default_rng(layout_seq)
    if design.design == SINGLE_SITE:
        labels, site_seq, site_motif, site_start, site_strand = _single_site_layout(design, motifs, sizes, layout_rng)
    else:
        labels, site_seq, site_motif, site_start, site_strand = _multi_label_layout(design, motifs, layout_rng)
    insert_sites(tokens, motifs, site_seq, site_motif, site_start, site_strand, np.random.default_rng(letters_seq))
    ids = [f"{name}_{i}" for name, size in sizes.items() for i in range(size)]
    return SimulatedDataset(design, motifs, tokens, labels, sizes, site_seq, site_motif, site_start, site_strand, ids)


def _validate(design: SimulationDesign, motifs: Sequence[Motif]) -> dict[str, int]:
    if design.design not in DESIGNS:
        raise InputError(f"unknown design {design.design!r}; choose {' or '.join(DESIGNS)}")
    if design.strands not in STRANDS:
        raise InputError(f"--strands must be forward or both, not {design.strands!r}")
    if not motifs:
        raise InputError(f"{design.motifs}: no motifs selected")
    seen: set[str] = set()
    for m in motifs:
        if m.id in seen:
            raise InputError(f"{design.motifs}: motif id {m.id} appears twice; ids name the sites in truth.tsv")
        seen.add(m.id)
    if design.length < 1:
        raise InputError(f"--length must be at least 1, got {design.length}")
    margin = 0 if design.design == SINGLE_SITE else 2  # multi-label sites keep 1 nt from each end
    for m in motifs:
        if m.width + margin > design.length:
            extra = " plus 1 nt at each end" if margin else ""
            raise InputError(
                f"motif {m.id} ({m.name or 'no name'}) is {m.width} bp{extra}, longer than the "
                f"{design.length} bp sequences; use a larger --length"
            )
    if not (0 < design.test_fraction < 1) or not (0 <= design.valid_fraction < 1):
        raise InputError(
            f"--test-fraction must be in (0, 1) and --valid-fraction in [0, 1), "
            f"got {design.test_fraction} and {design.valid_fraction}"
        )
    if design.test_fraction + design.valid_fraction >= 1:
        raise InputError(
            f"--test-fraction {design.test_fraction} + --valid-fraction {design.valid_fraction} leave no training data"
        )
    if design.n < 1:
        raise InputError(f"--n must be at least 1, got {design.n}")
    sizes = design.split_sizes()
    wanted = ["train", "test"] + (["valid"] if design.valid_fraction > 0 else [])
    smallest = 2 if design.design == SINGLE_SITE else 1  # a binary split needs both classes
    for name in wanted:
        if sizes.get(name, 0) < smallest:
            raise InputError(
                f"--n {design.n} is too small: the {name} split would get {sizes.get(name, 0)} sequences "
                f"(at least {smallest} needed)"
            )
    if design.design == MULTI_LABEL:
        probs = design.motif_count_probs or ()
        if not probs or any(p < 0 or not math.isfinite(p) for p in probs) or abs(sum(probs) - 1) > 1e-6:
            raise InputError(f"--motif-count-probs must be non-negative and sum to 1, got {list(probs)}")
        widths = sorted(m.width for m in motifs)
        for count, p in enumerate(probs, start=1):
            if p > 0 and count * widths[0] + count + 1 > design.length:
                raise InputError(
                    f"{count} sites of the shortest motif ({widths[0]} bp) plus 1-nt gaps do not fit in "
                    f"{design.length} bp; use a larger --length or fewer sites"
                )
    return sizes


def uniform_background(n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """I.i.d. uniform A/C/G/T tokens: uint8 ``(n, length)``.

    Each random byte carries four 2-bit letters, so this costs a quarter byte of randomness per
    base (exactly uniform because 4 divides 256).
    """
    total = n * length
    packed = np.frombuffer(rng.bytes((total + 3) // 4), dtype=np.uint8)
    # Unpack the four 2-bit fields of every byte: shape (bytes, 4) -> flat.
    letters = (packed[:, None] >> np.array([0, 2, 4, 6], dtype=np.uint8)) & 3
    return letters.reshape(-1)[:total].reshape(n, length)


def sample_sites(motif: Motif, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` independent sites of ``motif``, each letter drawn from its PWM row: uint8 ``(count, W)``.

    Inverse-CDF sampling: letter ``b`` is chosen when ``cdf[b-1] <= u < cdf[b]``, so a zero
    probability gives an empty interval and is never drawn.
    """
    cdf = np.cumsum(motif.probs, axis=1)[:, :3]  # (W, 3); the last bound is 1
    u = rng.random((count, motif.width))
    return (u[:, :, None] >= cdf[None, :, :]).sum(axis=2, dtype=np.uint8)


def insert_sites(
    tokens: np.ndarray,
    motifs: Sequence[Motif],
    site_seq: np.ndarray,
    site_motif: np.ndarray,
    site_start: np.ndarray,
    site_strand: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Overwrite ``tokens`` (uint8 ``(n, L)``) in place with a freshly sampled site per entry.

    Minus-strand sites are sampled from the PWM and reverse-complemented, which is the same as
    sampling from the reverse-complement PWM.
    """
    for index, motif in enumerate(motifs):
        chosen = np.flatnonzero(site_motif == index)
        if chosen.size == 0:
            continue
        letters = sample_sites(motif, chosen.size, rng)
        minus = site_strand[chosen] == 1
        letters[minus] = COMPLEMENT[letters[minus][:, ::-1]]
        columns = site_start[chosen, None] + np.arange(motif.width)
        tokens[site_seq[chosen, None], columns] = letters


def _single_site_layout(design, motifs, sizes, rng):
    """Labels ``(n, 1)`` and one site per positive: row, motif, start, strand arrays."""
    labels_per_split = []
    for size in sizes.values():
        n_pos = size // 2
        labels_per_split.append(rng.permutation(np.r_[np.ones(n_pos, np.float32), np.zeros(size - n_pos, np.float32)]))
    labels = np.concatenate(labels_per_split)[:, None]
    site_seq = np.flatnonzero(labels[:, 0] == 1).astype(np.int64)
    site_motif = rng.integers(0, len(motifs), size=site_seq.size, dtype=np.int64)
    widths = np.array([m.width for m in motifs], dtype=np.int64)
    site_start = rng.integers(0, design.length - widths[site_motif] + 1, dtype=np.int64)  # uniform over valid starts
    site_strand = _strands(design, site_seq.size, rng)
    return labels, site_seq, site_motif, site_start, site_strand


def _strands(design, count, rng) -> np.ndarray:
    if design.strands == "both":
        return rng.integers(0, 2, size=count, dtype=np.int8)
    return np.zeros(count, dtype=np.int8)


def _multi_label_layout(design, motifs, rng):
    """Labels ``(n, M)`` and 1..K non-overlapping sites per sequence (see the module docstring)."""
    n, length = design.n, design.length
    widths = np.array([m.width for m in motifs], dtype=np.int64)
    probs = np.asarray(design.motif_count_probs, dtype=np.float64)
    counts = rng.choice(len(probs), size=n, p=probs / probs.sum()) + 1
    seqs, motif_ids, starts = [], [], []
    for count in range(1, len(probs) + 1):
        rows = np.flatnonzero(counts == count)
        if rows.size == 0:
            continue
        chosen = rng.integers(0, len(motifs), size=(rows.size, count), dtype=np.int64)
        # Redraw the motifs of sequences whose sites cannot fit with their gaps (as Koo & Eddy did).
        for _ in range(10_000):
            too_long = widths[chosen].sum(axis=1) + count + 1 > length
            if not too_long.any():
                break
            chosen[too_long] = rng.integers(0, len(motifs), size=(int(too_long.sum()), count), dtype=np.int64)
        else:
            raise InputError(f"{count} motif sites almost never fit in {length} bp; use a larger --length")
        site_widths = widths[chosen]  # (rows, count)
        free = length - site_widths.sum(axis=1) - (count + 1)  # bases beyond the mandatory gaps
        bars = _random_subsets(free + count, count, rng)  # sorted (rows, count)
        # Bijection subsets <-> compositions: the i-th site starts after 1 nt, the widths of the
        # sites before it, and bars[i] - i extra gap bases plus i mandatory 1-nt gaps.
        before = np.cumsum(site_widths, axis=1) - site_widths
        seqs.append(np.repeat(rows, count))
        motif_ids.append(chosen.reshape(-1))
        starts.append((1 + bars + before).reshape(-1))
    site_seq = np.concatenate(seqs)
    site_motif = np.concatenate(motif_ids)
    site_start = np.concatenate(starts)
    order = np.lexsort((site_start, site_seq))
    site_seq, site_motif, site_start = site_seq[order], site_motif[order], site_start[order]
    site_strand = _strands(design, site_seq.size, rng)
    labels = np.zeros((n, len(motifs)), dtype=np.float32)
    labels[site_seq, site_motif] = 1
    return labels, site_seq, site_motif, site_start, site_strand


def _random_subsets(universe: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random ``size``-subset of ``range(universe[r])`` per row, sorted: int64 ``(rows, size)``.

    Robert Floyd's algorithm, vectorised over rows: ``size`` steps, each one uniform draw per row.
    """
    rows = universe.size
    chosen = np.empty((rows, size), dtype=np.int64)
    for step in range(size):
        top = universe - size + step  # candidates 0..top
        draw = np.floor(rng.random(rows) * (top + 1)).astype(np.int64)
        taken = (chosen[:, :step] == draw[:, None]).any(axis=1)
        chosen[:, step] = np.where(taken, top, draw)
    chosen.sort(axis=1)
    return chosen


# --------------------------------------------------------------------------------------------
# the Bayes-optimal classifier of the single-site design


def bayes_optimal_log_odds(
    seqs: SequenceSet | np.ndarray, motifs: Sequence[Motif], strands: str = "forward", chunk: int = 8192
) -> np.ndarray:
    """Exact ``log P(x | positive) - log P(x | negative)`` under the single-site design: float64 ``(n,)``.

    ``P(x | positive) / P(x | negative)`` is the mean over motifs ``m``, valid starts ``p`` (and both
    strands when ``strands == "both"``) of ``prod_j PWM_m[j, x[p + j]] / 0.25``, because a positive
    is uniform background with one site of a uniformly chosen motif, start (and strand). Ranking by
    it is the best any classifier can do, so its AUROC is the ceiling for the dataset. N bases
    count as uninformative (ratio 1). All sequences must share one length, which must be at least
    the widest motif.

    Args:
        seqs: a :class:`SequenceSet` or uint8 tokens ``(n, L)``.
    """
    tokens = seqs.as_matrix() if isinstance(seqs, SequenceSet) else np.asarray(seqs, dtype=np.uint8)
    n, length = tokens.shape
    if any(m.width > length for m in motifs):
        raise InputError(f"sequences of {length} bp are shorter than the widest motif")
    # log(PWM / 0.25) per letter, with N (token 4) as 0; both strands as separate tables.
    tables = []
    for m in motifs:
        variants = [m] + ([m.reverse_complement()] if strands == "both" else [])
        with np.errstate(divide="ignore"):
            logs = [np.concatenate([np.log(v.probs / 0.25), np.zeros((m.width, 1))], axis=1) for v in variants]
        tables.append(logs)
    out = np.empty(n, dtype=np.float64)
    for first in range(0, n, chunk):
        block = tokens[first : first + chunk]
        per_motif = []
        for logs in tables:
            width = logs[0].shape[0]
            positions = length - width + 1
            scores = []
            for table in logs:
                window = np.zeros((block.shape[0], positions))
                for j in range(width):
                    window += table[j][block[:, j : j + positions]]
                scores.append(window)
            # Mean over starts (and strands) in log space.
            per_motif.append(_logmeanexp(np.concatenate(scores, axis=1)))
        out[first : first + chunk] = _logmeanexp(np.stack(per_motif, axis=1))
    return out


def _logmeanexp(values: np.ndarray) -> np.ndarray:
    """``log(mean(exp(values), axis=1))`` without overflow; rows of ``-inf`` stay ``-inf``."""
    top = values.max(axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.exp(values - safe[:, None]).mean(axis=1))


def bayes_optimal_scores(seqs: SequenceSet | np.ndarray, dataset: "SimulatedDataset | str | Path") -> np.ndarray:
    """Bayes-optimal log odds (float64 ``(n,)``) for ``seqs`` under a single-site dataset's design.

    ``dataset`` is a :class:`SimulatedDataset` or a ``deepprune simulate`` output directory (its
    ``dataset.json`` and ``motifs.meme`` are read). See :func:`bayes_optimal_log_odds`.

    Raises:
        InputError: a multi-label dataset (no single binary likelihood ratio) or an unreadable directory.
    """
    if isinstance(dataset, SimulatedDataset):
        design, motifs = dataset.design, dataset.motifs
    else:
        design, motifs = read_dataset_design(dataset)
    if design.design != SINGLE_SITE:
        raise InputError(f"Bayes-optimal scores are defined for the {SINGLE_SITE} design, not {design.design}")
    return bayes_optimal_log_odds(seqs, motifs, design.strands)


# --------------------------------------------------------------------------------------------
# writing and reading an output directory

#: Records per call to format_fasta: keeps the temporary index arrays cache-sized (3x faster
#: than one call over a million records) and memory flat.
_FASTA_CHUNK = 65536


def dataset_record(dataset: SimulatedDataset) -> dict:
    """The ``dataset.json`` content: every design parameter plus what came out (deterministic)."""
    from deepprune_cli import __version__

    counts = np.bincount(dataset.site_motif, minlength=len(dataset.motifs))
    bounds = dataset.split_bounds()
    return {
        "tool": "deepprune simulate",
        "version": __version__,
        **dataset.design.to_json(),
        "background": [0.25, 0.25, 0.25, 0.25],
        "motif_list": [{"id": m.id, "name": m.name, "width": m.width} for m in dataset.motifs],
        "label_columns": [m.id for m in dataset.motifs] if dataset.design.design == MULTI_LABEL else ["label"],
        "splits": {
            name: {
                "file": f"{name}.fa",
                "sequences": size,
                "positives": int(dataset.labels[bounds[name][0] : bounds[name][1]].max(axis=1).sum())
                if dataset.design.design == SINGLE_SITE
                else None,
            }
            for name, size in dataset.split_sizes.items()
        },
        "sites": int(dataset.site_seq.size),
        "sites_per_motif": {m.id: int(c) for m, c in zip(dataset.motifs, counts)},
        "truth": "truth.tsv",
        "motifs_file": "motifs.meme",
    }


def write_dataset(dataset: SimulatedDataset, directory: str | Path) -> None:
    """Write the dataset's files into ``directory`` (which must exist; callers wrap this in
    :func:`~deepprune_cli.core.atomic.atomic_directory` so the whole directory appears at once).

    Files: ``<split>.fa`` per split, ``truth.tsv``, ``motifs.meme``, ``dataset.json``.
    """
    directory = Path(directory)
    for name in dataset.split_sizes:
        split = dataset.split(name)
        with open(directory / f"{name}.fa", "wb") as fh:
            for first in range(0, len(split), _FASTA_CHUNK):
                end = min(first + _FASTA_CHUNK, len(split))
                fh.write(format_fasta(_rows(split, first, end)))
    _write_truth(dataset, directory / "truth.tsv")
    write_meme(dataset.motifs, directory / "motifs.meme")
    with open(directory / "dataset.json", "w", encoding="utf-8", newline="\n") as fh:
        json.dump(dataset_record(dataset), fh, indent=2)
        fh.write("\n")


def _rows(seqs: SequenceSet, first: int, end: int) -> SequenceSet:
    """Records ``first:end`` of a fixed-length set as a view (no token copy)."""
    length = int(seqs.offsets[1] - seqs.offsets[0])
    return SequenceSet(
        ids=seqs.ids[first:end],
        tokens=seqs.tokens[first * length : end * length],
        offsets=np.arange(end - first + 1, dtype=np.int64) * length,
        labels=None if seqs.labels is None else seqs.labels[first:end],
        source=seqs.source,
    )


def _write_truth(dataset: SimulatedDataset, path: Path) -> None:
    ends = dataset.site_ends()
    motif_ids = [m.id for m in dataset.motifs]
    strand_chars = ("+", "-")
    ids = dataset.ids
    lines = ["seq_id\tmotif_id\tstart\tend\tstrand\n"]
    lines.extend(
        f"{ids[s]}\t{motif_ids[m]}\t{a}\t{b}\t{strand_chars[t]}\n"
        for s, m, a, b, t in zip(
            dataset.site_seq.tolist(),
            dataset.site_motif.tolist(),
            dataset.site_start.tolist(),
            ends.tolist(),
            dataset.site_strand.tolist(),
        )
    )
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("".join(lines))


def read_dataset_design(directory: str | Path) -> tuple[SimulationDesign, list[Motif]]:
    """The design and motifs of a ``deepprune simulate`` output directory.

    Raises:
        InputError: missing or malformed ``dataset.json`` / ``motifs.meme``.
    """
    directory = Path(directory)
    path = directory / "dataset.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (not a deepprune simulate output directory?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    fields = {f for f in SimulationDesign.__dataclass_fields__}
    try:
        params = {k: v for k, v in record.items() if k in fields}
        for key in ("motif_ids", "motif_count_probs"):
            if params.get(key) is not None:
                params[key] = tuple(params[key])
        design = SimulationDesign(**params)
    except TypeError as exc:
        raise InputError(f"{path}: missing design parameters ({exc})") from None
    motifs = read_meme(directory / "motifs.meme")
    return design, motifs

"""A trained model's first-layer kernels as motifs, grouped and matched (``deepprune logos``).

The whole kernels -> motifs pipeline in one call, :func:`extract_motifs`:

1. choose the sequences that give sites (the positives of a labelled set, by default);
2. rank the kernels by importance (``weight``: the pruning statistic; ``score``: activation
   difference between positives and negatives; ``kernel``: none);
3. count each kernel's best-window sites into a letter-probability matrix
   (:func:`~deepprune_cli.core.interpret.kernel_ppms`) against the sites' letter background,
   made strand-symmetric when the model scans both strands;
4. group kernels that are the same motif (:func:`~deepprune_cli.core.grouping.group_motifs`),
   compare the motifs with a database (:func:`~deepprune_cli.core.compare.compare_motifs`) and
   report which true motifs were recovered (:func:`~deepprune_cli.core.compare.match_truth`).

The result, :class:`ModelMotifs`, holds every piece and writes the files ``logos`` writes (all
or none of them, :func:`~deepprune_cli.core.atomic.atomic_group`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from deepprune_cli.core.choices import DEFAULT_SITE_REFERENCE, MOTIF_ORDERS, SIGNIFICANCE, SITE_REFERENCES, SITE_SOURCES
from deepprune_cli.core.errors import DeeppruneError, InputError

#: Table columns of ``motifs.tsv``, one row per kernel.
TABLE_COLUMNS = (
    "id", "kernel", "rank", "group", "representative", "status", "consensus", "width", "start", "stop",
    "information_bits", "sites", "importance", "max_possible_activation", "best_match", "best_match_name",
    "best_match_p", "best_match_q",
)  # fmt: skip


@dataclass(frozen=True)
class MotifOptions:
    """How kernels become motifs and how they are compared (``deepprune logos`` options).

    Attributes:
        threshold: a sequence gives a site when its best window reaches this fraction (0, 1] of
            the reference activation.
        relative_to: the reference: ``observed`` (largest activation on the sequences) or
            ``possible`` (best letter at every position + bias).
        trim_bits: flanking columns with less information are trimmed (0 keeps all).
        min_sites: kernels with fewer sites are reported and skipped.
        min_bits: kernels with less information (beyond chance) are flagged near-uniform.
        order: one of :data:`MOTIF_ORDERS`.
        sites_from: one of :data:`SITE_SOURCES` (labelled sequences only).
        group_p: two kernels are the same motif below this Tomtom-style p-value.
        match_threshold, match_by: database matches written are those with ``match_by`` (q, E
            or p) at most ``match_threshold``.
        truth_threshold, truth_by: significance a kernel needs to recover a true motif.
        seed: seeds the q-value estimate and the grouping's p-values.
    """

    threshold: float = 0.7
    relative_to: str = DEFAULT_SITE_REFERENCE
    trim_bits: float = 0.0
    min_sites: int = 10
    min_bits: float = 2.0
    order: str = "weight"
    sites_from: str = "positives"
    group_p: float = 1e-4
    match_threshold: float = 0.5
    match_by: str = "q"
    truth_threshold: float = 0.1
    truth_by: str = "E"
    seed: int = 0

    def check(self) -> None:
        """Raise :class:`InputError` naming the first option out of range."""
        if not 0 < self.threshold <= 1:
            raise InputError(f"--threshold must be in (0, 1], got {self.threshold}")
        if self.trim_bits < 0 or self.min_bits < 0:
            raise InputError("--trim and --min-bits must be non-negative")
        if self.match_threshold < 0 or self.truth_threshold < 0:
            raise InputError("--match-thresh and --truth-thresh must be non-negative")
        if not 0 < self.group_p <= 1:
            raise InputError(f"--group-p must be in (0, 1], got {self.group_p}")
        for name, value, allowed in (
            ("relative_to", self.relative_to, SITE_REFERENCES), ("order", self.order, MOTIF_ORDERS),
            ("sites_from", self.sites_from, SITE_SOURCES), ("match_by", self.match_by, SIGNIFICANCE),
            ("truth_by", self.truth_by, SIGNIFICANCE),
        ):  # fmt: skip
            if value not in allowed:
                raise InputError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


@dataclass
class ModelMotifs:
    """Everything :func:`extract_motifs` found for one model on one set of sequences.

    Attributes:
        results: one :class:`~deepprune_cli.core.interpret.KernelMotif` per active kernel, live
            ones first by importance, then the skipped ones.
        live: the kernels that gave a motif, in rank order.
        motifs: their motifs, ``kernel<id>`` named ``rank<i>``.
        background: float64 ``(4,)`` A, C, G, T frequencies of the site sequences.
        n_site_sequences: how many sequences were scanned for sites.
        source: where the sequences came from (for messages).
        groups: which motifs are the same motif (``None`` when grouping was off).
        comparison: matches against the ``match_db`` database (``None`` when none was given).
        truth: recovery of the true motifs (``None`` when none were given).
        group_db: the database name the grouping used (for messages).
        options: the options the motifs were made with.
    """

    results: list
    live: list
    motifs: list
    background: np.ndarray
    n_site_sequences: int
    source: str
    groups: object = None
    comparison: object = None
    truth: object = None
    group_db: str = ""
    options: MotifOptions = MotifOptions()

    def distinct_motifs(self) -> list:
        """One motif per group (its most important kernel), named ``group<g>``."""
        from deepprune_cli.core.motifs import Motif

        if self.groups is None:
            raise ValueError("motifs were not grouped")
        return [Motif(m.id, m.probs, f"group{g + 1}", m.nsites) for g, m in enumerate(self.groups.distinct())]

    def table_rows(self) -> list[dict]:
        """``motifs.tsv``: one row per kernel (:data:`TABLE_COLUMNS`), skipped kernels included."""
        rank = {id(r): i + 1 for i, r in enumerate(self.live)}
        best = {}
        if self.comparison is not None:
            best = {i: self.comparison.best(i) for i in range(len(self.comparison.queries))}
        groups = self.groups
        rows = []
        for r in self.results:
            i = rank.get(id(r))
            m = best.get(i - 1) if i is not None else None
            grouped = groups is not None and i is not None
            row = {
                "id": f"kernel{r.kernel_id}" if i is not None else "",
                "kernel": r.kernel_id,
                "rank": i or "",
                "group": int(groups.group[i - 1]) if grouped else "",
                "representative": (
                    ("yes" if groups.representatives[groups.group[i - 1] - 1] == i - 1 else "no") if grouped else ""
                ),
                "status": "ok" if not r.dead else r.reason,
                "consensus": "" if r.probs is None else "".join("ACGT"[j] for j in np.argmax(r.probs, axis=1)),
                "width": r.width if r.probs is not None else "",
                "start": r.start,
                "stop": r.stop,
                "information_bits": f"{r.information:.3f}",
                "sites": r.nsites,
                "importance": "" if not np.isfinite(r.importance) else f"{r.importance:.6g}",
                "max_possible_activation": f"{r.max_possible:.6g}",
                "best_match": m.target if m else "",
                "best_match_name": m.target_name if m else "",
                "best_match_p": f"{m.p:.3g}" if m else "",
                "best_match_q": f"{m.q:.3g}" if m else "",
            }
            rows.append(row)
        return rows

    def write(
        self,
        *,
        meme: str | os.PathLike | None = None,
        distinct: str | os.PathLike | None = None,
        table: str | os.PathLike | None = None,
        matches: str | os.PathLike | None = None,
        truth: str | os.PathLike | None = None,
        png_dir: str | os.PathLike | None = None,
        svg_dir: str | os.PathLike | None = None,
        allow_empty: bool = False,
    ) -> None:
        """Write the chosen outputs (``None``: not written; ``"-"``: stdout), all or none of them.

        Args:
            meme: every motif, MEME minimal format with the sites' background.
            distinct: one motif per group (needs grouping).
            table: :meth:`table_rows` as TSV.
            matches: the database matches at ``options.match_by <= options.match_threshold``
                (needs a comparison).
            truth: the true-motif recovery table (needs true motifs).
            png_dir, svg_dir: one logo per motif plus an overview.
            allow_empty: write a header-only MEME file when no kernel gave a motif.
        """
        from deepprune_cli.core import compare
        from deepprune_cli.core.atomic import atomic_group, atomic_output
        from deepprune_cli.core.motifs import write_meme

        def target(path):
            return None if str(path) == "-" else path

        # every file goes to its temporary first and all appear together at the end, so a
        # failure while drawing the logos leaves none of this run's files
        with atomic_group():
            if meme is not None:
                write_meme(self.motifs, target(meme), self.background, allow_empty=allow_empty)
            if distinct is not None:
                write_meme(self.distinct_motifs(), target(distinct), self.background, allow_empty=allow_empty)
            if table is not None:
                with atomic_output(target(table), "w") as fh:
                    fh.write("\t".join(TABLE_COLUMNS) + "\n")
                    for row in self.table_rows():
                        fh.write("\t".join(str(row[c]) for c in TABLE_COLUMNS) + "\n")
            if matches is not None:
                found = self.comparison.matches(self.options.match_threshold, by=self.options.match_by) if self.comparison else []
                compare.write_matches(found, target(matches))
            if truth is not None:
                compare.write_truth(self.truth, target(truth))
            if png_dir is not None or svg_dir is not None:
                from deepprune_cli.core import plots

                for directory, ext in ((png_dir, "png"), (svg_dir, "svg")):
                    if directory is not None:
                        plots.save_logos(self.motifs, directory, ext, self.background)


def site_rows(labels: np.ndarray | None, n: int, sites_from: str, source: str) -> np.ndarray:
    """Row indices (int64) of the ``n`` sequences that give sites: the positives of a labelled set
    (``labels`` float ``(n, T)``; positive = any label > 0.5) unless ``sites_from == "all"``."""
    if labels is None or sites_from == "all":
        return np.arange(n)
    rows = np.nonzero(labels.max(axis=1) > 0.5)[0]
    if len(rows) == 0:
        raise InputError(f"{source}: no positive sequences to find sites in (use --sites-from all)")
    return rows


def _no_motif_message(record, results, n_sites: int, source: str, relative_to: str) -> str:
    reasons = "; ".join(f"kernel {r.kernel_id}: {r.reason}" for r in results[:5])
    more = f" (and {len(results) - 5} more)" if len(results) > 5 else ""
    hint = ""
    if any(r.reason.startswith("too few sites") for r in results):
        hint = "; try --relative-to observed or a lower --threshold" if relative_to == "possible" else "; try a lower --threshold"
    return f"{record.path}: no kernel gave a motif from {n_sites} sequences of {source} ({reasons}{more}){hint}"


def extract_motifs(
    record,
    seqs,
    options: MotifOptions = MotifOptions(),
    *,
    match_db: str | os.PathLike | None = None,
    group_db: str | os.PathLike | None = "jaspar2024",
    truth: str | os.PathLike | None = None,
    truth_db: str | os.PathLike | None = "jaspar2020",
    allow_empty: bool = False,
    before_comparisons: Callable[[], None] | None = None,
) -> ModelMotifs:
    """Turn a model's active first-layer kernels into motifs and compare them.

    Args:
        record: a loaded model (:func:`~deepprune_cli.core.store.load_model`), ACGT alphabet.
        seqs: a :class:`~deepprune_cli.core.sequences.SequenceSet` to find sites in (labelled or
            not; ``options.order == "score"`` needs positives and negatives).
        options: see :class:`MotifOptions`.
        match_db: database to match the motifs against (MEME path or bundled name), or ``None``.
        group_db: database whose columns give the grouping's p-values their null; ``None`` or
            ``"none"`` turns grouping off (every kernel its own motif, no groups).
        truth: MEME file of true motifs to report recovery of, or ``None``.
        truth_db: database the true motifs are searched within (``None``/``"none"``: alone).
        allow_empty: when no kernel gives a motif, warn and return an empty result instead of
            raising :class:`DeeppruneError`.
        before_comparisons: called once before the first Tomtom-style comparison (e.g. to say
            that the numba kernels are being compiled).

    Raises:
        InputError: bad options, a non-ACGT model, empty or unsuitable sequences.
        DeeppruneError: no kernel gave a motif (unless ``allow_empty``).
    """
    from deepprune_cli.core import compare, criteria, grouping, interpret, layout
    from deepprune_cli.core.motifs import read_meme

    options.check()
    if record.config.get("alphabet", "ACGT") != "ACGT":
        raise InputError(f"{record.path}: alphabet {record.config.get('alphabet')!r}; motifs are written for ACGT models only")
    grouping_on = group_db is not None and str(group_db).lower() != "none"
    # each database is read once, even when two roles name the same one
    loaded: dict[str, list] = {}

    def database(spec):
        if spec is None or str(spec).lower() == "none":
            return None
        if str(spec) not in loaded:
            loaded[str(spec)] = compare.load_target_database(spec)
        return loaded[str(spec)]

    match_database = database(match_db)
    group_database = database(group_db) if grouping_on else None
    true_motifs = read_meme(truth) if truth is not None else None
    truth_database = database(truth_db) if true_motifs is not None else None

    if len(seqs) == 0:
        raise InputError(f"{seqs.source}: no sequences")
    model = record.model
    tokens = layout.model_tokens(model.spec, seqs)
    rows = site_rows(seqs.labels, len(seqs), options.sites_from, seqs.source)
    if options.order == "score":
        labels = seqs.labels
        if labels is None or labels.max() <= 0.5 or labels.min() > 0.5:
            raise InputError(f"{seqs.source}: --order score needs labelled positives and negatives in SEQS")

    importance = None
    if options.order != "kernel":
        data = layout.to_device((tokens, seqs.labels), model.conv1.weight.device) if options.order == "score" else None
        importance = criteria.kernel_statistic(model, data, options.order)
    results, background = interpret.model_kernel_motifs(
        model, tokens[rows], importance=importance, threshold=options.threshold, relative_to=options.relative_to,
        min_sites=options.min_sites, trim_bits=options.trim_bits, min_bits=options.min_bits,
    )  # fmt: skip
    live = [r for r in results if not r.dead]
    if not live:
        message = _no_motif_message(record, results, len(rows), seqs.source, options.relative_to)
        if not allow_empty:
            raise DeeppruneError(message)
        warnings.warn(f"{message}; writing empty outputs (--allow-empty)")
    motifs = [r.to_motif(f"kernel{r.kernel_id}", f"rank{i + 1}") for i, r in enumerate(live)]

    found = ModelMotifs(
        results, live, motifs, background, len(rows), str(seqs.source), group_db=str(group_db), options=options,
    )
    if before_comparisons is not None and (match_database is not None or true_motifs is not None or (grouping_on and motifs)):
        before_comparisons()
    if grouping_on:
        found.groups = grouping.group_motifs(
            motifs, importance=[r.importance for r in live], database=group_database, threshold=options.group_p,
            background=background, seed=options.seed,
        )  # fmt: skip
    if match_database is not None and motifs:
        found.comparison = compare.compare_motifs(motifs, match_database, background=background, seed=options.seed)
    if true_motifs is not None:
        found.truth = compare.match_truth(
            motifs, true_motifs, threshold=options.truth_threshold, by=options.truth_by, database=truth_database,
            background=background, seed=options.seed,
        )  # fmt: skip
    return found


def default_output_paths(
    output: str | os.PathLike,
    *,
    table: str | os.PathLike | None = None,
    distinct: str | os.PathLike | None = None,
    matches: str | os.PathLike | None = None,
    truth: str | os.PathLike | None = None,
    grouping: bool = True,
    matching: bool = False,
    truths: bool = False,
) -> dict[str, Path | str | None]:
    """Where ``logos`` writes each output when only ``-o`` is given, and a check that they differ.

    Defaults beside ``output``: ``motifs.tsv`` (the table), ``motifs.distinct.meme``,
    ``matches.tsv`` and ``truth.tsv``; with ``output == "-"`` only asked-for files are written
    (matches and truth tables in the working directory). Returns a dict with keys ``meme``,
    ``table``, ``distinct``, ``matches``, ``truth`` (``None``: not written).

    Raises:
        InputError: two outputs collide, one is a directory, more than one goes to stdout, or
            ``distinct`` is asked for without grouping.
    """
    to_stdout = str(output) == "-"
    out = None if to_stdout else Path(output)
    base = Path.cwd() if out is None else out.parent
    if table is None and out is not None:
        table = out.with_suffix(".tsv") if out.suffix != ".tsv" else out.with_name(out.name + ".table.tsv")
    if distinct is None and out is not None and grouping:
        distinct = out.with_name(out.stem + ".distinct.meme")
    if distinct is not None and not grouping:
        raise InputError("--distinct needs grouping; it cannot be used with --group-db none")
    if matching and matches is None:
        matches = base / "matches.tsv"
    if truths and truth is None:
        truth = base / "truth.tsv"
    paths = {"meme": "-" if to_stdout else out, "table": table, "distinct": distinct, "matches": matches, "truth": truth}
    if sum(str(p) == "-" for p in paths.values() if p is not None) > 1:
        raise InputError("only one output can go to stdout ('-')")
    files = [p for p in paths.values() if p is not None and str(p) != "-"]
    resolved = [os.path.abspath(p) for p in files]
    if len(set(resolved)) != len(resolved):
        raise InputError("output files collide: give distinct -o, --table, --distinct, --matches and --truth-out paths")
    for p in files:
        if Path(p).is_dir():
            raise InputError(f"{p}: is a directory, expected a file name")
    return paths


__all__ = [
    "TABLE_COLUMNS", "MotifOptions", "ModelMotifs", "extract_motifs",
    "default_output_paths", "site_rows",
]  # fmt: skip

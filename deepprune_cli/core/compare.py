"""Tomtom-style motif comparison (memelite) and recovery of known motifs.

:func:`compare_motifs` scores every query motif against every target motif the way MEME suite's
Tomtom 5.4 does with its defaults, using memelite's numba implementation of the Tomtom algorithm
(Gupta et al. 2007) for the heavy part:

* Euclidean distance between columns, "complete" scores (unaligned columns count), all offsets
  (min overlap 1), both orientations of each target;
* Tomtom's default motif pseudocount (0.1, spread by the background) applied to queries and
  targets before scoring;
* p-value of the best alignment per (query, target strand), corrected for the two orientations
  (``1 - (1 - p)^2``); the reported orientation is the better strand, ties going to ``+``;
* ``E = p x number of targets``; q-values per query over the p-values of all targets on both
  strands, with Storey's pi0 estimated by bootstrap as MEME's ``compute_qvalues`` does.

The result holds full ``(n_queries, n_targets)`` matrices; :meth:`Comparison.matches` gives the
rows Tomtom would print (q <= 0.5 by default), with Tomtom's conventions: ``offset`` is Tomtom's
``Optimal_offset``, the start of the query relative to the start of the target (in the target's
reported orientation: -3 means the target's first column lies on the query's fourth), and
``orientation`` ``-`` means the reverse complement of the target matched.

:func:`match_truth` asks which known (e.g. simulated) motifs a set of learned motifs recovered,
against a whole database so that p-values mean what they mean in Tomtom.

Compiled numba code is cached on disk (see :func:`ensure_numba_cache`): the first call in a fresh
environment compiles memelite's kernels (about a minute), later processes load them in ~1 s.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from deepprune_cli.core.atomic import atomic_output
from deepprune_cli.core.errors import DeeppruneWarning, InputError
from deepprune_cli.core.motifs import Motif, bundled_collection

#: Tomtom's default ``-motif-pseudo``.
TOMTOM_PSEUDOCOUNT = 0.1
#: Tomtom's default significance threshold (on q-values).
TOMTOM_THRESHOLD = 0.5
#: Tomtom warns that p-values are inaccurate below this many target motifs.
MIN_TARGETS = 50
#: MEME's q-value constants (qvalue.h): bootstraps, samples per bootstrap, lambdas, max lambda.
_QV_BOOTSTRAPS, _QV_SAMPLES, _QV_LAMBDAS, _QV_MAX_LAMBDA = 100, 1000, 100, 0.5
#: MEME estimates pi0 only from more p-values than this; with fewer it uses pi0 = 1.
_QV_MIN_SAMPLES = 100

MATCH_COLUMNS = (
    "query", "target", "offset", "orientation", "p", "E", "q", "target_name", "overlap",
    "query_consensus", "target_consensus",
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# numba cache


def _writable_dir(path: Path) -> bool:
    """True if ``path`` exists (or can be created) and a file can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path, prefix=".deepprune-probe-")
        os.close(fd)
        os.unlink(name)
        return True
    except OSError:
        return False


def _numba_user_cache_dir() -> Path:
    # numba's UserWideCacheLocator: appdirs' user cache dir for "numba" (XDG_CACHE_HOME or ~/.cache).
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "numba"


def ensure_numba_cache(package_dir: str | os.PathLike | None = None) -> str:
    """Make sure numba can cache compiled code on disk before memelite is imported.

    numba looks for a cache directory in this order: ``$NUMBA_CACHE_DIR``; the package's own
    ``__pycache__`` if writable; ``~/.cache/numba`` (``$XDG_CACHE_HOME/numba``) if writable. When
    none works (read-only site-packages and home, e.g. a container), ``cache=True`` functions
    fail to import with "no locator available", so this points ``$NUMBA_CACHE_DIR`` at a
    per-user directory under the system temp dir. Returns which of the three applies:
    ``"env"``, ``"package"``, ``"user"`` or ``"temp"``.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return "env"
    if package_dir is None:
        import importlib.util

        spec = importlib.util.find_spec("memelite")
        package_dir = Path(spec.origin).parent if spec and spec.origin else None
    if package_dir is not None and _writable_dir(Path(package_dir) / "__pycache__"):
        return "package"
    if _writable_dir(_numba_user_cache_dir()):
        return "user"
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    os.environ["NUMBA_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / f"deepprune-numba-cache-{uid}")
    try:  # numba re-reads the environment on compile, but its config may be loaded already
        from numba.core import config as numba_config

        numba_config.reload_config()
    except Exception:  # pragma: no cover - numba missing is reported by the import that follows
        pass
    return "temp"


_CACHE_READY = False


def _memelite_tomtom():
    global _CACHE_READY
    if not _CACHE_READY:
        ensure_numba_cache()
        _CACHE_READY = True
    from memelite.tomtom import tomtom

    return tomtom


def tomtom_cache_is_warm() -> bool:
    """Whether memelite's compiled Tomtom kernel is already in a numba cache (no ~1 min compile)."""
    import importlib.util

    spec = importlib.util.find_spec("memelite")
    if spec is None or not spec.origin:
        return False
    pkg = Path(spec.origin).parent
    dirs = [pkg / "__pycache__", _numba_user_cache_dir()]
    if os.environ.get("NUMBA_CACHE_DIR"):
        dirs.insert(0, Path(os.environ["NUMBA_CACHE_DIR"]))
    for d in dirs:
        if d.is_dir() and any(d.rglob("tomtom._tomtom-*.nbi")):
            return True
    return False


# --------------------------------------------------------------------------------------------
# q-values as MEME computes them


def _pi0_fixed_lambda(sorted_p: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
    """Storey's pi0(lambda) = #{p >= lambda} / ((1 - lambda) m) for each lambda (inf when 0)."""
    m = len(sorted_p)
    greater = m - np.searchsorted(sorted_p, lambdas, side="left")
    with np.errstate(divide="ignore"):
        pi0 = greater / ((1.0 - lambdas) * m)
    pi0[greater == 0] = np.inf
    return pi0


def estimate_pi0(pvalues: np.ndarray, rng: np.random.Generator) -> float:
    """pi0 (share of true nulls) as MEME's ``estimate_pi_zero``: Storey (2002) with the lambda
    whose bootstrap estimates are closest (mean squared error) to the smallest pi0(lambda);
    1.0 with 100 p-values or fewer. ``pvalues``: float ``(m,)``."""
    p = np.sort(np.asarray(pvalues, dtype=np.float64))
    if len(p) <= _QV_MIN_SAMPLES:
        return 1.0
    lambdas = (np.arange(1, _QV_LAMBDAS + 1) / _QV_LAMBDAS) * _QV_MAX_LAMBDA
    pi0s = _pi0_fixed_lambda(p, lambdas)
    floor = pi0s.min()
    mse = np.zeros(_QV_LAMBDAS)
    for _ in range(_QV_BOOTSTRAPS):
        boot = np.sort(rng.choice(p, _QV_SAMPLES, replace=True))
        with np.errstate(invalid="ignore"):
            err = _pi0_fixed_lambda(boot, lambdas) - floor
        mse += np.where(np.isfinite(err), err, np.inf) ** 2
    best = int(np.argmin(mse))
    return float(min(max(pi0s[best], 0.0), 1.0))


def qvalues(pvalues: np.ndarray, pi0: float = 1.0) -> np.ndarray:
    """q-values: ``min_{j >= rank} pi0 * p_j * m / j`` capped at 1 (Benjamini-Hochberg when
    ``pi0`` = 1). ``pvalues`` float ``(m,)`` in any order -> q ``(m,)`` in the same order."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    fdr = np.minimum(pi0 * p[order] * m / np.arange(1, m + 1), 1.0)
    q_sorted = np.minimum.accumulate(fdr[::-1])[::-1]
    out = np.empty(m)
    out[order] = q_sorted
    return out


# --------------------------------------------------------------------------------------------
# comparison


@dataclass(frozen=True)
class Match:
    """One query-target row, as Tomtom's text output has it."""

    query: str
    target: str
    offset: int
    orientation: str
    p: float
    E: float
    q: float
    target_name: str
    overlap: int
    query_consensus: str
    target_consensus: str

    def as_row(self) -> list[str]:
        return [
            self.query, self.target, str(self.offset), self.orientation, f"{self.p:.6g}",
            f"{self.E:.6g}", f"{self.q:.6g}", self.target_name, str(self.overlap),
            self.query_consensus, self.target_consensus,
        ]  # fmt: skip


@dataclass
class Comparison:
    """All-against-all comparison of ``queries`` with ``targets``.

    Attributes (``nq = len(queries)``, ``nt = len(targets)``):
        p: float64 ``(nq, nt)``, p-value of the best alignment (both orientations accounted for).
        e: float64 ``(nq, nt)``, ``p * nt``.
        q: float64 ``(nq, nt)``, per-query q-values (of the reported orientation).
        offset: int64 ``(nq, nt)``, Tomtom's ``Optimal_offset``.
        overlap: int64 ``(nq, nt)``, aligned columns.
        strand: int8 ``(nq, nt)``, 0 = ``+`` (target as given), 1 = ``-`` (its reverse complement).
        pi0: float64 ``(nq,)``, the estimated share of true nulls behind each query's q-values.
    """

    queries: list[Motif]
    targets: list[Motif]
    p: np.ndarray
    e: np.ndarray
    q: np.ndarray
    offset: np.ndarray
    overlap: np.ndarray
    strand: np.ndarray
    pi0: np.ndarray

    def match(self, i: int, j: int) -> Match:
        """The row for query ``i`` and target ``j``."""
        t = self.targets[j]
        cons = t.reverse_complement().consensus if self.strand[i, j] else t.consensus
        return Match(
            query=self.queries[i].id,
            target=t.id,
            offset=int(self.offset[i, j]),
            orientation="-" if self.strand[i, j] else "+",
            p=float(self.p[i, j]),
            E=float(self.e[i, j]),
            q=float(self.q[i, j]),
            target_name=t.name,
            overlap=int(self.overlap[i, j]),
            query_consensus=self.queries[i].consensus,
            target_consensus=cons,
        )

    def matches(self, threshold: float = TOMTOM_THRESHOLD, by: str = "q") -> list[Match]:
        """Rows with ``by`` (``"q"``, ``"E"`` or ``"p"``) <= ``threshold``: queries in input
        order; within a query by p-value, then larger overlap, then target id (Tomtom's order)."""
        values = {"q": self.q, "E": self.e, "p": self.p}.get(by)
        if values is None:
            raise ValueError(f"by must be 'q', 'E' or 'p', got {by!r}")
        rows = []
        ids = np.array([t.id for t in self.targets], dtype=object)
        for i in range(len(self.queries)):
            hits = np.nonzero(values[i] <= threshold)[0]
            order = sorted(hits, key=lambda j: (self.p[i, j], -self.overlap[i, j], ids[j]))
            rows.extend(self.match(i, int(j)) for j in order)
        return rows

    def best(self, i: int) -> Match:
        """Query ``i``'s best target (smallest p, then larger overlap, then first in order)."""
        j = min(range(len(self.targets)), key=lambda j: (self.p[i, j], -self.overlap[i, j], j))
        return self.match(i, j)


def _symmetric_background(background) -> np.ndarray:
    if background is None:
        return np.full(4, 0.25)
    bg = np.asarray(background, dtype=np.float64)
    if bg.shape != (4,) or np.any(bg <= 0) or not np.all(np.isfinite(bg)):
        raise ValueError(f"background must be 4 positive A, C, G, T frequencies, got {background!r}")
    bg = bg / bg.sum()
    # Tomtom makes the background strand-symmetric for complementable alphabets.
    return (bg + bg[::-1]) / 2


def with_pseudocount(motif: Motif, pseudocount: float, background: np.ndarray) -> np.ndarray:
    """MEME's motif pseudocount: ``(f * nsites + pc * bg) / (nsites + pc)`` -> float64 ``(W, 4)``."""
    if pseudocount <= 0:
        return motif.probs.copy()
    n = float(motif.nsites)
    return (motif.probs * n + pseudocount * background[None, :]) / (n + pseudocount)


def compare_motifs(
    queries: Sequence[Motif],
    targets: Sequence[Motif],
    *,
    pseudocount: float = TOMTOM_PSEUDOCOUNT,
    background: Sequence[float] | np.ndarray | None = None,
    both_strands: bool = True,
    seed: int = 0,
    n_jobs: int | None = None,
) -> Comparison:
    """Compare each query with each target as Tomtom 5.4 does by default (see module docstring).

    Args:
        queries, targets: motifs (``probs`` (W, 4)); p-values use every target column as the
            background distribution of column scores, so pass a whole database (Tomtom warns
            below 50 targets; so do we, as :class:`DeeppruneWarning`).
        pseudocount: Tomtom's ``-motif-pseudo`` (0 turns it off).
        background: A, C, G, T frequencies that spread the pseudocount (made strand-symmetric as
            Tomtom does); uniform by default, like a query file without a background.
        both_strands: also compare with the reverse complement of every target (Tomtom
            default; ``False`` is ``-norc``).
        seed: seeds the bootstrap of the pi0 estimate behind the q-values.
        n_jobs: numba threads (default: :func:`kernels.thread_count`, i.e. ``--threads``).

    Raises:
        ValueError: no queries or no targets.
    """
    queries, targets = list(queries), list(targets)
    if not queries:
        raise ValueError("no query motifs to compare")
    if not targets:
        raise ValueError("no target motifs to compare with")
    if len(targets) < MIN_TARGETS:
        warnings.warn(
            f"comparing with only {len(targets)} target motifs: Tomtom-style p-values use the target "
            f"columns as their background and are unreliable below {MIN_TARGETS} targets",
            DeeppruneWarning,
            stacklevel=2,
        )
    bg = _symmetric_background(background)
    q_mats = [np.ascontiguousarray(with_pseudocount(m, pseudocount, bg).T) for m in queries]
    t_mats = [np.ascontiguousarray(with_pseudocount(m, pseudocount, bg).T) for m in targets]
    nt = len(targets)
    if both_strands:
        # Reverse complements as targets of their own (rather than memelite's built-in strand
        # merge) so that both strands' p-values are known: Tomtom's q-values use both, and its
        # ties go to '+'. The column background is the same set of columns either way.
        t_mats = t_mats + [np.ascontiguousarray(t[::-1, ::-1]) for t in t_mats]
    tomtom = _memelite_tomtom()
    if n_jobs is None:
        import numba

        from deepprune_cli.core.kernels import thread_count

        n_jobs = min(thread_count(), numba.config.NUMBA_NUM_THREADS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # memelite's own few-targets warning (ours is above)
        raw = tomtom(q_mats, t_mats, reverse_complement=False, n_jobs=int(n_jobs))
    p_raw, _scores, off_raw, ov_raw = raw[0], raw[1], raw[2], raw[3]
    if both_strands:
        # Each strand's p is the chance that the best of its alignments scores this well; Tomtom
        # counts both orientations: 1 - (1 - p)^2, written so that it does not round to 0.
        p_strand = p_raw * (2.0 - p_raw)
        pf, pr = p_strand[:, :nt], p_strand[:, nt:]
        of, orr = ov_raw[:, :nt], ov_raw[:, nt:]
        minus = (pr < pf) | ((pr == pf) & (orr > of))
        p = np.where(minus, pr, pf)
        offset = np.where(minus, off_raw[:, nt:], off_raw[:, :nt])
        overlap = np.where(minus, orr, of)
    else:
        p_strand = p_raw
        p, offset, overlap = p_raw, off_raw, ov_raw
        minus = np.zeros(p.shape, dtype=bool)
    p = np.clip(p, 0.0, 1.0)
    qmat = np.empty_like(p)
    pi0 = np.empty(len(queries))
    for i in range(len(queries)):
        # Per query, over every target on every strand (as Tomtom's match list), seeded per query
        # so that a query's q-values do not depend on the other queries.
        all_p = np.clip(p_strand[i], 0.0, 1.0)
        pi0[i] = estimate_pi0(all_p, np.random.default_rng([seed, i]))
        q_all = qvalues(all_p, pi0[i])
        qmat[i] = np.where(minus[i], q_all[nt:], q_all[:nt]) if both_strands else q_all
    return Comparison(
        queries=queries,
        targets=targets,
        p=p,
        e=p * nt,
        q=qmat,
        offset=np.rint(offset).astype(np.int64),
        overlap=np.rint(overlap).astype(np.int64),
        strand=minus.astype(np.int8),
        pi0=pi0,
    )


def write_matches(matches: Iterable[Match], path: str | os.PathLike | None) -> None:
    """Write match rows as TSV with a header (:data:`MATCH_COLUMNS`), atomically (``-`` = stdout)."""
    with atomic_output(path, "w") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(MATCH_COLUMNS)
        for m in matches:
            w.writerow(m.as_row())


def read_tomtom_tsv(path: str | os.PathLike) -> list[dict]:
    """Rows of a MEME Tomtom ``--text``/``tomtom.tsv`` output (comment lines skipped), as dicts
    with Tomtom's column names; numbers converted (offset/overlap int, p/E/q float)."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = None
        for rec in reader:
            if not rec or rec[0].startswith("#"):
                continue
            if header is None:
                header = rec
                continue
            row = dict(zip(header, rec))
            for key in ("Optimal_offset", "Overlap"):
                row[key] = int(row[key])
            for key in ("p-value", "E-value", "q-value"):
                row[key] = float(row[key])
            rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# recovery of known motifs


@dataclass(frozen=True)
class TruthRecovery:
    """How well one true motif was recovered.

    ``kernel`` is the learned motif with the smallest p-value against the true motif (or any of
    its equivalents, see :func:`match_truth`), whether or not it passes the threshold;
    ``matched_as`` is the target that gave it (the true motif's own id, or an equivalent's).
    """

    truth: str
    name: str
    recovered: bool
    kernel: str | None
    matched_as: str | None
    p: float
    E: float
    q: float
    offset: int | None
    orientation: str | None

    def as_row(self) -> list[str]:
        def num(x):
            return "" if x is None or not np.isfinite(x) else f"{x:.6g}"

        return [
            self.truth, self.name, "yes" if self.recovered else "no", self.kernel or "",
            self.matched_as or "", num(self.p), num(self.E), num(self.q),
            "" if self.offset is None else str(self.offset), self.orientation or "",
        ]  # fmt: skip


TRUTH_COLUMNS = ("truth", "name", "recovered", "kernel", "matched_as", "p", "E", "q", "offset", "orientation")


@dataclass
class TruthReport:
    """Result of :func:`match_truth`.

    Attributes:
        rows: one :class:`TruthRecovery` per true motif, in the truth file's order.
        match_fraction: share of learned motifs with a significant match to any true motif
            (Koo & Eddy 2019's match fraction).
        matching_kernels: ids of those learned motifs.
        n_learned: number of learned motifs compared.
        by, threshold: the significance rule used (e.g. ``E <= 0.1``).
        n_targets: size of the target set the p-values were computed against.
    """

    rows: list[TruthRecovery]
    match_fraction: float
    matching_kernels: list[str]
    n_learned: int
    by: str
    threshold: float
    n_targets: int
    comparison: Comparison | None = field(default=None, repr=False)

    @property
    def n_recovered(self) -> int:
        return sum(r.recovered for r in self.rows)

    @property
    def recovered_fraction(self) -> float:
        return self.n_recovered / len(self.rows) if self.rows else 0.0


_VERSION = re.compile(r"^(MA\d{4})\.\d+$")


def _base_id(motif_id: str) -> str:
    m = _VERSION.match(motif_id)
    return m.group(1) if m else motif_id


def _equivalents(truth: Motif, targets: Sequence[Motif], same_name: bool) -> list[int]:
    """Indices of targets that stand for ``truth``: itself, other versions of the same JASPAR
    matrix (MA0139.1 ~ MA0139.2) and, if ``same_name``, targets with the same alternate name
    (case-insensitive, e.g. CEBPB)."""
    base = _base_id(truth.id)
    name = truth.name.strip().upper()
    out = []
    for j, t in enumerate(targets):
        if t.id == truth.id or _base_id(t.id) == base or (same_name and name and t.name.strip().upper() == name):
            out.append(j)
    return out


def match_truth(
    learned: Sequence[Motif],
    truth: Sequence[Motif],
    *,
    threshold: float = 0.1,
    by: str = "E",
    database: Sequence[Motif] | str | None = "jaspar2020",
    same_name: bool = True,
    pseudocount: float = TOMTOM_PSEUDOCOUNT,
    background=None,
    seed: int = 0,
) -> TruthReport:
    """Which true motifs the learned motifs recovered, by which learned motif, at what p/E/q.

    The learned motifs are compared with the true motifs *inside* a whole database (default: the
    bundled JASPAR 2020 CORE vertebrates, 746 matrices) so that p- and E-values are those of a
    Tomtom search of that database: a true motif replaces the database entry with the same id,
    others are added. A learned motif matches a true motif if it passes ``by <= threshold``
    against the true motif or an equivalent (other versions of the same JASPAR matrix, and, with
    ``same_name``, database motifs with the same alternate name).

    Args:
        learned: learned motifs (queries), e.g. from :func:`~deepprune_cli.core.interpret.kernel_ppms`.
        truth: the true motifs (e.g. a simulation's ``motifs.meme``).
        threshold, by: significance rule, ``"E"`` (default, E <= 0.1), ``"q"`` or ``"p"``.
        database: motifs, a bundled collection name, or ``None`` for the true motifs alone
            (p-values then rest on very few columns; a warning says so).

    Returns:
        :class:`TruthReport`; ``match_fraction`` is the share of learned motifs with a
        significant match to any true motif (Koo & Eddy 2019).
    """
    learned, truth = list(learned), list(truth)
    if not truth:
        raise ValueError("no true motifs given")
    if isinstance(database, str):
        db = bundled_collection(database)
    else:
        db = list(database or [])
    truth_ids = {t.id for t in truth}
    targets = list(truth) + [m for m in db if m.id not in truth_ids]
    n_targets = len(targets)
    if not learned:
        rows = [TruthRecovery(t.id, t.name, False, None, None, np.nan, np.nan, np.nan, None, None) for t in truth]
        return TruthReport(rows, 0.0, [], 0, by, threshold, n_targets)
    comp = compare_motifs(learned, targets, pseudocount=pseudocount, background=background, seed=seed)
    values = {"q": comp.q, "E": comp.e, "p": comp.p}.get(by)
    if values is None:
        raise ValueError(f"by must be 'q', 'E' or 'p', got {by!r}")
    rows = []
    significant = np.zeros(len(learned), dtype=bool)
    for ti, t in enumerate(truth):
        eq = _equivalents(t, targets, same_name)
        sub_p = comp.p[:, eq]
        i, jj = np.unravel_index(int(np.argmin(sub_p)), sub_p.shape)
        j = eq[jj]
        passes = values[:, eq] <= threshold
        significant |= passes.any(axis=1)
        m = comp.match(int(i), j)
        rows.append(
            TruthRecovery(
                truth=t.id,
                name=t.name,
                recovered=bool(passes.any()),
                kernel=m.query,
                matched_as=m.target,
                p=m.p,
                E=m.E,
                q=m.q,
                offset=m.offset,
                orientation=m.orientation,
            )
        )
    matching = [learned[i].id for i in np.nonzero(significant)[0]]
    return TruthReport(
        rows=rows,
        match_fraction=float(significant.mean()),
        matching_kernels=matching,
        n_learned=len(learned),
        by=by,
        threshold=threshold,
        n_targets=n_targets,
        comparison=comp,
    )


def write_truth(report: TruthReport, path: str | os.PathLike | None) -> None:
    """Write a :class:`TruthReport` as TSV (:data:`TRUTH_COLUMNS`) plus summary comment lines."""
    with atomic_output(path, "w") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(TRUTH_COLUMNS)
        for r in report.rows:
            w.writerow(r.as_row())
        fh.write(
            f"# recovered {report.n_recovered}/{len(report.rows)} true motifs; match fraction "
            f"{report.match_fraction:.4g} ({len(report.matching_kernels)}/{report.n_learned} learned motifs "
            f"with {report.by} <= {report.threshold:g} against a true motif; {report.n_targets} targets)\n"
        )


def load_target_database(spec: str | os.PathLike) -> list[Motif]:
    """Motifs for ``--match``: a MEME file or a bundled collection name (``jaspar2020`` ...).

    Raises:
        InputError: unreadable or unparseable file (one line naming it).
    """
    from deepprune_cli.core.motifs import load_motifs

    motifs = load_motifs(spec)
    if not motifs:  # pragma: no cover - load_motifs already refuses empty files
        raise InputError(f"{spec}: no motifs")
    return motifs


__all__ = [
    "Comparison", "Match", "TruthRecovery", "TruthReport", "compare_motifs", "match_truth",
    "write_matches", "write_truth", "read_tomtom_tsv", "qvalues", "estimate_pi0",
    "ensure_numba_cache", "tomtom_cache_is_warm", "load_target_database", "with_pseudocount",
    "MATCH_COLUMNS", "TRUTH_COLUMNS", "TOMTOM_PSEUDOCOUNT", "TOMTOM_THRESHOLD",
]  # fmt: skip

"""Evaluation: which model on which data, AUROC/AUPRC records, paired comparisons, tables, figures.

A *job* is a dict ``{model, data, dataset[, round, variant]}``; :func:`evaluate_pairs` turns jobs
into *records*: the job plus ``arch``, ``kernels`` (active kernels) and per-class ``n_pos``,
``n_neg``, ``auroc_per_class``, ``auprc_per_class`` lists with their means ``auroc``, ``auprc``.
:func:`paired_comparison` compares two variants across data sets (one-sided Wilcoxon signed-rank,
the test of Luo et al. 2019). ``deepprune evaluate``, ``deepprune report`` and the workflow's
aggregate step all use these.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from scipy.stats import wilcoxon

from deepprune_cli.core import layout, metrics, plots, store, training
from deepprune_cli.core.errors import InputError, ModelDirError
from deepprune_cli.core.pruning import read_summary, stage_name
from deepprune_cli.core.sequences import read_sequences

COLUMNS = (
    "model", "dataset", "arch", "round", "variant", "kernels", "class", "n_pos", "n_neg", "auroc", "auprc",
)  # fmt: skip
COMPARE_COLUMNS = ("kernels", "round", "n_datasets", "median_a", "median_b", "median_diff", "b_wins", "p_value")


# --------------------------------------------------------------------------------------------
# jobs: which model on which data


def model_entries(path: str) -> list[dict]:
    """A model directory -> one entry; a prune directory -> one per stage in its summary.tsv."""
    p = Path(path)
    if store.is_model_dir(p):
        return [{"model": str(p)}]
    if (p / "summary.tsv").is_file():
        entries = []
        for row in read_summary(p):
            stage = p / stage_name(row["round"], row["variant"])
            if not store.is_model_dir(stage):
                raise ModelDirError(f"{p}: summary.tsv lists {stage.name}, which is not a model directory")
            entries.append({"model": str(stage), "round": row["round"], "variant": row["variant"]})
        if not entries:
            raise ModelDirError(f"{p}/summary.tsv: no stages listed")
        return entries
    if p.is_dir():
        raise ModelDirError(f"{p}: not a deepprune model directory or prune output (no config.json or summary.tsv)")
    raise ModelDirError(f"{p}: no such model directory")


def cross_jobs(paths) -> list[dict]:
    """Positional arguments -> every model (directories) on every data set (files)."""
    models, data = [], []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            models.extend(model_entries(path))
        elif p.exists() or str(path) == "-":
            data.append(str(path))
        else:
            raise InputError(f"{path}: no such file or directory")
    if not models:
        raise InputError("no MODEL given (a model directory or prune output directory)")
    if not data:
        raise InputError("no DATA given (a labelled sequence file)")
    return [dict(m, data=d, dataset=dataset_name(d)) for d in data for m in models]


def read_pairs(path) -> list[dict]:
    """``--pairs`` TSV (header with ``model`` and ``data``; optional ``dataset``, ``variant``) -> jobs.

    Relative paths are taken relative to the table's directory.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        text = p.read_bytes().decode("utf-8")
    except PermissionError:
        raise InputError(f"{p}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not a text file (byte {exc.start} is not UTF-8)") from None
    fh = io.StringIO(text, newline="")
    try:
        rows = list(csv.DictReader((line for line in fh if line.strip() and not line.startswith("#")), delimiter="\t"))
    except csv.Error as exc:
        raise InputError(f"{p}: not a tab-separated table ({exc})") from None
    if not rows or not {"model", "data"} <= set(rows[0]):
        raise InputError(f"{p}: needs a header with 'model' and 'data' columns (tab-separated)")
    jobs = []
    for i, row in enumerate(rows, start=2):
        if not row.get("model") or not row.get("data"):
            raise InputError(f"{p}: line {i}: empty model or data")
        model = row["model"] if Path(row["model"]).is_absolute() else str(p.parent / row["model"])
        data = row["data"] if Path(row["data"]).is_absolute() else str(p.parent / row["data"])
        if not Path(data).exists():
            raise InputError(f"{p}: line {i}: {data}: no such file")
        for entry in model_entries(model):
            job = dict(entry, data=data, dataset=row.get("dataset") or dataset_name(data))
            if row.get("variant"):
                job["variant"] = row["variant"]
            jobs.append(job)
    return jobs


def dataset_name(path: str) -> str:
    """A data file's name without directory and sequence extensions (``CTCF_B.seq.gz`` -> ``CTCF_B``)."""
    name = str(path).rstrip("/").split("/")[-1]
    for ext in (".gz", ".fa", ".fasta", ".fna", ".seq", ".data", ".txt"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    return name or str(path)


# --------------------------------------------------------------------------------------------
# evaluation


def evaluate_pairs(jobs, fmt="auto", genome=None, width=None, device="cpu", batch_size: int = 2048) -> list[dict]:
    """Evaluate each job (``model``, ``data``, ``dataset`` [, ``round``, ``variant``]) -> records.

    Every model is loaded and every data file read (and checked against its model) before any
    prediction, so bad inputs fail fast. A record holds the job plus ``arch``, ``kernels``
    (active kernels), per-class ``n_pos``/``n_neg``/``auroc``/``auprc`` lists and their means.
    """
    models, data = {}, {}
    for job in jobs:
        if job["model"] not in models:
            models[job["model"]] = store.load_model(job["model"], device=device)
        if job["data"] not in data:
            seqs = read_sequences(job["data"], fmt=fmt, genome=genome, width=width)
            if seqs.labels is None:
                raise InputError(f"{seqs.source}: evaluation needs labelled sequences (label=0/1, labels=..., or a Bound column)")
            data[job["data"]] = seqs
        rec, seqs = models[job["model"]], data[job["data"]]
        n_out = rec.model.spec.n_outputs
        if seqs.labels.shape[1] != n_out:
            raise InputError(
                f"{seqs.source}: labels have {seqs.labels.shape[1]} class(es) but {job['model']} predicts {n_out}"
            )
        if rec.model.spec.flattens:
            layout.check_lengths(seqs, rec.model.spec.seq_len, rec.model.spec.name)
        y = seqs.labels
        if n_out == 1 and (y.min() == y.max()):
            raise InputError(f"{seqs.source}: all sequences have the same label; AUROC needs positives and negatives")
    records = []
    for job in jobs:
        rec, seqs = models[job["model"]], data[job["data"]]
        scores = training.predict(rec.model, seqs, device=device, batch_size=batch_size)
        y = seqs.labels
        roc = metrics.per_class("auroc", y, scores)
        prc = metrics.per_class("auprc", y, scores)
        prune = rec.config.get("prune") or {}
        out = dict(job)
        out.setdefault("round", prune.get("round"))
        out.setdefault("variant", prune.get("variant") or "model")
        out.update(
            arch=rec.config.get("arch", rec.model.spec.name),
            kernels=int((rec.model.kernel_mask > 0).sum()),
            n_pos=[int(v) for v in (y > 0.5).sum(axis=0)],
            n_neg=[int(v) for v in (y <= 0.5).sum(axis=0)],
            auroc_per_class=[float(v) for v in roc],
            auprc_per_class=[float(v) for v in prc],
            auroc=metrics.nanmean(roc),
            auprc=metrics.nanmean(prc),
        )
        records.append(out)
    return records


def format_number(v) -> str:
    """A metric for a table: six decimals, ``nan`` for a missing value."""
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.6f}"


def format_table(records) -> str:
    """TSV: one row per model, data set and class, plus a ``mean`` row for multi-class models."""
    lines = ["\t".join(COLUMNS)]
    for r in records:
        common = [r["model"], r["dataset"], r["arch"], "" if r["round"] is None else str(r["round"]), r["variant"], str(r["kernels"])]
        n = len(r["auroc_per_class"])
        for c in range(n):
            lines.append("\t".join(common + [str(c), str(r["n_pos"][c]), str(r["n_neg"][c]),
                                             format_number(r["auroc_per_class"][c]), format_number(r["auprc_per_class"][c])]))  # fmt: skip
        if n > 1:
            lines.append("\t".join(common + ["mean", str(sum(r["n_pos"])), str(sum(r["n_neg"])), format_number(r["auroc"]), format_number(r["auprc"])]))
    return "\n".join(lines) + "\n"


def json_record(r: dict) -> dict:
    """An evaluation record as JSON-ready values (NaN -> None)."""

    def clean(v):
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return {k: clean(v) for k, v in r.items()}


# --------------------------------------------------------------------------------------------
# paired comparison across data sets


def paired_comparison(records, a: str, b: str, *, key: str = "auroc", strict: bool = True) -> list[dict]:
    """Variant ``b`` against ``a`` on the same data sets, per kernel count (and round).

    Pairs are records of one ``dataset`` with the same ``kernels`` (the first record of each
    variant counts). For each kernel count, most kernels first: the number of data sets, medians,
    how often ``b`` is better, and the one-sided Wilcoxon signed-rank p-value for ``b > a``
    (scipy; ``None`` with fewer than 2 data sets or all differences zero), the test Luo et al.
    (2019) used.

    ``a == "baseline"`` with ``baseline_first`` records present (prune's ``--baseline-seeds`` > 1):
    the rows against ``baseline_first`` follow, so the comparison is made both ways: against the
    best-of-seeds baseline and against the first seed's alone (each row names its ``a``).

    Args:
        records: dicts with ``dataset``, ``variant``, ``kernels``, optionally ``round``, and
            ``key``; a record whose ``key`` is NaN (e.g. a test set with one class) is left out.
        a, b: the variants compared (e.g. ``baseline``, ``deepprune``).
        key: the value compared: ``auroc`` (evaluation records) or e.g. ``test_auroc`` (the
            workflow's summary rows).
        strict: raise :class:`InputError` when a variant has no records or no data set has
            both; with ``False`` return ``[]`` instead.
    """
    variants = {r["variant"] for r in records}
    missing = [v for v in (a, b) if v not in variants]
    if missing:
        if not strict:
            return []
        raise InputError(f"--compare: no results for variant '{missing[0]}' (have: {', '.join(sorted(variants))})")
    rows = _paired(records, a, b, key, strict)
    if a == "baseline" and b != "baseline_first" and "baseline_first" in variants:
        # no data set with both at one kernel count: the main comparison stands alone
        rows += _paired(records, "baseline_first", b, key, strict=False)
    return rows


def _paired(records, a: str, b: str, key: str, strict: bool) -> list[dict]:
    """:func:`paired_comparison`'s rows for one pair of variants."""
    by_key: dict = {}
    for r in records:
        if r["variant"] in (a, b) and not math.isnan(float(r[key])):
            by_key.setdefault((r["kernels"], r["dataset"]), {}).setdefault(r["variant"], r)
    groups: dict = {}
    for (kernels, dataset), pair in by_key.items():
        if a in pair and b in pair:
            groups.setdefault(kernels, []).append((dataset, pair[a], pair[b]))
    if not groups and strict:
        raise InputError(f"--compare: no data set has both '{a}' and '{b}' at the same kernel count")
    out = []
    for kernels in sorted(groups, reverse=True):
        trios = sorted(groups[kernels], key=lambda t: t[0])
        xa = [float(t[1][key]) for t in trios]
        xb = [float(t[2][key]) for t in trios]
        diffs = [y - x for x, y in zip(xa, xb)]
        p = None
        if len(diffs) >= 2 and any(d != 0 for d in diffs):
            p = float(wilcoxon(xb, xa, alternative="greater").pvalue)
        rounds = {t[2].get("round") for t in trios}
        out.append(
            {
                "kernels": kernels,
                "round": rounds.pop() if len(rounds) == 1 else None,
                "n_datasets": len(trios),
                "datasets": [t[0] for t in trios],
                "a": a,
                "b": b,
                "auroc_a": xa,
                "auroc_b": xb,
                "median_a": _median(xa),
                "median_b": _median(xb),
                "median_diff": _median(diffs),
                "b_wins": sum(d > 0 for d in diffs),
                "p_value": p,
            }
        )
    return out


def _median(values) -> float:
    v = sorted(values)
    n = len(v)
    return float("nan") if n == 0 else (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2)


def format_comparison(comparison) -> str:
    """TSV of :func:`paired_comparison`'s rows."""
    lines = ["\t".join(("a", "b") + COMPARE_COLUMNS)]
    for c in comparison:
        lines.append(
            "\t".join(
                [c["a"], c["b"], str(c["kernels"]), "" if c["round"] is None else str(c["round"]), str(c["n_datasets"]),
                 format_number(c["median_a"]), format_number(c["median_b"]), format_number(c["median_diff"]), str(c["b_wins"]),
                 "nan" if c["p_value"] is None else f"{c['p_value']:.6g}"]
            )
        )  # fmt: skip
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# figures


#: variants pruned from the round-0 (``initial``) model: their lines start at its point
PRUNED_VARIANTS = ("deepprune", "inter", "lottery")


def auroc_series(records, metric: str = "auroc") -> dict[str, list[tuple[int, float]]]:
    """Variant -> ``[(kernels, mean metric over data sets), ...]``: the paper's Figure 2 lines.

    NaN values (a data set with one class) are left out of the means. The pruned variants
    (:data:`PRUNED_VARIANTS`) start from the round-0 model, so the ``initial`` points join their
    lines (the from-scratch ``baseline`` does not come from it); ``initial`` is a line of its own
    only when no pruned variant is there.
    """
    sums: dict = {}
    for r in records:
        value = float(r[metric])
        if not math.isnan(value):
            sums.setdefault(r["variant"], {}).setdefault(r["kernels"], []).append(value)
    series = {v: [(k, sum(x) / len(x)) for k, x in ks.items()] for v, ks in sums.items()}
    pruned = [v for v in PRUNED_VARIANTS if v in series]
    if "initial" in series and pruned:
        start = series.pop("initial")
        for v in pruned:
            series[v].extend(p for p in start if p[0] not in {k for k, _ in series[v]})
    return series


def write_plots(records, plot_path, compare, comparison) -> list:
    """AUROC vs kernels per variant (mean over data sets) to ``plot_path``; with ``compare`` and
    several data sets, also the paired scatter at the smallest shared kernel count to
    ``<stem>_scatter<suffix>``."""
    datasets = sorted({r["dataset"] for r in records})
    series = auroc_series(records)
    title = datasets[0] if len(datasets) == 1 else f"mean over {len(datasets)} data sets"
    written = [plots.plot_auroc_vs_kernels(series, plot_path, title=title)]
    if compare is not None and comparison and len(datasets) > 1:
        smallest = [c for c in comparison if c["a"] == compare[0]][-1]  # not the first-seed rows after it
        p = Path(plot_path)
        scatter = p.with_name(f"{p.stem}_scatter{p.suffix}")
        pv = smallest["p_value"]
        written.append(
            plots.plot_paired_scatter(
                smallest["auroc_a"], smallest["auroc_b"], scatter, labels=smallest["datasets"],
                xlabel=f"{compare[0]} AUROC", ylabel=f"{compare[1]} AUROC",
                title=f"{smallest['kernels']} kernels, n={smallest['n_datasets']}"
                + ("" if pv is None else f", one-sided Wilcoxon p={pv:.2g}"),
            )
        )  # fmt: skip
    return written

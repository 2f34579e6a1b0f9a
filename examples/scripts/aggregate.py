#!/usr/bin/env python3
"""Aggregate a deepprune workflow's per-dataset results into tables and figures.

Reads, for every dataset, RESULTS/<dataset>/evaluate.tsv (`deepprune evaluate`),
RESULTS/<dataset>/prune/summary.tsv (`deepprune prune`), RESULTS/<dataset>/motifs/motifs.tsv
(`deepprune logos`) and, when present, the Snakemake benchmark files
RESULTS/benchmarks/<dataset>/<step>.tsv, and writes:

  --summary     one row per dataset x stage: dataset, round, kernels, variant, test AUROC/AUPRC
                (from evaluate), validation AUROC, epochs and fit seconds (from the prune summary)
  --comparison  variant B against variant A per kernel count across datasets: medians, wins and the
                one-sided Wilcoxon signed-rank p-value for B > A (the test of Luo et al. 2019)
  --scatter     A's AUROC against B's, one point per dataset, at the final (smallest) kernel count
  --curve       mean test AUROC over datasets against kernel count, one line per variant
  --motifs      every dataset's motif table, with a dataset column
  --costs       wall time, CPU time and peak memory of every step of every dataset
  --failed      the datasets that could not be aggregated (with --skip-failed): dataset, the
                step that failed and why (the first error line of its log under --logs)

Each output is optional and only what it needs is read. By default a dataset whose results are
missing or unreadable is an error; with --skip-failed it is left out of every table, named on
stderr and in --failed, and the others are aggregated (what the workflow's `onerror` handler
runs after `snakemake --keep-going`, writing results/partial/ and results/failed.tsv). The paired
comparison, the figures and the atomic writes are deepprune's own (deepprune_cli.core), so run it
with the python deepprune is installed in (the workflow's PYTHON). Usage (what the Snakefile runs):

  python scripts/aggregate.py --results results --datasets GABPA REST \\
      --summary results/summary.tsv --comparison results/comparison.tsv \\
      --scatter results/baseline_vs_deepprune.png --curve results/auroc_vs_kernels.png \\
      --motifs results/motifs.tsv --costs results/costs.tsv

It also runs under Snakemake's `script:` directive: outputs named as the options above, and
params `results`, `datasets` (and optionally `compare`).
Every output is written atomically; a missing or malformed input is one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import sys
from pathlib import Path

from deepprune_cli.core import atomic, evaluation, plots
from deepprune_cli.core.errors import InputError

SUMMARY_COLUMNS = (
    "dataset", "round", "kernels", "variant", "criterion", "epochs", "val_auroc", "test_auroc", "test_auprc",
    "n_pos", "n_neg", "fit_seconds", "model",
)  # fmt: skip
COMPARISON_COLUMNS = ("a", "b", "kernels", "round", "n_datasets", "median_a", "median_b", "median_diff", "b_wins", "p_value")
COST_COLUMNS = ("dataset", "step", "seconds", "cpu_seconds", "max_rss_mb")
FAILED_COLUMNS = ("dataset", "step", "reason")
STEPS = ("shuffle", "train", "prune", "evaluate", "logos")
# the workflow's per-dataset logs, in the order the steps run (inputs: the input-file check)
LOG_STEPS = ("inputs", "bed_split", "bed_test_negatives", "bed_test_set") + STEPS
VARIANT_ORDER = {"initial": 0, "deepprune": 1, "inter": 2, "baseline": 3, "lottery": 4, "baseline_first": 5}


class AggregateError(Exception):
    pass


# ------------------------------------------------------------------------------------------------
# reading


def read_tsv(path: Path) -> list[dict]:
    if not path.is_file():
        raise AggregateError(f"{path}: no such file")
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader((line for line in fh if line.strip()), delimiter="\t"))
    return rows


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def read_dataset(results: Path, dataset: str) -> list[dict]:
    """One summary row per stage of ``dataset``'s prune run, with its evaluation."""
    ev_path = results / dataset / "evaluate.tsv"
    evaluate = read_tsv(ev_path)
    need = {"model", "round", "variant", "kernels", "class", "auroc", "auprc"}
    if not evaluate or not need <= set(evaluate[0]):
        raise AggregateError(f"{ev_path}: not a `deepprune evaluate` table (needs {', '.join(sorted(need))})")
    # one row per model: the 'mean' row of a multi-class model, else its single row
    per_model: dict = {}
    for row in evaluate:
        if row["class"] == "mean" or row["model"] not in per_model:
            per_model[row["model"]] = row
    summary_path = results / dataset / "prune" / "summary.tsv"
    stages = {}
    if summary_path.is_file():
        for row in read_tsv(summary_path):
            stages[(_int(row.get("round")), row.get("variant"))] = row
    out = []
    for row in per_model.values():
        rnd = _int(row["round"])
        stage = stages.get((rnd, row["variant"]), {})
        model = row["model"]
        try:
            model = os.path.relpath(model, results)
        except ValueError:
            pass
        out.append(
            {
                "dataset": dataset,
                "round": "" if rnd is None else rnd,
                "kernels": int(row["kernels"]),
                "variant": row["variant"],
                "criterion": stage.get("criterion", ""),
                "epochs": stage.get("epochs", ""),
                "val_auroc": _float(stage.get("val_auroc")),
                "test_auroc": _float(row["auroc"]),
                "test_auprc": _float(row["auprc"]),
                "n_pos": row.get("n_pos", ""),
                "n_neg": row.get("n_neg", ""),
                "fit_seconds": _float(stage.get("seconds")),
                "model": model,
            }
        )
    if not out:
        raise AggregateError(f"{ev_path}: no rows")
    out.sort(key=lambda r: (r["round"] if r["round"] != "" else -1, VARIANT_ORDER.get(r["variant"], 9), r["variant"]))
    return out


def read_motifs(results: Path, dataset: str) -> list[dict]:
    path = results / dataset / "motifs" / "motifs.tsv"
    return [dict({"dataset": dataset}, **row) for row in read_tsv(path)]


def read_costs(results: Path, dataset: str) -> list[dict]:
    rows = []
    for step in STEPS:
        path = results / "benchmarks" / dataset / f"{step}.tsv"
        if not path.is_file():
            continue
        bench = read_tsv(path)
        if not bench:
            continue
        b = bench[-1]
        rows.append(
            {
                "dataset": dataset,
                "step": step,
                "seconds": _float(b.get("s")),
                "cpu_seconds": _float(b.get("cpu_time")),
                "max_rss_mb": _float(b.get("max_rss")),
            }
        )
    return rows


def failure(logs: Path | None, dataset: str, problem: str) -> dict:
    """Which step of ``dataset`` failed and why: the first step whose log (LOGS/<dataset>/<step>.log)
    has an error line, that line as the reason; else the step of the last log and ``problem``."""
    steps = []
    if logs is not None and (logs / dataset).is_dir():
        for step in LOG_STEPS:
            log = logs / dataset / f"{step}.log"
            if not log.is_file():
                continue
            steps.append(step)
            text = log.read_text(encoding="utf-8", errors="replace").splitlines()
            errors = [line.strip() for line in text if "error" in line.lower() and line.strip()]
            if errors:
                return {"dataset": dataset, "step": step, "reason": errors[-1]}
    step = steps[-1] if steps else ""
    return {"dataset": dataset, "step": step, "reason": f"no error logged ({problem})"}


# ------------------------------------------------------------------------------------------------
# comparison


def paired_comparison(rows: list[dict], a: str, b: str) -> list[dict]:
    """Variant ``b`` against ``a`` on the same datasets at each kernel count: deepprune's own
    comparison (one-sided Wilcoxon), with empty cells where it has none (``[]`` when no dataset
    has both variants)."""
    out = evaluation.paired_comparison(rows, a, b, key="test_auroc", strict=False)
    for c in out:
        c["round"] = "" if c["round"] is None else c["round"]
        c["p_value"] = float("nan") if c["p_value"] is None else c["p_value"]
    return out


# ------------------------------------------------------------------------------------------------
# writing


def _cell(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6f}"
    return str(v)


def write_table(path: Path, columns, rows) -> None:
    with atomic.atomic_output(path, "w") as fh:
        fh.write("\t".join(columns) + "\n")
        for r in rows:
            fh.write("\t".join(_cell(r.get(c, "")) for c in columns) + "\n")


def write_scatter(path: Path, comparison: list[dict], a: str, b: str) -> None:
    comparison = [c for c in comparison if c["a"] == a]  # not the first-seed baseline's rows after them
    if not comparison:  # nothing to pair (e.g. prune --no-baseline): say so in the figure
        plots.plot_message(path, f"no dataset has both '{a}' and '{b}'\nat the same kernel count")
        return
    c = comparison[-1]  # the smallest kernel count: the end of pruning
    p = c["p_value"]
    title = f"{c['kernels']} kernels, {c['n_datasets']} dataset(s)" + ("" if math.isnan(p) else f", one-sided Wilcoxon p={p:.2g}")
    plots.plot_paired_scatter(c["auroc_a"], c["auroc_b"], path, labels=c["datasets"],
                              xlabel=f"{a} AUROC", ylabel=f"{b} AUROC", title=title)  # fmt: skip


def write_curve(path: Path, rows: list[dict]) -> None:
    datasets = sorted({r["dataset"] for r in rows})
    title = datasets[0] if len(datasets) == 1 else f"mean over {len(datasets)} datasets"
    plots.plot_auroc_vs_kernels(evaluation.auroc_series(rows, "test_auroc"), path, title=title, ylabel="test AUROC")


# ------------------------------------------------------------------------------------------------


def aggregate(args) -> None:
    results = Path(args.results)
    datasets = list(dict.fromkeys(args.datasets))
    if not datasets:
        raise AggregateError("no datasets given")
    a, b = args.compare
    if a == b:
        raise AggregateError("--compare needs two different variants")
    wants_auroc = any((args.summary, args.comparison, args.scatter, args.curve))
    if not (wants_auroc or args.motifs or args.costs):
        raise AggregateError("nothing to write: give at least one of --summary, --comparison, --scatter, --curve, --motifs, --costs")
    if args.failed and not args.skip_failed:
        raise AggregateError("--failed needs --skip-failed")
    logs = Path(args.logs) if args.logs else None
    # read everything before writing anything
    rows, motifs, costs, failed = [], [], [], []
    for ds in datasets:
        try:
            ds_rows = read_dataset(results, ds) if wants_auroc else []
            ds_motifs = read_motifs(results, ds) if args.motifs else []
        except AggregateError as exc:
            if not args.skip_failed:
                raise
            failed.append(failure(logs, ds, str(exc)))
            continue
        rows.extend(ds_rows)
        motifs.extend(ds_motifs)
        if args.costs:
            costs.extend(read_costs(results, ds))
    if failed and len(failed) == len(datasets):
        if args.failed:
            write_table(Path(args.failed), FAILED_COLUMNS, failed)
        for f in failed:
            print(f"aggregate.py: failed: {f['dataset']}: {f['step'] or '?'}: {f['reason']}", file=sys.stderr)
        raise AggregateError("every dataset failed: nothing to aggregate")
    comparison = paired_comparison(rows, a, b)
    version = ""
    if args.version_file and Path(args.version_file).is_file():
        version = Path(args.version_file).read_text(encoding="utf-8").strip()

    if args.summary:
        write_table(Path(args.summary), SUMMARY_COLUMNS, rows)
    if args.comparison:
        write_table(Path(args.comparison), COMPARISON_COLUMNS, comparison)
    if args.scatter:
        write_scatter(Path(args.scatter), comparison, a, b)
    if args.curve:
        write_curve(Path(args.curve), rows)
    if args.motifs:
        columns = ["dataset"] + [c for c in dict.fromkeys(k for m in motifs for k in m) if c != "dataset"]
        write_table(Path(args.motifs), columns, motifs)
    if args.costs:
        write_table(Path(args.costs), COST_COLUMNS, costs)
    if args.failed:
        write_table(Path(args.failed), FAILED_COLUMNS, failed)

    # a short report on stderr (the workflow's log)
    print(f"aggregate.py: {len(datasets) - len(failed)} dataset(s)" + (f" ({version})" if version else ""), file=sys.stderr)
    if failed:
        print(f"  {len(failed)} failed dataset(s), left out:", file=sys.stderr)
        for f in failed:
            print(f"    {f['dataset']}: {f['step'] or '?'}: {f['reason']}", file=sys.stderr)
    if wants_auroc:
        print(f"  {len(rows)} stage(s)", file=sys.stderr)
    for c in comparison:
        p = "n/a" if math.isnan(c["p_value"]) else f"{c['p_value']:.3g}"
        print(
            f"  {c['kernels']:>5} kernels: median {a} {c['median_a']:.4f}, {b} {c['median_b']:.4f}, "
            f"{b} better on {c['b_wins']}/{c['n_datasets']}, one-sided Wilcoxon p {p}",
            file=sys.stderr,
        )
    if args.motifs:
        ok = [m for m in motifs if m.get("status") == "ok"]
        matched = [m for m in ok if m.get("best_match")]
        print(f"  {len(ok)} motif(s), {len(matched)} with a database match", file=sys.stderr)
    by_step: dict = {}
    for c in costs:
        by_step.setdefault(c["step"], []).append(c["seconds"])
    for step in STEPS:
        if step in by_step:
            print(f"  {step:<8} median {statistics.median(by_step[step]):.1f} s per dataset", file=sys.stderr)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", required=True, help="the workflow's results directory")
    ap.add_argument("--datasets", nargs="+", required=True, help="dataset names (directories under --results)")
    ap.add_argument("--compare", nargs=2, default=["baseline", "deepprune"], metavar=("A", "B"))
    ap.add_argument("--summary", help="summary table (TSV)")
    ap.add_argument("--comparison", help="paired comparison table (TSV)")
    ap.add_argument("--scatter", help="A vs B scatter at the final kernel count (.png/.svg/.pdf)")
    ap.add_argument("--curve", help="mean AUROC against kernels per variant (.png/.svg/.pdf)")
    ap.add_argument("--motifs", help="all motif tables (TSV)")
    ap.add_argument("--costs", help="per-step wall time and memory from Snakemake benchmark files (TSV)")
    ap.add_argument("--version-file", help="`deepprune --version` output, quoted in the log")
    ap.add_argument("--skip-failed", action="store_true", help="leave out datasets whose results are missing, instead of failing")
    ap.add_argument("--failed", help="with --skip-failed: the left-out datasets, their failed step and why (TSV)")
    ap.add_argument("--logs", help="the workflow's log directory (LOGS/<dataset>/<step>.log), read for --failed")
    return ap.parse_args(argv)


def args_from_snakemake(smk) -> argparse.Namespace:
    """The same arguments from a Snakemake ``script:`` rule's ``snakemake`` object."""
    out, params = smk.output, smk.params
    return argparse.Namespace(
        results=params.results,
        datasets=list(params.datasets),
        compare=list(getattr(params, "compare", None) or ["baseline", "deepprune"]),
        summary=getattr(out, "summary", None),
        comparison=getattr(out, "comparison", None),
        scatter=getattr(out, "scatter", None),
        curve=getattr(out, "curve", None),
        motifs=getattr(out, "motifs", None),
        costs=getattr(out, "costs", None),
        version_file=getattr(smk.input, "version", None),
        skip_failed=False,
        failed=None,
        logs=None,
    )


def main(argv=None) -> int:
    smk = globals().get("snakemake")
    args = args_from_snakemake(smk) if smk is not None else parse_args(argv)
    try:
        aggregate(args)
    except (AggregateError, InputError, KeyError, ValueError, OSError) as exc:
        print(f"aggregate.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__" or "snakemake" in globals():
    code = main()
    if code:
        sys.exit(code)

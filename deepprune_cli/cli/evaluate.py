"""``deepprune evaluate``: AUROC/AUPRC of models (or every stage of prune runs) on labelled data.

The work is done by :mod:`deepprune_cli.core.evaluation`; this module parses options, writes the
outputs and shows the tables.
"""

from __future__ import annotations

import click

from deepprune_cli.cli.common import console, device_options, input_format_options, lock_outputs

@click.command("evaluate")
@click.argument("paths", nargs=-1, metavar="MODEL... DATA...")
@click.option(
    "--pairs",
    "pairs_path",
    default=None,
    metavar="TABLE",
    help="TSV with columns model, data (and optional dataset, variant): evaluate each model on its own data.",
)
@click.option("-o", "--output", default=None, help="Write the results table (TSV) here [default: stdout].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON record per model and data set on stdout.")
@click.option(
    "--plot",
    "plot_path",
    default=None,
    metavar="FIG.png",
    help="AUROC against kernel count per variant; with several data sets and two variants to compare "
    "(--compare, or baseline and deepprune), also FIG_scatter.png.",
)
@click.option(
    "--compare",
    nargs=2,
    default=None,
    metavar="A B",
    help="Paired comparison of variant B against variant A across data sets at each kernel count "
    "(one-sided Wilcoxon signed-rank test, B > A), e.g. --compare baseline deepprune.",
)
@click.option("--compare-out", default=None, help="Write the --compare table (TSV) here.")
@click.option("--batch-size", type=click.IntRange(min=1), default=2048, show_default=True)
@input_format_options
@device_options
@click.option("-q", "--quiet", is_flag=True, help="No table on stderr.")
def command(paths, pairs_path, output, as_json, plot_path, compare, compare_out, batch_size, fmt, genome, width, device, threads, quiet):
    """Evaluate models against labelled data: AUROC and AUPRC (per class for multi-label models).

    MODEL is a model directory or a prune output directory (every stage and variant listed in its
    summary.tsv); DATA is a labelled sequence file (FASTA with label=/labels= headers, DeepBind
    .seq, Zeng .data). Every MODEL is evaluated on every DATA, or, with --pairs, each model on its
    own data. Results: a TSV (stdout or -o), --json records, a table on stderr.

    \b
    Examples:
      deepprune evaluate model/ test.fa
      deepprune evaluate prune/ test.fa -o auc.tsv --plot auc.png
      deepprune evaluate --pairs runs.tsv --compare baseline deepprune --plot fig.png
    """
    from pathlib import Path

    from deepprune_cli.core.errors import InputError

    if not paths and pairs_path is None:
        raise InputError("give MODEL... DATA... or --pairs TABLE")
    if pairs_path is not None and paths:
        raise InputError("give either MODEL... DATA... or --pairs TABLE, not both")
    if compare is not None and compare[0] == compare[1]:
        raise InputError("--compare needs two different variants")
    if plot_path is not None and Path(plot_path).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise InputError(f"--plot {plot_path}: use a .png, .svg or .pdf file name")
    outs = [p for p in (output, compare_out, plot_path) if p not in (None, "-")]
    if len({str(Path(p).resolve()) for p in outs}) != len(outs):
        raise InputError("output files collide: give distinct -o, --compare-out and --plot paths")
    scatter = None if plot_path is None else Path(plot_path).with_name(f"{Path(plot_path).stem}_scatter{Path(plot_path).suffix}")
    lock_outputs(output, compare_out, plot_path, scatter)  # held to the end: another run at them is refused at once

    from deepprune_cli.core import evaluation, training

    jobs = evaluation.read_pairs(pairs_path) if pairs_path is not None else evaluation.cross_jobs(paths)
    dev = training.resolve_device(device)
    training.set_threads(threads)
    records = evaluation.evaluate_pairs(jobs, fmt=fmt, genome=genome, width=width, device=dev, batch_size=batch_size)
    comparison = evaluation.paired_comparison(records, *compare) if compare is not None else None

    # Outputs: the files appear together once all are written (atomic_group), so a failure while
    # writing the plot leaves none of this run's files; stdout carries the table unless --json asks
    # for records instead.
    from deepprune_cli.core.atomic import atomic_group, atomic_output

    with atomic_group():
        if output is not None or not as_json:
            with atomic_output(output, "w") as fh:
                fh.write(evaluation.format_table(records))
        if as_json:
            import json
            import sys

            for rec in records:
                sys.stdout.write(json.dumps(evaluation.json_record(rec), sort_keys=True) + "\n")
            if comparison is not None:
                sys.stdout.write(json.dumps({"comparison": comparison}, sort_keys=True) + "\n")
        if compare_out is not None and comparison is not None:
            with atomic_output(compare_out, "w") as fh:
                fh.write(evaluation.format_comparison(comparison))
        if plot_path is not None:
            plot_compare, plot_comparison = compare, comparison
            variants = {r["variant"] for r in records}
            if compare is None and {"baseline", "deepprune"} <= variants and len({r["dataset"] for r in records}) > 1:
                # several data sets with both variants: the paper's Figure 6 scatter comes too
                plot_compare = ("baseline", "deepprune")
                plot_comparison = evaluation.paired_comparison(records, *plot_compare)
            evaluation.write_plots(records, plot_path, plot_compare, plot_comparison)
    if not quiet:
        _report(records, comparison, compare)


# --------------------------------------------------------------------------------------------
# the stderr report


def _report(records, comparison, compare) -> None:
    from rich.table import Table

    from deepprune_cli.core.evaluation import format_number as _num

    con = console()
    table = Table(title="evaluation", title_justify="left")
    for col in ("dataset", "model", "variant", "kernels", "n+", "n-", "AUROC", "AUPRC"):
        table.add_column(col, justify="right" if col in ("kernels", "n+", "n-", "AUROC", "AUPRC") else "left")
    for r in records:
        table.add_row(
            r["dataset"], r["model"].rstrip("/").split("/")[-1], r["variant"], str(r["kernels"]),
            str(sum(r["n_pos"])), str(sum(r["n_neg"])), _num(r["auroc"])[:5], _num(r["auprc"])[:5],
        )  # fmt: skip
    con.print(table)
    # one table per pair compared (against baseline, the first seed's baseline follows)
    for a in dict.fromkeys(c["a"] for c in comparison or []):
        b = compare[1]
        t = Table(title=f"{b} vs {a} (one-sided Wilcoxon signed-rank, {b} > {a})", title_justify="left")
        for col in ("kernels", "data sets", f"median {a}", f"median {b}", "wins", "p"):
            t.add_column(col, justify="right")
        for c in (c for c in comparison if c["a"] == a):
            t.add_row(
                str(c["kernels"]), str(c["n_datasets"]), _num(c["median_a"])[:5], _num(c["median_b"])[:5],
                f"{c['b_wins']}/{c['n_datasets']}", "n/a" if c["p_value"] is None else f"{c['p_value']:.3g}",
            )  # fmt: skip
        con.print(t)

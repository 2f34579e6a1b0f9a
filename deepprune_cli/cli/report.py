"""``deepprune report``: one self-contained HTML page for prune runs and trained models."""

from __future__ import annotations

import click

from deepprune_cli.cli.common import console, lock_outputs


@click.command("report")
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
@click.option("-o", "--output", required=True, help="The HTML file to write ('-' for stdout).")
@click.option(
    "--motifs",
    "motif_paths",
    multiple=True,
    metavar="MEME",
    help="A 'deepprune logos' output (motifs.meme, or its directory) for each RUN, in the same order; "
    "its motifs.tsv and matches.tsv are read from beside it.",
)
@click.option("--title", default="deepprune report", show_default=True, help="The page's title.")
@click.option("-q", "--quiet", is_flag=True, help="No message on stderr.")
def command(runs, output, motif_paths, title, quiet):
    """Write one HTML page a biologist opens: what was run, AUROC/AUPRC against kernel count,
    training curves, and the final motifs as logos with their database matches.

    RUN is a prune output directory or a trained model directory. With several runs the page
    starts with the across-experiment table, the baseline-vs-deepprune scatter with its one-sided
    Wilcoxon test, and a table of all motifs. The file has no scripts and loads nothing from the
    network (figures are inline SVG, logos inline PNG); the same inputs give the same bytes.

    \b
    Examples:
      deepprune logos pruned/final peaks.fa -o motifs/motifs.meme --match jaspar2020
      deepprune report pruned --motifs motifs/motifs.meme -o report.html
      deepprune report results/*/prune --motifs results/*/motifs/motifs.meme -o all.html
    """
    lock_outputs(output)  # held to the end: another run at it is refused at once
    from deepprune_cli.core.report import write_report

    written = write_report(list(runs), output, list(motif_paths) or None, title=title)
    if not quiet and output != "-":
        console().print(f"wrote {output} ({len(written)} run{'s' if len(written) != 1 else ''})")

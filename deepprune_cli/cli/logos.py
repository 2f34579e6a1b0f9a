"""``deepprune logos``: a model's first-layer kernels as motifs (MEME), logos and database matches."""

from __future__ import annotations

import click

from deepprune_cli.cli.common import console, input_format_options, lock_outputs, seed_option
from deepprune_cli.core.choices import DEFAULT_SITE_REFERENCE, MOTIF_ORDERS, SIGNIFICANCE, SITE_REFERENCES, SITE_SOURCES


@click.command("logos")
@click.argument("model_path", metavar="MODEL")
@click.argument("seqs_path", metavar="SEQS")
@click.option("-o", "--output", required=True, help="Motifs in MEME minimal format ('-' for stdout).")
@click.option(
    "--table",
    "table_path",
    default=None,
    help="Per-kernel table (TSV) [default: OUTPUT with .tsv, e.g. motifs.tsv; none with -o -].",
)
@click.option(
    "--distinct",
    "distinct_path",
    default=None,
    help="Distinct motifs (MEME): one per group of kernels that are the same motif up to shift and strand, "
    "the group's most important kernel [default: OUTPUT with .distinct.meme; none with -o -].",
)
@click.option(
    "--group-db",
    default="jaspar2024",
    show_default=True,
    metavar="DB",
    help="Motif database (MEME file or bundled name) whose columns give the kernel-vs-kernel p-values their "
    "null when grouping ('none': every kernel its own group, no comparison).",
)
@click.option(
    "--group-p",
    type=float,
    default=1e-4,
    show_default=True,
    help="Two kernels are the same motif when one matches the other with a Tomtom-style p-value below this "
    "(either strand, against --group-db plus the kernels).",
)
@click.option("--png", "png_dir", default=None, metavar="DIR", help="Write one PNG logo (bits) per motif and overview.png here.")
@click.option("--svg", "svg_dir", default=None, metavar="DIR", help="Write one SVG logo per motif and overview.svg here.")
@click.option(
    "--match",
    "match_db",
    default=None,
    metavar="DB",
    help="Compare the motifs with a motif database, Tomtom-style (MEME file, or jaspar2020 / jaspar2024 bundled).",
)
@click.option("--matches", "matches_path", default=None, help="Where --match writes its table [default: matches.tsv beside OUTPUT].")
@click.option("--match-thresh", type=float, default=0.5, show_default=True, help="Report matches with q-value (see --match-by) at most this.")
@click.option("--match-by", type=click.Choice(SIGNIFICANCE), default="q", show_default=True, help="Significance measure for --match-thresh.")
@click.option("--truth", "truth_path", default=None, metavar="T.meme", help="True motifs (e.g. a simulation's motifs.meme): report which were recovered.")
@click.option("--truth-out", default=None, help="Where --truth writes its table [default: truth.tsv beside OUTPUT].")
@click.option(
    "--truth-db",
    default="jaspar2020",
    show_default=True,
    help="Database the true motifs are searched within, so p/E-values are those of a real search ('none' for the true motifs alone).",
)
@click.option("--truth-thresh", type=float, default=0.1, show_default=True, help="E-value (see --truth-by) a kernel needs to recover a true motif.")
@click.option("--truth-by", type=click.Choice(SIGNIFICANCE), default="E", show_default=True)
@click.option(
    "--threshold",
    type=float,
    default=0.7,
    show_default=True,
    help="A sequence gives a site when its best window reaches this fraction of the kernel's largest activation on SEQS (see --relative-to).",
)
@click.option(
    "--relative-to",
    type=click.Choice(SITE_REFERENCES),
    default=DEFAULT_SITE_REFERENCE,
    show_default=True,
    help="What --threshold is a fraction of: the largest activation the kernel reaches on SEQS (Koo & Eddy "
    "2019; default), or its maximum possible activation (best letter at every position + bias, the DeepBind "
    "supplement's rule). Trained kernels seldom reach their possible maximum, so 'possible' often finds too "
    "few sites.",
)
@click.option("--trim", "trim_bits", type=float, default=0.0, show_default=True, metavar="BITS", help="Trim flanking columns with less information than this.")
@click.option("--min-sites", type=click.IntRange(min=1), default=10, show_default=True, help="Kernels with fewer sites are reported and skipped.")
@click.option("--min-bits", type=float, default=2.0, show_default=True, help="Kernels with less information than this (beyond chance) are flagged near-uniform and skipped.")
@click.option(
    "--order",
    type=click.Choice(MOTIF_ORDERS),
    default="weight",
    show_default=True,
    help="Motif order: weight = |dense weight| of the kernel (the pruning statistic); score = activation "
    "difference between positive and negative SEQS (needs labels); kernel = kernel number.",
)
@click.option(
    "--sites-from",
    type=click.Choice(SITE_SOURCES),
    default="positives",
    show_default=True,
    help="Which SEQS give sites when SEQS carries labels (unlabelled SEQS are all used).",
)
@input_format_options
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads (default: all cores).")
@seed_option
@click.option("--allow-empty", is_flag=True,
              help="When no kernel gives a motif, warn and write empty outputs (a MEME header, the kernel "
              "table, header-only match tables) with exit 0 instead of failing (exit 1): for workflows.")
@click.option("-q", "--quiet", is_flag=True, help="No table on stderr.")
def command(
    model_path, seqs_path, output, table_path, distinct_path, group_db, group_p, png_dir, svg_dir, match_db, matches_path, match_thresh, match_by,
    truth_path, truth_out, truth_db, truth_thresh, truth_by, threshold, relative_to, trim_bits, min_sites, min_bits, order,
    sites_from, fmt, genome, width, threads, seed, allow_empty, quiet,
):  # fmt: skip
    """Turn MODEL's first-layer kernels into motifs, using SEQS to find their sites.

    Each active kernel is scanned over SEQS (both strands when the model scans both); every
    sequence whose best window reaches --threshold of the largest activation the kernel reaches
    on SEQS (or, with --relative-to possible, of its maximum possible activation) gives one site;
    the aligned sites are counted into a letter-probability matrix (Koo & Eddy 2019; DeepBind
    supplement). Kernels with too few sites or a near-uniform matrix are reported
    and skipped. Motifs are written in MEME format (background from SEQS), ordered by importance,
    with a per-kernel table beside them.

    Kernels that are the same motif up to shift and strand (Tomtom-style p < --group-p against
    each other inside --group-db, either direction) form one group around its most important
    kernel: every member is the same motif as it, and no two groups' representatives are the
    same motif; the table gives every kernel its group, the --distinct MEME file holds each
    group's representative, and the log says how many distinct motifs the model holds.

    --match compares them with a motif database the way Tomtom 5.4 does by default (Euclidean
    distance, both strands, q <= 0.5); --truth reports which true motifs were recovered.

    \b
    Examples:
      deepprune logos model/ peaks.fa -o motifs.meme --png logos/
      deepprune logos prune/final test.fa -o motifs.meme --match jaspar2020
      deepprune logos model/ sim/test.fa -o motifs.meme --truth sim/motifs.meme
    """
    from pathlib import Path

    from deepprune_cli.core.errors import InputError
    from deepprune_cli.core.kernel_motifs import MotifOptions, default_output_paths

    # ---- options and output paths: everything is checked before anything is read or written
    options = MotifOptions(
        threshold=threshold, relative_to=relative_to, trim_bits=trim_bits, min_sites=min_sites, min_bits=min_bits,
        order=order, sites_from=sites_from, group_p=group_p, match_threshold=match_thresh, match_by=match_by,
        truth_threshold=truth_thresh, truth_by=truth_by, seed=seed,
    )  # fmt: skip
    options.check()
    grouping_on = str(group_db).lower() != "none"
    paths = default_output_paths(
        output, table=table_path, distinct=distinct_path, matches=matches_path, truth=truth_out, grouping=grouping_on,
        matching=match_db is not None, truths=truth_path is not None,
    )  # fmt: skip
    for d in (png_dir, svg_dir):
        if d is not None and Path(d).exists() and not Path(d).is_dir():
            raise InputError(f"{d}: exists and is not a directory")
    # held to the end: another run writing any of them is refused at once
    lock_outputs(*(p for p in paths.values() if p is not None and str(p) != "-"), png_dir, svg_dir)

    # Heavy imports only now, so `deepprune --help` stays instant.
    from deepprune_cli.core import compare, store, training
    from deepprune_cli.core.kernel_motifs import extract_motifs
    from deepprune_cli.core.sequences import read_sequences

    training.set_threads(threads)
    record = store.load_model(model_path)
    seqs = read_sequences(seqs_path, fmt=fmt, genome=genome, width=width)

    def compiling_note():
        if not compare.tomtom_cache_is_warm() and not quiet:
            console().print("[dim]compiling the Tomtom kernels once (about a minute); later runs reuse the cache[/dim]")

    found = extract_motifs(
        record, seqs, options, match_db=match_db, group_db=group_db, truth=truth_path, truth_db=truth_db,
        allow_empty=allow_empty, before_comparisons=compiling_note,
    )  # fmt: skip
    found.write(**paths, png_dir=png_dir, svg_dir=svg_dir, allow_empty=allow_empty)
    if not quiet:
        _report(found)


def _report(found) -> None:
    """The per-kernel table, the distinct-motif count and the truth recovery, on stderr."""
    from rich.table import Table

    con = console()
    results, live, comparison, groups, truth_report = found.results, found.live, found.comparison, found.groups, found.truth
    table = Table(
        title=f"kernels -> motifs ({found.n_site_sequences} sequences of {found.source})", title_justify="left"
    )
    cols = ["rank", "id", "group", "consensus", "bits", "sites", "importance"]
    if comparison is not None:
        cols += ["best match", "p"]
    for col in cols:
        right = col in ("rank", "group", "bits", "sites", "importance", "p")
        table.add_column(
            col, justify="right" if right else "left", no_wrap=col in ("id", "consensus", "p"), overflow="ellipsis",
            max_width=16 if col == "consensus" and comparison is not None else None,
        )  # fmt: skip
    for row in found.table_rows():
        imp = f"{float(row['importance']):.3g}" if row["importance"] != "" else ""
        if row["rank"] == "":
            short = row["status"].split(" (")[0]
            cells = ["-", f"kernel{row['kernel']}", "", f"[dim]{short}[/dim]", "", str(row["sites"]), imp]
        else:
            group = f"[dim]{row['group']}[/dim]" if row["representative"] == "no" else str(row["group"])
            cells = [
                str(row["rank"]), row["id"], group, row["consensus"], f"{float(row['information_bits']):.1f}",
                str(row["sites"]), imp,
            ]  # fmt: skip
        if comparison is not None:
            p = f"{float(row['best_match_p']):.1e}" if row["best_match_p"] else ""
            cells += [f"{row['best_match']} {row['best_match_name']}".strip(), p]
        table.add_row(*cells)
    con.print(table)
    dead = len(results) - len(live)
    if dead:
        con.print(f"{dead} kernel(s) skipped (dead or too few sites), {len(live)} motif(s) written")
        if found.options.relative_to == "possible" and any(r.reason.startswith("too few sites") for r in results):
            con.print("[dim]kernels with too few sites may give motifs with --relative-to observed or a lower --threshold[/dim]")
    if groups is not None and live:
        n, m = len(live), groups.n_groups
        con.print(
            f"{n} kernel{'s' if n != 1 else ''} → {m} distinct motif{'s' if m != 1 else ''} "
            f"(same motif: p < {groups.threshold:g} either strand, against {found.group_db} + the kernels)"
        )
    if truth_report is not None:
        con.print(
            f"recovered {truth_report.n_recovered}/{len(truth_report.rows)} true motifs "
            f"({truth_report.by} <= {truth_report.threshold:g}); match fraction {truth_report.match_fraction:.2f}"
        )
        # Koo & Eddy count every filter: one that gave no motif does not match
        n_match = len(truth_report.matching_kernels)
        con.print(
            f"{n_match}/{len(results)} of all kernels match a true motif "
            f"(match fraction over all kernels {n_match / max(len(results), 1):.2f})"
        )
        for r in truth_report.rows:
            mark = "[green]yes[/green]" if r.recovered else "[red]no[/red]"
            con.print(f"  {r.truth} {r.name}: {mark}  best kernel {r.kernel}  p={r.p:.2g}  E={r.E:.2g}")

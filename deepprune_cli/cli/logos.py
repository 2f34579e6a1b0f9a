"""``deepprune logos``: a model's first-layer kernels as motifs (MEME), logos and database matches."""

from __future__ import annotations

import click

from deepprune_cli.cli.common import console, input_format_options, lock_outputs, seed_option
from deepprune_cli.core.choices import DEFAULT_SITE_REFERENCE, SITE_REFERENCES

ORDERS = ("weight", "score", "kernel")


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
@click.option("--match-by", type=click.Choice(["q", "E", "p"]), default="q", show_default=True, help="Significance measure for --match-thresh.")
@click.option("--truth", "truth_path", default=None, metavar="T.meme", help="True motifs (e.g. a simulation's motifs.meme): report which were recovered.")
@click.option("--truth-out", default=None, help="Where --truth writes its table [default: truth.tsv beside OUTPUT].")
@click.option(
    "--truth-db",
    default="jaspar2020",
    show_default=True,
    help="Database the true motifs are searched within, so p/E-values are those of a real search ('none' for the true motifs alone).",
)
@click.option("--truth-thresh", type=float, default=0.1, show_default=True, help="E-value (see --truth-by) a kernel needs to recover a true motif.")
@click.option("--truth-by", type=click.Choice(["q", "E", "p"]), default="E", show_default=True)
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
    type=click.Choice(ORDERS),
    default="weight",
    show_default=True,
    help="Motif order: weight = |dense weight| of the kernel (the pruning statistic); score = activation "
    "difference between positive and negative SEQS (needs labels); kernel = kernel number.",
)
@click.option(
    "--sites-from",
    type=click.Choice(["positives", "all"]),
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
    each other inside --group-db, either direction) form one group (connected components);
    the table gives every kernel its group, the --distinct MEME file holds each group's most
    important kernel, and the log says how many distinct motifs the model holds.

    --match compares them with a motif database the way Tomtom 5.4 does by default (Euclidean
    distance, both strands, q <= 0.5); --truth reports which true motifs were recovered.

    \b
    Examples:
      deepprune logos model/ peaks.fa -o motifs.meme --png logos/
      deepprune logos prune/final test.fa -o motifs.meme --match jaspar2020
      deepprune logos model/ sim/test.fa -o motifs.meme --truth sim/motifs.meme
    """
    import os
    from pathlib import Path

    from deepprune_cli.core.errors import DeeppruneError, InputError

    # ---- options and output paths: everything is checked before anything is read or written
    if not 0 < threshold <= 1:
        raise InputError(f"--threshold must be in (0, 1], got {threshold}")
    if trim_bits < 0 or min_bits < 0:
        raise InputError("--trim and --min-bits must be non-negative")
    if match_thresh < 0 or truth_thresh < 0:
        raise InputError("--match-thresh and --truth-thresh must be non-negative")
    if not 0 < group_p <= 1:
        raise InputError(f"--group-p must be in (0, 1], got {group_p}")
    grouping_on = str(group_db).lower() != "none"
    to_stdout = str(output) == "-"
    out = None if to_stdout else Path(output)
    base = Path.cwd() if out is None else out.parent
    if table_path is None and out is not None:
        table_path = out.with_suffix(".tsv") if out.suffix != ".tsv" else out.with_name(out.name + ".table.tsv")
    if distinct_path is None and out is not None and grouping_on:
        distinct_path = out.with_name(out.stem + ".distinct.meme")
    if distinct_path is not None and not grouping_on:
        raise InputError("--distinct needs grouping; it cannot be used with --group-db none")
    if match_db is not None and matches_path is None:
        matches_path = base / "matches.tsv"
    if truth_path is not None and truth_out is None:
        truth_out = base / "truth.tsv"
    files = [p for p in (out, table_path, distinct_path, matches_path, truth_out) if p is not None and str(p) != "-"]
    resolved = [os.path.abspath(p) for p in files]
    if len(set(resolved)) != len(resolved):
        raise InputError("output files collide: give distinct -o, --table, --distinct, --matches and --truth-out paths")
    for p in files:
        if Path(p).is_dir():
            raise InputError(f"{p}: is a directory, expected a file name")
    if sum(str(p) == "-" for p in (output, table_path, distinct_path, matches_path, truth_out) if p is not None) > 1:
        raise InputError("only one output can go to stdout ('-')")
    for d in (png_dir, svg_dir):
        if d is not None and Path(d).exists() and not Path(d).is_dir():
            raise InputError(f"{d}: exists and is not a directory")
    # held to the end: another run writing any of them is refused at once
    lock_outputs(*files, png_dir, svg_dir)

    # Heavy imports only now, so `deepprune --help` stays instant.
    import numpy as np

    from deepprune_cli.core import compare, grouping, interpret, layout, store, training
    from deepprune_cli.core.motifs import Motif, read_meme, write_meme
    from deepprune_cli.core.sequences import read_sequences

    training.set_threads(threads)
    rec = store.load_model(model_path)
    model = rec.model
    spec = model.spec
    if rec.config.get("alphabet", "ACGT") != "ACGT":
        raise InputError(f"{model_path}: alphabet {rec.config.get('alphabet')!r}; motifs are written for ACGT models only")
    database = compare.load_target_database(match_db) if match_db is not None else None
    group_database = None
    if grouping_on:
        group_database = database if (match_db is not None and group_db == match_db) else compare.load_target_database(group_db)
    truth = read_meme(truth_path) if truth_path is not None else None
    truth_database = None
    if truth is not None and str(truth_db).lower() != "none":
        truth_database = database if (match_db is not None and truth_db == match_db) else compare.load_target_database(truth_db)

    seqs = read_sequences(seqs_path, fmt=fmt, genome=genome, width=width)
    if len(seqs) == 0:
        raise InputError(f"{seqs.source}: no sequences")
    tokens = layout.model_tokens(spec, seqs)
    site_rows = np.arange(len(seqs))
    if seqs.labels is not None and sites_from == "positives":
        site_rows = np.nonzero(seqs.labels.max(axis=1) > 0.5)[0]
        if len(site_rows) == 0:
            raise InputError(f"{seqs.source}: no positive sequences to find sites in (use --sites-from all)")
    if order == "score":
        if seqs.labels is None or seqs.labels.max() <= 0.5 or seqs.labels.min() > 0.5:
            raise InputError(f"{seqs.source}: --order score needs labelled positives and negatives in SEQS")

    # ---- kernels -> motifs
    weight, bias = interpret.first_layer_filters(model)
    active = model.kernel_mask.detach().cpu().numpy() > 0
    kernel_ids = model.kernel_ids.detach().cpu().numpy()
    importance = None
    if order != "kernel":
        from deepprune_cli.core import criteria

        data = layout.to_device((tokens, seqs.labels), model.conv1.weight.device) if order == "score" else None
        importance = criteria.kernel_statistic(model, data, order)
    site_tokens = tokens[site_rows]
    background = interpret.letter_background(site_tokens)
    if spec.both_strands:
        background = (background + background[::-1]) / 2  # both strands: A = T, C = G
    results = interpret.kernel_ppms(
        weight, bias, site_tokens,
        threshold=threshold, relative_to=relative_to, both_strands=spec.both_strands, padding=spec.convs[0].padding,
        min_sites=min_sites, trim_bits=trim_bits, min_bits=min_bits, background=background,
        importance=importance, kernel_ids=kernel_ids, active=active,
    )  # fmt: skip
    live = [r for r in results if not r.dead]
    if not live:
        reasons = "; ".join(f"kernel {r.kernel_id}: {r.reason}" for r in results[:5])
        more = f" (and {len(results) - 5} more)" if len(results) > 5 else ""
        hint = ""
        if any(r.reason.startswith("too few sites") for r in results):
            hint = "; try --relative-to observed or a lower --threshold" if relative_to == "possible" else "; try a lower --threshold"
        message = f"{rec.path}: no kernel gave a motif from {len(site_rows)} sequences of {seqs.source} ({reasons}{more}){hint}"
        if not allow_empty:
            raise DeeppruneError(message)
        import warnings

        warnings.warn(f"{message}; writing empty outputs (--allow-empty)")
    motifs = [r.to_motif(f"kernel{r.kernel_id}", f"rank{i + 1}") for i, r in enumerate(live)]

    # ---- comparisons
    if (database is not None or truth is not None or (grouping_on and motifs)) and not compare.tomtom_cache_is_warm() and not quiet:
        console().print("[dim]compiling the Tomtom kernels once (about a minute); later runs reuse the cache[/dim]")
    groups = None
    if grouping_on:
        groups = grouping.group_motifs(
            motifs, importance=[r.importance for r in live], database=group_database, threshold=group_p,
            background=background, seed=seed,
        )  # fmt: skip
    comparison = None
    if database is not None and motifs:
        comparison = compare.compare_motifs(motifs, database, background=background, seed=seed)
    truth_report = None
    if truth is not None:
        truth_report = compare.match_truth(
            motifs, truth, threshold=truth_thresh, by=truth_by,
            database=truth_database if truth_database is not None else None, background=background, seed=seed,
        )  # fmt: skip

    # ---- outputs: every file is written to its temporary first and all appear together at the end
    # (atomic_group), so a failure while drawing the logos leaves none of this run's files
    from deepprune_cli.core.atomic import atomic_group

    with atomic_group():
        if out is not None or to_stdout:
            write_meme(motifs, None if to_stdout else out, background, allow_empty=allow_empty)
        if distinct_path is not None:
            distinct = [
                Motif(m.id, m.probs, f"group{g + 1}", m.nsites) for g, m in enumerate(groups.distinct())
            ]  # fmt: skip
            write_meme(distinct, None if str(distinct_path) == "-" else distinct_path, background, allow_empty=allow_empty)
        if table_path is not None:
            _write_table(table_path, results, live, comparison, groups)
        if database is not None:
            compare.write_matches(comparison.matches(match_thresh, by=match_by) if comparison else [], matches_path)
        if truth_report is not None:
            compare.write_truth(truth_report, truth_out)
        if png_dir is not None or svg_dir is not None:
            from deepprune_cli.core import plots

            for directory, ext in ((png_dir, "png"), (svg_dir, "svg")):
                if directory is not None:
                    plots.save_logos(motifs, directory, ext, background)

    if not quiet:
        _report(results, live, comparison, truth_report, len(site_rows), seqs.source, relative_to, groups, group_db)


def _table_rows(results, live, comparison, groups=None):
    import numpy as np

    rank = {id(r): i + 1 for i, r in enumerate(live)}
    best = {}
    if comparison is not None:
        for i in range(len(comparison.queries)):
            best[i] = comparison.best(i)
    rows = []
    for r in results:
        i = rank.get(id(r))
        m = best.get(i - 1) if i is not None else None
        rows.append(
            {
                "id": f"kernel{r.kernel_id}" if i is not None else "",
                "kernel": r.kernel_id,
                "rank": i or "",
                "group": int(groups.group[i - 1]) if groups is not None and i is not None else "",
                "representative": (
                    ("yes" if groups.representatives[groups.group[i - 1] - 1] == i - 1 else "no")
                    if groups is not None and i is not None else ""
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
        )
    return rows


def _write_table(path, results, live, comparison, groups=None) -> None:
    from deepprune_cli.core.atomic import atomic_output

    rows = _table_rows(results, live, comparison, groups)
    with atomic_output(None if str(path) == "-" else path, "w") as fh:
        fh.write("\t".join(rows[0].keys()) + "\n")
        for row in rows:
            fh.write("\t".join(str(v) for v in row.values()) + "\n")


def _report(results, live, comparison, truth_report, n_seqs, source, relative_to="observed", groups=None,
            group_db="") -> None:
    from rich.table import Table

    con = console()
    table = Table(title=f"kernels -> motifs ({n_seqs} sequences of {source})", title_justify="left")
    cols = ["rank", "id", "group", "consensus", "bits", "sites", "importance"]
    if comparison is not None:
        cols += ["best match", "p"]
    for col in cols:
        right = col in ("rank", "group", "bits", "sites", "importance", "p")
        table.add_column(
            col, justify="right" if right else "left", no_wrap=col in ("id", "consensus", "p"), overflow="ellipsis",
            max_width=16 if col == "consensus" and comparison is not None else None,
        )  # fmt: skip
    for row in _table_rows(results, live, comparison, groups):
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
        if relative_to == "possible" and any(r.reason.startswith("too few sites") for r in results):
            con.print("[dim]kernels with too few sites may give motifs with --relative-to observed or a lower --threshold[/dim]")
    if groups is not None and live:
        n, m = len(live), groups.n_groups
        con.print(
            f"{n} kernel{'s' if n != 1 else ''} → {m} distinct motif{'s' if m != 1 else ''} "
            f"(same motif: p < {groups.threshold:g} either strand, against {group_db} + the kernels)"
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

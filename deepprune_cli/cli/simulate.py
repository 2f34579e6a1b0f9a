"""``deepprune simulate``: synthetic motif datasets with ground truth (Luo et al. 2019; Koo & Eddy 2019)."""

from __future__ import annotations

import click

from deepprune_cli.cli.common import console, lock_outputs, seed_option, without_blas_threads

PRESET_NAMES = ("deepprune-sim1", "deepprune-sim2", "deepprune-sim3", "deepprune-sim4", "deepprune-sim5", "koo2019")


def _probabilities(ctx, param, value):
    if value is None:
        return None
    try:
        return tuple(float(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {value!r}") from None


def _id_list(ctx, param, value):
    if value is None:
        return None
    ids = tuple(part.strip() for part in value.split(",") if part.strip())
    if not ids:
        raise click.BadParameter("give at least one motif id")
    return ids


@click.command("simulate")
@click.option(
    "--preset",
    type=click.Choice(PRESET_NAMES),
    default=None,
    help="A published design: deepprune-sim1..5 (Luo et al. 2019, binary, one site per positive) or "
    "koo2019 (Koo & Eddy 2019, 12 TFs, multi-label). Every other option overrides it.",
)
@click.option(
    "--motifs",
    "motifs_spec",
    default=None,
    metavar="SPEC",
    help="MEME file, or bundled JASPAR: 'jaspar:MA0139.1,MA0048.2', 'jaspar2020', 'jaspar2024', 'koo2019'. "
    "Required without --preset.",
)
@click.option("--motif-ids", callback=_id_list, default=None, metavar="A,B", help="Use only these motif ids (in this order).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Output directory (replaced atomically if it exists).")
@click.option("--n", "n", type=click.IntRange(min=1), default=None, help="Total sequences across all splits [preset; custom 6000].")
@click.option("--length", type=click.IntRange(min=1), default=None, help="Sequence length in bp [preset; custom 101].")
@click.option(
    "--strands",
    type=click.Choice(["forward", "both"]),
    default=None,
    help="Insert sites on the + strand only, or on either strand [deepprune-sim*: forward; koo2019: both].",
)
@click.option("--test-fraction", type=float, default=None, help="Share of sequences in test.fa [sim: 0.5; koo2019: 0.2].")
@click.option("--valid-fraction", type=float, default=None, help="Share in valid.fa [sim: 0; koo2019: 0.1].")
@click.option(
    "--motif-count-probs",
    callback=_probabilities,
    default=None,
    metavar="P1,P2,...",
    help="Multi-label (koo2019) design: probability of 1, 2, ... sites per sequence "
    "[0.5,0.25,0.17,0.05,0.03]. Given with another preset or none, it selects the multi-label design.",
)
@seed_option
def command(preset, motifs_spec, motif_ids, output, n, length, strands, test_fraction, valid_fraction, motif_count_probs, seed):
    """Write a synthetic dataset whose motif sites are known.

    Output directory: train.fa, test.fa (and valid.fa) with labels in the headers, truth.tsv
    (seq_id, motif_id, start, end, strand; 0-based, end exclusive), motifs.meme (the motifs used)
    and dataset.json (every parameter). The same --seed gives byte-identical files.

    \b
    Examples:
      deepprune simulate --preset deepprune-sim1 -o sim1
      deepprune simulate --preset deepprune-sim4 --length 1000 --n 6000 -o sim4_paper
      deepprune simulate --preset koo2019 -o koo
      deepprune simulate --motifs jaspar:MA0139.1,MA0048.2 --strands both -o custom
    """
    without_blas_threads()
    import time
    from pathlib import Path

    from deepprune_cli.core.atomic import atomic_directory
    from deepprune_cli.core.errors import InputError
    from deepprune_cli.core.simulate import MULTI_LABEL, make_design, simulate, write_dataset

    started = time.perf_counter()
    out = Path(output)
    if str(output) == "-":
        raise InputError("-o -: simulate writes a directory of files, give a directory name")
    lock_outputs(out)  # held to the end: a second run at the same -o is refused at once
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    if preset == "koo2019" or motif_count_probs is None:
        design_kind = None  # the preset (or the custom default) decides
    else:
        design_kind = MULTI_LABEL  # --motif-count-probs only makes sense for the multi-label design
    design = make_design(
        preset,
        motifs=motifs_spec,
        motif_ids=motif_ids,
        n=n,
        length=length,
        strands=strands,
        test_fraction=test_fraction,
        valid_fraction=valid_fraction,
        motif_count_probs=motif_count_probs,
        seed=seed,
        design=design_kind,
    )
    dataset = simulate(design)  # every input error is raised here, before anything is written
    with atomic_directory(out) as tmp:
        write_dataset(dataset, tmp)
    _summary(dataset, out, time.perf_counter() - started)


def _summary(dataset, out, seconds):
    import numpy as np
    from rich.table import Table

    con = console()
    design = dataset.design
    title = f"{design.preset or 'custom'} ({design.design}, {design.length} bp, strands {design.strands}, seed {design.seed})"
    con.print(title, highlight=False)
    table = Table(show_edge=False)
    table.add_column("file")
    table.add_column("sequences", justify="right")
    table.add_column("with sites", justify="right")
    bounds = dataset.split_bounds()
    for name, (first, end) in bounds.items():
        rows = dataset.site_seq[(dataset.site_seq >= first) & (dataset.site_seq < end)]
        with_sites = int(np.unique(rows).size)
        table.add_row(f"{name}.fa", f"{end - first:,}", f"{with_sites:,}")
    con.print(table)
    counts = np.bincount(dataset.site_motif, minlength=len(dataset.motifs))
    used = ", ".join(f"{m.id} {m.name} ({c:,})".replace("  ", " ") for m, c in zip(dataset.motifs, counts))
    con.print(f"motifs (sites): {used}", highlight=False)
    con.print(f"wrote {out}/ ({dataset.site_seq.size:,} sites in truth.tsv) in {seconds:.1f} s", highlight=False)

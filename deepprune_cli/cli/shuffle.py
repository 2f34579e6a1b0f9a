"""``deepprune shuffle``: exact uniform k-let preserving shuffles, FASTA out."""

from __future__ import annotations

import click

from deepprune_cli.cli.common import input_format_options, lock_outputs, read_input, seed_option


@click.command("shuffle")
@click.argument("input_path", metavar="INPUT", type=click.Path(allow_dash=True))
@click.option("-o", "--output", default="-", show_default=True, type=click.Path(allow_dash=True, dir_okay=False),
              help="Output FASTA ('-' for stdout).")
@click.option("-k", "k", type=click.IntRange(1, 6), default=2, show_default=True,
              help="Preserve k-let counts (1 = letters, 2 = dinucleotides, 3 = trinucleotides).")
@click.option("-n", "--copies", type=click.IntRange(min=1), default=1, show_default=True,
              help="Shuffled copies per record.")
@click.option("--tag", default="_shuf", show_default=True,
              help="Suffix added to ids (plus the copy number when --copies > 1).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads (default: all cores).")
@seed_option
@input_format_options
def command(input_path, output, k, copies, tag, threads, seed, fmt, genome, width):
    """Shuffle sequences keeping every k-let count exactly, each valid shuffle equally likely.

    INPUT is FASTA (plain, gzip or bgzip; '-' for stdin), a DeepBind .seq file, a Zeng .data
    file, or BED/narrowPeak with --genome. Runs of N stay in place and the segments between them
    are shuffled. For k >= 2 the first and last k-1 letters of each segment are kept, as the
    Euler-path method (Altschul & Erickson 1985; Kandel et al. 1996) requires. Each record is
    seeded from --seed and its index, so output does not depend on --threads.
    """
    import warnings

    lock_outputs(output)  # held to the end: a second run at the same -o is refused at once

    from deepprune_cli.core.atomic import atomic_output
    from deepprune_cli.core.errors import DeeppruneWarning
    from deepprune_cli.core.sequences import format_fasta

    seqs = read_input(input_path, fmt, genome, width)
    from deepprune_cli.core.shuffle import shuffle_set  # numba, slow to import: after the input is read

    shuffled = shuffle_set(seqs, k=k, copies=copies, seed=seed, tag=tag, threads=threads)
    if shuffled.too_short:
        warnings.warn(
            f"{shuffled.too_short} sequence(s) too short to shuffle with k={k} were kept unchanged",
            DeeppruneWarning,
        )
    data = format_fasta(shuffled)
    with atomic_output(output, "wb") as fh:
        fh.write(data)

"""``deepprune shuffle``: exact uniform k-let preserving shuffles, FASTA out."""

from __future__ import annotations

import click

from deepprune_cli.cli.common import input_format_options, lock_outputs, seed_option, without_blas_threads


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

    INPUT is streamed in chunks, so memory stays flat for any number of records (duplicate ids are
    caught within a chunk of about 40,000 records). The output is written atomically: an error
    part way leaves no file under the -o name (with -o -, records already shuffled have been
    written to stdout; bad input in the first chunk stops before any).
    """
    without_blas_threads()
    import warnings

    lock_outputs(output)  # held to the end: a second run at the same -o is refused at once

    from deepprune_cli.cli.records import peek_first
    from deepprune_cli.core.atomic import atomic_output
    from deepprune_cli.core.errors import DeeppruneWarning
    from deepprune_cli.core.sequences import stream_sequences

    # The first chunk is read before the output opens: bad input fails with nothing written.
    first, chunks = peek_first(stream_sequences(input_path, fmt=fmt, genome=genome, width=width))
    del first  # (held by ``chunks`` until it is shuffled, then gone: memory holds two chunks at most)
    from deepprune_cli.core.shuffle import check_options, write_shuffled

    check_options(k, copies, seed)
    with atomic_output(output, "wb") as fh:
        summary = write_shuffled(chunks, fh, k=k, copies=copies, seed=seed, tag=tag, threads=threads)
    if summary.too_short:
        warnings.warn(
            f"{summary.too_short} sequence(s) too short to shuffle with k={k} were kept unchanged",
            DeeppruneWarning,
        )

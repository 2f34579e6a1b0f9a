"""``deepprune scan``: every window where a model's kernels fire, as sorted BED."""

from __future__ import annotations

import click

from deepprune_cli.cli.common import console, input_format_options, lock_outputs


@click.command("scan")
@click.argument("model_path", metavar="MODEL")
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", required=True, help="Hits as BED6+4 ('-' for stdout).")
@click.option(
    "--pvalue",
    type=float,
    default=None,
    help="Report windows whose activation has at most this p-value (exact, per window and strand, under "
    "--background) [default: 1e-4 unless --min-activation is given].",
)
@click.option("--min-activation", type=float, default=None, help="Report windows whose pre-ReLU activation is at least this.")
@click.option("--background", default=None, metavar="A,C,G,T", help="Letter probabilities for --pvalue [default: uniform].")
@click.option(
    "--names",
    "names_path",
    default=None,
    metavar="MATCHES.tsv",
    help="Name kernels by their best database match: the table `deepprune logos --match` writes (or Tomtom's).",
)
@click.option("--header", is_flag=True, help="Start the BED with a '#chrom start end ...' comment line.")
@input_format_options
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads (default: all cores).")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
def command(model_path, input_path, output, pvalue, min_activation, background, names_path, header, fmt, genome, width, threads, quiet):
    """Scan INPUT with the active first-layer kernels of MODEL and write every hit as BED.

    A hit is a window whose kernel activation (convolution + bias, before the ReLU) passes the
    threshold: --pvalue (default 1e-4; the exact p-value of the activation on a random window,
    computed from the kernel's weights as FIMO does for a PWM) or --min-activation. Columns:
    chrom, start, end, name (matched motif, else kernel), score (min(1000, -100 log10 p)), strand,
    kernel, motif ('.' unless --names knows it), activation, p-value; sorted by chrom then start.
    For FASTA input, chrom is the record id and coordinates are within the record; for BED input
    (with --genome), hits are placed on the genome.

    \b
    Examples:
      deepprune scan model/ peaks.fa -o hits.bed
      deepprune scan model/ peaks.narrowPeak --genome hg38.fa --pvalue 1e-5 -o hits.bed
      deepprune scan model/ chr21.fa.gz --min-activation 2 --names logos/matches.tsv -o - | bedtools merge
    """
    lock_outputs(output)  # held to the end: another run at it is refused at once (before importing torch)
    from deepprune_cli.cli.progress import RecordProgress
    from deepprune_cli.cli.records import peek_first
    from deepprune_cli.core import scan, store, training
    from deepprune_cli.core.atomic import atomic_output
    from deepprune_cli.core.sequences import detect_format, stream_sequences

    if pvalue is None and min_activation is None:
        pvalue = 1e-4
    bg = scan.parse_background(background)
    training.set_threads(threads)
    names = scan.read_kernel_names(names_path) if names_path is not None else None
    rec = store.load_model(model_path, device="cpu")
    scanner = scan.make_scanner(rec.model, min_activation=min_activation, pvalue=pvalue, background=bg, kernel_names=names)
    is_bed = fmt == "bed" or (fmt == "auto" and detect_format(input_path, b"") == "bed")
    first, chunks = peek_first(stream_sequences(input_path, fmt=fmt, genome=genome, width=width))
    con = console()
    progress = RecordProgress(con, "scan", enabled=not quiet)
    with progress:
        table = scan.scan(scanner, chunks, genome_coords=is_bed, progress=progress.update)
    with atomic_output(output, "w") as fh:
        table.write_bed(fh, header=header)
    if not quiet:
        con.print(f"{len(table):,} hits of {scanner.n_kernels} kernels" + ("" if output == "-" else f" -> {output}"), soft_wrap=True)

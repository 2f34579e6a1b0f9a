"""``deepprune predict``: a trained model's probabilities for new sequences, streamed."""

from __future__ import annotations

import click

from deepprune_cli.cli.common import console, device_options, input_format_options, lock_outputs


@click.command("predict")
@click.argument("model_path", metavar="MODEL")
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", default="-", show_default=True, help="Scores table (TSV); '-' for stdout.")
@click.option(
    "--kernels",
    is_flag=True,
    help="Add each active kernel's best window: activation (pre-ReLU), 0-based start on the forward strand, strand.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=4096, show_default=True)
@input_format_options
@device_options
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
def command(model_path, input_path, output, kernels, batch_size, fmt, genome, width, device, threads, quiet):
    """Score every record of INPUT with the model in MODEL: one TSV row per record.

    Columns: id, probability (probability_<c> per output of multi-output models) and, with
    --kernels, <kernel>_activation, <kernel>_start and <kernel>_strand for each active kernel.
    INPUT is FASTA (plain, gzip or '-' for stdin), DeepBind .seq, Zeng .data, or BED/narrowPeak
    with --genome. It is read in chunks, so memory stays flat for any number of records. The
    table is written atomically: a failure leaves no partial file under the -o name (with -o -,
    rows stream to stdout as they are scored, so an error part way leaves those already written;
    bad input found in the first chunk stops before any row).

    \b
    Examples:
      deepprune predict model/ new.fa -o scores.tsv
      zcat peaks.fa.gz | deepprune predict model/ - --kernels > scores.tsv
      deepprune predict model/ peaks.narrowPeak --genome hg38.fa --width 101 -o scores.tsv
    """
    lock_outputs(output)  # held to the end: another run at it is refused at once (before importing torch)
    from deepprune_cli.cli.progress import RecordProgress
    from deepprune_cli.cli.records import peek_first
    from deepprune_cli.core import inference, store, training
    from deepprune_cli.core.atomic import atomic_output
    from deepprune_cli.core.sequences import stream_sequences

    dev = training.resolve_device(device)
    training.set_threads(threads)
    rec = store.load_model(model_path, device=dev)
    first, chunks = peek_first(stream_sequences(input_path, fmt=fmt, genome=genome, width=width))
    inference.check_input(rec.model, first)
    con = console()
    progress = RecordProgress(con, "predict", enabled=not quiet)
    with progress, atomic_output(output, "w") as fh:
        n = inference.write_predictions(
            rec.model, chunks, fh, device=dev, batch_size=batch_size, kernels=kernels, progress=progress.update
        )
    if not quiet:
        con.print(f"scored {n:,} records" + ("" if output == "-" else f" -> {output}"), soft_wrap=True)

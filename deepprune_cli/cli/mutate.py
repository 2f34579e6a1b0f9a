"""``deepprune mutate``: in-silico mutagenesis: mutation maps of sequences, or VCF variants scored."""

from __future__ import annotations

import click

from deepprune_cli.cli.common import console, device_options, input_format_options, lock_outputs


@click.command("mutate")
@click.argument("model_path", metavar="MODEL")
@click.argument("input_path", metavar="[INPUT]", required=False)
@click.option("-o", "--output", required=True, help="TSV of Δ logit per position x base (or per variant with --vcf); '-' for stdout.")
@click.option("--ids", default=None, metavar="ID,ID,...", help="Map only these records of INPUT [default: all].")
@click.option("--png", "png_dir", default=None, metavar="DIR", help="Also draw each map (logo over a Δ heat map) as DIR/<id>.png.")
@click.option("--output-index", type=click.IntRange(min=0), default=0, show_default=True, help="Which model output the PNG shows.")
@click.option("--vcf", "vcf_path", default=None, metavar="VCF", help="Score the SNVs of this VCF (needs --genome) instead of mapping INPUT.")
@click.option(
    "--window",
    type=click.IntRange(min=1),
    default=None,
    help="--vcf: bp of genome around each SNV the model reads [default: the model's length, else 101].",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=4096, show_default=True)
@input_format_options
@device_options
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary on stderr.")
def command(model_path, input_path, output, ids, png_dir, output_index, vcf_path, window, batch_size, fmt, genome, width, device, threads, quiet):
    """Change in MODEL's output logit for single-base substitutions.

    Mutation maps (MODEL INPUT): for each record (or those in --ids), every position x
    alternative base gives one TSV row: id, position (1-based), ref, alt, delta_logit
    (delta_logit_<c> per output). --png DIR adds a heat map with the sequence as a logo.

    Variants (MODEL --vcf VCF --genome G.fa): each SNV is scored in a window of the genome centred
    on it: chrom, pos, id, ref, alt, window_start, window_end, ref_logit, alt_logit, delta_logit.
    Indels, multi-allelic records and windows running off a chromosome are skipped and counted on
    stderr; an unknown chromosome or a REF that disagrees with the genome stops with an error.

    \b
    Examples:
      deepprune mutate model/ peaks.fa --ids peak1,peak7 -o map.tsv --png maps/
      deepprune mutate model/ --vcf variants.vcf.gz --genome hg38.fa -o variants.tsv
    """
    from pathlib import Path

    from deepprune_cli.core.errors import InputError

    if (vcf_path is None) == (input_path is None):
        raise InputError("give INPUT (mutation maps) or --vcf VCF (variant effects), not both or neither")
    if vcf_path is not None:
        if genome is None:
            raise InputError("--vcf needs --genome (the reference genome FASTA)")
        for opt, value in (("--ids", ids), ("--png", png_dir)):
            if value is not None:
                raise InputError(f"{opt} applies to mutation maps of INPUT, not to --vcf")
    elif window is not None:
        raise InputError("--window applies to --vcf")
    if png_dir is not None and Path(png_dir).exists() and not Path(png_dir).is_dir():
        raise InputError(f"--png {png_dir}: exists and is not a directory")
    lock_outputs(output, png_dir)  # held to the end: another run at them is refused at once (before importing torch)

    from deepprune_cli.cli.progress import RecordProgress
    from deepprune_cli.cli.records import peek_first
    from deepprune_cli.core import mutate, store, training
    from deepprune_cli.core.atomic import atomic_output

    dev = training.resolve_device(device)
    training.set_threads(threads)
    rec = store.load_model(model_path, device=dev)
    model = rec.model
    n_out = model.spec.n_outputs
    if output_index >= n_out:
        raise InputError(f"--output-index {output_index}: the model has {n_out} output(s)")
    con = console()
    progress = RecordProgress(con, "mutate", enabled=not quiet)

    if vcf_path is not None:
        if window is None:
            window = model.spec.seq_len if model.spec.flattens else 101
        with progress, atomic_output(output, "w") as fh:
            counts = mutate.score_variants(model, vcf_path, genome, window, fh, device=dev, batch_size=batch_size,
                                           progress=progress.update)  # fmt: skip
        if not quiet:
            for note in counts.notes:
                con.print(note, soft_wrap=True)
            con.print(
                f"scored {counts.scored:,} SNVs in {window}-bp windows; skipped {counts.skipped:,}: "
                f"{counts.indels:,} indels, {counts.multiallelic:,} multi-allelic, "
                f"{counts.off_edge:,} too near a chromosome end, {counts.other:,} other (ALT '.', '*' or symbolic)",
                soft_wrap=True,
            )
        return

    from deepprune_cli.core.sequences import stream_sequences

    wanted = None if ids is None else {i for i in ids.split(",") if i}
    first, chunks = peek_first(stream_sequences(input_path, fmt=fmt, genome=genome, width=width))
    from deepprune_cli.core.inference import check_input

    check_input(model, first)
    with progress:
        found = mutate.write_mutation_maps(
            model, chunks, output, wanted=wanted, png_dir=png_dir, output_index=output_index, device=dev,
            batch_size=batch_size, progress=progress.update, source=str(input_path),
        )  # fmt: skip
    if not quiet:
        con.print(f"mapped {len(found):,} records" + ("" if output == "-" else f" -> {output}")
                  + ("" if png_dir is None else f", figures in {png_dir}/"), soft_wrap=True)  # fmt: skip

"""``deepprune train``: positives in (negatives made automatically), a model directory out."""

from __future__ import annotations

import click

from deepprune_cli.cli.common import console, device_options, input_format_options, lock_outputs, read_input, seed_option
from deepprune_cli.cli.progress import SeedProgress
from deepprune_cli.core.architectures import DEFAULT_TRAIN_ARCH
from deepprune_cli.core.choices import PADDINGS

ARCH_HELP = (
    "deepbind64 (default: DeepBind's layout with 64 kernels and an exponential first-layer activation), "
    "deepbind (DeepBind as published: conv 16 x 24, ReLU, global max, kernel mask, one dense output); Zeng et al. 2016: "
    "1layer, 1layer_1motif, 1layer_64motif, 1layer_128motif, 1layer_local_win3, 1layer_local_win9, 2layer, "
    "3layer, 2layer_local_win3, 3layer_local_win3; Koo & Eddy 2019 (multi-label): cnn-1/2/4/10/25/50/100, "
    "cnn9-4, cnn9-25, cnn3-2, cnn3-50, cnn-50-2, cnn19-1-2 (cnn[W]-P[-S]: kernel width W, pool P, stride S)."
)


@click.command("train")
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", required=True, metavar="DIR", help="Model directory to write (with --seeds: one sub-directory per seed).")
@click.option("--negatives", default=None, metavar="FILE", help="Negative sequences (default: dinucleotide shuffles of INPUT's positives).")
@click.option(
    "--negative-copies", type=int, default=2, show_default=True, help="Dinucleotide-shuffled negatives per positive."
)
@click.option(
    "--shuffle-negatives/--no-shuffle-negatives",
    default=None,
    help="Add dinucleotide-shuffled negatives [default: only when a class has no negatives; multi-label data whose classes all have records without them get none].",
)
@click.option("--arch", default=DEFAULT_TRAIN_ARCH, show_default=True, metavar="NAME", help=ARCH_HELP)
@click.option(
    "--kernels", type=int, default=None, help="First-layer kernels (motif detectors) [deepbind64: 64; deepbind: 16]."
)
@click.option("--kernel-length", type=int, default=None, help="First-layer kernel width in bp [deepbind: 24].")
@click.option(
    "--dropout",
    type=float,
    default=None,
    help="Dropout on the pooled first-layer features [deepbind: 0.3; other architectures: their own].",
)
@click.option(
    "--activation",
    type=click.Choice(["relu", "exp"]),
    default=None,
    help="First-layer activation: relu, or exp (Koo & Ploenzke 2021's exponential) "
    "[default: the architecture's: exp for deepbind64, relu for the others].",
)
@click.option(
    "--padding",
    type=click.Choice(PADDINGS),
    default=None,
    help="First-layer padding: valid (none), same (Keras) or full (kernel width - 1 N on each side, so a "
    "kernel also scores a site that overhangs an end of the sequence) [default: the architecture's: full "
    "for deepbind64, the published padding for the others].",
)
@click.option(
    "--both-strands/--one-strand",
    default=True,
    show_default=True,
    help="Also scan the reverse complement with the same kernels and take the max.",
)
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--lr", type=float, default=None, help="Adam learning rate [default: 0.003].")
@click.option("--epochs", type=int, default=None, help="Maximum epochs [default: 100]; early stopping usually ends sooner.")
@click.option("--patience", type=int, default=15, show_default=True, help="Epochs without a lower validation loss before stopping.")
@click.option(
    "--val-fraction", type=float, default=None, help="Share held out for validation (seeded, random) [default: 0.1]."
)
@click.option(
    "--valid",
    "valid_path",
    default=None,
    metavar="FILE",
    help="Validation set for early stopping instead of a split of INPUT (any format INPUT may have; "
    "labelled, or shuffled negatives added as for INPUT).",
)
@click.option("--l1", type=float, default=0.0, show_default=True, help="L1 penalty on dense-layer weights.")
@click.option("--l2", type=float, default=0.0, show_default=True, help="L2 penalty on dense-layer weights.")
@click.option("--test", "test_path", default=None, metavar="FILE", help="Labelled test set: its AUROC/AUPRC go to metrics.json.")
@seed_option
@click.option(
    "--seeds",
    default=None,
    metavar="LIST",
    help="Comma-separated seeds (e.g. 0,1,2,3,4): one model per seed, mean ± sd reported; "
    "negatives and split stay those of --seed.",
)
@click.option(
    "--restarts",
    type=int,
    default=1,
    show_default=True,
    help="Fit each seed N times from fresh seeds and keep the fit with the lowest validation loss "
    "(a fit that never learns is replaced; the log and metrics.json say which was kept).",
)
@input_format_options
@device_options
@click.option(
    "--deterministic", is_flag=True, help="On CUDA, deterministic kernels (slower); CPU runs always are reproducible."
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary on stderr.")
def command(
    input_path, output, negatives, negative_copies, shuffle_negatives, arch, kernels, kernel_length, dropout, activation, padding,
    both_strands, batch_size, lr, epochs, patience, val_fraction, valid_path, l1, l2, test_path, seed, seeds, restarts, fmt, genome, width, device,
    threads, deterministic, force, as_json, quiet,
):  # fmt: skip
    """Train a CNN on INPUT (FASTA, DeepBind .seq, Zeng .data or BED + --genome).

    Unlabelled records are positives; inputs with no negatives (plain FASTA, a DeepBind _AC
    file) get seeded dinucleotide-shuffled negatives. A seeded random validation split, or the
    --valid set, drives early stopping (best weights restored). Writes OUTPUT/ with config.json, weights.pt,
    history.tsv and metrics.json.

    Mixed lengths: globally pooled architectures (deepbind, 1layer, 2layer, 3layer, ...) pad
    every record with N, centred, to the longest; the others need one length and refuse.

    \b
    Example:
      deepprune train peaks.fa -o model/                 # deepbind64: 64 kernels, exp, full padding
      deepprune train peaks.fa --arch deepbind -o m16/   # DeepBind as published: 16 kernels, ReLU
      deepprune train peaks.fa --kernels 4 -o model/
      deepprune train X_AC.seq.gz --test X_B.seq.gz --seeds 0,1,2,3,4 -o models/
    """
    import sys
    from pathlib import Path

    from deepprune_cli.core.errors import InputError

    out = Path(output)
    if str(output) == "-":
        raise InputError("-o/--output must be a directory, not '-'")
    lock_outputs(out)  # held to the end: a second run at the same -o is refused at once
    if out.exists() and not force:
        raise InputError(f"{out}: already exists (use --force to replace it)")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    seed_list = _parse_seeds(seeds) if seeds is not None else None
    if seed < 0:
        raise InputError(f"--seed must be non-negative, got {seed}")
    if restarts < 1:
        raise InputError(f"--restarts must be at least 1, got {restarts}")

    # Heavy imports only now, so `deepprune --help` stays instant.
    from deepprune_cli.core import architectures, prepare, store, training
    from deepprune_cli.core.datasets import negatives_note
    from deepprune_cli.core.seeds import fit_seeds, seed_stats, summary_rows, write_trained

    dev = training.resolve_device(device)
    training.set_threads(threads)
    opts = training.TrainOptions.given(
        lr=lr,
        batch_size=batch_size,
        max_epochs=epochs,
        patience=patience,
        l1=l1,
        l2=l2,
        seed=seed,
        deterministic=deterministic,
    )
    opts.validate()
    # Validate the architecture name and sizes before reading any data.
    architectures.arch_spec(arch, kernels, kernel_length, 1, both_strands, seq_len=200, dropout=dropout, activation=activation,
                            padding=padding)

    pos = read_input(input_path, fmt, genome, width)
    neg = read_input(negatives, fmt, genome, width) if negatives else None
    test = read_input(test_path, fmt, genome, width) if test_path else None
    valid = read_input(valid_path, fmt, genome, width) if valid_path else None
    # Labels, shuffled negatives, architecture sized to the data, test checks, seeded split:
    # the same preparation `prune` uses.
    prep = prepare.prepare_training(
        pos,
        neg,
        test,
        valid=valid,
        arch=arch,
        kernels=kernels,
        kernel_length=kernel_length,
        both_strands=both_strands,
        padding=padding,
        shuffle="auto" if shuffle_negatives is None else shuffle_negatives,
        negative_copies=negative_copies,
        val_fraction=val_fraction,
        seed=seed,
        device=dev,
        threads=threads,
        reorder_input=True,  # pos is not needed in file order again: its tokens become the split's
    )
    spec = prep.spec
    if spec.kernel_length > prep.info["max_length"]:
        raise InputError(
            f"{pos.source}: --kernel-length {spec.kernel_length} is longer than the longest sequence "
            f"({prep.info['max_length']} bp)"
        )
    if dropout is not None:
        spec.convs[0].dropout = float(dropout)
    if activation is not None:
        spec.convs[0].activation = activation
    train_dd, val_dd = prep.train, prep.val

    run_seeds = seed_list if seed_list is not None else [seed]
    data_info = prep.info

    con = console()
    show = not quiet
    if show:
        con.print(
            f"[bold]deepprune train[/]: {len(train_dd)} training / {len(val_dd)} validation sequences, "
            f"arch {spec.name} ({spec.n_kernels} kernels x {spec.kernel_length} bp, "
            f"{'both strands' if spec.both_strands else 'one strand'}), device {dev.type}"
        )
        con.print(f"negatives: {negatives_note(prep.info)}", highlight=False)
    labels = [f"seed {s}" + (f" restart {j + 1}/{restarts}" if restarts > 1 else "") for s in run_seeds for j in range(restarts)]
    progress = SeedProgress(con, labels, opts.max_epochs, enabled=show)
    with progress:
        trained = fit_seeds(prep, run_seeds, opts, device=dev, callback=progress.update, restarts=restarts)
    write_trained(out, trained, data_info, per_seed=seed_list is not None)
    summaries = summary_rows(trained)
    stats = seed_stats(trained)
    for s in summaries:  # said even with --quiet: a model that learned nothing must not pass unnoticed
        for r in s.get("restarts", []):
            if not r["trained_ok"]:
                con.print(
                    f"[bold yellow]note[/]: seed {s['seed']} restart with seed {r['seed']}: training failed: {r['failure']}",
                    highlight=False,
                )
        if show and "restarts" in s:
            tried = ", ".join(f"{r['seed']}: {r['val_loss']:.4f}" for r in s["restarts"])
            con.print(
                f"seed {s['seed']}: kept the restart with seed {s['kept_seed']} "
                f"(lowest validation loss of {len(s['restarts'])}; seed: val loss {tried})",
                highlight=False,
            )
        if not s.get("trained_ok", True):
            con.print(f"[bold red]warning[/]: seed {s['seed']}: training failed: {s['failure']}", highlight=False)
    if show:
        _report(con, out, summaries, seed_list is not None, stats)
    if as_json:
        sys.stdout.write(store.dumps(summaries[0] if seed_list is None else {"seeds": summaries, **stats}))


def _parse_seeds(text: str) -> list[int]:
    from deepprune_cli.core.errors import InputError

    try:
        seeds = [int(x) for x in text.replace(" ", "").split(",") if x != ""]
    except ValueError:
        raise InputError(f"--seeds must be comma-separated integers, got '{text}'") from None
    if not seeds:
        raise InputError("--seeds needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise InputError(f"--seeds has repeated values: '{text}'")
    if min(seeds) < 0:
        raise InputError("--seeds must be non-negative")
    return seeds


def _report(con, out, summaries, multi, stats) -> None:
    def f(v):
        return "n/a" if v is None else f"{v:.4f}"

    if not multi:
        s = summaries[0]
        test = f", test AUROC {f(s.get('test_auroc'))}" if "test_auroc" in s else ""
        con.print(f"best epoch {s['best_epoch']} of {s['epochs_run']}: val AUROC {f(s['val_auroc'])}{test}; wrote {out}/")
        return
    from rich.table import Table

    table = Table(title=f"{len(summaries)} seeds", show_edge=False)
    cols = ["seed", "best epoch", "val AUROC"] + (["test AUROC"] if "test_auroc" in summaries[0] else [])
    for c in cols:
        table.add_column(c, justify="right")
    for s in summaries:
        row = [str(s["seed"]), str(s["best_epoch"]), f(s["val_auroc"])]
        if "test_auroc" in s:
            row.append(f(s.get("test_auroc")))
        table.add_row(*row)
    row = ["mean ± sd", ""] + [
        f"{stats[k]['mean']:.4f} ± {stats[k]['sd']:.4f}" for k in ("val_auroc", "test_auroc") if k in stats
    ]
    table.add_row(*row)
    con.print(table)
    con.print(f"wrote {out}/seed*/ and {out}/summary.tsv")

"""``deepprune prune``: Deepprune iterative kernel pruning (Luo, Chi & Deng 2019)."""

from __future__ import annotations

import click

from deepprune_cli.cli.common import (
    add_interrupt_hint,
    console,
    device_options,
    input_format_options,
    lock_outputs,
    read_input,
    seed_option,
)
from deepprune_cli.cli.progress import StageStatus
from deepprune_cli.core.choices import CRITERIA, DEFAULT_CRITERION, PADDINGS


@click.command("prune")
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", required=True, help="Output directory: one model directory per round and variant.")
@click.option("--from", "from_model", default=None, help="Start from this trained model directory instead of training one.")
@click.option("--kernels", default="4", show_default=True,
              help="Kernels left at the end (d), or 'auto': the smallest count whose validation AUROC stays "
              "within --tolerance of the best model's so far (halving, then bisection; the start model has 4·2^ROUNDS "
              "kernels).")
@click.option("--rounds", type=int, default=6, show_default=True, help="Halvings (k): the start model has d·2^k kernels.")
@click.option("--tolerance", type=float, default=None,
              help="With --kernels auto: validation AUROC a pruned model may lose against the best model so far "
              "(the start model's at first) and still hold [default: the larger of 0.01 and the standard error of "
              "that AUROC on the validation set].")
@click.option("--distinct/--no-distinct", default=None,
              help="With --kernels auto: end with one kernel per distinct motif (copies up to shift and strand, "
              "grouped as logos groups them with a margin: p < 1e-3 on the training positives or p < 1e-4 on any fifth of "
              "them; merged) [default: --distinct]; --no-distinct keeps the smallest "
              "model that held as it is. With a fixed count: the last round removes copies of a motif before "
              "any motif's last kernel (logos' own grouping, no margin), so the final kernels are different motifs "
              "where the model holds enough [default: --no-distinct].")
@click.option("--compact-loss", type=float, default=None,
              help="Say 'no compact motif model' (log, prune.json 'compact') when the final model's validation "
              "AUROC is more than this below the start model's, or it has more than 16 kernels [default: 0.03].")
@click.option("--criterion", type=click.Choice(CRITERIA), default=DEFAULT_CRITERION, show_default=True,
              help="loss: remove, one by one, the kernel whose removal raises the training loss least "
              "(default: a kernel that duplicates another goes, a motif only it learned stays); "
              "weight: |dense weight|; score: |mean max-activation on positives − on negatives|; "
              "score-weight: their product; loss-refit: loss, judging each removal among the last 16 kernels "
              "after refitting the read-out, so copies of one motif go before a second motif.")
@click.option("--lr-decay", type=float, default=1.2, show_default=True, help="Round i fine-tunes with lr / decay^i.")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also train each round's kernel count from scratch (same seed).")
@click.option("--baseline-seeds", type=int, default=None,
              help="Fit each baseline from this many seeds and keep the lowest validation loss (a from-scratch "
              "fit can fail to learn); with more than one the first seed's fit is kept too, as baseline_first "
              "[default: 3].")
@click.option("--lottery", is_flag=True, help="Also retrain the surviving kernels from their initial weights.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its last completed stage.")
@click.option("--negatives", default=None, help="Negative sequences (default: dinucleotide shuffles of INPUT's positives).")
@click.option("--negative-copies", type=int, default=2, show_default=True, help="Shuffled negatives per positive (as train).")
@click.option("--arch", default="deepbind", show_default=True,
              help="Architecture of the start model (its first layer must be globally max-pooled: deepbind, 1layer, ...).")
@click.option("--kernel-length", type=int, default=None, help="First-layer kernel width in bp [deepbind: 24].")
@click.option("--activation", type=click.Choice(["relu", "exp"]), default=None,
              help="First-layer activation of the start model and every pruned model: relu, or exp (Koo & Ploenzke "
              "2021's exponential) [default: exp with --kernels auto; else the architecture's: relu for deepbind].")
@click.option("--padding", type=click.Choice(PADDINGS), default=None,
              help="First-layer padding of the start model and every pruned model: valid (none), same (Keras) or "
              "full (kernel width - 1 N on each side, so a kernel also scores a site that overhangs an end) "
              "[default: full with --kernels auto; else the architecture's: valid for deepbind].")
@click.option("--both-strands/--one-strand", default=True, show_default=True,
              help="Also scan the reverse complement with the same kernels.")
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--lr", type=float, default=None, help="Learning rate of round 0 and the baselines [default: 0.003].")
@click.option("--epochs", type=int, default=None, help="Maximum epochs per fit [default: 100].")
@click.option("--patience", type=int, default=15, show_default=True, help="Early-stopping patience (epochs).")
@click.option("--val-fraction", type=float, default=None, help="Share held out for validation [default: 0.1].")
@click.option("--valid", "valid_path", default=None, metavar="FILE",
              help="Validation set for every fit instead of a split of INPUT (labelled, or shuffled negatives added as for INPUT).")
@click.option("--test", "test_path", default=None, help="Labelled test set: test AUROC for every stage.")
@seed_option
@input_format_options
@device_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary rows as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or table on stderr.")
def command(
    input_path, output, from_model, kernels, rounds, tolerance, distinct, compact_loss, criterion, lr_decay, baseline, baseline_seeds,
    lottery, resume, negatives, negative_copies, arch, kernel_length, activation, padding, both_strands, batch_size, lr, epochs, patience,
    val_fraction, valid_path, test_path,
    seed, fmt, genome, width, device, threads, as_json, quiet,
):  # fmt: skip
    """Train a model with KERNELS·2^ROUNDS kernels on INPUT, then ROUNDS times keep the better half
    of its kernels and fine-tune, ending with KERNELS kernels (Deepprune).

    Every round also writes the comparison variants: inter (pruned, not fine-tuned), baseline
    (same size from scratch) and, with --lottery, the rewound lottery ticket. OUTPUT/ gets
    roundR_VARIANT/ model directories, final/ (the last deepprune model) and summary.tsv. The run
    is built in .OUTPUT.partial/ and renamed when complete; --resume continues it after an
    interruption with the same result.

    \b
    Example:
      deepprune prune peaks.fa --kernels 4 --rounds 6 -o pruned/
      deepprune prune peaks.fa --from model/ --kernels 4 --rounds 2 --test test.fa -o pruned/
      deepprune prune peaks.fa --kernels auto -o pruned/    # how many distinct motifs the data need
    """
    import json
    import sys
    from pathlib import Path

    from deepprune_cli.core.errors import InputError

    if str(output) == "-":
        raise InputError("-o/--output must be a directory, not '-'")
    out = Path(output)
    # Held to the end, with the work directory .OUTPUT.partial/: a second run at the same -o, with or
    # without --resume, is refused at once.
    lock_outputs(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    if seed < 0:
        raise InputError(f"--seed must be non-negative, got {seed}")
    auto = str(kernels).strip().lower() == "auto"
    if not auto:
        try:
            kernels = int(kernels)
        except ValueError:
            raise InputError(f"--kernels must be a whole number or 'auto', got {kernels!r}") from None
    if tolerance is not None and not auto:
        raise InputError("--tolerance applies to --kernels auto only")
    if baseline_seeds is not None and not baseline:
        raise InputError("--baseline-seeds applies to baselines; it cannot be used with --no-baseline")

    from deepprune_cli.core import architectures, layout, pruning, store, training
    from deepprune_cli.core.datasets import negatives_note
    from deepprune_cli.core.prepare import prepare_training

    opts = pruning.PruneOptions(
        kernels=pruning.AUTO_BASE_KERNELS if auto else kernels,
        rounds=rounds,
        auto=auto,
        tolerance=tolerance,
        distinct=distinct,
        compact_loss=pruning.DEFAULT_COMPACT_LOSS if compact_loss is None else compact_loss,
        criterion=criterion,
        lr_decay=lr_decay,
        baseline=baseline,
        baseline_seeds=pruning.DEFAULT_BASELINE_SEEDS if baseline_seeds is None else baseline_seeds,
        lottery=lottery,
        train=training.TrainOptions.given(lr=lr, batch_size=batch_size, max_epochs=epochs, patience=patience, seed=seed),
    )
    opts.validate()  # before reading any data: impossible sizes fail at once
    dev = training.resolve_device(device)
    training.set_threads(threads)

    start = None
    if from_model is not None:
        start = store.load_model(from_model, device=dev).model
        if not start.spec.kernel_strands and start.spec.convs[0].pool != "global":
            raise InputError(f"{from_model}: pruning needs a first layer with global max pooling ({start.spec.name} has none)")
        if lottery:
            raise InputError("--lottery needs the start model's initial weights; it cannot be used with --from")
        for name, given in (("--activation", activation), ("--padding", padding)):
            if given is not None:
                raise InputError(f"{name} sets the start model's first layer; with --from the model has its own")
        spec = start.spec
    else:
        spec = None
        padding = pruning.start_padding(auto, padding)
        activation = pruning.start_activation(auto, activation)
        probe = architectures.arch_spec(arch, opts.start_kernels, kernel_length, 1, both_strands, seq_len=200,
                                        activation=activation, padding=padding)
        if probe.convs[0].pool != "global":
            raise InputError(f"--arch {arch}: pruning needs a first layer with global max pooling (deepbind, 1layer, ...)")

    pos = read_input(input_path, fmt, genome, width)
    neg = read_input(negatives, fmt, genome, width) if negatives else None
    test = read_input(test_path, fmt, genome, width) if test_path else None
    valid = read_input(valid_path, fmt, genome, width) if valid_path else None
    prep = prepare_training(
        pos, neg, test, valid=valid, spec=spec, arch=arch, kernels=opts.start_kernels, kernel_length=kernel_length,
        both_strands=both_strands, padding=padding, negative_copies=negative_copies, val_fraction=val_fraction, seed=seed,
        device=dev, threads=threads, reorder_input=True,  # pos is not needed in file order again
    )  # fmt: skip
    if prep.spec.n_outputs != 1:
        raise InputError(f"{pos.source}: pruning needs binary labels (one class); the input has {prep.spec.n_outputs}")
    if activation is not None:
        # as train does: the start model's first layer; pruned models inherit it (and config.json stores it)
        prep.spec.convs[0].activation = activation
    test_dd = layout.to_device(test, dev, prep.spec) if test is not None else None

    con = console()
    show = not quiet
    progress = StageStatus(con, enabled=show)
    if show:
        within = ("max(0.01, its standard error)" if opts.tolerance is None else f"{opts.tolerance:g}")
        goal = (f"auto kernels (val AUROC within {within} of the best model's so far)" if auto
                else f"{opts.kernels} kernels in {opts.rounds} rounds")
        start_n = start.n_kernels if start is not None else opts.start_kernels
        con.print(
            f"[bold]deepprune prune[/]: {start_n} → {goal} "
            f"({criterion}), {prep.info['n_train']} training / {prep.info['n_val']} validation sequences, "
            f"device {dev.type}"
        )
        con.print(f"negatives: {negatives_note(prep.info)}", highlight=False)
    run = pruning.PruneRun(out, opts, prep.train, prep.val, test_dd, device=dev, data_info=prep.info,
                           progress=progress, resume=resume)
    try:
        with progress:
            if start is not None:
                results = run.run(start_model=start, start_label=str(from_model))
            else:
                results = run.run(spec=prep.spec)
    except BaseException as exc:
        # The hidden work directory is the resume state: it is kept, and an interruption's error
        # line says so (the exception may be a wrapper of the interrupt, so every one gets the hint).
        if run.work.is_dir():
            add_interrupt_hint(exc, f"the completed stages are kept in {run.work}/; "
                                    "run the same command with --resume to continue")
        raise
    if show:
        _table(con, results, test is not None)
        if run.selection is not None:
            _auto_curve(con, run.selection)
        if run.distinct is not None:
            d = run.distinct
            con.print(f"distinct: the {d['parent_kernels']}-kernel model holds {d['parent_motifs']} distinct "
                      f"motif{'s' if d['parent_motifs'] != 1 else ''}; its {d['kernels']} final kernels keep "
                      f"{d['motifs']} different motif{'s' if d['motifs'] != 1 else ''}"
                      + ("" if d["motifs"] == d["kernels"] else " (the rest are copies or kernels without a motif)"))
        _compact_line(con, run.compact)
        con.print(f"wrote {out}/ (final model: {out}/final/)")
    if as_json:
        from dataclasses import asdict

        sys.stdout.write(json.dumps([asdict(r) for r in results], indent=2) + "\n")


def _table(con, results, with_test):
    from rich.table import Table

    table = Table(title="deepprune prune summary")
    for col in ("round", "kernels", "variant", "epochs", "val AUROC") + (("test AUROC",) if with_test else ()) + ("s", "trained"):
        table.add_column(col, justify="right")
    for r in results:
        cells = [str(r.round), str(r.kernels), r.variant, str(r.epochs), f"{r.val_auroc:.4f}"]
        if with_test:
            cells.append("" if r.test_auroc is None else f"{r.test_auroc:.4f}")
        cells.append("" if r.seconds is None else f"{r.seconds:.1f}")
        cells.append("yes" if r.trained_ok else "[bold red]FAILED[/]")
        table.add_row(*cells)
    con.print(table)
    _versus_baselines(con, results, with_test)


def _versus_baselines(con, results, with_test):
    """Deepprune against the baseline both ways, at each kernel count that has them: the kept
    (best-of-seeds) baseline and the first seed's alone, so a win is never only against a dead fit."""
    from deepprune_cli.core.pruning import baseline_comparison

    for c in baseline_comparison(results, "test_auroc" if with_test else "val_auroc"):
        parts = [f"vs baseline {c['baseline']:.4f} ({c['deepprune'] - c['baseline']:+.4f})"]
        if c.get("baseline_first") is not None:
            parts.append(f"vs first-seed baseline {c['baseline_first']:.4f} ({c['deepprune'] - c['baseline_first']:+.4f})")
        dead = [v for v in ("baseline", "baseline_first") if v in c["failed"]]
        tail = f" [bold red]({', '.join(dead)} failed to train)[/]" if dead else ""
        con.print(f"{c['kernels']} kernels, {c['metric']}: deepprune {c['deepprune']:.4f} " + "; ".join(parts) + tail)


def _compact_line(con, verdict):
    """One line: is the final model a compact motif model (pruning.compact_verdict)?"""
    if verdict["compact"]:
        con.print(f"compact motif model: {verdict['kernels']} kernel{'s' if verdict['kernels'] != 1 else ''}, "
                  f"val AUROC {verdict['final_val_auroc']:.4f} against the start model's {verdict['start_val_auroc']:.4f}")
    else:
        con.print(f"[bold red]no compact motif model[/]: {verdict['reason']}; its kernels may be weak or partial "
                  "motifs (prune.json 'compact')", highlight=False)


def _auto_curve(con, sel):
    """The --kernels auto search, one line per count tried, and the count chosen."""
    con.print(f"auto: val AUROC must stay ≥ the best model's so far − {sel['tolerance']:.4g} "
              f"(start model {sel['start_val_auroc']:.4f}, best {sel['reference_val_auroc']:.4f})")
    for point in sel["curve"][1:]:
        mark = ("[green]holds[/green]" if point["holds"] else "[red]below[/red]") + f" (floor {point['floor']:.4f})"
        what = "kernel" if point["kernels"] == 1 else "kernels"
        if point.get("one_per_motif"):
            what += ", one per motif"
            if point is sel["curve"][-1]:
                mark += " (final/)"
            else:  # another one-per-motif round followed
                mark += " (its fine-tune made copies again: pruned once more)"
        con.print(f"  {point['kernels']:>5} {what} (round {point['round']}): {point['val_auroc']:.4f} {mark}")
    held = sel.get("held")
    if held is not None:
        con.print(f"auto: the smallest model that held ({held['kernels']} kernel{'s' if held['kernels'] != 1 else ''}, "
                  f"round {held['round']}) "
                  f"holds {held['motifs']} distinct motif{'s' if held['motifs'] != 1 else ''}")
    n = sel["kernels"]
    con.print(f"[bold]auto: {n} kernel{'s' if n != 1 else ''}[/] (round {sel['round']}; final/ is that model)")
    if held is not None:
        m = sel["motifs"]
        if m == 0:
            con.print("auto: no kernel of that model gives a motif (too few sites or near-uniform, as in logos)")
        else:
            note = ""
            if held["round"] != sel["round"]:  # one kernel per motif is final; the held model stays
                note = (f" (one kernel per motif; the {held['kernels']}-kernel model that held, with its "
                        f"copies, is round{held['round']}_deepprune/)")
            con.print(f"[bold]auto: {m} distinct motif{'s' if m != 1 else ''}[/]{note}")

"""One model per seed on the same prepared data: fit, measure, and write (``deepprune train``).

With one seed the output is an ordinary model directory. With several (``--seeds``) it holds one
model directory per seed (``seed<N>/``) plus ``summary.tsv`` and ``summary.json`` with every
seed's metrics and their mean ± sd, so the spread that a seed alone causes is visible.

Restarts (``train --restarts N``): a fit from a small or unlucky start sometimes never learns (a
constant output). Each seed is then fitted N times from fresh seeds and the fit with the lowest
validation loss is kept, with every restart's outcome recorded beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from deepprune_cli.core import datasets, metrics, models, store, training
from deepprune_cli.core.atomic import atomic_directory, atomic_output
from deepprune_cli.core.errors import InputError
from deepprune_cli.core.prepare import PreparedData

SUMMARY_COLUMNS = ("seed", "best_epoch", "epochs_run", "val_loss", "val_auroc", "val_auprc", "test_auroc", "test_auprc")


@dataclass
class TrainedModel:
    """A fitted model with what is written beside it.

    Attributes:
        seed: the seed of its initial weights and batch order. model: best weights restored.
        history: one row per epoch. metrics: best epoch, validation (and test) metrics, size.
        training: the options it was fitted with (``config.json``'s ``training``).
    """

    seed: int
    model: models.MotifCNN
    history: list[dict]
    metrics: dict
    training: dict


#: restart j (j = 0 .. N-1) of a seed s starts from seed s + RESTART_SEED_STEP * j (j = 0 is s itself)
RESTART_SEED_STEP = 7919


def restart_seeds(seed: int, restarts: int) -> list[int]:
    """The seeds of ``restarts`` fits for ``seed``: ``seed`` itself first, then fresh ones."""
    return [int(seed) + RESTART_SEED_STEP * j for j in range(restarts)]


def fit_seeds(
    prep: PreparedData,
    seeds: Sequence[int],
    options: training.TrainOptions,
    device: torch.device | str = "cpu",
    callback: Callable[[int, dict], None] | None = None,
    restarts: int = 1,
) -> list[TrainedModel]:
    """Fit one model of ``prep.spec`` per seed (stacked into one grouped fit where possible) and
    measure each on the validation split and, when ``prep.test`` is given, on the test set.

    With ``restarts`` > 1 each seed is fitted ``restarts`` times from :func:`restart_seeds` and the
    fit with the lowest validation loss (what early stopping minimises; ties: the earlier restart)
    is kept: its metrics gain ``kept_seed`` and ``restarts`` (every restart's seed, validation
    loss and AUROC, ``trained_ok`` and ``failure``), and its ``training`` records the kept seed.
    Only the kept fit sees the test set. ``callback(i, row)`` sees fit ``i``'s epochs as they
    finish, fits ordered seed by seed, restart by restart (``len(seeds) * restarts`` of them).
    """
    if restarts < 1:
        raise InputError(f"--restarts must be at least 1, got {restarts}")
    device = torch.device(device)
    runs = [(s, r) for s in seeds for r in restart_seeds(s, restarts)]
    built = [models.build_model(prep.spec, seed=r) for _, r in runs]
    fitted = training.fit_many(built, prep.train, prep.val, options, [r for _, r in runs], device=device, callback=callback)
    note = datasets.negatives_note(prep.info)
    out = []
    for k, s in enumerate(seeds):
        fits = []
        for j in range(restarts):
            model, history = fitted[k * restarts + j]
            fits.append((runs[k * restarts + j][1], model, history, _validation_metrics(model, history, prep, device)))
        kept = min(range(restarts), key=lambda j: (fits[j][3]["val_loss"], j))
        seed, model, history, met = fits[kept]
        if restarts > 1:
            met["kept_seed"] = seed
            met["restarts"] = [
                {"seed": f[0], "val_loss": f[3]["val_loss"], "val_auroc": f[3]["val_auroc"],
                 "trained_ok": f[3]["trained_ok"], **({"failure": f[3]["failure"]} if "failure" in f[3] else {})}
                for f in fits
            ]  # fmt: skip
        if note is not None:  # say where the negatives came from, invented ones above all
            met["negatives"] = note
        if prep.test is not None:
            met.update(training.evaluate(model, prep.test, device, prefix="test_"))
        extra = {"restarts": restarts} if restarts > 1 else {}
        out.append(TrainedModel(s, model, history, met, dict(options.to_dict(), seed=seed, device=device.type, **extra)))
    return out


def _validation_metrics(model: models.MotifCNN, history: list[dict], prep: PreparedData, device: torch.device) -> dict:
    """Best epoch, validation metrics, size and whether the fit learned at all."""
    best = training.best_row(history)
    met = {
        "best_epoch": best.get("epoch"),
        "epochs_run": len(history),
        "val_loss": best.get("val_loss"),
        "val_auroc": best.get("val_auroc"),
        "val_auprc": best.get("val_auprc"),
        "n_parameters": models.count_parameters(model),
    }
    # A fit that learned nothing is said, not averaged in silently (a constant output scores 0.5).
    failure = training.training_failure(model, prep.val, device)
    met["trained_ok"] = failure is None
    if failure is not None:
        met["failure"] = failure
    return met


def seed_stats(trained: Sequence[TrainedModel]) -> dict:
    """Metric -> ``{"mean", "sd"}`` over the seeds (metrics no seed has are left out)."""
    stats = {}
    for col in SUMMARY_COLUMNS[3:]:
        vals = [t.metrics.get(col) for t in trained]
        if all(v is None for v in vals):
            continue
        mean, sd = metrics.mean_sd(vals)
        stats[col] = {"mean": mean, "sd": sd}
    return stats


def summary_rows(trained: Sequence[TrainedModel]) -> list[dict]:
    """Each seed's metrics with its ``seed`` (``summary.json``'s ``seeds``; ``train --json``)."""
    return [dict(t.metrics, seed=t.seed) for t in trained]


def format_seed_summary(trained: Sequence[TrainedModel]) -> str:
    """``summary.tsv``: one row per seed, then the ``mean`` and ``sd`` rows; the last column,
    ``trained_ok``, is ``yes`` or ``no`` (a failed fit, :func:`training.training_failure`), and on
    the ``mean`` row how many seeds trained."""

    def fmt(v):
        return "nan" if v is None else (str(v) if isinstance(v, int) else f"{float(v):.6f}")

    def ok(v):
        return "" if v is None else ("yes" if v else "no")

    stats = seed_stats(trained)
    lines = ["\t".join(SUMMARY_COLUMNS + ("trained_ok",))]
    lines += [
        "\t".join([fmt(s.get(c)) for c in SUMMARY_COLUMNS] + [ok(s.get("trained_ok"))]) for s in summary_rows(trained)
    ]
    n_ok = sum(bool(t.metrics.get("trained_ok", True)) for t in trained)
    for key in ("mean", "sd"):
        cells = [fmt(stats[c][key]) if c in stats else "nan" for c in SUMMARY_COLUMNS[3:]]
        lines.append("\t".join([key, "", ""] + cells + [f"{n_ok}/{len(trained)}" if key == "mean" else ""]))
    return "\n".join(lines) + "\n"


def write_trained(out: str | Path, trained: Sequence[TrainedModel], data_info: dict, per_seed: bool) -> None:
    """Write ``out`` atomically: a model directory, or (``per_seed``) ``seed<N>/`` directories
    with ``summary.tsv`` and ``summary.json``."""
    with atomic_directory(out) as tmp:
        if not per_seed:
            t = trained[0]
            store.write_model_files(tmp, t.model, training=t.training, data=data_info, history=t.history, metrics=t.metrics)
            return
        for t in trained:
            store.write_model_files(
                tmp / f"seed{t.seed}", t.model, training=t.training, data=data_info, history=t.history, metrics=t.metrics
            )
        with atomic_output(tmp / "summary.tsv") as fh:
            fh.write(format_seed_summary(trained))
        with atomic_output(tmp / "summary.json") as fh:
            fh.write(store.dumps({"format": store.SEEDS_FORMAT, "version": 1, "seeds": summary_rows(trained),
                                  "stats": seed_stats(trained)}))  # fmt: skip

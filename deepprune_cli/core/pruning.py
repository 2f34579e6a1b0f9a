"""Deepprune: iterative pruning of first-layer kernels (Luo, Chi & Deng 2019).

Train an over-parameterised model with ``2**rounds * kernels`` first-layer kernels, then
``rounds`` times keep the half of the kernels with the largest statistic and fine-tune with a
fresh optimiser and a decayed learning rate ``lr_i = lr_0 / decay**i``. Every round also yields
the paper's comparison variants:

* ``deepprune``: pruned and fine-tuned (feeds the next round);
* ``inter``: pruned, not fine-tuned (Deepprune-inter);
* ``baseline``: the same kernel count trained from scratch with the same seed;
* ``lottery``: the surviving kernels rewound to their initial weights and retrained
  (the lottery-ticket variant, Frankle & Carbin 2019).

With ``auto`` (``--kernels auto``) the final count comes from the data: halve while the fine-tuned
model's validation AUROC stays within the tolerance of the best val AUROC so far (the big model's
at first; the tolerance is max(0.01, the AUROC's standard error on the validation set) unless
given), then bisect between the last count that held and the first that did not
(:meth:`PruneRun._auto_rounds`). The smallest
model that held often spends two kernels on one motif (a shifted or reverse-complement copy adds a
little AUROC); with ``distinct`` (the default) its kernels are then grouped by motif as ``logos``
groups them (:func:`~deepprune_cli.core.grouping.kernel_groups`), with a margin for other peaks
(:data:`COPY_THRESHOLD`, :data:`COPY_PARTS`), and one more round removes
copies until the kept kernels are pairwise different motifs; its fine-tuned model is grouped
again and, while the fine-tune made copies again, pruned once more (at most
:data:`ONE_PER_MOTIF_ROUNDS` rounds). ``final/`` is the last one-per-motif model, whatever it lost
against the held model (without ``distinct``: the smallest model that held); its kernel count is
the answer (``selection.motifs``);
``prune.json`` records the curve. With a fixed count, ``distinct`` groups the last round's parent instead and
removes copies first. Every run ends with a verdict, :func:`compact_verdict`: a final model that
lost more than ``compact_loss`` val AUROC against the start model, or has more than
:data:`COMPACT_MAX_KERNELS` kernels, is "no compact motif model" (``prune.json``'s ``compact``).

Round 0 is the trained big model (variant ``initial``). Pruned kernels are removed physically
(:func:`models.select_kernels` builds a smaller model), so later rounds are cheaper; saved models
keep the mask over the original kernels, so they load either way.

Which half a round keeps is decided by a criterion (:mod:`deepprune_cli.core.criteria`): the
paper's per-kernel ``weight``, ``score`` and ``score-weight``, or ``loss`` (default), greedy
backward elimination by training loss, which drops a kernel that duplicates another instead of
the only kernel that learned a motif. With ``loss`` the removed kernels' mean contributions are
folded into the next layer's bias, so ``inter`` is the very model the criterion judged.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from deepprune_cli.core.atomic import atomic_output, recover, replace_directory
from deepprune_cli.core.choices import CRITERIA, DEFAULT_CRITERION
from deepprune_cli.core.criteria import calibrate_output, fold_removed_means, has_copies, motif_labels, select_count
from deepprune_cli.core.datasets import negatives_note
from deepprune_cli.core.errors import InputError
from deepprune_cli.core.architectures import ArchSpec
from deepprune_cli.core.locking import output_lock
from deepprune_cli.core.metrics import auroc_standard_error
from deepprune_cli.core.models import MotifCNN, build_model, select_kernels
from deepprune_cli.core.store import dumps, load_model, save_model
from deepprune_cli.core.training import TrainOptions, evaluate, fit, training_failure
from deepprune_cli.core.layout import DeviceData

#: ``baseline_first`` (with ``baseline_seeds`` > 1): the baseline of the first seed alone, kept so the
#: comparison can be made against it too. Appended last: a variant's index seeds its fits.
VARIANTS = ("initial", "deepprune", "inter", "baseline", "lottery", "baseline_first")
# ``seconds`` stays last: the one column that differs between two runs with the same seed
SUMMARY_COLUMNS = (
    "round", "kernels", "variant", "criterion", "epochs", "val_auroc", "test_auroc", "trained_ok", "seconds",
)  # fmt: skip
#: summary.tsv of runs before the ``trained_ok`` column (still read)
OLD_SUMMARY_COLUMNS = tuple(c for c in SUMMARY_COLUMNS if c != "trained_ok")
#: ``baseline_seeds`` default: the baseline is the best of this many seeds by validation loss
DEFAULT_BASELINE_SEEDS = 3
MAX_START_KERNELS = 1 << 16  # beyond this a first layer is no longer a "small CNN" on any machine
RUN_FILE = "run.json"
TIMINGS_FILE = "timings.json"  # work directory only: wall seconds per stage, until summary.tsv holds them
INIT_DIR = "round0_init"
#: ``--kernels auto``: the least tolerance on validation AUROC below the reference (see PruneOptions).
DEFAULT_TOLERANCE = 0.01
#: ``--kernels auto`` with ``distinct``: two kernels are copies of one motif when their motifs (from
#: the training positives) compare at p < COPY_THRESHOLD (ten times logos' 1e-4), or at logos' 1e-4
#: on any of COPY_PARTS disjoint parts of those positives. The margin is for whoever checks the motifs on other peaks: a
#: motif from a few hundred peaks' sites is noisy, and pairs that logos' own rule called different
#: on ENCODE's 2,700 training peaks were the same motif on DeepBind's 500 `_B` positives in 5 of 20
#: auto runs (SP1: p = 10^-2.2 on the training peaks, 10^-4.7 on `_B`; within one model the same
#: pair moved over 10^-2.6 .. 10^-6.0 across fifths of the training peaks).
COPY_THRESHOLD = 1e-3
COPY_PARTS = 5
#: ``--kernels auto``: one-kernel-per-motif rounds at most (each fine-tune may bring a copy back).
ONE_PER_MOTIF_ROUNDS = 3
#: ``--kernels auto`` starts from AUTO_BASE_KERNELS * 2**rounds kernels (256 with 6 rounds, as the default run).
AUTO_BASE_KERNELS = 4
#: Default ``compact_loss``: a final model whose val AUROC falls more than this below the start model's
#: is no compact motif model (see :func:`compact_verdict`): CTCF-type factors lose up to about that
#: much going from 256 to a handful of kernels, factors without a compact motif (SUZ12, TAF1, TBP
#: types) 0.08-0.12.
DEFAULT_COMPACT_LOSS = 0.03
#: ``--kernels auto``'s first-layer padding when none is given (see :func:`start_padding`): ``full``
#: (kernel width - 1 N on each side), so one kernel scores a motif's sites wherever they lie, ends
#: included, and one kernel per motif can hold the AUROC that shifted copies held without it.
AUTO_PADDING = "full"
#: ``--kernels auto``'s first-layer activation when none is given (see :func:`start_activation`).
AUTO_ACTIVATION = "exp"
#: A final model with more kernels than this is no compact motif model (``--kernels auto`` found no
#: smaller model that held): a biologist reads a handful of motifs, not dozens.
COMPACT_MAX_KERNELS = 16


@dataclass
class PruneOptions:
    """How to prune.

    Attributes:
        kernels: kernels left at the end (d).
        rounds: halvings (k); the start model has ``kernels * 2**rounds`` kernels.
        criterion: one of :data:`CRITERIA`.
        lr_decay: fine-tuning learning rate of round i is ``train.lr / lr_decay**i``.
        baseline: also train the same-size model from scratch each round.
        baseline_seeds: the baseline is fitted from this many seeds (the first is the big model's
            seed, as in the paper) and the one with the lowest validation loss is kept, so that a
            from-scratch fit that never learned does not stand for the baseline; with more than
            one, the first seed's fit is kept too as ``baseline_first``.
        lottery: also retrain the rewound surviving kernels each round.
        train: options of every fit (lr is round 0's / the baseline's learning rate).
        auto: choose the final kernel count from the data (``--kernels auto``): halve while the
            fine-tuned model's validation AUROC stays within ``tolerance`` of the big model's,
            then bisect between the last count that held and the first that did not; the run
            ends at the smallest count that held. The start model still has
            ``kernels * 2**rounds`` kernels (256 with the defaults), and the count may go down to 1.
        distinct: with ``auto``, end with one kernel per distinct motif of the smallest model that
            held (copies of a motif up to shift and strand merged, kernels without a motif
            dropped); False keeps that model as it is (the behaviour before 0.3). With a fixed
            count, the last round groups its parent's kernels by motif and removes copies (and
            kernels without a motif) before any motif's last kernel, so the final kernels are
            different motifs as far as the parent holds them (:attr:`PruneRun.distinct`). None
            (the default): on with ``auto``, off with a fixed count.
        compact_loss: the final model is reported as "no compact motif model" when its val AUROC
            falls more than this below the start model's, or when it has more than
            :data:`COMPACT_MAX_KERNELS` kernels (:func:`compact_verdict`; ``prune.json``'s
            ``compact``). Nothing else changes: the pruned model is still written.
        tolerance: the AUROC a pruned model may lose against the reference (the best val AUROC of
            the models that held so far) and still hold. None (the default): the larger of
            :data:`DEFAULT_TOLERANCE` (0.01) and the sampling standard error of the reference AUROC
            on the validation set (Hanley & McNeil; about 0.02 for 100 positives, 200 negatives
            and AUROC 0.9, 0.007 for 300/600 at 0.97), so that a lucky fine-tune on a small
            validation set does not raise the bar above what the same motifs reach again;
            removing a kernel that alone carries one of m equally common motifs costs about
            (AUROC - 0.5) / m, several hundredths.
    """

    kernels: int = 4
    rounds: int = 6
    criterion: str = DEFAULT_CRITERION
    lr_decay: float = 1.2
    baseline: bool = True
    baseline_seeds: int = DEFAULT_BASELINE_SEEDS
    lottery: bool = False
    train: TrainOptions = field(default_factory=TrainOptions)
    auto: bool = False
    tolerance: float | None = None
    distinct: bool | None = None
    compact_loss: float = DEFAULT_COMPACT_LOSS

    @property
    def start_kernels(self) -> int:
        return self.kernels * 2**self.rounds

    def validate(self) -> None:
        if self.kernels < 1:
            raise InputError(f"--kernels must be at least 1, got {self.kernels}")
        if self.rounds < 1:
            raise InputError(f"--rounds must be at least 1, got {self.rounds}")
        if self.baseline_seeds < 1:
            raise InputError(f"--baseline-seeds must be at least 1, got {self.baseline_seeds}")
        if self.rounds > 16 or self.start_kernels > MAX_START_KERNELS:
            raise InputError(
                f"--kernels {self.kernels} --rounds {self.rounds} asks for {self.kernels}·2^{self.rounds} starting "
                f"kernels; at most {MAX_START_KERNELS:,} are supported"
            )
        if self.criterion not in CRITERIA:
            raise InputError(f"unknown criterion '{self.criterion}' (choose from {', '.join(CRITERIA)})")
        if not self.lr_decay > 0 or not math.isfinite(self.lr_decay):
            raise InputError(f"--lr-decay must be a positive number, got {self.lr_decay}")
        if self.tolerance is not None and not 0 <= self.tolerance < 1:
            raise InputError(f"--tolerance must be in [0, 1), got {self.tolerance}")
        if not 0 <= self.compact_loss < 1:
            raise InputError(f"--compact-loss must be in [0, 1), got {self.compact_loss}")
        self.train.validate()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["start_kernels"] = self.start_kernels
        return d


@dataclass
class StageResult:
    """One row of ``summary.tsv``: a model of one round and variant.

    ``seconds`` (wall-clock time of the stage) is the only value of a prune run that differs
    between two runs with the same seed, so it is kept out of the stage model directories: it
    lives in ``summary.tsv`` alone (None when unknown, e.g. a stage resumed from a work directory
    whose timings were lost).
    """

    round: int
    kernels: int
    variant: str
    criterion: str
    epochs: int
    val_auroc: float
    test_auroc: float | None
    seconds: float | None = None
    trained_ok: bool = True  # False: the model learned nothing (training.training_failure)

    @property
    def name(self) -> str:
        return stage_name(self.round, self.variant)


def start_padding(auto: bool, padding: str | None) -> str | None:
    """The first-layer padding a new start model gets: ``padding`` when given; else
    :data:`AUTO_PADDING` (``full``) for ``--kernels auto``, and None (the architecture's own, ``valid``
    for ``deepbind``) for a fixed count.

    Why they differ (``benchmarks/bench_distinct.py``, 20,000 training sequences, 64 -> auto): with
    ``valid`` windows a site near an end is seen in part, so a motif kept two or three shifted
    kernels and one kernel per motif lost the AUROC; with ``full`` the final kernel count equalled the
    number of planted motifs in 26/30 runs (10/30 with ``valid``) at a higher test AUROC in 26/30
    (mean +0.014). On ENCODE (256 -> auto, top 3,000 peaks, seeds 0 and 1) test AUROC was higher in
    13/20 runs (mean +0.002, not significant) and the final motifs all different in 8/20 instead of
    3/20. At a fixed count the padding was measured too (``results/prune_encode_padding.txt``): the
    4-kernel baseline gained more than deepprune on ENCODE, so fixed counts keep the architecture's
    padding.
    """
    if padding is not None:
        return padding
    return AUTO_PADDING if auto else None


def start_activation(auto: bool, activation: str | None) -> str | None:
    """The first-layer activation a new start model gets: ``activation`` when given; else
    :data:`AUTO_ACTIVATION` (Koo & Ploenzke 2021's ``exp``) for ``--kernels auto``, and None (the
    architecture's own, ``relu`` for ``deepbind``, as published) for a fixed count.

    Why (``benchmarks/bench_distinct.py --encode``, 256 -> auto, top 3,000 peaks, seed 0; README
    *One kernel per motif always final, exponential activation*): with one kernel per motif final,
    ``exp`` against ``relu`` gave a higher final val AUROC in 8/10 experiments and a median test
    AUROC of 0.9617 against 0.9450 (SP1 +0.027, ZBTB7A +0.051; REST -0.024, its two half-site
    kernels one motif).
    """
    if activation is not None:
        return activation
    return AUTO_ACTIVATION if auto else None


def stage_name(round_: int, variant: str) -> str:
    """Directory name of a stage, e.g. ``round3_deepprune`` (deterministic, for workflows)."""
    return f"round{round_}_{variant}"


# --------------------------------------------------------------------------------------------
# the run


ProgressCallback = Callable[[str, dict], None]


def _round_lr(options: PruneOptions, round_: int) -> float:
    return options.train.lr / options.lr_decay**round_


def _round_seed(seed: int, round_: int, variant: str) -> int:
    """A seed per (round, variant), so a resumed run draws exactly what an uninterrupted one did."""
    return int(seed) + 1009 * round_ + 97 * VARIANTS.index(variant)


def _fresh_spec(spec: ArchSpec, n_kernels: int) -> ArchSpec:
    """``spec`` with ``n_kernels`` first-layer kernels, as a model trained from scratch has."""
    new = ArchSpec.from_dict(spec.to_dict())
    new.convs[0].channels = n_kernels
    new.n_kernels_original = n_kernels
    return new


class PruneRun:
    """One Deepprune run writing its stages under ``out_dir``.

    The run holds ``out_dir``'s lock (:func:`~deepprune_cli.core.locking.output_lock`) from start
    to end, so a second run at the same output is refused at once. It is built in a hidden sibling
    work directory ``.<name>.partial`` and moved to ``out_dir`` only when complete, so an interrupted run never leaves a half-finished directory
    under the final name; ``resume=True`` continues from the work directory's completed stages
    (each stage directory is written atomically), also after the process was killed outright:
    temporary leftovers of the killed process are removed first.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        options: PruneOptions,
        train: DeviceData,
        val: DeviceData,
        test: DeviceData | None = None,
        *,
        device: torch.device | str = "cpu",
        data_info: dict | None = None,
        progress: ProgressCallback | None = None,
        resume: bool = False,
    ):
        options.validate()
        self.out_dir = Path(out_dir)
        self.work = self.out_dir.parent / f".{self.out_dir.name}.partial"
        self.options = options
        self.train, self.val, self.test = train, val, test
        self.device = torch.device(device)
        self.data_info = data_info or {}
        self.progress = progress or (lambda event, info: None)
        self.resume = resume
        self.results: list[StageResult] = []
        self.timings: dict[str, float] = {}
        self.selection: dict | None = None  # auto: the chosen count and its curve (prune.json)
        self.compact: dict | None = None  # is the final model a compact motif model? (prune.json)
        self.distinct: dict | None = None  # fixed count with distinct: the last round's grouping (prune.json)

    # ---- bookkeeping ----------------------------------------------------------------------

    def _run_record(self, spec: ArchSpec, start: str) -> dict:
        return {
            "options": self.options.to_dict(),
            "spec": spec.to_dict(),
            "start": start,
            "data": self.data_info,
        }

    def _prepare_work_dir(self, record: dict) -> None:
        run_file = self.work / RUN_FILE
        if self.resume and not run_file.exists() and (self.work / "prune.json").exists():
            # interrupted while finishing, after the run record got its final name
            os.replace(self.work / "prune.json", run_file)
        if self.resume and run_file.exists():
            previous = json.loads(run_file.read_text(encoding="utf-8"))
            for key in ("selection", "compact", "distinct"):  # added by a finish that was interrupted; recomputed
                previous.pop(key, None)
            if json.loads(dumps(record)) != previous:
                raise InputError(
                    f"{self.out_dir}: --resume with different options or data than the interrupted run "
                    f"(see {run_file}); rerun without --resume to start over"
                )
            self._clean_work_dir()
            timings = self.work / TIMINGS_FILE
            if timings.exists():
                try:
                    self.timings = {str(k): float(v) for k, v in json.loads(timings.read_text(encoding="utf-8")).items()}
                except (ValueError, AttributeError, TypeError):
                    self.timings = {}  # timings are informative only; a damaged file loses them
            return
        if self.work.exists():
            shutil.rmtree(self.work)  # a stale, interrupted run: start over
        self.work.mkdir(parents=True)
        with atomic_output(run_file) as fh:
            fh.write(dumps(record))

    def _clean_work_dir(self) -> None:
        """Remove what a killed process left half-done in the work directory: temporary files and
        directories of atomic writes (``.NAME.XXXX.tmp``, ``.NAME.XXXX.old``); a partial ``final`` copy
        is replaced by :meth:`_finish`. Completed stage directories are kept."""
        for entry in self.work.iterdir():
            if entry.name.startswith(".") and entry.name.endswith((".tmp", ".old")):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    def _metrics(self, model: MotifCNN) -> dict:
        val = evaluate(model, self.val, self.device, self.options.train.eval_batch_size, prefix="val_")
        out = dict(val)
        failure = training_failure(model, self.val, self.device, self.options.train.eval_batch_size)
        out["trained_ok"] = failure is None
        if failure is not None:
            out["failure"] = failure
        if self.test is not None:
            out.update(evaluate(model, self.test, self.device, self.options.train.eval_batch_size, prefix="test_"))
        return out

    def _save_stage(self, round_: int, variant: str, model: MotifCNN, history: list[dict], seconds: float,
                    metrics: dict, extra: dict) -> StageResult:
        best_epoch = min(history, key=lambda r: (r["val_loss"], r["epoch"]))["epoch"] if history else 0
        if history and metrics["val_loss"] > min(h["val_loss"] for h in history) + 1e-9:
            best_epoch = 0  # fine-tuning kept the starting weights
        result = StageResult(
            round=round_,
            kernels=model.n_kernels,
            variant=variant,
            criterion=self.options.criterion,
            epochs=len(history),
            val_auroc=float(metrics["val_auroc"]),
            test_auroc=float(metrics["test_auroc"]) if "test_auroc" in metrics else None,
            seconds=seconds,
            trained_ok=bool(metrics.get("trained_ok", True)),
        )
        stage = {k: v for k, v in asdict(result).items() if k != "seconds"}  # keeps stage dirs reproducible
        stage_metrics = dict(metrics, best_epoch=best_epoch, epochs=len(history), stage=stage)
        note = negatives_note(self.data_info)
        if note is not None:
            stage_metrics["negatives"] = note
        save_model(
            self.work / result.name,
            model,
            training=dict(extra.get("training", {})),
            data=self.data_info,
            history=history,
            metrics=stage_metrics,
            prune={"round": round_, "variant": variant, "criterion": self.options.criterion, **extra.get("prune", {})},
        )
        self.timings[result.name] = seconds
        with atomic_output(self.work / TIMINGS_FILE) as fh:
            fh.write(dumps(self.timings))
        self.results.append(result)
        self.progress("stage", dict(asdict(result), failure=metrics.get("failure"),
                                    calibrated_start="kept_calibrated_start" in extra.get("prune", {})))
        return result

    def _load_stage(self, round_: int, variant: str) -> tuple[MotifCNN, StageResult] | None:
        path = self.work / stage_name(round_, variant)
        if not (self.resume and (path / "metrics.json").exists()):
            return None
        rec = load_model(path, device=self.device)
        result = StageResult(**rec.metrics["stage"])
        if result.seconds is None:
            result.seconds = self.timings.get(result.name)
        self.results.append(result)
        self.progress("resumed", asdict(result))
        return rec.model, result

    def _fit(self, model: MotifCNN, lr: float, seed: int, label: str,
             keep_start: bool = False) -> tuple[MotifCNN, list[dict], float]:
        opts = replace(self.options.train, lr=lr, seed=seed, keep_start=keep_start)
        start = time.perf_counter()
        self.progress("fit", {"stage": label, "kernels": model.n_kernels, "lr": lr})
        model, history = fit(model, self.train, self.val, opts, self.device,
                             callback=lambda row: self.progress("epoch", dict(row, stage=label)))
        return model, history, time.perf_counter() - start

    # ---- the algorithm --------------------------------------------------------------------

    def run(self, spec: ArchSpec | None = None, start_model: MotifCNN | None = None,
            start_label: str = "scratch") -> list[StageResult]:
        """Run every round; return the summary rows. Give ``spec`` (train from scratch) or
        ``start_model`` (an already trained model with at least ``kernels * 2**rounds`` kernels)."""
        o = self.options
        if start_model is not None:
            spec = start_model.spec
            if start_model.n_kernels != o.start_kernels and not o.auto:
                raise InputError(
                    f"the --from model has {start_model.n_kernels} active kernels; --kernels {o.kernels} "
                    f"--rounds {o.rounds} needs {o.start_kernels}"
                    + (f" (it allows at most {int(math.log2(start_model.n_kernels // o.kernels))} rounds for "
                       f"--kernels {o.kernels})" if start_model.n_kernels >= 2 * o.kernels else "")
                )
        if spec is None:
            raise ValueError("give spec or start_model")
        # The output's lock, held to the end, covers the work directory: another process can neither
        # write this output nor touch (or --resume) its work directory meanwhile.
        with output_lock(self.out_dir, covers=[self.work]) as locked:
            if locked is not None:
                recover(self.out_dir)
            return self._run(spec, start_model, start_label)

    def _run(self, spec: ArchSpec, start_model: MotifCNN | None, start_label: str) -> list[StageResult]:
        o = self.options
        self._prepare_work_dir(self._run_record(spec, start_label))
        self.results = []

        # Round 0: the big model, and its initial weights for the lottery variant.
        loaded = self._load_stage(0, "initial")
        if loaded is not None:
            model = loaded[0]
        elif start_model is not None:
            model = start_model.to(self.device)
            t0 = time.perf_counter()
            self._save_stage(0, "initial", model, [], time.perf_counter() - t0, self._metrics(model),
                             {"prune": {"from": start_label}})
        else:
            seed0 = _round_seed(o.train.seed, 0, "initial")
            model = build_model(_fresh_spec(spec, o.start_kernels), seed=seed0).to(self.device)
            if o.lottery:
                save_model(self.work / INIT_DIR, model, training={"seed": seed0}, data=self.data_info)
            model, history, secs = self._fit(model, o.train.lr, seed0, stage_name(0, "initial"))
            self._save_stage(0, "initial", model, history, secs, self._metrics(model),
                             {"training": {"lr": o.train.lr, "seed": seed0}})
        init_model = None
        if o.lottery:
            if not (self.work / INIT_DIR).exists():
                raise InputError("--lottery needs the initial weights, which a --from model does not have")
            init_model = load_model(self.work / INIT_DIR, device=self.device).model

        if o.auto:
            final_round = self._auto_rounds(model, spec, init_model)
        else:
            for r in range(1, o.rounds + 1):
                motifs = self._last_round_groups(model) if r == o.rounds and o.distinct else None
                model = self._round(r, model, max(1, model.n_kernels // 2), spec, init_model, motifs=motifs)
            final_round = o.rounds
        self._finish(final_round)
        return self.results

    def _round(self, r: int, model: MotifCNN, keep: int | None, spec: ArchSpec, init_model: MotifCNN | None,
               parent: int | None = None, motifs: tuple[np.ndarray, np.ndarray] | None = None) -> MotifCNN:
        """Round ``r``: prune ``model`` to ``keep`` kernels (inter), fine-tune (deepprune) and the
        comparison variants; returns the fine-tuned model. ``parent`` (auto only) is the round
        whose model was pruned, recorded in the stage; ``motifs`` (:func:`criteria.motif_labels` of
        ``model``: int64 ``(K,)`` labels, 0 = none, and bool ``(K, K)`` same motif) removes copies
        first; with ``keep`` None until the kept kernels are pairwise different motifs."""
        o = self.options
        lr = _round_lr(o, r)
        extra_prune = {} if parent is None else {"parent_round": parent}
        groups, same = motifs if motifs is not None else (None, None)
        if groups is not None:
            extra_prune["groups"] = groups.tolist()
        # deepprune (and inter, computed from the same pruned model before fine-tuning)
        loaded = self._load_stage(r, "inter")
        if loaded is None:
            t0 = time.perf_counter()
            choice = select_count(model, self.train, o.criterion, keep, o.train.eval_batch_size, groups=groups, same=same)
            keep_idx, stat = choice.keep, choice.statistic
            pruned = select_kernels(model, keep_idx)
            if choice.means is not None:  # the pruned model the criterion judged: removed features at their mean
                fold_removed_means(model, pruned, choice)
            self._save_stage(r, "inter", pruned, [], time.perf_counter() - t0, self._metrics(pruned),
                             {"prune": {"kept": keep_idx.tolist(), "statistic": stat.tolist(), **extra_prune}})
        else:
            pruned = loaded[0]
        loaded = self._load_stage(r, "deepprune")
        if loaded is None:
            seed = _round_seed(o.train.seed, r, "deepprune")
            inter = pruned  # kept as it is: the fine-tune trains a copy
            pruned = select_kernels(inter, np.arange(inter.n_kernels))  # a fresh copy to fine-tune
            # Fine-tuning keeps the pruned weights if no epoch beats them on validation loss.
            tuned, history, secs = self._fit(pruned, lr, seed, stage_name(r, "deepprune"), keep_start=True)
            metrics = self._metrics(tuned)
            prune_record = dict(extra_prune)
            calibrated = self._calibrated_start(r, inter, metrics)
            if calibrated is not None:
                tuned, metrics, prune_record["kept_calibrated_start"] = calibrated
            self._save_stage(r, "deepprune", tuned, history, secs, metrics,
                             {"training": {"lr": lr, "seed": seed}, "prune": prune_record})
            model = tuned
        else:
            model = loaded[0]
        if o.baseline:
            self._baseline(r, spec, model.n_kernels)
        if o.lottery and self._load_stage(r, "lottery") is None:
            seed = _round_seed(o.train.seed, r, "lottery")
            ids = model.kernel_ids.cpu().numpy()
            rewound = select_kernels(init_model, ids)  # the same kernels, at their initial weights
            rewound, history, secs = self._fit(rewound, o.train.lr, seed, stage_name(r, "lottery"))
            self._save_stage(r, "lottery", rewound, history, secs, self._metrics(rewound),
                             {"training": {"lr": o.train.lr, "seed": seed}})
        return model

    def _calibrated_start(self, r: int, start: MotifCNN, tuned_metrics: dict):
        """An exp model's fine-tune that lost more than the tolerance of val AUROC against its pruned
        start (round ``r``'s inter) is replaced by that start with its output calibrated
        (:func:`criteria.calibrate_output`): ``(model, metrics, (a, c))``; else None.

        Why: exp features are heavy-tailed, so held at their training means (the ``loss``
        criterion's pruned model) they can leave the logits far off; a fine-tune from there wrecks
        the kernels before it recovers the loss (simulations, 64 -> auto: one kernel per motif at val
        AUROC 0.978, 0.938 and 0.948 fell to 0.585, 0.762 and 0.862). Calibrating every pruned model
        instead cost ENCODE test AUROC (median 0.9617 -> 0.9487): its fine-tunes rarely beat the
        calibrated start's val loss, so the kernels were not fine-tuned at all.
        """
        if start.spec.convs[0].activation != "exp":
            return None
        start_auroc = self._result(r, "inter").val_auroc
        if not tuned_metrics["val_auroc"] < start_auroc - self._tolerance(start_auroc):
            return None
        calibration = calibrate_output(start, self.train, self.options.train.eval_batch_size)
        if calibration is None:
            return None
        return start, self._metrics(start), list(calibration)

    def _baseline(self, r: int, spec: ArchSpec, n_kernels: int) -> None:
        """Round ``r``'s baseline: ``n_kernels`` from scratch, from ``baseline_seeds`` seeds (the first
        is the big model's, "the same seed" of the paper); the lowest validation loss is kept as
        ``baseline``, the first seed's fit as ``baseline_first`` too when there are several."""
        o = self.options
        several = o.baseline_seeds > 1
        if self._load_stage(r, "baseline") is not None:
            if several:
                self._load_stage(r, "baseline_first")
            return
        first = _round_seed(o.train.seed, 0, "initial")
        seeds = [first] + [_round_seed(o.train.seed, r, "baseline") + 7919 * j for j in range(1, o.baseline_seeds)]
        fits = []
        for j, seed in enumerate(seeds):
            label = stage_name(r, "baseline") + (f" seed {j + 1}/{len(seeds)}" if several else "")
            fresh = build_model(_fresh_spec(spec, n_kernels), seed=seed).to(self.device)
            fresh, history, secs = self._fit(fresh, o.train.lr, seed, label)
            fits.append((fresh, history, secs, self._metrics(fresh), seed))
        # kept by validation loss (what early stopping minimises); ties: the earlier seed
        kept = min(range(len(fits)), key=lambda i: (fits[i][3]["val_loss"], i))
        restarts = [
            {"seed": f[4], "val_loss": f[3]["val_loss"], "val_auroc": f[3]["val_auroc"], "trained_ok": f[3]["trained_ok"]}
            for f in fits
        ]
        if several:
            fresh, history, secs, met, seed = fits[0]
            self._save_stage(r, "baseline_first", fresh, history, secs, met,
                             {"training": {"lr": o.train.lr, "seed": seed}})
        fresh, history, _, met, seed = fits[kept]
        self._save_stage(r, "baseline", fresh, history, sum(f[2] for f in fits), met,
                         {"training": {"lr": o.train.lr, "seed": seed},
                          "prune": {"baseline_seeds": restarts, "kept_seed": seed}})

    def _result(self, r: int, variant: str) -> StageResult:
        return next(x for x in self.results if x.round == r and x.variant == variant)

    def _auto_rounds(self, model: MotifCNN, spec: ArchSpec, init_model: MotifCNN | None) -> int:
        """``--kernels auto``: halve while the fine-tuned model holds (validation AUROC at least
        the reference minus the tolerance), then bisect between the smallest count that held
        and the largest that did not, always pruning the smallest model that held. The reference
        is the best val AUROC of the models that held so far (the start model's at first): a
        pruned and fine-tuned model often beats an over-parameterised start model trained on a
        few thousand sequences, and a weak start model's floor let motifs go unnoticed. Assumes
        that once a count fails, smaller counts fail too (more kernels never hurt the fine-tuned
        fit much), which makes the search cost log2(start) + log2(gap) rounds instead of one per
        count. Returns the chosen round; the curve goes to :attr:`selection` (prune.json)."""
        o = self.options
        start = reference = self._result(0, "initial").val_auroc
        best_round, best, n_best = 0, model, model.n_kernels
        failed = 0  # largest kernel count known not to hold (0: none yet)
        curve = [{"round": 0, "kernels": n_best, "parent_round": None, "val_auroc": start,
                  "floor": start - self._tolerance(start), "holds": True}]
        r = 0
        while n_best > 1 and n_best - failed > 1:
            # halving until the first failure, then the midpoint of (failed, n_best)
            keep = n_best // 2 if failed == 0 else (n_best + failed) // 2
            r += 1
            tuned = self._round(r, best, keep, spec, init_model, parent=best_round)
            auc = self._result(r, "deepprune").val_auroc
            floor = reference - self._tolerance(reference)
            holds = auc >= floor
            curve.append({"round": r, "kernels": keep, "parent_round": best_round, "val_auroc": auc,
                          "floor": floor, "holds": holds})
            if holds:
                best_round, best, n_best = r, tuned, keep
                reference = max(reference, auc)
            else:
                failed = keep
        self.selection = {
            "mode": "auto",
            "tolerance": self._tolerance(reference),
            "tolerance_rule": ("fixed" if o.tolerance is not None else
                               f"max({DEFAULT_TOLERANCE:g}, Hanley-McNeil standard error of the reference val AUROC)"),
            "start_val_auroc": start,
            "reference_val_auroc": reference,
            "kernels": n_best,
            "round": best_round,
            "rule": "smallest kernel count whose fine-tuned model's val AUROC >= floor = the best val AUROC of the "
                    "models that held before it (the start model's at first) - tolerance",
            "curve": curve,
        }
        if o.distinct is not False:
            best_round = self._one_per_motif(r, best_round, best, spec, init_model)
        return best_round

    def _last_round_groups(self, parent: MotifCNN) -> tuple[np.ndarray, np.ndarray] | None:
        """Fixed count with ``distinct``: the last round's parent's kernels grouped by motif
        (:func:`criteria.motif_labels`: labels and the same-motif matrix), recorded in
        :attr:`distinct`; None when no kernel gives a motif (the round then prunes as without
        ``distinct``)."""
        # logos' own rule here, not auto's margin: at a fixed count the margin only reorders which
        # copies go (ENCODE, 256 -> 4: 9/10 runs identical, MYC lost a motif and 0.003 test AUROC)
        labels, same = motif_labels(parent, self.train, seed=self.options.train.seed)
        keep = max(1, parent.n_kernels // 2)
        n_motifs = len(set(labels[labels > 0].tolist()))
        self.distinct = {"parent_kernels": parent.n_kernels, "parent_motifs": n_motifs, "groups": labels.tolist(),
                         "kernels": keep, "motifs": min(keep, n_motifs),
                         "rule": "last round: copies of a motif (logos' grouping of its parent) and kernels without "
                                 "a motif go before any motif's last kernel"}
        return (labels, same) if n_motifs else None

    def _copies(self, model: MotifCNN) -> tuple[np.ndarray, np.ndarray]:
        """``model``'s kernels grouped by motif on the training positives, with auto's margin
        (:data:`COPY_THRESHOLD`, :data:`COPY_PARTS`): int64 ``(K,)`` labels (0: no motif) and
        bool ``(K, K)`` same-motif pairs (:func:`criteria.motif_labels`)."""
        return motif_labels(model, self.train, seed=self.options.train.seed, threshold=COPY_THRESHOLD,
                            parts=COPY_PARTS)

    def _tolerance(self, reference: float) -> float:
        """The AUROC a model may lose against ``reference`` and still hold (PruneOptions.tolerance)."""
        if self.options.tolerance is not None:
            return self.options.tolerance
        y = self.val.labels[:, 0].cpu().numpy() > 0.5
        se = auroc_standard_error(reference, int(y.sum()), int((~y).sum()))
        return max(DEFAULT_TOLERANCE, se) if math.isfinite(se) else DEFAULT_TOLERANCE

    def _one_per_motif(self, r: int, held_round: int, held: MotifCNN, spec: ArchSpec,
                       init_model: MotifCNN | None) -> int:
        """``distinct``: group the kernels of the smallest model that held (round ``held_round``)
        by motif on the training positives and, if two are the same motif or one has none, prune
        in round ``r + 1`` until the kept kernels are pairwise different motifs (copies go by
        training loss, cheapest first). Returns the final round; updates :attr:`selection`."""
        labels, same = self._copies(held)
        n_groups = len(set(labels[labels > 0].tolist()))
        sel = self.selection
        sel["held"] = {"kernels": held.n_kernels, "round": held_round, "motifs": n_groups,
                       "groups": labels.tolist()}
        sel["motifs"] = n_groups  # the answer when the held model's kernels already differ
        sel["rule"] += ("; then one kernel per distinct motif of that model (logos' grouping, copies judged pairwise at "
                        f"p < {COPY_THRESHOLD:g} on the training positives or p < 1e-4 on any of {COPY_PARTS} parts of them), "
                        "grouped again after each fine-tune and pruned once more while copies came back (at most "
                        f"{ONE_PER_MOTIF_ROUNDS} rounds); the last of these is final")
        if n_groups == 0 or not has_copies(same):
            return held_round  # every kernel already a different motif (or none gives one: nothing to merge)
        # The one-per-motif model is final even when it loses more than the tolerance: the copies it
        # drops are often variants of the motif that fire on other peaks (ENCODE ELK1 and MYC held
        # models: the max activations of same-motif kernel pairs correlate at a median 0.24 and
        # 0.34 over the peaks and their shuffles, of different motifs' about 0) and carry AUROC,
        # but a biologist asked which motifs the peaks hold; the held model stays in its round
        # directory, and a loss beyond compact_loss says "no compact motif model".
        # A free fine-tune can turn a kept kernel into one more copy of the strongest motif (GABPA:
        # p = 0.02 before, 1e-9 after), so the tuned model is grouped again and, while it holds
        # copies, pruned once more (at most ONE_PER_MOTIF_ROUNDS rounds). Freezing the kept kernels
        # instead cost 0.03-0.12 val AUROC on ENCODE (a half-motif kernel cannot grow into the
        # whole motif).
        floor = sel["reference_val_auroc"] - sel["tolerance"]
        parent_round, parent, motifs = held_round, held, (labels, same)
        for _ in range(ONE_PER_MOTIF_ROUNDS):
            r += 1
            model = self._round(r, parent, None, spec, init_model, parent=parent_round, motifs=motifs)
            auc = self._result(r, "deepprune").val_auroc
            labels, same = self._copies(model)
            copies_left = has_copies(same)
            sel["curve"].append({"round": r, "kernels": model.n_kernels, "parent_round": parent_round,
                                 "val_auroc": auc, "floor": floor, "holds": auc >= floor, "one_per_motif": True,
                                 "copies_left": copies_left})
            if not copies_left or not (labels > 0).any() or model.n_kernels == 1:
                break
            parent_round, parent, motifs = r, model, (labels, same)
        final = sel["curve"][-1]
        # the answer: the kernels of the last one-per-motif model, pairwise different motifs
        sel["motifs"] = sel["kernels"] = final["kernels"]
        sel["round"] = final["round"]
        return final["round"]

    def _finish(self, final_round: int) -> None:
        final = self.work / "final"
        if final.exists():  # a partial copy from an interrupted finish
            shutil.rmtree(final)
        shutil.copytree(self.work / stage_name(final_round, "deepprune" if final_round else "initial"), final)
        order = {v: i for i, v in enumerate(VARIANTS)}
        self.results.sort(key=lambda r: (r.round, order[r.variant]))
        with atomic_output(self.work / "summary.tsv") as fh:
            fh.write(format_summary(self.results))
        final_row = self._result(final_round, "deepprune" if final_round else "initial")
        self.compact = compact_verdict(self._result(0, "initial").val_auroc, final_row.val_auroc,
                                       final_row.kernels, self.options.compact_loss)
        # prune.json = the run record plus the compact verdict (and, auto, the chosen count and its curve)
        record = json.loads((self.work / RUN_FILE).read_text(encoding="utf-8"))
        record["compact"] = self.compact
        if self.selection is not None:
            record["selection"] = self.selection
        if self.distinct is not None:
            record["distinct"] = self.distinct
        with atomic_output(self.work / RUN_FILE) as fh:
            fh.write(dumps(record))
        (self.work / RUN_FILE).rename(self.work / "prune.json")
        (self.work / TIMINGS_FILE).unlink(missing_ok=True)  # summary.tsv has them now
        replace_directory(self.work, self.out_dir)


def compact_verdict(start_val_auroc: float, final_val_auroc: float, final_kernels: int,
                    max_loss: float = DEFAULT_COMPACT_LOSS, max_kernels: int = COMPACT_MAX_KERNELS) -> dict:
    """Is the pruned model a compact motif model, or does the signal need more than a few motifs?

    It is not when its val AUROC falls more than ``max_loss`` below the start model's (pruning to
    the count asked for gave up signal that a few kernels cannot carry: broad composition, many
    weak motifs) or when it has more than ``max_kernels`` kernels (``--kernels auto`` found no
    smaller model that held). Returns the ``prune.json`` record: ``{compact, loss, max_loss,
    kernels, max_kernels, start_val_auroc, final_val_auroc, reason}`` (``reason`` None when compact).
    """
    loss = start_val_auroc - final_val_auroc
    reasons = []
    if final_kernels > max_kernels:
        reasons.append(f"the final model needs {final_kernels} kernels (more than {max_kernels})")
    if loss > max_loss:
        reasons.append(f"pruning to {final_kernels} kernel{'s' if final_kernels != 1 else ''} lost {loss:.4f} "
                       f"val AUROC against the start model (more than {max_loss:g})")
    return {
        "compact": not reasons,
        "loss": loss,
        "max_loss": max_loss,
        "kernels": final_kernels,
        "max_kernels": max_kernels,
        "start_val_auroc": start_val_auroc,
        "final_val_auroc": final_val_auroc,
        "reason": "; ".join(reasons) or None,
    }


def baseline_comparison(results: list[StageResult], metric: str = "test_auroc") -> list[dict]:
    """Deepprune against its baselines per round that has both: ``{round, kernels, metric,
    deepprune, baseline, baseline_first, failed}`` (``baseline_first`` None with one baseline seed;
    ``failed``: the variants of that round that did not train). ``metric``: ``test_auroc`` or
    ``val_auroc`` (rounds without it are skipped)."""
    by = {(r.round, r.variant): r for r in results}
    out = []
    for (round_, variant), r in sorted(by.items()):
        base = by.get((round_, "baseline"))
        if variant != "deepprune" or base is None or getattr(r, metric) is None or getattr(base, metric) is None:
            continue
        first = by.get((round_, "baseline_first"))
        out.append({
            "round": round_, "kernels": r.kernels, "metric": metric, "deepprune": getattr(r, metric),
            "baseline": getattr(base, metric), "baseline_first": None if first is None else getattr(first, metric),
            "failed": [x.variant for x in (r, base, first) if x is not None and not x.trained_ok],
        })  # fmt: skip
    return out


def format_summary(results: list[StageResult]) -> str:
    """``summary.tsv`` text: header + one row per round and variant (test_auroc empty without a test set)."""
    lines = ["\t".join(SUMMARY_COLUMNS)]
    for r in results:
        lines.append(
            "\t".join(
                [
                    str(r.round),
                    str(r.kernels),
                    r.variant,
                    r.criterion,
                    str(r.epochs),
                    f"{r.val_auroc:.6f}",
                    "" if r.test_auroc is None else f"{r.test_auroc:.6f}",
                    "yes" if r.trained_ok else "no",
                    "" if r.seconds is None else f"{r.seconds:.2f}",
                ]
            )
        )
    return "\n".join(lines) + "\n"


def read_summary(path: str | os.PathLike) -> list[dict]:
    """Rows of a prune directory's ``summary.tsv`` as dicts (numbers parsed; empty -> None)."""
    p = Path(path)
    if p.is_dir():
        p = p / "summary.tsv"
    if not p.exists():
        raise InputError(f"{p}: no such prune summary")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not a text file (byte {exc.start} is not UTF-8)") from None
    header = lines[0].split("\t") if lines else []
    if tuple(header) not in (SUMMARY_COLUMNS, OLD_SUMMARY_COLUMNS):
        raise InputError(f"{p}: not a deepprune prune summary (unexpected header)")
    rows = []
    for ln, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        values = line.split("\t")
        if len(values) != len(header):
            raise InputError(f"{p}: line {ln}: expected {len(header)} tab-separated columns, found {len(values)}")
        cells = dict(zip(header, values))
        # The variant names a stage directory (round<R>_<variant>): only known names, so a
        # summary can never point outside its prune directory.
        if cells["variant"] not in VARIANTS:
            raise InputError(
                f"{p}: line {ln}: unknown variant {cells['variant']!r} (expected one of {', '.join(VARIANTS)})"
            )
        try:
            for key in ("round", "kernels", "epochs"):
                cells[key] = int(cells[key])
            for key in ("val_auroc", "test_auroc", "seconds"):
                cells[key] = float(cells[key]) if cells.get(key) else None
        except ValueError:
            raise InputError(f"{p}: line {ln}: {key} {cells[key]!r} is not a number") from None
        if cells.get("trained_ok", "yes") not in ("yes", "no"):
            raise InputError(f"{p}: line {ln}: trained_ok {cells['trained_ok']!r} is not yes or no")
        cells["trained_ok"] = cells.get("trained_ok", "yes") == "yes"
        if cells["round"] < 0:
            raise InputError(f"{p}: line {ln}: round {cells['round']} is negative")
        rows.append(cells)
    return rows

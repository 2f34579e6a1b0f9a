"""The training loop: devices, threads, seeds, fit with early stopping, prediction.

``fit(model, train, val, options)`` is the one loop every command uses (``train`` and the
fine-tuning stages of ``prune``): a fresh Adam optimiser per call, binary cross-entropy on
logits, optional L1/L2 on the dense layers, one validation pass per epoch, early stopping on
validation loss with the best weights restored.

Data never exists as float one-hot on the host: the uint8 token matrix (n, L) and float32 labels
(n, C) are moved to the device once; each batch is an index gather on the device and the model
turns tokens into first-layer activations itself.

Reproducibility: on CPU the same ``seed`` gives bit-identical weights (seeded initialisation,
a seeded generator for batch order, dropout drawn from a forked, seeded global RNG, and
deterministic kernels). GPU runs are seeded too; ``TrainOptions(deterministic=True)`` also asks
for deterministic CUDA kernels (slower), otherwise they are not guaranteed bit-identical.

Several seeds: :func:`fit_many` trains one model per seed. On a GPU they are trained as one
grouped model (parameters stacked, ``torch.func.vmap`` over the seed axis, each seed with its
own batch order and early stopping), so they share the device instead of queueing; on CPU
they run one after another (the per-seed model already keeps the cores busy).
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from deepprune_cli.core.errors import DeeppruneError, InputError
from deepprune_cli.core.graphed_step import StepRunner
from deepprune_cli.core.kernels import default_threads, set_thread_count
from deepprune_cli.core.metrics import nanmean, per_class
from deepprune_cli.core.layout import to_device
from deepprune_cli.core.models import MotifCNN


@dataclass
class TrainOptions:
    """Hyper-parameters of one :func:`fit` call."""

    lr: float = 3e-3
    batch_size: int = 256
    max_epochs: int = 100
    patience: int = 15
    l1: float = 0.0  # on dense-layer weights
    l2: float = 0.0  # on dense-layer weights
    seed: int = 0
    eval_batch_size: int = 2048
    min_delta: float = 0.0  # improvement of validation loss that resets patience
    # Fine-tuning (prune): count the starting weights as epoch 0, so early stopping can only
    # return a model at least as good on validation loss as the one it started from.
    keep_start: bool = False
    deterministic: bool = False  # CUDA only: deterministic kernels (slower); CPU always is
    cuda_graphs: bool = True  # CUDA only: replay each training step as a CUDA graph (graphed_step)

    def validate(self) -> None:
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise InputError(f"--lr must be a positive number, got {self.lr}")
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.max_epochs < 1:
            raise InputError(f"--epochs must be at least 1, got {self.max_epochs}")
        if self.patience < 1:
            raise InputError(f"--patience must be at least 1, got {self.patience}")
        if self.l1 < 0 or self.l2 < 0:
            raise InputError("--l1 and --l2 must not be negative")

    @classmethod
    def given(cls, **options) -> "TrainOptions":
        """Options from keyword arguments where ``None`` means "the default" (as CLI options pass them)."""
        return cls(**{k: v for k, v in options.items() if v is not None})

    def to_dict(self) -> dict:
        return asdict(self)


class TrainingDiverged(DeeppruneError):
    """The loss became NaN or infinite (runtime failure, exit 1)."""


# --------------------------------------------------------------------------------------------
# devices, threads


#: Environment variable naming the device ``auto`` means (``cpu``, ``cuda``, ``cuda:N``): a workflow
#: keeps a shared GPU free, or pins a rule to one card, without editing every command line.
DEVICE_ENV = "DEEPPRUNE_DEVICE"


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` -> a torch device.

    ``auto`` is ``$DEEPPRUNE_DEVICE`` when that is set, else CUDA if present, else CPU.
    Raises InputError when CUDA is asked for but absent, or the name is not a device.
    """
    if isinstance(name, torch.device):
        return name
    name = (name or "auto").strip().lower()
    if name == "auto":
        preset = os.environ.get(DEVICE_ENV, "").strip().lower()
        if preset and preset != "auto":
            try:
                return resolve_device(preset)
            except InputError as err:
                raise InputError(f"{DEVICE_ENV}={preset} (what --device auto means here): " + str(err).split(": ", 1)[-1]) from None
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise InputError(f"--device {name}: not a valid device name") from None
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) present")
        return dev
    raise InputError(f"--device {name}: unknown device (use auto, cpu, cuda or cuda:N)")


def set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads (None: every core this process may run on,
    :func:`kernels.default_threads`, rather than torch's own default).

    The compiled kernels (C or numba: the fused first layer, shuffles, memelite's Tomtom) take
    the same count from :func:`kernels.thread_count` when they run, so numba is not imported
    here: a torch command on the C kernels never loads it."""
    if threads is None:
        threads = default_threads()
    if threads < 1:
        raise InputError(f"--threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)
    set_thread_count(threads)


# --------------------------------------------------------------------------------------------
# prediction and evaluation


def _logits(model: MotifCNN, tokens: torch.Tensor, batch_size: int) -> torch.Tensor:
    outs = [model(tokens[i : i + batch_size]) for i in range(0, tokens.shape[0], batch_size)]
    return torch.cat(outs) if outs else torch.zeros(0, model.spec.n_outputs, device=tokens.device)


def _eval_batches(model: MotifCNN, data, device, batch_size: int, fn) -> list[torch.Tensor]:
    """``fn(tokens_batch)`` over ``data`` (SequenceSet, uint8 matrix or DeviceData) in eval mode,
    without gradients; the model's train/eval mode is restored afterwards."""
    device = device or next(model.parameters()).device
    if isinstance(data, (np.ndarray, torch.Tensor)):
        data = (data, None)
    dd = to_device(data, device, model.spec)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return [fn(dd.tokens[i : i + batch_size]) for i in range(0, len(dd), batch_size)]
    finally:
        model.train(was_training)


def predict(model: MotifCNN, data, device=None, batch_size: int = 2048) -> np.ndarray:
    """Probabilities float32 (n, C) for a SequenceSet, a uint8 (n, L) matrix or DeviceData."""
    parts = _eval_batches(model, data, device, batch_size, lambda t: torch.sigmoid(model(t)))
    return torch.cat(parts).float().cpu().numpy() if parts else np.zeros((0, model.spec.n_outputs), np.float32)


def kernel_activations(model: MotifCNN, data, device=None, batch_size: int = 2048) -> np.ndarray:
    """Per-kernel global-max first-layer activations float32 (n, K) over a whole data set
    (SequenceSet, uint8 matrix or DeviceData); see :meth:`MotifCNN.kernel_activations`."""
    parts = _eval_batches(model, data, device, batch_size, model.kernel_activations)
    return torch.cat(parts).float().cpu().numpy() if parts else np.zeros((0, model.n_kernels), np.float32)


def evaluate(model: MotifCNN, data, device=None, batch_size: int = 2048, prefix: str = "") -> dict:
    """``{prefix}loss``, ``{prefix}auroc``, ``{prefix}auprc`` (class means) on labelled data."""
    device = device or next(model.parameters()).device
    dd = to_device(data, device, model.spec)
    if dd.labels is None:
        raise InputError("evaluation needs labelled sequences")
    if dd.labels.shape[1] != model.spec.n_outputs:
        raise InputError(
            f"labels have {dd.labels.shape[1]} class(es) but the model predicts {model.spec.n_outputs}"
        )
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            logits = _logits(model, dd.tokens, batch_size)
            loss = float(F.binary_cross_entropy_with_logits(logits, dd.labels))
    finally:
        model.train(was_training)
    y = dd.labels.cpu().numpy()
    p = torch.sigmoid(logits).float().cpu().numpy()
    roc, prc = per_class("auroc", y, p), per_class("auprc", y, p)
    out = {f"{prefix}loss": loss, f"{prefix}auroc": nanmean(roc), f"{prefix}auprc": nanmean(prc)}
    if len(roc) > 1:
        out[f"{prefix}auroc_per_class"] = [None if math.isnan(v) else float(v) for v in roc]
    return out


# --------------------------------------------------------------------------------------------
# fit


EpochCallback = Callable[[dict], None]


class Adam:
    """Adam with PyTorch's defaults and exactly its multi-tensor update rule, without torch.optim.

    ``torch.optim`` imports ``torch._dynamo`` on first use, about a second per process - more
    than a short training run spends in its optimiser - so the update is written here with the
    same ``torch._foreach_*`` calls in the same order (bit-identical to
    ``torch.optim.Adam(foreach=True)``; tested). Element-wise, so stacking models along a new
    axis (several seeds) gives each its own Adam.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        capturable: bool = False,
    ):
        self.params = [p for p in params if p.requires_grad]
        self.lr, (self.beta1, self.beta2), self.eps = float(lr), betas, float(eps)
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.steps = 0
        # capturable: the step count lives on the parameters' device and the bias corrections are
        # computed there, so the whole update can be recorded in a CUDA graph and replayed.
        self.capturable = capturable
        self.step_count = torch.zeros((), device=self.params[0].device) if capturable and self.params else None

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        idx = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not idx:
            return
        params = [self.params[i] for i in idx]
        grads = [self.params[i].grad for i in idx]
        m = [self.exp_avg[i] for i in idx]
        v = [self.exp_avg_sq[i] for i in idx]
        torch._foreach_lerp_(m, grads, 1 - self.beta1)
        torch._foreach_mul_(v, self.beta2)
        torch._foreach_addcmul_(v, grads, grads, 1 - self.beta2)
        if self.capturable:  # float32 bias corrections on the device: not bit-identical to the host's
            self.step_count.add_(1)
            bias1 = 1 - torch.pow(self.beta1, self.step_count)
            bias2_sqrt = torch.sqrt(1 - torch.pow(self.beta2, self.step_count))
        else:
            self.steps += 1
            bias1 = 1 - self.beta1**self.steps
            bias2_sqrt = (1 - self.beta2**self.steps) ** 0.5
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, bias2_sqrt)
        torch._foreach_add_(denom, self.eps)
        if self.capturable:  # addcdiv takes only a host number as its factor
            update = torch._foreach_div(m, denom)
            torch._foreach_mul_(update, -self.lr / bias1)
            torch._foreach_add_(params, update)
        else:
            torch._foreach_addcdiv_(params, m, denom, -self.lr / bias1)


def _penalty(weights: Sequence[torch.Tensor], l1: float, l2: float):
    pen = 0.0
    for w in weights:
        if l1:
            pen = pen + l1 * w.abs().sum()
        if l2:
            pen = pen + l2 * w.pow(2).sum()
    return pen


class _Deterministic:
    """Context: deterministic CUDA kernels (``torch.use_deterministic_algorithms``, cuDNN without
    autotuning), restoring the previous settings afterwards.

    Not needed on CPU: the fused first layer is deterministic by construction and the CPU
    kernels used here (conv, linear, BCE, index_select) are too; the same seed gives byte-identical
    weights (tested). Skipping it there also skips the ~1 s import of torch._inductor it triggers.
    """

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        if self.enabled:
            self.prev = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
            self.prev_cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False

    def __exit__(self, *exc):
        if self.enabled:
            torch.use_deterministic_algorithms(self.prev[0], warn_only=self.prev[1])
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = self.prev_cudnn


class EarlyStopping:
    """One model's bookkeeping during a fit: its history, best validation loss and epoch, and the
    epochs since it last improved (shared by :func:`fit` and the grouped fit of :func:`fit_many`).

    An epoch improves when its validation loss beats the best by more than ``min_delta``; the fit
    stops after ``patience`` epochs without improvement.
    """

    def __init__(self, options: TrainOptions, best_loss: float = math.inf):
        self.patience, self.min_delta = options.patience, options.min_delta
        self.history: list[dict] = []
        self.best_loss, self.best_epoch, self.bad = best_loss, 0, 0

    @property
    def stopped(self) -> bool:
        return self.bad >= self.patience

    def record(self, row: dict) -> bool:
        """Add an epoch's history row; True when it is the new best (its weights should be kept)."""
        self.history.append(row)
        if row["val_loss"] < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.bad = row["val_loss"], row["epoch"], 0
            return True
        self.bad += 1
        return False

    def report(self, row: dict, started: float, improved: bool) -> dict:
        """What an epoch callback sees: the row plus ``seconds``, ``best`` and ``best_epoch``."""
        return dict(row, seconds=time.perf_counter() - started, best=improved, best_epoch=self.best_epoch)


def fit(
    model: MotifCNN,
    train,
    val,
    options: TrainOptions | None = None,
    device: str | torch.device | None = None,
    callback: EpochCallback | None = None,
) -> tuple[MotifCNN, list[dict]]:
    """Train ``model`` in place with early stopping; return it (best weights restored) and history.

    Args:
        model: any :class:`MotifCNN` (fresh, loaded, or a pruned smaller copy).
        train, val: labelled SequenceSet, ``(tokens (n, L) uint8, labels (n, C))`` or DeviceData.
        options: :class:`TrainOptions` (lr, batch size, max epochs, patience, L1/L2, seed).
        device: torch device or name; default the model's device.
        callback: called after every epoch with the history row plus ``seconds`` and ``best``.

    Returns:
        ``(model, history)``; history rows have epoch, train_loss, val_loss, val_auroc, val_auprc.
    """
    options = options or TrainOptions()
    options.validate()
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    tr = to_device(train, device, model.spec)
    va = to_device(val, device, model.spec)
    for name, dd in (("training", tr), ("validation", va)):
        if dd.labels is None or len(dd) == 0:
            raise InputError(f"{name} data must be labelled and non-empty")
        if dd.labels.shape[1] != model.spec.n_outputs:
            raise InputError(
                f"{name} labels have {dd.labels.shape[1]} class(es); the model has {model.spec.n_outputs} output(s)"
            )
    n = len(tr)
    gen = torch.Generator().manual_seed(int(options.seed))
    graphs = device.type == "cuda" and options.cuda_graphs
    opt = Adam(model.parameters(), lr=options.lr, capturable=graphs)  # fresh optimiser every call
    dense = model.dense_weights()
    best_state = copy.deepcopy(model.state_dict())
    start_loss = math.inf
    if options.keep_start:
        start_loss = evaluate(model, va, device, options.eval_batch_size, prefix="val_")["val_loss"]
    stop = EarlyStopping(options, best_loss=start_loss)
    total = torch.zeros((), device=device)  # the epoch's summed training loss

    def step(idx: torch.Tensor) -> None:  # idx (b,): one batch, all in place (graphed_step)
        xb, yb = tr.tokens.index_select(0, idx), tr.labels.index_select(0, idx)
        loss = F.binary_cross_entropy_with_logits(model(xb), yb)
        obj = loss + _penalty(dense, options.l1, options.l2) if (options.l1 or options.l2) else loss
        opt.zero_grad(set_to_none=True)
        obj.backward()
        opt.step()
        total.add_(loss.detach() * idx.shape[0])

    runner = StepRunner(step, options.batch_size, device, enabled=graphs)
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices), _Deterministic(device.type == "cuda" and options.deterministic):
        torch.manual_seed(int(options.seed) + 1)  # dropout masks
        for epoch in range(1, options.max_epochs + 1):
            t0 = time.perf_counter()
            model.train()
            perm = torch.randperm(n, generator=gen).to(device)
            total.zero_()
            for i in range(0, n, options.batch_size):
                runner(perm[i : i + options.batch_size])
            train_loss = float(total) / n
            if not math.isfinite(train_loss):
                raise TrainingDiverged(f"training diverged at epoch {epoch} (loss is {train_loss}); try a lower --lr")
            ev = evaluate(model, va, device, options.eval_batch_size, prefix="val_")
            row = {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": ev["val_loss"],
                "val_auroc": ev["val_auroc"],
                "val_auprc": ev["val_auprc"],
            }
            improved = stop.record(row)
            if improved:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if callback is not None:
                callback(stop.report(row, t0, improved))
            if stop.stopped:
                break
    opt.zero_grad()  # the last gradients may live in the graph's memory pool: let it go
    model.load_state_dict(best_state)
    model.eval()
    return model, stop.history


#: A fit "failed" (learned nothing usable) when, on validation data, its scores are constant or its
#: AUROC is no better than chance for every class: at most 0.5 + max(DEAD_AUROC_MARGIN, 2 standard
#: errors of a chance AUROC) (Hanley & McNeil: sqrt((n1 + n0 + 1) / (12 n1 n0))). 0.52 is far below
#: any model that learned on the presets and ENCODE (the hardest reach about 0.7) and above the noise
#: of a chance AUROC on a few thousand validation sequences; smaller validation sets widen it.
DEAD_AUROC_MARGIN = 0.02
#: Validation logits spanning less than this count as a constant output (a dead ReLU model is
#: exactly its bias).
DEAD_LOGIT_SPREAD = 1e-4


def training_failure(model: MotifCNN, data, device=None, batch_size: int = 2048) -> str | None:
    """Why ``model`` counts as a failed fit on labelled ``data`` (validation), or None if it learned.

    ``data``: SequenceSet or DeviceData with labels (n, C). Failed: a constant output (logit spread
    below :data:`DEAD_LOGIT_SPREAD` in every class) or an AUROC no better than chance in every class
    (see :data:`DEAD_AUROC_MARGIN`; below 0.5 counts too: the model ranks backwards).
    """
    device = device or next(model.parameters()).device
    dd = to_device(data, device, model.spec)
    logits = torch.cat(_eval_batches(model, dd, device, batch_size, model)).float().cpu().numpy()
    y = dd.labels.cpu().numpy()
    spread = logits.max(axis=0) - logits.min(axis=0) if len(logits) else np.zeros(y.shape[1])
    if (spread < DEAD_LOGIT_SPREAD).all():
        return f"constant output (validation logits span {float(spread.max()):.2g})"
    auc = per_class("auroc", y, logits)
    n1 = y.sum(axis=0)
    n0 = len(y) - n1
    with np.errstate(divide="ignore", invalid="ignore"):
        margin = np.maximum(DEAD_AUROC_MARGIN, 2 * np.sqrt((n1 + n0 + 1) / (12 * n1 * n0)))
    defined = ~np.isnan(auc)
    if defined.any() and (auc[defined] <= 0.5 + margin[defined]).all():
        return f"validation AUROC {nanmean(auc):.3f} is no better than chance (0.5 + {float(margin[defined].max()):.3f})"
    return None


def best_row(history: list[dict]) -> dict:
    """The history row with the lowest validation loss (the restored weights)."""
    return min(history, key=lambda r: (r["val_loss"], r["epoch"])) if history else {}


# --------------------------------------------------------------------------------------------
# several seeds


def fit_many(
    models: Sequence[MotifCNN],
    train,
    val,
    options: TrainOptions,
    seeds: Sequence[int],
    device: str | torch.device | None = None,
    callback: Callable[[int, dict], None] | None = None,
    grouped: bool | None = None,
) -> list[tuple[MotifCNN, list[dict]]]:
    """Train one model per seed (``models[i]`` with ``seeds[i]``'s batch order).

    ``grouped=None`` groups them on CUDA (one vmapped model) and runs them one after another
    elsewhere; ``callback(i, row)`` reports each seed's epochs.
    """
    device = resolve_device(device) if device is not None else next(models[0].parameters()).device
    if grouped is None:
        grouped = device.type == "cuda" and len(models) > 1
    if not grouped:
        out = []
        for i, (m, s) in enumerate(zip(models, seeds)):
            cb = (lambda row, i=i: callback(i, row)) if callback else None
            out.append(fit(m, train, val, replace(options, seed=int(s)), device, cb))
        return out
    return _fit_grouped(list(models), train, val, options, list(seeds), device, callback)


def _fit_grouped(models, train, val, options, seeds, device, callback):
    """Seeds stacked along a leading axis and trained together with ``torch.func.vmap``.

    Adam is element-wise, so one optimiser over stacked parameters equals one per seed; the loss
    is the sum of per-seed mean losses, so seeds do not share gradients. Each seed draws its own
    batch order; a seed stops improving independently and its best weights are kept.
    """
    from torch.func import functional_call, stack_module_state, vmap

    options.validate()
    S = len(models)
    spec = models[0].spec
    impls = [m.conv_impl for m in models]
    for m in models:
        m.to(device)
        m.conv_impl = "onehot" if m.conv_impl in ("auto", "fused") else m.conv_impl  # vmappable path
    tr = to_device(train, device, spec)
    va = to_device(val, device, spec)
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")

    def call(p, b, x):
        return functional_call(base, (p, b), (x,))

    graphs = device.type == "cuda" and options.cuda_graphs
    opt = Adam(params.values(), lr=options.lr, capturable=graphs)
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    n = len(tr)
    dense_names = [f"dense.{i}.0.weight" for i in range(len(base.dense))] + ["out.weight"]
    stops = [EarlyStopping(options) for _ in range(S)]
    best = {k: v.detach().clone() for k, v in {**params, **buffers}.items()}
    fwd_train = vmap(call, randomness="different")
    fwd_eval = vmap(call, in_dims=(0, 0, None), randomness="different")
    total = torch.zeros(S, device=device)  # each seed's summed training loss this epoch

    def step(idx: torch.Tensor) -> None:  # idx (S, b): each seed's batch, all in place (graphed_step)
        xb, yb = tr.tokens[idx], tr.labels[idx]  # (S, b, L), (S, b, C)
        logits = fwd_train(params, buffers, xb)
        per_seed = F.binary_cross_entropy_with_logits(logits, yb, reduction="none").mean(dim=(1, 2))
        obj = per_seed.sum()
        if options.l1 or options.l2:
            obj = obj + _penalty([params[k] for k in dense_names], options.l1, options.l2)
        opt.zero_grad(set_to_none=True)
        obj.backward()
        opt.step()
        total.add_(per_seed.detach() * idx.shape[1])

    runner = StepRunner(step, options.batch_size, device, enabled=graphs)
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(int(seeds[0]) + 1)
        for epoch in range(1, options.max_epochs + 1):
            t0 = time.perf_counter()
            base.train()
            perms = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)  # (S, n)
            total.zero_()
            for i in range(0, n, options.batch_size):
                runner(perms[:, i : i + options.batch_size])
            base.eval()
            with torch.no_grad():
                logits = torch.cat(
                    [fwd_eval(params, buffers, va.tokens[j : j + options.eval_batch_size])
                     for j in range(0, len(va), options.eval_batch_size)],
                    dim=1,
                )  # (S, n_val, C)
                val_loss = F.binary_cross_entropy_with_logits(
                    logits, va.labels.expand(S, -1, -1), reduction="none"
                ).mean(dim=(1, 2))
            probs = torch.sigmoid(logits).float().cpu().numpy()
            y = va.labels.cpu().numpy()
            train_loss = (total / n).cpu().tolist()
            for s in range(S):
                if stops[s].stopped:
                    continue
                if not math.isfinite(train_loss[s]):
                    raise TrainingDiverged(f"seed {seeds[s]}: training diverged at epoch {epoch}; try a lower --lr")
                row = {
                    "epoch": epoch,
                    "train_loss": train_loss[s],
                    "val_loss": float(val_loss[s]),
                    "val_auroc": nanmean(per_class("auroc", y, probs[s])),
                    "val_auprc": nanmean(per_class("auprc", y, probs[s])),
                }
                improved = stops[s].record(row)
                if improved:
                    for k, v in {**params, **buffers}.items():
                        best[k][s] = v.detach()[s]
                if callback is not None:
                    callback(s, stops[s].report(row, t0, improved))
            if all(st.stopped for st in stops):
                break
    opt.zero_grad()  # the last gradients may live in the graph's memory pool: let it go
    out = []
    for s, m in enumerate(models):
        m.load_state_dict({k: v[s].clone() for k, v in best.items()})
        m.conv_impl = impls[s]
        m.eval()
        out.append((m, stops[s].history))
    return out

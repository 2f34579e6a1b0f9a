"""Which kernels a Deepprune round keeps: the pruning criteria.

Statistics come from the training split only. Each round keeps exactly half of the kernels.

* ``weight``: |w_j|, the magnitude of kernel j's weights in the layer reading it (for
  ``deepbind``, its single dense weight; with a hidden layer, the L2 norm of its column);
* ``score``: |mean over positives of u_j - mean over negatives of u_j|, u_j = kernel j's
  global-max activation;
* ``score-weight``: the product of the two, i.e. about how much kernel j moves the logit between
  positives and negatives;
* ``loss`` (default): greedy backward elimination by training loss. Kernels are removed one at a
  time (a few at a time while many remain), each time the one whose removal raises the training
  loss of the pruned, not yet fine-tuned model the least. A removed kernel's feature is replaced by
  its training mean (folded into the next layer's bias by :func:`fold_removed_means`), so a kernel
  counts by what it *distinguishes*, not by a constant offset the bias can absorb.

The three per-kernel criteria of Luo et al. (2019) rank every kernel on its own, so two kernels
that learned the same motif both rank high and a motif only one kernel learned can fall out: on
``deepprune-sim4`` (two E-boxes, BACH1, PAX5) ``score-weight`` kept four E-box kernels at 8 -> 4 and
lost PAX5 and BACH1. Elimination by loss sees that a duplicate can go at no cost once its twin
stays (``benchmarks/bench_prune_sim.py`` compares the criteria).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepprune_cli.core.errors import InputError
from deepprune_cli.core.models import MotifCNN
from deepprune_cli.core.training import DeviceData

CRITERIA = ("loss", "score-weight", "weight", "score")
DEFAULT_CRITERION = "loss"
#: Candidate evaluations are batched so that one batch holds at most this many numbers.
_EVAL_BUDGET = 1 << 24


def _kernel_weight_magnitude(model: MotifCNN) -> np.ndarray:
    """|w_j| per physical kernel (K,): L2 norm of everything the next layer reads from kernel j."""
    consumer, per_kernel = model.first_consumer()
    w = consumer.weight.detach()
    K = model.n_kernels
    if per_kernel == 0:  # next layer is a conv: weights (out, K, width)
        mag = w.pow(2).sum(dim=(0, 2)).sqrt()
    else:  # dense layer over (K * per_kernel) features, channel-major
        mag = w.reshape(w.shape[0], K, per_kernel).pow(2).sum(dim=(0, 2)).sqrt()
    return (mag * model.kernel_mask.detach()).cpu().double().numpy()


def _positive_mask(data: DeviceData) -> torch.Tensor:
    pos = data.labels.bool().any(dim=1)
    n_pos = int(pos.sum())
    if n_pos == 0 or n_pos == len(data):
        raise InputError("pruning needs positives and negatives in the training split")
    return pos


def _activations(model: MotifCNN, data: DeviceData, batch_size: int) -> torch.Tensor:
    """u: float64 (N, K) global-max activations of every kernel on ``data``, masked kernels zero."""
    model.eval()
    with torch.inference_mode():
        parts = [model.kernel_activations(data.tokens[i : i + batch_size]).double()
                 for i in range(0, len(data), batch_size)]
    u = torch.cat(parts) if parts else torch.zeros(0, model.n_kernels, dtype=torch.float64, device=data.tokens.device)
    return u * model.kernel_mask.detach().double()


def _kernel_score_difference(model: MotifCNN, data: DeviceData, batch_size: int) -> np.ndarray:
    """|mean u_j over positives - mean u_j over negatives| per kernel (K,) on ``data``."""
    pos = _positive_mask(data)
    u = _activations(model, data, batch_size)
    return (u[pos].mean(dim=0) - u[~pos].mean(dim=0)).abs().cpu().numpy()


def kernel_statistic(model: MotifCNN, data: DeviceData, criterion: str, batch_size: int = 2048) -> np.ndarray:
    """A per-kernel criterion for every physical kernel: float64 (K,). Larger = more important.

    ``loss`` is not a per-kernel ranking; use :func:`select_half` for it.
    """
    if criterion == "weight":
        return _kernel_weight_magnitude(model)
    if criterion == "score":
        return _kernel_score_difference(model, data, batch_size)
    if criterion == "score-weight":
        return _kernel_weight_magnitude(model) * _kernel_score_difference(model, data, batch_size)
    raise InputError(f"unknown criterion '{criterion}' (choose from {', '.join(CRITERIA)})")


def keep_half(statistic: np.ndarray) -> np.ndarray:
    """Indices of the ``K // 2`` kernels with the largest statistic, ascending.

    Ties are broken deterministically: the lower kernel index wins.
    """
    K = len(statistic)
    order = np.lexsort((np.arange(K), -np.asarray(statistic, dtype=np.float64)))
    return np.sort(order[: max(1, K // 2)])


# --------------------------------------------------------------------------------------------
# greedy elimination by training loss


class _Head:
    """The layers after the pooled first layer, split at the first linear map.

    ``first``: the linear layer reading the K kernel features (the output layer for ``deepbind``);
    ``rest(pre)``: everything after it, (n, H) pre-activations -> (n, C) logits. Float64 copies in
    eval mode, so the model itself is untouched.
    """

    def __init__(self, model: MotifCNN, device: torch.device):
        if not model.spec.kernel_strands:
            raise InputError(f"the loss criterion needs a first layer with global max pooling ({model.spec.name})")
        layers = copy.deepcopy(nn.ModuleList([model.dense, model.out])).to(device).double().eval()
        dense, out = layers[0], layers[1]
        if len(dense):
            self.first = dense[0][0]
            tail = nn.Sequential(*list(dense[0])[1:], *list(dense)[1:], out)
        else:
            self.first, tail = out, nn.Identity()
        self.tail = tail
        self.weight = self.first.weight.detach()  # (H, K)
        self.bias = self.first.bias.detach()  # (H,)

    def rest(self, pre: torch.Tensor) -> torch.Tensor:
        return self.tail(pre)


def _candidate_losses(head: _Head, pre: torch.Tensor, deviation: torch.Tensor, candidates: torch.Tensor,
                      labels: torch.Tensor) -> torch.Tensor:
    """Training loss (A,) after replacing each candidate kernel's feature by its mean.

    pre: (N, H) first-layer pre-activations of the current model; deviation: (N, K) u - mean(u);
    candidates: (A,) kernel indices; labels: (N, C).
    """
    N, H = pre.shape
    chunk = max(1, _EVAL_BUDGET // max(1, N * H))
    out = []
    for i in range(0, len(candidates), chunk):
        c = candidates[i : i + chunk]
        # Removing kernel j shifts every pre-activation by -(u_j - mean u_j) * W[:, j].
        shifted = pre[None] - deviation[:, c].T[:, :, None] * head.weight[:, c].T[:, None, :]  # (c, N, H)
        logits = head.rest(shifted.reshape(-1, H)).reshape(len(c), N, -1)
        loss = F.binary_cross_entropy_with_logits(logits, labels.expand(len(c), -1, -1), reduction="none")
        out.append(loss.mean(dim=(1, 2)))
    return torch.cat(out)


def greedy_loss_selection(model: MotifCNN, data: DeviceData, keep: int,
                          batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Keep ``keep`` kernels by greedy backward elimination on the training loss.

    While more than ``keep`` kernels remain, remove the ``r`` whose removal (feature replaced by its
    training mean) raises the loss least, ``r = max(1, remaining // 32)`` but never past ``keep``:
    one at a time once 64 or fewer remain, so a kernel's twin is always gone or kept before the
    kernel is judged. Already masked kernels go first.

    Returns:
        keep: int64 (keep,) physical kernel indices, ascending.
        statistic: float64 (K,): for a removed kernel, the loss increase its removal caused; for a
            kept one, the increase its removal from the kept set would cause. Masked kernels: 0.
    """
    device = data.tokens.device
    _positive_mask(data)
    head = _Head(model, device)
    u = _activations(model, data, batch_size)  # (N, K)
    labels = data.labels.double()
    mean = u.mean(dim=0)
    deviation = u - mean
    K = model.n_kernels
    alive = [j for j in range(K) if float(model.kernel_mask[j]) > 0]
    statistic = np.zeros(K)
    current = u.clone()  # masked kernels are already zero in u
    if len(alive) < keep:  # fewer active kernels than asked for: fill up with the lowest masked ones
        alive = sorted(alive + [j for j in range(K) if j not in set(alive)][: keep - len(alive)])

    def losses_now(cands: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        pre = current @ head.weight.T + head.bias
        base = F.binary_cross_entropy_with_logits(head.rest(pre), labels)
        return _candidate_losses(head, pre, deviation, torch.tensor(cands, device=device), labels), base

    with torch.inference_mode():
        while len(alive) > keep:
            losses, base = losses_now(alive)
            r = max(1, min(len(alive) - keep, len(alive) // 32))
            cost = (losses - base).cpu().numpy()
            # Cheapest first; among equal costs the higher index goes first (the lower one stays).
            order = np.lexsort((-np.asarray(alive), cost))[:r]
            gone = [alive[i] for i in order]
            statistic[gone] = cost[order]
            current[:, gone] = mean[gone]
            alive = [j for j in alive if j not in set(gone)]
        if alive:
            losses, base = losses_now(alive)
            statistic[alive] = (losses - base).cpu().numpy()
    return np.asarray(sorted(alive), dtype=np.int64), statistic


def select_half(model: MotifCNN, data: DeviceData, criterion: str,
                batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """One round's choice: (kept physical indices ascending (K // 2,), statistic float64 (K,))."""
    if criterion == "loss":
        return greedy_loss_selection(model, data, max(1, model.n_kernels // 2), batch_size)
    stat = kernel_statistic(model, data, criterion, batch_size)
    return keep_half(stat), stat


def removed_means(model: MotifCNN, data: DeviceData, keep: np.ndarray, batch_size: int = 2048) -> torch.Tensor:
    """Mean training activation of every kernel *not* in ``keep``: float64 (K,), zero for kept ones."""
    u = _activations(model, data, batch_size)
    means = u.mean(dim=0)
    means[torch.as_tensor(np.asarray(keep, dtype=np.int64), device=means.device)] = 0.0
    return means


def fold_removed_means(parent: MotifCNN, pruned: MotifCNN, means: torch.Tensor) -> None:
    """Add the removed kernels' mean contribution to the bias of the layer reading the kernels.

    ``pruned`` = ``select_kernels(parent, keep)``; ``means`` from :func:`removed_means` on
    ``parent``. The pruned model then predicts as if each removed feature were held at its
    training mean instead of zero (exactly so for ``deepbind``'s linear read-out), which is the
    model the ``loss`` criterion judged.
    """
    consumer, per_kernel = parent.first_consumer()
    target, _ = pruned.first_consumer()
    if per_kernel != 1:
        raise ValueError("folding needs a globally pooled first layer")
    shift = consumer.weight.detach().double() @ means.to(consumer.weight.device)  # (H,)
    with torch.no_grad():
        target.bias.add_(shift.to(target.bias.dtype))

"""Which kernels a Deepprune round keeps: the pruning criteria.

Statistics come from the training split only. Each round keeps exactly half of the kernels
(``prune --kernels auto`` also asks for counts in between, :func:`select_count`).

* ``weight``: |w_j|, the magnitude of kernel j's weights in the layer reading it (for
  ``deepbind``, its single dense weight; with a hidden layer, the L2 norm of its column);
* ``score``: |mean over positives of u_j - mean over negatives of u_j|, u_j = kernel j's
  global-max activation;
* ``score-weight``: the product of the two, i.e. about how much kernel j moves the logit between
  positives and negatives;
* ``loss`` (default): greedy backward elimination by training loss. Kernels are removed one at a
  time (a sixteenth of them at a time while more than 64 remain), each time the one whose removal
  raises the training loss of the pruned, not yet fine-tuned model the least. A removed kernel's
  feature is replaced by its training mean (folded into the next layer's bias by
  :func:`fold_removed_means`), so a kernel counts by what it *distinguishes*, not by a constant
  offset the bias can absorb.

The three per-kernel criteria of Luo et al. (2019) rank every kernel on its own, so two kernels
that learned the same motif both rank high and a motif only one kernel learned can fall out: on
``deepprune-sim4`` (two E-boxes, BACH1, PAX5) ``score-weight`` kept four E-box kernels at 8 -> 4 and
lost PAX5 and BACH1. Elimination by loss sees that a duplicate can go at no cost once its twin
stays (``benchmarks/bench_prune_sim.py`` compares the criteria).

* ``loss-refit``: ``loss``, but while at most :data:`REFIT_MAX_KERNELS` kernels are alive each
  candidate removal is judged after refitting the read-out (logistic regression of the label on
  the remaining kernels' features, a few Newton steps from the current weights). Without a refit,
  two copies of one motif that share its weight each look costly to remove (half the motif's
  signal goes with either), like a second motif that only one kernel learned; with it, the twin
  takes the whole weight and a copy costs about nothing, so copies go before distinct motifs.
  Applies to models whose kernel features feed a single output directly (``deepbind``, Zeng's
  ``1layer``); for others it is ``loss``. The pruned model gets the refit read-out.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepprune_cli.core.choices import CRITERIA, DEFAULT_CRITERION  # noqa: F401  (criteria's API)
from deepprune_cli.core.errors import InputError
from deepprune_cli.core.models import MotifCNN
from deepprune_cli.core.layout import DeviceData

#: Candidate evaluations are batched so that one batch holds at most this many numbers.
_EVAL_BUDGET = 1 << 24
#: The loss criterion judges kernels on an evenly spaced subset of the training split small enough
#: that one elimination step (every candidate, every sequence, every unit of the next layer) stays
#: under this many numbers, but never on fewer than _MIN_EVAL_SEQUENCES (or all, if fewer).
_STEP_BUDGET = 1 << 25
_MIN_EVAL_SEQUENCES = 8192
#: ``loss-refit`` refits the read-out for every candidate removal while at most this many kernels
#: are alive (the rounds that decide the reported kernels); above, it is ``loss``.
REFIT_MAX_KERNELS = 16
_REFIT_NEWTON_STEPS = 10
_REFIT_L2 = 1e-3


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


def _activation_pass(model: MotifCNN, data: DeviceData, batch_size: int, groups: torch.Tensor,
                     keep_rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One batched pass of the kernels' global-max activations u (masked kernels zero), streamed.

    Args:
        groups: bool (N, G) row membership of G groups (e.g. positives, negatives, all).
        keep_rows: int64 ascending row indices whose activations are also returned.

    Returns:
        means: float64 (G, K) mean of u over each group; rows: float32 (len(keep_rows), K) or None.
    """
    mask = model.kernel_mask.detach().double()
    sums = torch.zeros(groups.shape[1], model.n_kernels, dtype=torch.float64, device=data.tokens.device)
    kept = []
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(data), batch_size):
            u = model.kernel_activations(data.tokens[i : i + batch_size]).double() * mask  # (b, K)
            sums += groups[i : i + batch_size].double().T @ u
            if keep_rows is not None:
                sel = keep_rows[(keep_rows >= i) & (keep_rows < i + len(u))] - i
                kept.append(u[sel].float())
    means = sums / groups.sum(dim=0).clamp(min=1).double()[:, None]
    rows = None if keep_rows is None else (torch.cat(kept) if kept else torch.zeros(0, model.n_kernels))
    return means, rows


def _kernel_score_difference(model: MotifCNN, data: DeviceData, batch_size: int) -> np.ndarray:
    """|mean u_j over positives - mean u_j over negatives| per kernel (K,) on ``data``."""
    pos = _positive_mask(data)
    means, _ = _activation_pass(model, data, batch_size, torch.stack([pos, ~pos], dim=1))
    return (means[0] - means[1]).abs().cpu().numpy()


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
    return keep_top(statistic, max(1, len(statistic) // 2))


def keep_top(statistic: np.ndarray, keep: int) -> np.ndarray:
    """Indices of the ``keep`` kernels with the largest statistic (float ``(K,)``), ascending;
    ties go to the lower kernel index."""
    K = len(statistic)
    order = np.lexsort((np.arange(K), -np.asarray(statistic, dtype=np.float64)))
    return np.sort(order[: max(1, min(K, keep))])


# --------------------------------------------------------------------------------------------
# greedy elimination by training loss


class _Head:
    """The layers after the pooled first layer, split at the first linear map
    (:meth:`MotifCNN.readout`): ``first`` reads the K kernel features (the output layer for
    ``deepbind``); ``rest(pre)`` maps (n, H) pre-activations to (n, C) logits. Float32 copies in
    eval mode, so the model itself is untouched.
    """

    def __init__(self, model: MotifCNN, device: torch.device):
        if not model.spec.kernel_strands:
            raise InputError(f"the loss criterion needs a first layer with global max pooling ({model.spec.name})")
        self.first, self.rest = copy.deepcopy(nn.ModuleList(model.readout())).to(device).float().eval()
        self.weight = self.first.weight.detach()  # (H, K)
        self.bias = self.first.bias.detach()  # (H,)


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
        out.append(loss.mean(dim=(1, 2)).double())
    return torch.cat(out)


def _evaluation_rows(n: int, n_alive: int, width: int) -> torch.Tensor:
    """Evenly spaced row indices of the training split the loss criterion is computed on."""
    n_eval = min(n, max(_MIN_EVAL_SEQUENCES, _STEP_BUDGET // max(1, n_alive * width)))
    return torch.div(torch.arange(n_eval, dtype=torch.int64) * n, n_eval, rounding_mode="floor")


@dataclass
class Selection:
    """One round's choice.

    Attributes:
        keep: int64 (k,) physical kernel indices kept, ascending (k = K // 2 in a halving round).
        statistic: float64 (K,) the criterion's value per kernel (larger = more important).
        means: float64 (K,) mean training activation per kernel (``loss`` only: what
            :func:`fold_removed_means` folds into the next layer), else None.
    """

    keep: np.ndarray
    statistic: np.ndarray
    means: torch.Tensor | None = None
    readout: tuple[torch.Tensor, torch.Tensor] | None = None  # loss-refit: (weight (k,), bias ()) for the kept kernels


def _refit_losses(X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Training loss after refitting a logistic read-out without each kernel, and with all.

    X: float64 (n, k) features of the alive kernels (removed kernels are constants the bias
    absorbs); y: (n,) labels. Returns losses (k + 1,) — row a < k without kernel a, row k with
    every kernel — and the refit weights (k + 1, k + 1) (last column the bias).

    Damped Newton on a ridge-penalised (``_REFIT_L2`` on standardised weights) logistic loss, all
    k + 1 fits at once; the penalty keeps copies of one kernel (collinear features) and separable
    data solvable, and each step is shortened when the full one would raise the loss.
    """
    n, k = X.shape
    scale = X.std(dim=0)
    scale = torch.where(scale > 1e-8, scale, torch.ones_like(scale))
    Z = torch.cat([X / scale, torch.ones(n, 1, dtype=X.dtype, device=X.device)], dim=1)  # (n, k+1), standardised
    # Every fit starts from no weights and the base rate (IRLS' usual start, where the logistic
    # Hessian is well conditioned); starting from the current read-out stalls when it saturates.
    ybar = float(y.mean().clamp(1e-6, 1 - 1e-6))
    W = torch.zeros(k + 1, k + 1, dtype=X.dtype, device=X.device)
    W[:, k] = math.log(ybar / (1 - ybar))
    idx = torch.arange(k, device=X.device)
    free = torch.ones_like(W)
    free[idx, idx] = 0.0
    ridge = torch.full((k + 1,), _REFIT_L2, dtype=X.dtype, device=X.device)
    ridge[k] = 0.0  # no penalty on the bias
    target = y[:, None].expand(-1, k + 1)

    def objective(weights):
        bce = F.binary_cross_entropy_with_logits(Z @ weights.T, target, reduction="none").mean(dim=0)
        return bce + 0.5 * (ridge * weights**2).sum(dim=1)

    current = objective(W)
    for _ in range(_REFIT_NEWTON_STEPS):
        prob = torch.sigmoid(Z @ W.T)  # (n, k+1)
        grad = ((prob - target).T @ Z) / n + ridge * W  # (k+1, k+1)
        s = prob * (1 - prob)
        hess = torch.einsum("ni,na,nj->aij", Z, s, Z) / n + torch.diag(ridge + 1e-9)  # (k+1, k+1, k+1)
        grad = grad * free
        hess = hess * free[:, :, None] * free[:, None, :] + torch.diag_embed(1 - free)
        step = torch.linalg.solve(hess, grad.unsqueeze(-1)).squeeze(-1)
        best_w, best = W, current
        for t in (1.0, 0.5, 0.25, 0.125, 0.0625):  # per fit, the step length that lowers the objective most
            trial = W - t * step
            value = objective(trial)
            better = value < best
            best_w = torch.where(better[:, None], trial, best_w)
            best = torch.where(better, value, best)
        W, current = best_w, best
    losses = F.binary_cross_entropy_with_logits(Z @ W.T, target, reduction="none").mean(dim=0)
    W = torch.cat([W[:, :k] / scale, W[:, k:]], dim=1)  # back to the features' own scale
    return losses, W


def same_motif_matrix(groups: np.ndarray, same: np.ndarray | None = None) -> np.ndarray:
    """bool ``(K, K)``: kernels i and j are the same motif. ``same`` (e.g.
    :meth:`~deepprune_cli.core.grouping.Grouping.kernel_same`) as given, else from the labels
    ``groups`` int64 ``(K,)`` (same label > 0). A kernel without a motif has a False diagonal."""
    groups = np.asarray(groups, dtype=np.int64)
    if same is None:
        return (groups[:, None] == groups[None, :]) & (groups > 0)[:, None]
    same = np.asarray(same, dtype=bool)
    if same.shape != (len(groups), len(groups)):
        raise ValueError(f"same must be ({len(groups)}, {len(groups)}), got shape {same.shape}")
    return same


def has_copies(same: np.ndarray) -> bool:
    """True if some kernel of bool ``(K, K)`` ``same`` (:func:`same_motif_matrix`) has no motif
    (False diagonal) or is the same motif as another kernel."""
    return bool(not same.diagonal().all() or (same.sum(axis=1) > 1).any())


def greedy_loss_selection(model: MotifCNN, data: DeviceData, keep: int, batch_size: int = 2048,
                          refit: bool = False, groups: np.ndarray | None = None,
                          same: np.ndarray | None = None, until_distinct: bool = False) -> Selection:
    """Keep ``keep`` kernels by greedy backward elimination on the training loss.

    While more than ``keep`` kernels remain, remove the ``r`` whose removal (feature replaced by its
    training mean) raises the loss least: ``r = remaining // 16`` (never past ``keep``) while more
    than 64 remain, then one at a time, so among the last 64 a kernel's twin is always gone or kept
    before the kernel itself is judged. Already masked kernels go first. The loss is computed on
    all of the training split, or on an evenly spaced subset of it (at least 8,192 sequences) when
    the split times the kernels times the next layer's width would make a step too costly; the
    means come from the whole split, streamed, so memory never holds an (N, K) matrix.

    The returned statistic is, for a removed kernel, the loss increase its removal caused; for a
    kept one, the increase its removal from the kept set would cause; 0 for masked kernels.

    ``refit`` (criterion ``loss-refit``): while at most :data:`REFIT_MAX_KERNELS` kernels are
    alive, judge each removal after refitting the read-out (see the module docstring), and return
    the read-out refit on the kept kernels in :attr:`Selection.readout`.

    ``groups`` (int64 ``(K,)``, e.g. :func:`~deepprune_cli.core.grouping.kernel_groups`): copies
    go first. While some alive kernel has no motif (label <= 0) or is the same motif as another
    alive kernel, only such kernels may be removed (one at a time, cheapest first), so each motif's
    most useful copy stays; then, if more must go, any kernel by loss. "The same motif" is
    ``same`` (bool ``(K, K)``, :meth:`~deepprune_cli.core.grouping.Grouping.kernel_same`: pairwise,
    so kernels of two groups that match each other count as copies too) or, without it, the same
    label. ``until_distinct``: stop as soon as no alive kernel is a copy (``keep`` is then only a
    floor): the kept kernels are pairwise different motifs, as many as the loss keeps.
    """
    device = data.tokens.device
    _positive_mask(data)
    head = _Head(model, device)
    K = model.n_kernels
    alive = [j for j in range(K) if float(model.kernel_mask[j]) > 0]
    rows = _evaluation_rows(len(data), max(1, len(alive)), head.weight.shape[0]).to(device)
    everyone = torch.ones(len(data), 1, dtype=torch.bool, device=device)
    means, u = _activation_pass(model, data, batch_size, everyone, keep_rows=rows)  # (1, K), (n_eval, K)
    means = means[0]
    labels = data.labels[rows].float()
    mean32 = means.float()
    deviation = u - mean32
    statistic = np.zeros(K)
    current = u.clone()  # masked kernels are already zero in u
    if len(alive) < keep:  # fewer active kernels than asked for: fill up with the lowest masked ones
        alive = sorted(alive + [j for j in range(K) if j not in set(alive)][: keep - len(alive)])

    can_refit = refit and isinstance(head.rest, nn.Identity) and head.weight.shape[0] == 1 and labels.shape[1] == 1
    readout = None

    def refit_costs(cands: list[int]) -> np.ndarray:
        nonlocal readout
        idx = torch.tensor(cands, device=device)
        losses, W = _refit_losses(current[:, idx].double(), labels[:, 0].double())
        readout = (W[-1, :-1].clone(), W[-1, -1].clone())
        return (losses[:-1] - losses[-1]).cpu().numpy()

    def costs(cands: list[int]) -> np.ndarray:
        if can_refit and len(cands) <= REFIT_MAX_KERNELS:
            return refit_costs(cands)
        pre = current @ head.weight.T + head.bias
        base = F.binary_cross_entropy_with_logits(head.rest(pre), labels).double()
        return (_candidate_losses(head, pre, deviation, torch.tensor(cands, device=device), labels) - base).cpu().numpy()

    if groups is not None:
        groups = np.asarray(groups, dtype=np.int64)
        if groups.shape != (K,):
            raise ValueError(f"groups must label each of the {K} kernels, got shape {groups.shape}")
        same = same_motif_matrix(groups, same)
    elif until_distinct or same is not None:
        raise ValueError("same and until_distinct need groups")

    def copies(cands: list[int]) -> list[int]:
        """Alive kernels without a motif, or the same motif as another alive kernel."""
        sub = same[np.ix_(cands, cands)]
        return [j for i, j in enumerate(cands) if not sub[i, i] or sub[i].sum() > 1]

    def removable(cands: list[int]) -> list[int]:
        if groups is None:
            return cands
        return copies(cands) or cands  # one kernel per motif left: any kernel may go

    with torch.inference_mode():
        while len(alive) > keep:
            if until_distinct and not copies(alive):
                break
            cands = removable(alive)
            cost = costs(alive)  # judged with every alive kernel (a refit needs them all), then restricted
            if groups is not None:
                cost = cost[[alive.index(j) for j in cands]]
            r = 1 if (len(alive) <= 64 or groups is not None) else min(len(alive) - keep, len(alive) // 16)
            # Cheapest first; among equal costs the higher index goes first (the lower one stays).
            order = np.lexsort((-np.asarray(cands), cost))[:r]
            gone = [cands[i] for i in order]
            statistic[gone] = cost[order]
            current[:, gone] = mean32[gone]
            alive = [j for j in alive if j not in set(gone)]
        if alive:
            statistic[alive] = costs(alive)  # with refit: also the read-out refit on exactly these
    if not (can_refit and len(alive) <= REFIT_MAX_KERNELS):
        readout = None
    return Selection(np.asarray(sorted(alive), dtype=np.int64), statistic, means, readout)


def select_half(model: MotifCNN, data: DeviceData, criterion: str, batch_size: int = 2048) -> Selection:
    """One round's choice of ``K // 2`` kernels by ``criterion`` (see :class:`Selection`)."""
    return select_count(model, data, criterion, max(1, model.n_kernels // 2), batch_size)


def select_count(model: MotifCNN, data: DeviceData, criterion: str, keep: int | None, batch_size: int = 2048,
                 groups: np.ndarray | None = None, same: np.ndarray | None = None) -> Selection:
    """Choice of ``keep`` kernels (1 <= keep <= K) by ``criterion``: the halving rounds use
    ``K // 2``; ``prune --kernels auto`` also asks for counts between two halvings. With ``groups``
    (int64 ``(K,)`` motif labels, 0 = no motif; ``same`` bool ``(K, K)``, which kernels are the
    same motif) copies of a motif go before any motif's last kernel
    (:func:`select_one_per_group`; ``keep`` None: one kernel per motif, pairwise different)."""
    if groups is not None:
        if keep is not None and not 1 <= keep <= model.n_kernels:
            raise ValueError(f"keep must be in 1..{model.n_kernels}, got {keep}")
        return select_one_per_group(model, data, criterion, groups, batch_size, keep=keep, same=same)
    if keep is None or not 1 <= keep <= model.n_kernels:
        raise ValueError(f"keep must be in 1..{model.n_kernels}, got {keep}")
    if criterion in ("loss", "loss-refit"):
        return greedy_loss_selection(model, data, keep, batch_size, refit=criterion == "loss-refit")
    stat = kernel_statistic(model, data, criterion, batch_size)
    return Selection(keep_top(stat, keep), stat)


def motif_labels(model: MotifCNN, data: DeviceData, max_sequences: int = 5000, seed: int = 0,
                 threshold: float | None = None, parts: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Each physical kernel's motif as ``logos`` groups them
    (:func:`~deepprune_cli.core.grouping.kernel_groups`), from its sites in at most
    ``max_sequences`` evenly spaced positives of ``data`` (plenty of sites per kernel, and the
    grouping stays cheap): int64 ``(K,)`` labels, 1..G, 0 for a kernel without a motif; and bool
    ``(K, K)``, which kernels are the same motif (pairwise; :meth:`Grouping.kernel_same`).

    ``threshold``: two kernels are the same motif below this p-value (None: logos' own,
    :data:`~deepprune_cli.core.grouping.DEFAULT_THRESHOLD`). ``parts`` > 1: the kernels are also
    grouped on each of ``parts`` disjoint, interleaved subsets of those positives, at logos' own
    threshold, and two kernels that are the same motif in any of them are the same motif too (the
    labels stay those of all the positives).
    """
    from deepprune_cli.core.grouping import DEFAULT_THRESHOLD, kernel_groups

    rows = torch.nonzero(_positive_mask(data)).flatten()
    take = min(len(rows), max_sequences)
    rows = rows[torch.arange(take, device=rows.device) * len(rows) // take]  # integer steps: no float rounding
    tokens = data.tokens[rows].cpu().numpy()
    labels, grouping = kernel_groups(model, tokens, seed=seed,
                                     threshold=DEFAULT_THRESHOLD if threshold is None else threshold)
    same = grouping.kernel_same(model.n_kernels)
    if parts > 1:
        alive = np.diag(same).copy()  # kernels with a motif on all the positives: only their pairs join
        for part in range(parts):
            _, part_grouping = kernel_groups(model, tokens[part::parts], seed=seed)
            same |= part_grouping.kernel_same(model.n_kernels) & alive[:, None] & alive[None, :]
    return labels, same


def select_one_per_group(model: MotifCNN, data: DeviceData, criterion: str, groups: np.ndarray,
                         batch_size: int = 2048, keep: int | None = None,
                         same: np.ndarray | None = None) -> Selection:
    """Keep ``keep`` kernels, different motifs first; default: one kernel per motif. ``groups``
    int64 ``(K,)`` labels each physical kernel with its motif (> 0) or none (<= 0); ``same`` bool
    ``(K, K)`` says which kernels are the same motif (default: the same label; see
    :func:`same_motif_matrix`).

    With ``loss``/``loss-refit`` copies and kernels without a motif are eliminated first, by
    training loss (see :func:`greedy_loss_selection`); without ``keep`` until no two kept kernels
    are the same motif. With a per-kernel criterion the kernels are taken by the statistic, each
    one first if it is the same motif as none taken so far (so each motif's best kernel, best
    motif first); without ``keep`` only those. Either way, without ``keep`` the kept kernels are
    pairwise different motifs.
    """
    groups = np.asarray(groups, dtype=np.int64)
    if not (groups > 0).any():
        raise ValueError("no kernel carries a motif")
    same = same_motif_matrix(groups, same)
    if criterion in ("loss", "loss-refit"):
        return greedy_loss_selection(model, data, 1 if keep is None else keep, batch_size,
                                     refit=criterion == "loss-refit", groups=groups, same=same,
                                     until_distinct=keep is None)
    stat = kernel_statistic(model, data, criterion, batch_size)
    order = np.argsort(-stat, kind="stable").tolist()  # best first, ties to the lower index
    heads: list[int] = []
    for j in order:
        if same[j, j] and not same[j, heads].any():
            heads.append(j)
    taken = set(heads)
    rest = [j for j in order if j not in taken]
    keep = len(heads) if keep is None else keep
    return Selection(np.asarray(sorted((heads + rest)[:keep]), dtype=np.int64), stat)


def calibrate_output(model: MotifCNN, data: DeviceData, batch_size: int = 2048,
                     max_rows: int = 20_000) -> tuple[float, float] | None:
    """Refit a single-output model's logit ``z`` as ``a * z + c`` (``a > 0``) by logistic loss on
    ``data`` (at most ``max_rows`` evenly spaced rows) and fold it into the output layer, in place.

    The ranking is unchanged (the same AUROC); only the scale and offset of the logits move. Why:
    the ``loss`` criterion holds each removed kernel's feature at its training mean; an exponential
    first layer's max activations are heavy-tailed, so the mean is far from most sequences' value
    and the pruned model's logits are far off (a simulation: one kernel per motif at val AUROC
    0.978 had a val loss of 6.0; refit this way, its test loss fell from 6.0 to 0.25), and a
    fine-tune started there wrecked the kernels before it recovered the loss (0.978 -> 0.585 val
    AUROC in 40 epochs).

    Returns ``(a, c)``, or None (model unchanged) with several outputs, one class in ``data`` or a
    fitted ``a <= 0`` (the logits rank backwards: no affine map fixes that).
    """
    if model.spec.n_outputs != 1:
        return None
    device = data.tokens.device
    rows = torch.arange(len(data), device=device)
    if len(rows) > max_rows:
        rows = rows[torch.arange(max_rows, device=device) * len(rows) // max_rows]
    y = data.labels[rows, 0].double()
    if not 0 < float(y.sum()) < len(y):
        return None
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            z = torch.cat([model(data.tokens[rows[i : i + batch_size]]) for i in range(0, len(rows), batch_size)])
    finally:
        model.train(was_training)
    z = z[:, 0].double()
    mu, sd = z.mean(), z.std()
    if not (torch.isfinite(sd) and sd > 0):
        return None
    # standardised logits, from the constant base-rate model (a = 0): Newton from there converges
    # for any scale the pruned logits come in (from a = 1 saturated sigmoids stall it)
    X = torch.stack([(z - mu) / sd, torch.ones_like(z)], dim=1)  # (n, 2)
    rate = float(y.mean())
    theta = torch.tensor([0.0, math.log(rate / (1 - rate))], dtype=torch.float64, device=device)

    def loss(t: torch.Tensor) -> float:
        return float(F.binary_cross_entropy_with_logits(X @ t, y))

    current = loss(theta)
    for _ in range(100):  # Newton steps with step halving: the loss never rises
        p = torch.sigmoid(X @ theta)
        grad = X.T @ (p - y) / len(y)
        hess = (X * (p * (1 - p))[:, None]).T @ X / len(y) + 1e-12 * torch.eye(2, dtype=torch.float64, device=device)
        step = torch.linalg.solve(hess, grad)
        t, improved = 1.0, False
        while t > 1e-8:
            trial = theta - t * step
            value = loss(trial)
            if value < current:
                improved = True
                break
            t /= 2
        if not improved:
            break
        theta, gain, current = trial, current - value, value
        if gain < 1e-12:
            break
    a, c = float(theta[0] / sd), float(theta[1] - theta[0] * mu / sd)
    if not a > 0:
        return None
    with torch.no_grad():
        model.out.weight.mul_(a)
        model.out.bias.mul_(a).add_(c)
    return a, c


def fold_removed_means(parent: MotifCNN, pruned: MotifCNN, selection: Selection) -> None:
    """Add the removed kernels' mean contribution to the bias of the layer reading the kernels.

    ``pruned`` = ``select_kernels(parent, selection.keep)``. The pruned model then predicts as if
    each removed feature were held at its training mean instead of zero (exactly so: the shift is
    applied before any non-linearity), which is the model the ``loss`` criterion judged.
    """
    consumer, per_kernel = parent.first_consumer()
    target, _ = pruned.first_consumer()
    if selection.readout is not None:  # loss-refit: the read-out it judged the kept kernels with
        weight, bias = selection.readout
        with torch.no_grad():
            target.weight.copy_(weight.to(target.weight.dtype).reshape(target.weight.shape))
            target.bias.copy_(bias.to(target.bias.dtype).reshape(target.bias.shape))
        return
    if per_kernel != 1 or selection.means is None:
        raise ValueError("folding needs a globally pooled first layer and the selection's means")
    removed = selection.means.clone().to(consumer.weight.device)
    removed[torch.as_tensor(selection.keep, device=removed.device)] = 0.0
    shift = consumer.weight.detach().double() @ removed  # (H,)
    with torch.no_grad():
        target.bias.add_(shift.to(target.bias.dtype))

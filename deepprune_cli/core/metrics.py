"""Classification metrics, per class and averaged over classes.

Scores and labels are float arrays of shape (n, C). A class whose labels are all 0 or all 1
has no defined AUROC/AUPRC; it is reported as NaN and left out of the mean.

AUROC and average precision are computed exactly as scikit-learn's ``roc_auc_score`` and
``average_precision_score`` do (ties handled the same way; the tests compare against
scikit-learn to 1e-12), in a few vectorised numpy lines: importing ``sklearn.metrics`` costs
about a second per process, which is more than a short training run spends on its metrics.
"""

from __future__ import annotations

import math

import numpy as np


def _as_2d(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a[:, None] if a.ndim == 1 else a


def _roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Area under the ROC curve of 0/1 labels ``y`` (n,) for scores ``s`` (n,).

    Mann-Whitney form with mid-ranks for tied scores, which equals the trapezoidal area under the
    ROC curve with tied scores as one diagonal step (scikit-learn's ``roc_auc_score``).
    """
    order = np.argsort(s, kind="mergesort")
    ss = s[order]
    n = len(ss)
    bounds = np.flatnonzero(np.diff(ss)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [n]))
    mid = (starts + ends + 1) / 2.0  # 1-based mid-rank of each tie group
    ranks = np.empty(n)
    ranks[order] = np.repeat(mid, ends - starts)
    pos = y == 1
    n1 = float(pos.sum())
    n0 = n - n1
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def _average_precision(y: np.ndarray, s: np.ndarray) -> float:
    """Average precision: sum over distinct thresholds (descending) of (R_k - R_k-1) * P_k, as
    scikit-learn's ``average_precision_score`` (a step function, no interpolation)."""
    order = np.argsort(-s, kind="mergesort")
    ss, yy = s[order], y[order]
    last = np.concatenate((np.flatnonzero(np.diff(ss)), [len(ss) - 1]))  # end of each tie group
    tps = np.cumsum(yy)[last]
    fps = (last + 1) - tps
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.concatenate(([0.0], recall))) * precision))


def per_class(metric: str, labels, scores) -> np.ndarray:
    """``metric`` ('auroc' or 'auprc') for every class: float64 (C,), NaN where undefined."""
    y, s = _as_2d(labels), _as_2d(scores)
    if y.shape != s.shape:
        raise ValueError(f"labels {y.shape} and scores {s.shape} differ in shape")
    if metric not in ("auroc", "auprc"):
        raise ValueError(f"unknown metric {metric!r}")
    fn = _roc_auc if metric == "auroc" else _average_precision
    out = np.full(y.shape[1], np.nan)
    for c in range(y.shape[1]):
        col = y[:, c]
        if col.min() == col.max() or np.isnan(s[:, c]).any():
            continue
        out[c] = fn(col, s[:, c])
    return out


def auroc(labels, scores) -> float:
    """Mean AUROC over the classes where it is defined (NaN if none)."""
    return nanmean(per_class("auroc", labels, scores))


def auprc(labels, scores) -> float:
    """Mean average precision (area under the precision-recall curve) over defined classes."""
    return nanmean(per_class("auprc", labels, scores))


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for one value) ignoring NaN."""
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=np.float64)
    if len(v) == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def nanmean(values) -> float:
    """Mean of the values that are not NaN (a class without both labels has no AUROC); NaN if none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if len(v) else float("nan")


def auroc_standard_error(auc: float, n_positive: int, n_negative: int) -> float:
    """Sampling standard error of an AUROC ``auc`` measured on ``n_positive`` positives and
    ``n_negative`` negatives (Hanley & McNeil 1982, exponential approximation: Q1 = A / (2 - A),
    Q2 = 2A^2 / (1 + A)). NaN when a class is empty or ``auc`` is NaN."""
    if not n_positive or not n_negative or not math.isfinite(auc):
        return math.nan
    a = float(auc)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_positive - 1) * (q1 - a * a) + (n_negative - 1) * (q2 - a * a)) / (n_positive * n_negative)
    return math.sqrt(max(var, 0.0))

"""First-layer kernels -> motifs (position probability matrices).

Following the DeepBind supplement (Alipanahi et al. 2015) and Koo & Eddy (2019): each kernel is
scanned over a set of sequences; a sequence contributes one site, the window at its maximum
activation, if that activation reaches ``threshold`` x the kernel's maximum *possible* activation
(the best letter at every position plus the bias); the aligned windows are counted letter by
letter into a position probability matrix (PPM). When the model scans both strands, so does this
(the window is then read from the reverse-complement strand). Kernels that can never activate
(maximum possible activation <= 0), whose weights barely tell letters apart, with fewer than
``min_sites`` sites, or whose PPM is near-uniform are flagged *dead* rather than turned into
motifs.

Conventions:

* Tokens are uint8 A, C, G, T, N = 0..4 (and 5 = PAD, the zero padding of 'same' convolutions;
  'full' padding pads with N).
* N scores as the mean of the four letter weights (the one-hot value 0.25 each, as the models
  see it) and, inside a site, counts 0.25 towards each letter: a site is one sequence, so every
  row of the count matrix sums to the number of sites. PAD (a window hanging over a sequence end
  under 'same' padding) scores 0 and counts nothing; such rows are normalised by what they hold.
  Under 'full' padding the overhang scores as N (as the model scores it) and counts nothing.
* Weights are ``(K, 4, W)`` (PyTorch Conv1d layout, rows A, C, G, T), bias ``(K,)``. Batch norm
  after the convolution can be folded in first with :func:`fold_batch_norm`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from deepprune_cli.core.architectures import padding_widths
from deepprune_cli.core.choices import DEFAULT_SITE_REFERENCE, SITE_REFERENCES
from deepprune_cli.core.motifs import Motif
from deepprune_cli.core.sequences import COMPLEMENT, PAD_TOKEN, onehot_table

#: token -> count contribution to A, C, G, T (N a quarter each, PAD nothing)
_COUNT_TABLE = onehot_table(dtype=np.float64)
#: bytes of float32 activation map computed at once (per strand) when scanning
_CHUNK_BYTES = 64 * 2**20


@dataclass
class KernelMotif:
    """What one kernel turned into.

    Attributes:
        kernel: the kernel's index in the weight array (``0..K-1``).
        kernel_id: its original number (e.g. the model's ``kernel_ids``), used for the motif id.
        probs: float64 ``(w, 4)`` PPM after trimming (``None`` for a dead kernel without sites).
        counts: float64 ``(W, 4)`` untrimmed letter counts of the aligned sites.
        nsites: number of aligned sites (sequences whose max activation passed the threshold).
        start, stop: the kept columns ``[start, stop)`` of the kernel after trimming.
        max_possible: the kernel's maximum possible activation (best letters + bias).
        information: bits of the trimmed PPM (sum over columns, relative to the background).
        importance: the value motifs are ordered by (``nan`` when none was given).
        dead: flagged rather than emitted as a motif.
        reason: why it is dead (``""`` when alive).
    """

    kernel: int
    kernel_id: int
    probs: np.ndarray | None
    counts: np.ndarray
    nsites: int
    start: int
    stop: int
    max_possible: float
    information: float
    importance: float
    dead: bool
    reason: str = ""

    @property
    def width(self) -> int:
        return self.stop - self.start

    def to_motif(self, motif_id: str | None = None, name: str | None = None) -> Motif:
        """A :class:`Motif` (id ``kernel<id>`` by default, nsites = aligned sites)."""
        if self.probs is None:
            raise ValueError(f"kernel {self.kernel_id} has no sites and no motif ({self.reason})")
        return Motif(
            motif_id or f"kernel{self.kernel_id}",
            self.probs,
            name if name is not None else f"kernel_{self.kernel_id}",
            max(self.nsites, 1),
        )


def first_layer_filters(model) -> tuple[np.ndarray, np.ndarray]:
    """A model's first-layer kernels as float64 numpy: weight ``(K, 4, W)`` and bias ``(K,)``.

    A batch norm right after the convolution (Koo & Eddy's models) is folded into them, so the
    returned filters score windows exactly as the trained layer does before its ReLU.
    """
    weight = model.conv1.weight.detach().double().cpu().numpy()
    bias = model.conv1.bias.detach().double().cpu().numpy()
    if model.bn1 is not None:
        bn = model.bn1
        weight, bias = fold_batch_norm(
            weight, bias, bn.weight.detach().double().cpu().numpy(), bn.bias.detach().double().cpu().numpy(),
            bn.running_mean.double().cpu().numpy(), bn.running_var.double().cpu().numpy(), bn.eps,
        )  # fmt: skip
    return weight, bias


def fold_batch_norm(
    weight: np.ndarray,
    bias: np.ndarray | None,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold an eval-mode BatchNorm1d that follows the convolution into its weights.

    ``bn(conv(x) + b) = conv'(x) + b'`` with ``conv' = conv * s``, ``b' = (b - mean) * s + beta``,
    ``s = gamma / sqrt(var + eps)``. Shapes: weight ``(K, 4, W)``, the rest ``(K,)``.
    """
    weight = np.asarray(weight, dtype=np.float64)
    b = np.zeros(weight.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64)
    s = np.asarray(gamma, dtype=np.float64) / np.sqrt(np.asarray(running_var, dtype=np.float64) + eps)
    return weight * s[:, None, None], (b - np.asarray(running_mean, dtype=np.float64)) * s + np.asarray(beta)


def max_possible_activation(weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """The largest pre-activation each kernel can reach: ``sum_w max_c W[k, c, w] + b[k]``.

    weight ``(K, 4, W)``, bias ``(K,)`` -> float64 ``(K,)``.
    """
    weight = np.asarray(weight, dtype=np.float64)
    out = weight.max(axis=1).sum(axis=1)
    if bias is not None:
        out = out + np.asarray(bias, dtype=np.float64)
    return out


def _pad_tokens(tokens: np.ndarray, width: int, padding: str, fill: int | None = None) -> np.ndarray:
    """Tokens padded as the models pad them (:func:`padding_widths`), or with ``fill`` instead."""
    left, right, model_fill = padding_widths(padding, width)
    if not (left or right):
        return tokens
    n = tokens.shape[0]
    fill = model_fill if fill is None else fill
    return np.concatenate(
        [np.full((n, left), fill, np.uint8), tokens, np.full((n, right), fill, np.uint8)], axis=1
    )


def pad_like_model(tokens: np.ndarray, width: int, padding: str) -> np.ndarray:
    """uint8 tokens ``(n, L)`` padded exactly as a first layer with ``padding`` pads them."""
    return _pad_tokens(np.asarray(tokens, dtype=np.uint8), width, padding)


def _strands(
    tokens: np.ndarray, width: int, padding: str, both: bool, fill: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Padded forward tokens ``(n, L')`` and, with ``both``, the padded reverse complement.

    Each strand is padded on its own, as the models do (they pad the reverse-complement input),
    which matters for even widths where 'same' padding is asymmetric. ``fill`` replaces the
    models' padding token (sites are counted with PAD, which counts nothing, where the model
    scored N).
    """
    fwd = _pad_tokens(tokens, width, padding, fill)
    rev = _pad_tokens(np.ascontiguousarray(COMPLEMENT[tokens[:, ::-1]]), width, padding, fill) if both else None
    return fwd, rev


def max_activations(
    weight: np.ndarray,
    bias: np.ndarray | None,
    tokens: np.ndarray,
    *,
    both_strands: bool = True,
    padding: str = "valid",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each kernel's maximum pre-activation over each sequence, and where it is.

    Args:
        weight: ``(K, 4, W)``; bias: ``(K,)`` or ``None``.
        tokens: uint8 ``(n, L)`` (A, C, G, T, N = 0..4).
        both_strands: also scan the reverse complement (ties go to the forward strand).
        padding: one of :data:`PADDINGS`, as the model pads (``same``: PAD tokens weigh 0;
            ``full``: N tokens weigh the mean letter).

    Returns:
        ``values`` float32 ``(n, K)``, ``positions`` int64 ``(n, K)`` (window start in the padded
        sequence of the winning strand, reverse-complement coordinates on ``-``), ``minus`` bool
        ``(n, K)`` (the maximum is on the reverse strand).
    """
    import torch
    import torch.nn.functional as F

    weight = np.asarray(weight, dtype=np.float32)
    if weight.ndim != 3 or weight.shape[1] != 4:
        raise ValueError(f"weight must have shape (K, 4, W), got {weight.shape}")
    K, _, W = weight.shape
    tokens = np.asarray(tokens, dtype=np.uint8)
    if tokens.ndim != 2:
        raise ValueError(f"tokens must have shape (n, L), got {tokens.shape}")
    if tokens.size and tokens.max() > PAD_TOKEN:
        raise ValueError(f"tokens must be 0..4 (A, C, G, T, N), found {int(tokens.max())}")
    padded, rc_padded = _strands(tokens, W, padding, both_strands)
    n, L = padded.shape
    P = L - W + 1
    if P < 1:
        raise ValueError(f"sequences of {tokens.shape[1]} bp are shorter than the kernels ({W} bp)")
    table = torch.from_numpy(onehot_table())
    w = torch.from_numpy(weight)
    b = None if bias is None else torch.from_numpy(np.asarray(bias, dtype=np.float32))
    values = np.empty((n, K), np.float32)
    positions = np.empty((n, K), np.int64)
    minus = np.zeros((n, K), bool)
    step = max(1, _CHUNK_BYTES // (4 * K * P))
    with torch.no_grad():
        for s in range(0, n, step):
            chunk = torch.from_numpy(padded[s : s + step]).long()
            x = table[chunk].transpose(1, 2)  # (B, 4, L)
            fv, fp = F.conv1d(x, w, b).max(dim=2)
            if both_strands:
                xr = table[torch.from_numpy(rc_padded[s : s + step]).long()].transpose(1, 2)
                rv, rp = F.conv1d(xr, w, b).max(dim=2)
                use_r = rv > fv
                fv = torch.where(use_r, rv, fv)
                fp = torch.where(use_r, rp, fp)
                minus[s : s + step] = use_r.numpy()
            values[s : s + step] = fv.numpy()
            positions[s : s + step] = fp.numpy()
    return values, positions, minus


def information_content(probs: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
    """Bits per column of a PPM ``(W, 4)`` relative to ``background`` ``(4,)`` -> ``(W,)``."""
    bg = np.full(4, 0.25) if background is None else np.asarray(background, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(p / bg), 0.0)
    return terms.sum(axis=1)


def trim_flanks(probs: np.ndarray, trim_bits: float, background: np.ndarray | None = None) -> tuple[int, int]:
    """Columns ``[start, stop)`` left after removing flanking columns below ``trim_bits`` bits.

    Interior low-information columns are kept (a spaced motif stays whole). With no column at
    or above ``trim_bits`` nothing is trimmed (the kernel is then judged by its information).
    """
    W = probs.shape[0]
    if trim_bits <= 0:
        return 0, W
    keep = np.nonzero(information_content(probs, background) >= trim_bits)[0]
    if len(keep) == 0:
        return 0, W
    return int(keep[0]), int(keep[-1]) + 1


def small_sample_bits(nsites: int) -> float:
    """Information (bits) a column of ``nsites`` uniform random letters shows by chance:
    ``3 / (2 ln 2 n)``, the small-sample correction of sequence logos (Schneider et al. 1986)."""
    return 3.0 / (2.0 * math.log(2.0) * max(nsites, 1))


def kernel_ppms(
    weight: np.ndarray,
    bias: np.ndarray | None,
    tokens: np.ndarray,
    *,
    threshold: float = 0.7,
    relative_to: str = DEFAULT_SITE_REFERENCE,
    both_strands: bool = True,
    padding: str = "valid",
    min_sites: int = 10,
    trim_bits: float = 0.0,
    min_bits: float = 2.0,
    min_spread: float = 0.05,
    background: Sequence[float] | np.ndarray | None = None,
    importance: Sequence[float] | np.ndarray | None = None,
    kernel_ids: Sequence[int] | np.ndarray | None = None,
    active: Sequence[bool] | np.ndarray | None = None,
) -> list[KernelMotif]:
    """Turn each kernel into a position probability matrix from its best sites in ``tokens``.

    Args:
        weight: conv weights ``(K, 4, W)``; bias ``(K,)`` or ``None``.
        tokens: uint8 ``(n, L)``, the sequences to scan (e.g. the positives).
        threshold: a sequence gives a site if its maximum activation is at least
            ``threshold`` times the reference activation (0.7 by default).
        relative_to: the reference: ``"observed"`` (the default, as in ``deepprune logos``), the
            largest activation the kernel reaches on ``tokens`` (Koo & Eddy 2019), or
            ``"possible"``, its maximum possible activation (best letter at every position plus
            the bias; DeepBind supplement).
            Learned kernels rarely reach their theoretical maximum, so ``"observed"`` finds
            sites for kernels that ``"possible"`` reports as having too few.
        both_strands: scan the reverse complement too (as the model does).
        padding: the first layer's padding, one of :data:`PADDINGS` (a site overhanging an end
            counts only the bases it covers).
        min_sites: kernels with fewer sites are dead ("too few sites").
        trim_bits: remove flanking columns with less information than this (0 = keep all).
        min_bits: kernels whose trimmed PPM holds less information than this, after removing
            what ``nsites`` random letters show by chance (:func:`small_sample_bits` per
            column), are dead ("near-uniform").
        min_spread: kernels whose letters can move the activation by less than this fraction of
            the maximum possible activation are dead ("flat weights": the output is essentially
            the bias; the windows such a kernel picks reflect noise, not a preference).
        background: A, C, G, T frequencies for information content (default uniform).
        importance: ``(K,)``; kernels are returned by decreasing ``|importance|`` (e.g. summed
            absolute dense weights, or an activation difference between positives and
            negatives); by kernel index when ``None``. Dead kernels come last.
        kernel_ids: ``(K,)`` original kernel numbers (default ``0..K-1``).
        active: ``(K,)`` bool; inactive (masked/pruned) kernels are skipped entirely.

    Returns:
        One :class:`KernelMotif` per active kernel: live kernels by importance, then dead ones.
    """
    weight = np.asarray(weight, dtype=np.float64)
    K, _, W = weight.shape
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if relative_to not in SITE_REFERENCES:
        raise ValueError(f"relative_to must be one of {', '.join(SITE_REFERENCES)}, got {relative_to!r}")
    bg = None if background is None else np.asarray(background, dtype=np.float64) / np.sum(background)
    ids = np.arange(K) if kernel_ids is None else np.asarray(kernel_ids, dtype=np.int64)
    imp = np.full(K, np.nan) if importance is None else np.asarray(importance, dtype=np.float64)
    act = np.ones(K, bool) if active is None else np.asarray(active, dtype=bool)
    if ids.shape != (K,) or imp.shape != (K,) or act.shape != (K,):
        raise ValueError("kernel_ids, importance and active must each have one entry per kernel")
    kernels = np.nonzero(act)[0]
    tokens = np.asarray(tokens, dtype=np.uint8)
    best = max_possible_activation(weight, bias)
    # how far the letters can move the activation: best minus worst window
    spread = (weight.max(axis=1) - weight.min(axis=1)).sum(axis=1)
    out: list[KernelMotif] = []
    if len(kernels) and len(tokens):
        values, positions, minus = max_activations(
            weight[kernels], None if bias is None else np.asarray(bias)[kernels], tokens,
            both_strands=both_strands, padding=padding,
        )  # fmt: skip
        # a window overhanging an end counts only the bases it covers (PAD), whatever it scored there
        padded, rc = _strands(tokens, W, padding, both_strands, fill=PAD_TOKEN)
    offsets = np.arange(W)
    for col, k in enumerate(kernels):
        counts = np.zeros((W, 4))
        nsites = 0
        ref = best[k]
        if relative_to == "observed" and len(tokens):
            ref = float(values[:, col].max())
        if best[k] > 0 and ref > 0 and len(tokens):
            # float32 activations against a float64 bound: allow for rounding at exactly 1.0
            hit = values[:, col] >= threshold * ref - 1e-5 * abs(ref)
            rows = np.nonzero(hit)[0]
            nsites = len(rows)
            if nsites:
                starts = positions[rows, col]
                idx = starts[:, None] + offsets[None, :]
                win = padded[rows[:, None], idx]
                if both_strands:
                    on_minus = minus[rows, col]
                    if on_minus.any():
                        win[on_minus] = rc[rows[on_minus][:, None], idx[on_minus]]
                # counts[w, c] = sum over sites of the letter table at (site, w)
                counts = _COUNT_TABLE[win].sum(axis=0)
        reason = ""
        if best[k] <= 0:
            reason = "never activates (maximum possible activation <= 0)"
        elif ref <= 0:
            reason = "never activates on these sequences (largest activation <= 0)"
        elif spread[k] < min_spread * abs(best[k]):
            reason = f"flat weights (letters move its activation by {spread[k]:.3g} of {best[k]:.3g})"
        elif nsites < min_sites:
            reason = f"too few sites ({nsites} < {min_sites})"
        probs = None
        start, stop, info = 0, W, 0.0
        if nsites:
            totals = counts.sum(axis=1, keepdims=True)
            # a column only PAD fills (all sites hang over the sequence end) carries nothing
            probs = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), 0.25)
            start, stop = trim_flanks(probs, trim_bits, bg)
            probs = probs[start:stop]
            info = float(information_content(probs, bg).sum())
            if not reason and info - (stop - start) * small_sample_bits(nsites) < min_bits:
                reason = f"near-uniform ({info:.2f} bits)"
        out.append(
            KernelMotif(
                kernel=int(k),
                kernel_id=int(ids[k]),
                probs=probs,
                counts=counts,
                nsites=int(nsites),
                start=start,
                stop=stop,
                max_possible=float(best[k]),
                information=info,
                importance=float(imp[k]),
                dead=bool(reason),
                reason=reason,
            )
        )
    # Live first, then by |importance| (descending), then kernel index.
    def key(m: KernelMotif):
        score = -abs(m.importance) if np.isfinite(m.importance) else 0.0
        return (m.dead, score, m.kernel)

    return sorted(out, key=key)


def model_kernel_motifs(
    model, tokens: np.ndarray, *, importance: Sequence[float] | np.ndarray | None = None, **options
) -> tuple[list[KernelMotif], np.ndarray]:
    """A model's active first-layer kernels as motifs from their sites in ``tokens``.

    :func:`kernel_ppms` over the model's weights (batch norm folded), strands, padding, mask and
    original kernel ids, against the letter background of ``tokens`` (made strand-symmetric,
    A = T and C = G, when the model scans both strands). ``options`` are :func:`kernel_ppms`'s
    (threshold, relative_to, min_sites, trim_bits, min_bits, ...).

    Args:
        model: a :class:`~deepprune_cli.core.models.MotifCNN`.
        tokens: uint8 ``(n, L)``, the sequences that give the sites.
        importance: ``(K,)`` per physical kernel, the order of the results (see :func:`kernel_ppms`).

    Returns:
        the :class:`KernelMotif` list and the float64 ``(4,)`` background used.
    """
    weight, bias = first_layer_filters(model)
    both = model.spec.both_strands
    background = letter_background(tokens)
    if both:
        background = (background + background[::-1]) / 2  # both strands: A = T, C = G
    results = kernel_ppms(
        weight, bias, tokens, both_strands=both, padding=model.spec.convs[0].padding, background=background,
        importance=importance, kernel_ids=model.kernel_ids.detach().cpu().numpy(),
        active=model.kernel_mask.detach().cpu().numpy() > 0, **options,
    )  # fmt: skip
    return results, background


def activation_difference(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean max activation on positives minus on negatives, per kernel: an importance score.

    ``values`` ``(n, K)`` (e.g. from :func:`max_activations`), ``labels`` ``(n,)`` 0/1 -> ``(K,)``.
    Activations are ReLU'd first, as the network sees them.
    """
    v = np.maximum(np.asarray(values, dtype=np.float64), 0)
    y = np.asarray(labels).reshape(-1) > 0.5
    if y.all() or not y.any():
        raise ValueError("activation difference needs both positive and negative sequences")
    return v[y].mean(axis=0) - v[~y].mean(axis=0)


def letter_background(tokens: np.ndarray, pseudocount: float = 1.0) -> np.ndarray:
    """A, C, G, T frequencies of ``tokens`` (uint8, any shape; N and PAD ignored) -> ``(4,)``.

    Made strand-symmetric (A = T, C = G) when used for both-strand motifs is up to the caller.
    """
    counts = np.bincount(np.asarray(tokens, dtype=np.uint8).reshape(-1), minlength=6)[:4].astype(np.float64)
    counts += pseudocount
    return counts / counts.sum()


__all__ = [
    "KernelMotif", "kernel_ppms", "model_kernel_motifs", "max_activations", "max_possible_activation", "fold_batch_norm",
    "information_content", "trim_flanks", "small_sample_bits", "activation_difference",
    "letter_background",
]  # fmt: skip

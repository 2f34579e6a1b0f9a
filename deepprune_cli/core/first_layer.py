"""The first convolution over uint8 tokens: weight tables, the one-hot and gather convolutions,
and the fused compiled kernel with global max pooling (CPU).

Tokens stay uint8 until they reach the device. The first layer never sees a float one-hot copy
of the data set: it is computed per batch either

* ``fused`` (CPU, first layer followed by global max pooling, e.g. ``deepbind``): a compiled kernel
  (C from ``_first_layer.c``, or its numba reference in :mod:`first_layer_kernels`)
  that gathers kernel weights by token (a weight table (W, 5, K), N = mean of the ACGT rows;
  three consecutive bases are looked up at once in a (ceil(W/3), 125, K) table) and keeps only
  the per-kernel maximum and its position. Backward sends the gradient to the one window that
  won the max, so the (B, K, L) activation map is never stored;
* ``onehot``: one-hot built on the device per batch (N = 0.25 each) and ``F.conv1d``;
* ``gather``: the same weight gather as ``fused`` with ``F.embedding_bag`` over sliding windows.

Which first-layer implementation is fastest was measured on CPU (one thread, batch 256, one
training step, forward + backward + Adam): deepbind K=16 fused 2.0 ms, onehot 6.7 ms, gather
28.7 ms; K=256 fused 18 ms (before the kernel was reworked; now ~8 ms), onehot 68 ms, gather
169 ms; Zeng 1layer_local_win3 onehot 7.5 ms vs gather 39 ms; Koo cnn-4 (200 bp) onehot 66 ms vs
gather 217 ms. The weight gather wins only when it can be fused with the max; as a stand-alone
``embedding_bag`` it loses to mkldnn's convolution on a channels-last one-hot. So
``conv_impl="auto"`` picks ``fused`` on CPU where it applies, else ``onehot`` (also on CUDA).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from deepprune_cli.core.architectures import padding_widths
from deepprune_cli.core.sequences import COMPLEMENT, onehot_table

CONV_IMPLS = ("auto", "fused", "onehot", "gather")


# --------------------------------------------------------------------------------------------
# first layer: weight tables and the three implementations


def weight_table(weight: torch.Tensor, pad_row: bool = True) -> torch.Tensor:
    """Conv weight (K, 4, W) -> gather table (W, 6, K): rows A, C, G, T, N = mean, PAD = 0.

    (W, 5, K) without the PAD row. Differentiable (N's row is the mean of the ACGT rows).
    """
    t = weight.permute(2, 1, 0)  # (W, 4, K)
    rows = [t, t.mean(dim=1, keepdim=True)]
    if pad_row:
        rows.append(torch.zeros_like(rows[1]))
    return torch.cat(rows, dim=1)


def reverse_complement_weight(weight: torch.Tensor) -> torch.Tensor:
    """Kernels (K, 4, W) that score the reverse strand: reversed along W, A<->T and C<->G.

    With channels in A, C, G, T order the complement is the channel axis reversed, so both are
    one ``flip`` (no index tensor copied from the host: safe inside a CUDA graph capture)."""
    return weight.flip((1, 2))


_COMPLEMENT_CACHE: dict = {}


def reverse_complement_tokens(tokens: torch.Tensor) -> torch.Tensor:
    """uint8 tokens (B, L) -> reverse complement (B, L) (N and PAD unchanged)."""
    key = str(tokens.device)
    if key not in _COMPLEMENT_CACHE:  # made once per device: no host copy inside a CUDA graph capture
        _COMPLEMENT_CACHE[key] = torch.as_tensor(COMPLEMENT, device=tokens.device)
    return _COMPLEMENT_CACHE[key][tokens.long()].flip(1)


def pad_tokens(tokens: torch.Tensor, width: int, padding: str) -> torch.Tensor:
    """uint8 tokens (B, L) padded as the first layer's ``padding`` asks -> (B, L + left + right).

    ``same``: Keras's, with PAD tokens (weight 0); ``full``: W-1 N tokens on each side
    (:func:`~deepprune_cli.core.architectures.padding_widths`); ``valid``: unchanged.
    """
    left, right, fill = padding_widths(padding, width)
    if not (left or right):
        return tokens
    return F.pad(tokens, (left, right), value=fill)


_ONEHOT_CACHE: dict = {}


def onehot_table_on(device) -> torch.Tensor:
    """The (6, 4) token -> one-hot table (N = 0.25 each, PAD = 0) on ``device``, made once per device."""
    key = str(device)
    if key not in _ONEHOT_CACHE:
        _ONEHOT_CACHE[key] = torch.from_numpy(onehot_table()).to(device)
    return _ONEHOT_CACHE[key]


def conv_onehot(tokens: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Valid conv of tokens (B, L) with kernels (K, 4, W) via a per-batch one-hot: (B, K, L-W+1)."""
    x = onehot_table_on(tokens.device)[tokens.long()].transpose(1, 2)  # (B, 4, L), on the device
    return F.conv1d(x, weight, bias)


def conv_gather(tokens: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The same valid conv by gathering weights: sum over W of table[w, token[p+w]] -> (B, K, P)."""
    K, _, W = weight.shape
    B, L = tokens.shape
    table = weight_table(weight).reshape(W * 6, K)  # row w*6 + token
    windows = tokens.long().unfold(1, W, 1)  # (B, P, W), a view
    idx = (windows + torch.arange(0, 6 * W, 6, device=tokens.device)).reshape(-1, W)
    out = F.embedding_bag(idx, table, mode="sum").reshape(B, -1, K)
    if bias is not None:
        out = out + bias
    return out.transpose(1, 2)


def first_conv_map(tokens: torch.Tensor, weight: torch.Tensor, bias, padding: str, impl: str) -> torch.Tensor:
    """First-layer pre-activation map (B, K, P) with the torch implementations."""
    tokens = pad_tokens(tokens, weight.shape[2], padding)
    if impl == "gather":
        return conv_gather(tokens, weight, bias)
    return conv_onehot(tokens, weight, bias)


# ---- fused first layer with global max (compiled: C, or numba; CPU) -------------------------------

_GROUP = 3  # bases looked up together: a (ceil(W/3), 5**3, K) table, ~4 KB per kernel


def fused_available() -> bool:
    """True when the fused CPU first layer can run: the C extension, or numba (its fallback)."""
    from deepprune_cli.core import kernels

    if "c" in kernels.available():
        return True
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - numba is a dependency
        return False
    return True


def fused_best_windows(
    tokens: np.ndarray, weight: np.ndarray, bias: np.ndarray, both_strands: bool = True, relu: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every kernel's best valid window in each record, compiled (C or numba, CPU), exact per record.

    Args:
        tokens: uint8 ``(n, L)``; weight: float32 ``(K, 4, W)``; bias: float32 ``(K,)``.
        both_strands: also scan the reverse complement; relu: clamp the values at 0.

    Returns:
        ``values`` float32 ``(n, K)`` (conv + bias at the best window), ``start`` ``(n, K)`` (its
        0-based start on the strand that won) and ``strand`` ``(n, K)`` (1 = reverse complement).
    """
    from deepprune_cli.core import kernels

    w = np.ascontiguousarray(weight, dtype=np.float32)
    table = kernels.first_layer_table(w, bool(both_strands), _GROUP)
    b = np.ascontiguousarray(bias, dtype=np.float32)
    tokens = np.ascontiguousarray(tokens, dtype=np.uint8)
    return kernels.first_layer_forward(tokens, table, _GROUP, w.shape[2], b, bool(relu))


class _FusedFeatures(torch.autograd.Function):
    """[relu](max over strands and positions of valid conv + bias): (B, L) uint8 -> (B, K), CPU.

    One autograd node for the whole first layer: the (B, K, P) map is never stored; backward
    needs only the winning position and strand of every (sample, kernel).
    """

    @staticmethod
    def forward(ctx, tokens, weight, bias, both, relu):
        w = weight.detach().contiguous().numpy()
        out, arg, strand = fused_best_windows(tokens.numpy(), w, bias.detach().numpy(), both, relu)
        out_t = torch.from_numpy(out)
        ctx.save_for_backward(tokens, torch.from_numpy(arg), torch.from_numpy(strand), out_t)
        ctx.relu = relu
        ctx.width = w.shape[2]
        return out_t

    @staticmethod
    def backward(ctx, grad):
        from deepprune_cli.core import kernels

        tokens, arg, strand, out = ctx.saved_tensors
        if ctx.relu:
            grad = grad * (out > 0)
        gw, gb = kernels.first_layer_backward(tokens.numpy(), arg.numpy(), strand.numpy(),
                                              grad.contiguous().numpy(), ctx.width)
        return None, torch.from_numpy(gw), torch.from_numpy(gb), None, None


def fused_kernel_features(
    tokens: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, both_strands: bool = True, relu: bool = True
) -> torch.Tensor:
    """relu(max over positions (and strands) of the valid conv + bias): tokens (B, L) -> (B, K).

    CPU only; the torch equivalent is ``conv_onehot(...).amax(2)`` (see MotifCNN._kernel_features).
    """
    return _FusedFeatures.apply(tokens.contiguous(), weight, bias, bool(both_strands), bool(relu))


def fused_global_max(tokens: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per-kernel max over positions of the valid conv (no bias, one strand): (B, L) -> (B, K)."""
    zero = torch.zeros(weight.shape[0], dtype=weight.dtype)
    return fused_kernel_features(tokens, weight, zero, both_strands=False, relu=False)

"""The first convolution over uint8 tokens: weight tables, the one-hot and gather convolutions,
and the fused numba kernel with global max pooling (CPU).

Tokens stay uint8 until they reach the device. The first layer never sees a float one-hot copy
of the data set: it is computed per batch either

* ``fused`` (CPU, first layer followed by global max pooling, e.g. ``deepbind``): a numba kernel
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

from deepprune_cli.core.sequences import COMPLEMENT, PAD_TOKEN, onehot_table

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


def _same_pad(tokens: torch.Tensor, width: int) -> torch.Tensor:
    # Keras 'same': (W-1)//2 on the left, the rest on the right; PAD tokens weigh zero.
    left = (width - 1) // 2
    return F.pad(tokens, (left, width - 1 - left), value=PAD_TOKEN)


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
    if padding == "same":
        tokens = _same_pad(tokens, weight.shape[2])
    if impl == "gather":
        return conv_gather(tokens, weight, bias)
    return conv_onehot(tokens, weight, bias)


# ---- fused first layer with global max (numba, CPU) ---------------------------------------------

_GROUP = 3  # bases looked up together: a (ceil(W/3), 5**3, K) table, ~4 KB per kernel


_KERNELS = None


def _numba_kernels():
    """Compile (or load from numba's on-disk cache) the fused kernels on first use."""
    global _KERNELS
    if _KERNELS is not None:
        return _KERNELS
    import numba

    @numba.njit(cache=True, boundscheck=False)
    def build_table(weight, both, g):  # pragma: no cover - compiled
        # weight (K, 4, W) -> grouped gather table (J, 5**g, K2), K2 = 2K with both strands:
        # kernels K..2K-1 are the reverse complements (reversed, A<->T, C<->G). N = mean of ACGT.
        K, _, W = weight.shape
        K2 = 2 * K if both else K
        J = (W + g - 1) // g
        t5 = np.zeros((J * g, 5, K2), np.float32)
        for k in range(K):
            for w in range(W):
                m = 0.0
                for a in range(4):
                    v = weight[k, a, w]
                    t5[w, a, k] = v
                    m += v
                t5[w, 4, k] = m / 4
                if both:
                    wr = W - 1 - w
                    for a in range(4):
                        t5[wr, 3 - a, K + k] = weight[k, a, w]
                    t5[wr, 4, K + k] = m / 4
        C = 5**g
        tg = np.zeros((J, C, K2), np.float32)
        for j in range(J):
            for code in range(C):
                rest = code
                for i in range(g - 1, -1, -1):  # last base is the least significant digit
                    a = rest % 5
                    rest //= 5
                    for k in range(K2):
                        tg[j, code, k] += t5[j * g + i, a, k]
        return tg

    @numba.njit(parallel=True, cache=True, boundscheck=False, fastmath=True)
    def features_forward(tokens, tg, g, W, K, bias, relu):  # pragma: no cover - compiled
        # tokens (B, L) uint8 0..4; tg (J, 5**g, K2) from build_table.
        # -> out (B, K) = [relu](max over strands and positions of conv + bias),
        #    arg (B, K) int32 winning position, strand (B, K) int8 (1 = reverse complement).
        # Per sample: codes of every g-mer, the (P, K2) map summed group by group (the inner
        # loop runs over contiguous kernels: SIMD), then max/argmax. fastmath only licenses
        # vectorising these loops; every sum has a fixed order (deterministic).
        B, L = tokens.shape
        J, C, K2 = tg.shape
        P = L - W + 1
        out = np.empty((B, K), np.float32)
        arg = np.empty((B, K), np.int32)
        strand = np.zeros((B, K), np.int8)
        n_blocks = min(B, 64)
        for blk in numba.prange(n_blocks):
            codes = np.zeros(L + g * J, np.int64)
            conv = np.empty((P, K2), np.float32)
            best = np.empty(K2, np.float32)
            bi = np.empty(K2, np.int32)
            for b in range(blk * B // n_blocks, (blk + 1) * B // n_blocks):
                for p in range(L):
                    c = 0
                    for i in range(g):
                        c = c * 5
                        if p + i < L:
                            c += tokens[b, p + i]
                    codes[p] = c
                for p in range(P):
                    conv[p, :] = tg[0, codes[p]]
                for j in range(1, J):
                    tj = tg[j]
                    for p in range(P):
                        row = tj[codes[p + g * j]]
                        cp = conv[p]
                        for k in range(K2):
                            cp[k] += row[k]
                for k in range(K2):
                    best[k] = conv[0, k]
                    bi[k] = 0
                for p in range(1, P):
                    for k in range(K2):
                        v = conv[p, k]
                        better = v > best[k]
                        best[k] = v if better else best[k]
                        bi[k] = p if better else bi[k]
                for k in range(K):
                    v = best[k]
                    a = bi[k]
                    if K2 > K and best[K + k] > v:
                        v = best[K + k]
                        a = bi[K + k]
                        strand[b, k] = 1
                    v += bias[k]
                    if relu and v < 0:
                        v = 0.0
                    out[b, k] = v
                    arg[b, k] = a
        return out, arg, strand

    @numba.njit(parallel=True, cache=True, boundscheck=False)
    def features_backward(tokens, arg, strand, grad, W):  # pragma: no cover - compiled
        # grad (B, K) already zero where the ReLU was off -> d weight (K, 4, W), d bias (K,).
        # Each (b, k) sends its gradient to the W cells of its winning window; N spreads 1/4
        # to each base, reverse-strand wins land on the complementary base at the mirrored
        # offset. Parallel over kernels, sequential over b: deterministic sums.
        B, K = grad.shape
        gw = np.zeros((K, 4, W), np.float32)
        gb = np.zeros(K, np.float32)
        for k in numba.prange(K):
            for b in range(B):
                gv = grad[b, k]
                if gv == 0:
                    continue
                gb[k] += gv
                p = arg[b, k]
                rc = strand[b, k] == 1
                for w in range(W):
                    t = tokens[b, p + w]
                    ww = W - 1 - w if rc else w
                    if t < 4:
                        gw[k, 3 - t if rc else t, ww] += gv
                    else:
                        for a in range(4):
                            gw[k, a, ww] += gv * 0.25
        return gw, gb

    _KERNELS = (build_table, features_forward, features_backward)
    return _KERNELS


def numba_available() -> bool:
    """True when numba imports (the fused CPU first layer needs it)."""
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - numba is a dependency
        return False
    return True


def fused_best_windows(
    tokens: np.ndarray, weight: np.ndarray, bias: np.ndarray, both_strands: bool = True, relu: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every kernel's best valid window in each record, compiled (numba, CPU), exact per record.

    Args:
        tokens: uint8 ``(n, L)``; weight: float32 ``(K, 4, W)``; bias: float32 ``(K,)``.
        both_strands: also scan the reverse complement; relu: clamp the values at 0.

    Returns:
        ``values`` float32 ``(n, K)`` (conv + bias at the best window), ``start`` ``(n, K)`` (its
        0-based start on the strand that won) and ``strand`` ``(n, K)`` (1 = reverse complement).
    """
    build, forward, _ = _numba_kernels()
    w = np.ascontiguousarray(weight, dtype=np.float32)
    table = build(w, bool(both_strands), _GROUP)
    b = np.ascontiguousarray(bias, dtype=np.float32)
    return forward(np.ascontiguousarray(tokens), table, _GROUP, w.shape[2], w.shape[0], b, bool(relu))


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
        _, _, bwd = _numba_kernels()
        tokens, arg, strand, out = ctx.saved_tensors
        if ctx.relu:
            grad = grad * (out > 0)
        gw, gb = bwd(tokens.numpy(), arg.numpy(), strand.numpy(), grad.contiguous().numpy(), ctx.width)
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

"""Model architectures over uint8 DNA tokens, built from one small set of parts, plus the kernel mask.

Every architecture is a :class:`MotifCNN` described by an :class:`ArchSpec`:

    tokens (B, L) uint8 -> first conv (motif kernels) [-> batch norm] -> ReLU -> x kernel_mask
        -> pool (global max | local max) -> dropout
        -> [conv -> batch norm -> ReLU -> pool -> dropout] * (n - 1)
        -> flatten -> [dense -> batch norm -> ReLU -> dropout] * m -> dense output (logits, (B, C))

Tokens stay uint8 until they reach the device. The first layer never sees a float one-hot copy
of the data set: it is computed per batch either

* ``fused`` (CPU, first layer followed by global max pooling, e.g. ``deepbind``): a numba kernel
  that gathers kernel weights by token (a weight table (W, 5, K), N = mean of the ACGT rows;
  three consecutive bases are looked up at once in a (ceil(W/3), 125, K) table) and keeps only
  the per-kernel maximum and its position. Backward sends the gradient to the one window that
  won the max, so the (B, K, L) activation map is never stored;
* ``onehot``: one-hot built on the device per batch (N = 0.25 each) and ``F.conv1d``;
* ``gather``: the same weight gather as ``fused`` with ``F.embedding_bag`` over sliding windows.

Both strands: for architectures whose first layer is globally max-pooled, each kernel scans
the reverse complement too (equivalently, the sequence with the reverse-complemented kernel) and
the max over both strands is the kernel's feature; otherwise the whole network runs on both
strands and the logits are max-merged. Either way a sequence and its reverse complement get the
same prediction.

Which first-layer implementation is fastest was measured on CPU (one thread, batch 256, one
training step, forward + backward + Adam): deepbind K=16 fused 2.0 ms, onehot 6.7 ms, gather
28.7 ms; K=256 fused 18 ms (before the kernel was reworked; now ~8 ms), onehot 68 ms, gather
169 ms; Zeng 1layer_local_win3 onehot 7.5 ms vs gather 39 ms; Koo cnn-4 (200 bp) onehot 66 ms vs
gather 217 ms. The weight gather wins only when it can be fused with the max; as a stand-alone
``embedding_bag`` it loses to mkldnn's convolution on a channels-last one-hot. So
``conv_impl="auto"`` picks ``fused`` on CPU where it applies, else ``onehot`` (also on CUDA).
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from deepprune_cli.core.errors import InputError

#: tokens: A, C, G, T, N, and PAD (zero padding of 'same' convolutions; never in user data)
N_TOKEN = 4
PAD_TOKEN = 5
#: token -> reverse-complement token (N and PAD stay)
_COMPLEMENT6 = (3, 2, 1, 0, 4, 5)
CONV_IMPLS = ("auto", "fused", "onehot", "gather")


# --------------------------------------------------------------------------------------------
# architecture specs


@dataclass
class ConvSpec:
    """One convolution block: conv -> [batch norm] -> ReLU -> pool -> dropout.

    ``pool`` is ``"global"`` (max over all positions; the output is (B, channels)), an int window
    (max pooling, stride ``pool_stride`` or the window), or 0 for none.
    """

    channels: int
    width: int
    padding: str = "valid"  # 'valid' or 'same' (zero padding, as Keras)
    batch_norm: bool = False
    pool: int | str = "global"
    pool_stride: int | None = None
    dropout: float = 0.0


@dataclass
class DenseSpec:
    """One hidden dense block: linear -> [batch norm] -> ReLU -> dropout."""

    units: int
    batch_norm: bool = False
    dropout: float = 0.0


@dataclass
class ArchSpec:
    """A whole architecture (JSON-serialisable, stored in ``config.json``).

    Attributes:
        name: registry name (``deepbind``, ``1layer``, ``cnn-4`` ...).
        convs: convolution blocks; ``convs[0]`` holds the motif kernels.
        dense: hidden dense blocks after flattening.
        n_outputs: output units (classes), one sigmoid each.
        both_strands: scan the reverse complement too (see the module docstring).
        seq_len: the one input length flattening architectures need; ``None`` where any length
            works (global max pooling at the top: shorter/mixed inputs are padded with N).
        n_kernels_original: first-layer kernels before any were physically removed.
    """

    name: str
    convs: list[ConvSpec]
    dense: list[DenseSpec] = field(default_factory=list)
    n_outputs: int = 1
    both_strands: bool = True
    seq_len: int | None = None
    n_kernels_original: int | None = None
    multi_output: bool = False  # architecture made for multi-label targets (Koo & Eddy)

    def __post_init__(self):
        self.convs = [c if isinstance(c, ConvSpec) else ConvSpec(**c) for c in self.convs]
        self.dense = [d if isinstance(d, DenseSpec) else DenseSpec(**d) for d in self.dense]
        if self.n_kernels_original is None:
            self.n_kernels_original = self.convs[0].channels

    @property
    def n_kernels(self) -> int:
        return self.convs[0].channels

    @property
    def kernel_length(self) -> int:
        return self.convs[0].width

    @property
    def flattens(self) -> bool:
        """True if the top conv block is not globally pooled (features depend on the length)."""
        return self.convs[-1].pool != "global"

    @property
    def kernel_strands(self) -> bool:
        """True if strands are merged per kernel (one globally pooled conv layer)."""
        return len(self.convs) == 1 and self.convs[0].pool == "global"

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "ArchSpec":
        return ArchSpec(**d)

    @staticmethod
    def local_pool(c: ConvSpec) -> bool:
        """True if block ``c`` max-pools locally (window > 1, or a subsampling stride)."""
        return c.pool != "global" and bool(c.pool) and (c.pool > 1 or (c.pool_stride or 1) > 1)

    def length_after(self, length: int) -> list[int]:
        """Positions after each conv block for an input of ``length`` bp (may go <= 0)."""
        out = []
        for c in self.convs:
            if c.padding == "valid":
                length = length - c.width + 1
            if c.pool == "global":
                length = 1 if length >= 1 else length
            elif self.local_pool(c):
                stride = c.pool_stride or c.pool
                length = (length - c.pool) // stride + 1 if length >= c.pool else 0
            out.append(length)
        return out

    def min_length(self) -> int:
        """The shortest input every block can process."""
        length = 1
        while min(self.length_after(length)) < 1:
            length += 1
            if length > 100_000:  # pragma: no cover - absurd spec
                raise InputError(f"architecture {self.name}: no input length fits")
        return length

    def validate_length(self, length: int, source: str = "input") -> None:
        if min(self.length_after(length)) < 1:
            raise InputError(
                f"{source}: {length}-bp sequences are too short for architecture {self.name} "
                f"(needs at least {self.min_length()} bp)"
            )


def _zeng(name: str, first: int, top_pool, layers: int) -> ArchSpec:
    """Zeng et al. 2016 (Table 1): 16-kernel x 24 first layer, dense 32 + ReLU + dropout 0.5.

    Deeper variants add conv layers of 32 and 64 kernels (width 5, a detail the paper leaves
    open) with local max pooling of 3 between layers; ``_local_winN`` pools the top layer
    locally with window N instead of globally.
    """
    widths = [24, 5, 5]
    chans = [first, 32, 64]
    convs = []
    for i in range(layers):
        top = i == layers - 1
        convs.append(ConvSpec(chans[i], widths[i], "valid", False, top_pool if top else 3, None, 0.0))
    return ArchSpec(name, convs, [DenseSpec(32, False, 0.5)])


def _koo(name: str, width: int, pool: int, stride: int | None, seq_len: int | None) -> ArchSpec:
    """Koo & Eddy 2019: conv 30 x width, 'same', BN, ReLU, max-pool P, dropout 0.1; conv 128 x 5,
    BN, ReLU, max-pool so that two positions remain (100/P for 200 bp), dropout 0.1; dense 512,
    BN, ReLU, dropout 0.5; one sigmoid per class."""
    if seq_len is None:
        seq_len = 200  # resolved against the data when the model is built for training
    first = ConvSpec(30, width, "same", True, pool, stride, 0.1)
    l1 = ArchSpec("probe", [first]).length_after(seq_len)[0]
    pool2 = max(1, l1 // 2)
    convs = [
        first,
        ConvSpec(128, 5, "same", True, pool2, None, 0.1),
    ]
    return ArchSpec(name, convs, [DenseSpec(512, True, 0.5)], seq_len=seq_len, multi_output=True)


ZENG_ARCHS = (
    "1layer", "1layer_1motif", "1layer_64motif", "1layer_128motif", "1layer_local_win3",
    "1layer_local_win9", "2layer", "3layer", "2layer_local_win3", "3layer_local_win3",
)  # fmt: skip
KOO_ARCHS = (
    "cnn-1", "cnn-2", "cnn-4", "cnn-10", "cnn-25", "cnn-50", "cnn-100",
    "cnn9-4", "cnn9-25", "cnn3-2", "cnn3-50", "cnn-50-2", "cnn19-1-2",
)  # fmt: skip
ARCHITECTURES = ("deepbind",) + ZENG_ARCHS + KOO_ARCHS
DEEPBIND_DROPOUT = 0.3
_KOO_RE = re.compile(r"^cnn(\d+)?-(\d+)(?:-(\d+))?$")


def arch_spec(
    name: str,
    n_kernels: int | None = None,
    kernel_length: int | None = None,
    n_outputs: int = 1,
    both_strands: bool = True,
    seq_len: int | None = None,
    dropout: float | None = None,
) -> ArchSpec:
    """The :class:`ArchSpec` of a named architecture, with optional first-layer overrides.

    ``dropout`` replaces the first block's dropout (for ``deepbind``: on the pooled kernel
    features, before the output unit; default 0.3).

    ``cnn[W]-P[-S]`` names Koo & Eddy models: first kernel width W (default 19), first pool P,
    pool stride S (default P). ``seq_len`` is required by (and recorded for) architectures that
    flatten; it is ignored by globally pooled ones.
    """
    if n_kernels is not None and n_kernels < 1:
        raise InputError(f"--kernels must be at least 1, got {n_kernels}")
    if kernel_length is not None and kernel_length < 1:
        raise InputError(f"--kernel-length must be at least 1, got {kernel_length}")
    if n_outputs < 1:
        raise InputError("a model needs at least one output")
    if dropout is not None and not 0 <= dropout < 1:
        raise InputError(f"--dropout must be in [0, 1), got {dropout}")
    key = name.strip().lower().replace("_", "-") if name.lower().startswith("cnn") else name.strip().lower()
    if key == "deepbind":
        # Dropout on the 16 pooled features regularises like DeepBind's own (it has no weights,
        # so the model is the issue's: conv, ReLU, global max, mask, one output unit).
        spec = ArchSpec("deepbind", [ConvSpec(16, 24, "valid", False, "global", None, DEEPBIND_DROPOUT)], [])
    elif key in ZENG_ARCHS:
        m = re.match(r"^(\d)layer(?:_(\d+)motif)?(?:_local_win(\d+))?$", key)
        layers, motifs, win = int(m.group(1)), m.group(2), m.group(3)
        spec = _zeng(key, int(motifs) if motifs else 16, int(win) if win else "global", layers)
    elif _KOO_RE.match(key):
        m = _KOO_RE.match(key)
        width = int(m.group(1)) if m.group(1) else 19
        pool = int(m.group(2))
        stride = int(m.group(3)) if m.group(3) else None
        if width < 1 or pool < 1 or (stride is not None and stride < 1):
            raise InputError(f"unknown architecture '{name}'")
        spec = _koo(key, width, pool, stride, seq_len)
    else:
        close = difflib.get_close_matches(key, ARCHITECTURES, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise InputError(f"unknown architecture '{name}'{hint}; choose from {', '.join(ARCHITECTURES)}")
    if n_kernels is not None:
        spec.convs[0].channels = n_kernels
    if kernel_length is not None:
        spec.convs[0].width = kernel_length
    if dropout is not None:
        spec.convs[0].dropout = float(dropout)
    spec.n_kernels_original = spec.convs[0].channels
    spec.n_outputs = n_outputs
    spec.both_strands = both_strands
    spec.seq_len = seq_len if spec.flattens else None
    return spec


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
    """Kernels (K, 4, W) that score the reverse strand: reversed along W, A<->T and C<->G."""
    return weight.flip(2)[:, [3, 2, 1, 0], :]


def reverse_complement_tokens(tokens: torch.Tensor) -> torch.Tensor:
    """uint8 tokens (B, L) -> reverse complement (B, L) (N and PAD unchanged)."""
    comp = torch.tensor(_COMPLEMENT6, dtype=torch.uint8, device=tokens.device)
    return comp[tokens.long()].flip(1)


def _same_pad(tokens: torch.Tensor, width: int) -> torch.Tensor:
    # Keras 'same': (W-1)//2 on the left, the rest on the right; PAD tokens weigh zero.
    left = (width - 1) // 2
    return F.pad(tokens, (left, width - 1 - left), value=PAD_TOKEN)


_ONEHOT_CACHE: dict = {}


def _onehot_table(device) -> torch.Tensor:
    key = str(device)
    if key not in _ONEHOT_CACHE:
        t = torch.zeros(6, 4)
        t[torch.arange(4), torch.arange(4)] = 1
        t[N_TOKEN] = 0.25
        _ONEHOT_CACHE[key] = t.to(device)
    return _ONEHOT_CACHE[key]


def conv_onehot(tokens: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Valid conv of tokens (B, L) with kernels (K, 4, W) via a per-batch one-hot: (B, K, L-W+1)."""
    x = _onehot_table(tokens.device)[tokens.long()].transpose(1, 2)  # (B, 4, L), on the device
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


def grouped_table(table5: torch.Tensor, g: int = _GROUP) -> torch.Tensor:
    """(W, 5, K) -> (J, 5**g, K) with J = ceil(W/g): row ``code`` of group j is the summed
    weight of the g bases ``code`` spells (base 5, first base most significant) at w = g*j..g*j+g-1.
    Positions past W weigh zero. (Reference implementation; the fused kernel builds its own.)"""
    W, S, K = table5.shape
    J = -(-W // g)
    t = torch.zeros(J * g, S, K, dtype=table5.dtype, device=table5.device)
    t[:W] = table5
    t = t.reshape(J, g, S, K)
    acc = t[:, 0]
    for i in range(1, g):
        acc = (acc[:, :, None, :] + t[:, i][:, None, :, :]).reshape(J, -1, K)
    return acc.contiguous()


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
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - numba is a dependency
        return False
    return True


class _FusedFeatures(torch.autograd.Function):
    """[relu](max over strands and positions of valid conv + bias): (B, L) uint8 -> (B, K), CPU.

    One autograd node for the whole first layer: the (B, K, P) map is never stored; backward
    needs only the winning position and strand of every (sample, kernel).
    """

    @staticmethod
    def forward(ctx, tokens, weight, bias, both, relu):
        build, fwd, _ = _numba_kernels()
        w = weight.detach().contiguous().numpy()
        tg = build(w, both, _GROUP)
        out, arg, strand = fwd(tokens.numpy(), tg, _GROUP, w.shape[2], w.shape[0], bias.detach().numpy(), relu)
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


# --------------------------------------------------------------------------------------------
# the model


class MotifCNN(nn.Module):
    """A CNN over uint8 DNA tokens; see the module docstring for the layout.

    Attributes:
        spec: the :class:`ArchSpec`.
        kernel_mask: float buffer (K,), 1 = active kernel, 0 = pruned (its features are zeroed).
        kernel_ids: int64 buffer (K,), the original index of each physical kernel.
        conv_impl: first-layer implementation (``auto``, ``fused``, ``onehot``, ``gather``).
    """

    def __init__(self, spec: ArchSpec, conv_impl: str = "auto"):
        super().__init__()
        if conv_impl not in CONV_IMPLS:
            raise ValueError(f"conv_impl must be one of {CONV_IMPLS}")
        self.spec = spec
        self.conv_impl = conv_impl
        c0 = spec.convs[0]
        if c0.channels < 1:
            raise InputError(f"--kernels must be at least 1, got {c0.channels}")
        self.conv1 = nn.Conv1d(4, c0.channels, c0.width)  # weights only; applied via tokens
        self.register_buffer("kernel_mask", torch.ones(c0.channels))
        self.register_buffer("kernel_ids", torch.arange(c0.channels, dtype=torch.int64))
        self.bn1 = nn.BatchNorm1d(c0.channels) if c0.batch_norm else None
        self.drop1 = nn.Dropout(c0.dropout) if c0.dropout else None
        blocks = []
        in_ch = c0.channels
        for c in spec.convs[1:]:
            layers: list[nn.Module] = [nn.Conv1d(in_ch, c.channels, c.width, padding=c.padding)]
            if c.batch_norm:
                layers.append(nn.BatchNorm1d(c.channels))
            layers.append(nn.ReLU())
            if ArchSpec.local_pool(c):
                layers.append(nn.MaxPool1d(c.pool, c.pool_stride or c.pool))
            if c.dropout:
                layers.append(nn.Dropout(c.dropout))
            blocks.append(nn.Sequential(*layers))
            in_ch = c.channels
        self.convs = nn.ModuleList(blocks)
        if spec.flattens:
            if spec.seq_len is None:
                raise InputError(f"architecture {spec.name} needs a fixed sequence length")
            spec.validate_length(spec.seq_len, f"architecture {spec.name}")
            n_feat = in_ch * spec.length_after(spec.seq_len)[-1]
        else:
            n_feat = in_ch
        dense = []
        for d in spec.dense:
            layers = [nn.Linear(n_feat, d.units)]
            if d.batch_norm:
                layers.append(nn.BatchNorm1d(d.units))
            layers.append(nn.ReLU())
            if d.dropout:
                layers.append(nn.Dropout(d.dropout))
            dense.append(nn.Sequential(*layers))
            n_feat = d.units
        self.dense = nn.ModuleList(dense)
        self.out = nn.Linear(n_feat, spec.n_outputs)

    # ---- helpers ---------------------------------------------------------------------------

    @property
    def n_kernels(self) -> int:
        return self.conv1.out_channels

    def _impl(self, device) -> str:
        c0 = self.spec.convs[0]
        fusable = self.spec.kernel_strands and not c0.batch_norm and c0.padding == "valid"
        if self.conv_impl == "auto":
            return "fused" if (fusable and device.type == "cpu" and numba_available()) else "onehot"
        if self.conv_impl == "fused" and not (fusable and device.type == "cpu"):
            return "onehot"
        return self.conv_impl

    def _check_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be (batch, length), got shape {tuple(tokens.shape)}")
        if tokens.dtype != torch.uint8:
            tokens = tokens.to(torch.uint8)
        if self.spec.flattens and tokens.shape[1] != self.spec.seq_len:
            raise InputError(
                f"architecture {self.spec.name} was built for {self.spec.seq_len}-bp sequences, got {tokens.shape[1]} bp"
            )
        return tokens

    def _kernel_features(self, tokens: torch.Tensor) -> torch.Tensor:
        """Globally pooled first layer, both strands per kernel: relu(max_p conv + b) -> (B, K)."""
        impl = self._impl(tokens.device)
        if impl == "fused":
            return fused_kernel_features(tokens, self.conv1.weight, self.conv1.bias, self.spec.both_strands)
        w = self.conv1.weight
        K = w.shape[0]
        if self.spec.both_strands:  # reverse-complemented kernels scan the same tokens
            w = torch.cat([w, reverse_complement_weight(w)], dim=0)
        m = first_conv_map(tokens, w, None, "valid", impl).amax(dim=2)
        if self.spec.both_strands:
            m = torch.maximum(m[:, :K], m[:, K:])
        return F.relu(m + self.conv1.bias)  # max(x + b) = max(x) + b; relu commutes with max

    def _first_map(self, tokens: torch.Tensor) -> torch.Tensor:
        """First block up to (not including) pooling: (B, K, P), post-ReLU, unmasked."""
        c0 = self.spec.convs[0]
        x = first_conv_map(tokens, self.conv1.weight, self.conv1.bias, c0.padding, self._impl(tokens.device))
        if self.bn1 is not None:
            x = self.bn1(x)
        return F.relu(x)

    def _trunk(self, tokens: torch.Tensor) -> torch.Tensor:
        """Conv blocks -> flattened features (B, F) (one strand; output-merged architectures)."""
        c0 = self.spec.convs[0]
        x = self._first_map(tokens) * self.kernel_mask[None, :, None]
        if c0.pool == "global":
            x = x.amax(dim=2, keepdim=True)
        elif ArchSpec.local_pool(c0):
            x = F.max_pool1d(x, c0.pool, c0.pool_stride or c0.pool)
        if self.drop1 is not None:
            x = self.drop1(x)
        for spec, block in zip(self.spec.convs[1:], self.convs):
            x = block(x)
            if spec.pool == "global":
                x = x.amax(dim=2, keepdim=True)
        return x.flatten(1)

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        for block in self.dense:
            h = block(h)
        return self.out(h)

    # ---- public ----------------------------------------------------------------------------

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """uint8 tokens (B, L) on the model's device -> logits (B, n_outputs)."""
        tokens = self._check_tokens(tokens)
        if self.spec.kernel_strands:
            h = self._kernel_features(tokens) * self.kernel_mask
            if self.drop1 is not None:
                h = self.drop1(h)
            return self._head(h)
        if self.spec.both_strands:
            B = tokens.shape[0]
            both = torch.cat([tokens, reverse_complement_tokens(tokens)])  # one batch: BN sees both
            logits = self._head(self._trunk(both))
            return torch.maximum(logits[:B], logits[B:])
        return self._head(self._trunk(tokens))

    def kernel_activations(self, tokens: torch.Tensor) -> torch.Tensor:
        """Per-kernel global-max first-layer activation (post-ReLU, unmasked): (B, K).

        Over both strands when ``both_strands``. This is Deepprune's u_j before averaging.
        """
        tokens = self._check_tokens(tokens)
        if self.spec.kernel_strands:
            return self._kernel_features(tokens)
        m = self._first_map(tokens).amax(dim=2)
        if self.spec.both_strands:
            m = torch.maximum(m, self._first_map(reverse_complement_tokens(tokens)).amax(dim=2))
        return m

    def activation_map(self, tokens: torch.Tensor) -> torch.Tensor:
        """First-layer activation map (B, K, P) on the given strand (post-ReLU, unmasked)."""
        return self._first_map(self._check_tokens(tokens))

    def first_consumer(self) -> tuple[nn.Module, int]:
        """The layer reading the first block's output and the positions per kernel it sees."""
        if len(self.spec.convs) > 1:
            return self.convs[0][0], 0
        per_kernel = 1 if self.spec.convs[0].pool == "global" else self.spec.length_after(self.spec.seq_len)[0]
        return (self.dense[0][0] if len(self.dense) else self.out), per_kernel

    def dense_weights(self) -> list[torch.Tensor]:
        """Weights of every dense layer (for L1/L2 penalties)."""
        return [blk[0].weight for blk in self.dense] + [self.out.weight]


def build_model(spec: ArchSpec, seed: int | None = None, conv_impl: str = "auto") -> MotifCNN:
    """A freshly initialised model; with ``seed`` the initial weights depend on it alone."""
    if seed is None:
        return MotifCNN(spec, conv_impl)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MotifCNN(spec, conv_impl)


def select_kernels(model: MotifCNN, keep: Sequence[int] | np.ndarray | torch.Tensor) -> MotifCNN:
    """A smaller copy of ``model`` holding only first-layer kernels ``keep`` (physical indices).

    Copies the surviving conv weights, bias, batch-norm entries, mask and original ids, and the
    matching input columns/channels of the layer that reads them; every other weight is copied
    unchanged. ``kernel_ids`` keeps pointing at the original kernel numbers.
    """
    keep_t = torch.as_tensor(np.asarray(keep, dtype=np.int64))
    if keep_t.numel() == 0:
        raise InputError("cannot keep zero kernels")
    if keep_t.min() < 0 or keep_t.max() >= model.n_kernels or len(set(keep_t.tolist())) != keep_t.numel():
        raise ValueError("keep must hold distinct kernel indices of the model")
    spec = copy.deepcopy(model.spec)
    spec.convs[0].channels = int(keep_t.numel())
    new = MotifCNN(spec, model.conv_impl).to(model.conv1.weight.device)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    dev = model.conv1.weight.device
    keep_d = keep_t.to(dev)
    for name in ("conv1.weight", "conv1.bias", "kernel_mask", "kernel_ids"):
        state[name] = state[name][keep_d]
    if model.bn1 is not None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            state[f"bn1.{name}"] = state[f"bn1.{name}"][keep_d]
    consumer, per_kernel = model.first_consumer()
    cname = next(n for n, m in model.named_modules() if m is consumer)
    if per_kernel == 0:  # next conv: input channels
        state[f"{cname}.weight"] = state[f"{cname}.weight"][:, keep_d]
    else:  # flattened (K, per_kernel) features, channel-major
        cols = (keep_d[:, None] * per_kernel + torch.arange(per_kernel, device=dev)).reshape(-1)
        state[f"{cname}.weight"] = state[f"{cname}.weight"][:, cols]
    new.load_state_dict(state)
    return new


def full_kernel_mask(model: MotifCNN) -> np.ndarray:
    """Mask over the *original* kernels (n_kernels_original,): 1 where a kernel is present and
    active, 0 where it was masked or physically removed."""
    full = np.zeros(model.spec.n_kernels_original, dtype=np.float32)
    ids = model.kernel_ids.cpu().numpy()
    full[ids] = model.kernel_mask.detach().cpu().numpy()
    return full


def count_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


__all__ = [
    "ARCHITECTURES", "ArchSpec", "ConvSpec", "DenseSpec", "MotifCNN", "arch_spec", "build_model",
    "select_kernels", "full_kernel_mask", "weight_table", "reverse_complement_weight",
    "reverse_complement_tokens", "conv_onehot", "conv_gather", "fused_kernel_features", "fused_global_max",
    "grouped_table", "count_parameters",
]  # fmt: skip

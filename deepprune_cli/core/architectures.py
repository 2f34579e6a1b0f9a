"""Architectures as data: :class:`ArchSpec` (convolution and dense blocks) and the published presets.

``deepbind`` (Alipanahi et al. 2015; 16 kernels and ReLU, as published), ``deepbind64`` (the same
layout with 64 kernels and Koo & Ploenzke 2021's exponential first-layer activation: the default of
``deepprune train``), Zeng et al. (2016)'s nine ``1layer*``/``2layer*``/``3layer*``
variants and Koo & Eddy (2019)'s ``cnn-P`` family are each a spec; :func:`arch_spec` builds one by
name with the kernel count, width and strands asked for. A spec is turned into a network by
:func:`deepprune_cli.core.models.build_model`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field

from deepprune_cli.core.choices import PADDINGS
from deepprune_cli.core.errors import InputError
from deepprune_cli.core.sequences import N_TOKEN, PAD_TOKEN


# --------------------------------------------------------------------------------------------
# architecture specs

#: first-layer activations (``--activation``): ``exp`` is Koo & Ploenzke (2021)'s exponential
ACTIVATIONS = ("relu", "exp")


def padding_widths(padding: str, width: int) -> tuple[int, int, int]:
    """``(left, right, fill token)`` that ``padding`` adds around a sequence for a ``width``-bp kernel."""
    if padding == "valid":
        return 0, 0, PAD_TOKEN
    if padding == "same":
        left = (width - 1) // 2
        return left, width - 1 - left, PAD_TOKEN
    if padding == "full":
        return width - 1, width - 1, N_TOKEN
    raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")


@dataclass
class ConvSpec:
    """One convolution block: conv -> [batch norm] -> activation -> pool -> dropout.

    ``pool`` is ``"global"`` (max over all positions; the output is (B, channels)), an int window
    (max pooling, stride ``pool_stride`` or the window), or 0 for none. ``activation`` is ``relu``
    or, for the first block only, ``exp`` (Koo & Ploenzke 2021's exponential activation).
    ``padding`` is one of :data:`PADDINGS` (``full`` for the first block only).
    """

    channels: int
    width: int
    padding: str = "valid"
    batch_norm: bool = False
    pool: int | str = "global"
    pool_stride: int | None = None
    dropout: float = 0.0
    activation: str = "relu"

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if self.padding not in PADDINGS:
            raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {self.padding!r}")


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
            left, right, _ = padding_widths(c.padding, c.width)
            length = length + left + right - c.width + 1
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
ARCHITECTURES = ("deepbind", "deepbind64") + ZENG_ARCHS + KOO_ARCHS
#: ``deepprune train``'s default: DeepBind's layout with 64 kernels and an exponential first-layer
#: activation. On DeepBind's 10 ENCODE benchmark experiments (``benchmarks/bench_encode_auc.py``)
#: 64 kernels beat 16 on validation and test AUROC in every experiment, for about twice the
#: training time, and the exponential raised the validation AUROC there (7 of 10) and on
#: simulations (``benchmarks/bench_activation_sim.py``); ``deepbind`` stays the published
#: 16-kernel ReLU model.
DEFAULT_TRAIN_ARCH = "deepbind64"
#: first-layer kernels, activation and padding of the DeepBind-layout architectures. ``deepbind64``
#: pads ``full`` (W-1 N on each side): on the same 10 ENCODE experiments that raised validation
#: AUROC in 9 of 10 (median 0.9084 -> 0.9179) and test AUROC above DeepBind* in 10 of 10, for
#: 1.34x the CPU time (``results/encode_auc_full_padding.tsv``); ``deepbind`` keeps ``valid``.
DEEPBIND_LAYOUTS = {"deepbind": (16, "relu", "valid"), "deepbind64": (64, "exp", "full")}
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
    activation: str | None = None,
    padding: str | None = None,
) -> ArchSpec:
    """The :class:`ArchSpec` of a named architecture, with optional first-layer overrides.

    ``activation`` replaces the first block's activation (``relu``, or ``exp``: Koo & Ploenzke 2021;
    ``deepbind64`` has ``exp``, every published architecture ``relu``).

    ``padding`` replaces the first block's padding (one of :data:`PADDINGS`; ``full`` puts W-1 N on
    each side, so that a kernel wider than its motif sees a site at either end of a sequence whole).

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
    if activation is not None and activation not in ACTIVATIONS:
        raise InputError(f"--activation must be one of {', '.join(ACTIVATIONS)}, got '{activation}'")
    if padding is not None and padding not in PADDINGS:
        raise InputError(f"--padding must be one of {', '.join(PADDINGS)}, got '{padding}'")
    key = name.strip().lower().replace("_", "-") if name.lower().startswith("cnn") else name.strip().lower()
    if key in DEEPBIND_LAYOUTS:
        # Dropout on the pooled features regularises like DeepBind's own (it has no weights,
        # so the model is the issue's: conv, activation, global max, mask, one output unit).
        channels, act, pad = DEEPBIND_LAYOUTS[key]
        spec = ArchSpec(key, [ConvSpec(channels, 24, pad, False, "global", None, DEEPBIND_DROPOUT, act)], [])
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
    if activation is not None:
        spec.convs[0].activation = activation
    if padding is not None:
        spec.convs[0].padding = padding
    spec.n_kernels_original = spec.convs[0].channels
    spec.n_outputs = n_outputs
    spec.both_strands = both_strands
    spec.seq_len = seq_len if spec.flattens else None
    return spec

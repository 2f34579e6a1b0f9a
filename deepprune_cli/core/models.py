"""The model: :class:`MotifCNN` over uint8 DNA tokens, built from one small set of parts, plus the kernel mask.

Every architecture is a :class:`MotifCNN` described by an :class:`ArchSpec`:

    tokens (B, L) uint8 -> first conv (motif kernels) [-> batch norm] -> ReLU | exp -> x kernel_mask
        -> pool (global max | local max) -> dropout
        -> [conv -> batch norm -> ReLU -> pool -> dropout] * (n - 1)
        -> flatten -> [dense -> batch norm -> ReLU -> dropout] * m -> dense output (logits, (B, C))

The first layer's implementations live in :mod:`~deepprune_cli.core.first_layer`, the
architectures (specs and the published presets) in :mod:`~deepprune_cli.core.architectures`.

Both strands: for architectures whose first layer is globally max-pooled, each kernel scans
the reverse complement too (equivalently, the sequence with the reverse-complemented kernel) and
the max over both strands is the kernel's feature; otherwise the whole network runs on both
strands and the logits are max-merged. Either way a sequence and its reverse complement get the
same prediction.
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from deepprune_cli.core.architectures import ArchSpec
from deepprune_cli.core.errors import InputError
from deepprune_cli.core.first_layer import (
    CONV_IMPLS, first_conv_map, fused_kernel_features, fused_available, pad_tokens, reverse_complement_tokens,
    reverse_complement_weight,
)


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
        fusable = self.spec.kernel_strands and not c0.batch_norm and c0.padding in ("valid", "full")
        if self.conv_impl == "auto":
            return "fused" if (fusable and device.type == "cpu" and fused_available()) else "onehot"
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

    def _act(self, x: torch.Tensor) -> torch.Tensor:
        """The first block's activation (``spec.convs[0].activation``): ReLU, or exp."""
        return torch.exp(x) if self.spec.convs[0].activation == "exp" else F.relu(x)

    def _kernel_features(self, tokens: torch.Tensor) -> torch.Tensor:
        """Globally pooled first layer, both strands per kernel: act(max_p conv + b) -> (B, K).

        Both activations are increasing, so they commute with the max. Padding (``full``) is
        applied to the tokens first; the reverse strand of an N-padded sequence is the padded
        reverse strand, so both strands see the same windows."""
        impl = self._impl(tokens.device)
        tokens = pad_tokens(tokens, self.conv1.weight.shape[2], self.spec.convs[0].padding)
        if impl == "fused":
            if self.spec.convs[0].activation == "exp":
                pre = fused_kernel_features(tokens, self.conv1.weight, self.conv1.bias, self.spec.both_strands, relu=False)
                return torch.exp(pre)
            return fused_kernel_features(tokens, self.conv1.weight, self.conv1.bias, self.spec.both_strands)
        w = self.conv1.weight
        K = w.shape[0]
        if self.spec.both_strands:  # reverse-complemented kernels scan the same tokens
            w = torch.cat([w, reverse_complement_weight(w)], dim=0)
        m = first_conv_map(tokens, w, None, "valid", impl).amax(dim=2)
        if self.spec.both_strands:
            m = torch.maximum(m[:, :K], m[:, K:])
        return self._act(m + self.conv1.bias)  # max(x + b) = max(x) + b; the activation commutes with max

    def _first_map(self, tokens: torch.Tensor) -> torch.Tensor:
        """First block up to (not including) pooling: (B, K, P), post-activation, unmasked."""
        c0 = self.spec.convs[0]
        x = first_conv_map(tokens, self.conv1.weight, self.conv1.bias, c0.padding, self._impl(tokens.device))
        if self.bn1 is not None:
            x = self.bn1(x)
        return self._act(x)

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
        """Per-kernel global-max first-layer activation (post-activation, unmasked): (B, K).

        Over both strands when ``both_strands``. This is Deepprune's u_j before averaging.
        """
        tokens = self._check_tokens(tokens)
        if self.spec.kernel_strands:
            return self._kernel_features(tokens)
        m = self._first_map(tokens).amax(dim=2)
        if self.spec.both_strands:
            m = torch.maximum(m, self._first_map(reverse_complement_tokens(tokens)).amax(dim=2))
        return m

    def first_consumer(self) -> tuple[nn.Module, int]:
        """The layer reading the first block's output and the positions per kernel it sees."""
        if len(self.spec.convs) > 1:
            return self.convs[0][0], 0
        per_kernel = 1 if self.spec.convs[0].pool == "global" else self.spec.length_after(self.spec.seq_len)[0]
        return (self.dense[0][0] if len(self.dense) else self.out), per_kernel

    def readout(self) -> tuple[nn.Linear, nn.Module]:
        """For a single conv block with global pooling: the linear layer reading the ``K`` kernel
        features (:meth:`first_consumer`) and, as one module, everything after it, mapping its
        ``(n, H)`` pre-activations to ``(n, C)`` logits (``nn.Identity`` when it is the output)."""
        consumer, per_kernel = self.first_consumer()
        if len(self.spec.convs) > 1 or per_kernel != 1:
            raise ValueError(f"{self.spec.name}: kernels are not read as one feature each")
        rest = nn.Sequential(*list(self.dense[0])[1:], *list(self.dense)[1:], self.out) if len(self.dense) else nn.Identity()
        return consumer, rest

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
    """Trainable and frozen parameters of ``model``, all counted."""
    return int(sum(p.numel() for p in model.parameters()))

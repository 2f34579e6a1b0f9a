"""How sequences become a model's input: uint8 token matrices, and tensors on a device.

A model reads a uint8 ``(n, L)`` matrix of tokens (A, C, G, T, N = 0..4). Architectures that
flatten (a dense layer over positions) need every record at their one length; globally pooled ones
take any lengths, padded with N (centred) to the longest record and at least to the
architecture's minimum. :class:`DeviceData` holds such a matrix and its labels on one device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from deepprune_cli.core.architectures import ArchSpec
from deepprune_cli.core.errors import InputError
from deepprune_cli.core.record_ids import RecordIds
from deepprune_cli.core.sequences import N_TOKEN, SequenceSet


def check_lengths(seqs: SequenceSet, fixed_length: int | None, arch: str) -> None:
    """Refuse mixed or wrong lengths for architectures that need one length."""
    if len(seqs) == 0:
        return
    lengths = seqs.lengths
    lo, hi = int(lengths.min()), int(lengths.max())
    if fixed_length is None:
        return
    if lo != hi:
        raise InputError(
            f"{seqs.source}: sequences have different lengths ({lo}..{hi} bp); architecture {arch} needs one "
            f"length (globally pooled architectures such as deepbind pad with N instead)"
        )
    if lo != fixed_length:
        raise InputError(f"{seqs.source}: sequences are {lo} bp; architecture {arch} was built for {fixed_length} bp")


def token_matrix(seqs: SequenceSet, length: int | None = None, index: np.ndarray | None = None) -> np.ndarray:
    """Records as a uint8 (n, length) matrix; shorter records are padded with N, centred.

    ``length`` defaults to the longest record. Records longer than ``length`` raise InputError.
    ``index`` (int ``(m,)``) takes records ``index`` only, in that order: an ``(m, length)`` matrix
    gathered straight from ``seqs.tokens``, as ``token_matrix(seqs.subset(index), length)`` but
    without copying ids, offsets or tokens on the way. Fixed-length input without ``index`` comes
    back as a view (no copy); with ``index`` only the chosen rows are copied, once.
    """
    lengths = seqs.lengths
    if index is not None:
        index = np.asarray(index, dtype=np.int64)
        fixed = seqs.fixed_length()
        if len(index) and fixed is not None and fixed == (fixed if length is None else int(length)):
            return seqs.as_matrix()[index]
        starts = seqs.offsets[:-1][index]
        lengths = lengths[index]
    else:
        starts = seqs.offsets[:-1]
    n = len(lengths)
    if n == 0:
        return np.zeros((0, length or 0), dtype=np.uint8)
    L = int(lengths.max()) if length is None else int(length)
    if int(lengths.max()) > L:
        raise InputError(f"{seqs.source}: records longer than {L} bp (up to {int(lengths.max())} bp)")
    if index is None and seqs.fixed_length() == L:
        return seqs.as_matrix()
    out = np.full((n, L), N_TOKEN, dtype=np.uint8)
    left = (L - lengths) // 2
    row_starts = np.arange(n, dtype=np.int64) * L + left
    body_starts = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=body_starts[1:])
    within = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(body_starts, lengths)
    out.reshape(-1)[np.repeat(row_starts, lengths) + within] = seqs.tokens[np.repeat(starts, lengths) + within]
    return out


#: rows moved per block by :func:`partition_rows` (about 6.5 MB of 101-bp tokens at a time)
PARTITION_BLOCK_ROWS = 1 << 16


def partition_rows(seqs: SequenceSet, first: np.ndarray, then: np.ndarray) -> bool:
    """Reorder the fixed-length records of ``seqs`` in place: records ``first`` (int ``(m,)``,
    ascending), then records ``then`` (int ``(n - m,)``, ascending), each in their order.

    Tokens, ids, labels and descriptions move together, so ``seqs`` (and every set sharing those
    objects with it) still holds the same records, only in a new order; afterwards
    ``seqs.as_matrix()[:m]`` and ``[m:]`` are the two parts as views, without a copy of the tokens.
    Returns False, changing nothing, where that cannot be done in place: mixed lengths, read-only
    tokens, or indices that are not an ascending partition of all records.

    Extra memory: one copy of the ``then`` rows (uint8 ``(n - m, L)``) and one block of rows.
    """
    first, then = np.asarray(first, dtype=np.int64), np.asarray(then, dtype=np.int64)
    n = len(seqs)
    if n == 0 or seqs.fixed_length() is None or len(first) + len(then) != n:
        return False
    mat = seqs.as_matrix()
    if not mat.flags.writeable or not mat.flags.c_contiguous:
        return False
    if seqs.labels is not None and not seqs.labels.flags.writeable:
        return False
    if not isinstance(seqs.ids, (list, RecordIds)) or not isinstance(seqs.descriptions, (list, type(None))):
        return False
    for idx in (first, then):
        if len(idx) and (idx[0] < 0 or idx[-1] >= n or (len(idx) > 1 and not (np.diff(idx) > 0).all())):
            return False
    taken = np.zeros(n, dtype=bool)
    taken[first] = True
    taken[then] = True
    if not taken.all():
        return False
    del taken
    tail = mat[then]  # (n - m, L): the second part, copied out before the first part moves down
    m = len(first)
    # Row first[j] moves to row j <= first[j]: a block's sources lie at or after the block, where
    # no earlier block wrote, and numpy gathers a block's rows before it writes them.
    for a in range(0, m, PARTITION_BLOCK_ROWS):
        b = min(a + PARTITION_BLOCK_ROWS, m)
        mat[a:b] = mat[first[a:b]]
    mat[m:] = tail
    del tail
    order = np.concatenate([first, then])
    if seqs.labels is not None:
        seqs.labels[:] = seqs.labels[order]
    # In place: a caller's set holding the same id object stays consistent.
    if isinstance(seqs.ids, RecordIds):
        seqs.ids.reorder_in_place(order)
    else:
        seqs.ids[:] = [seqs.ids[i] for i in order.tolist()]
    if seqs.descriptions is not None:
        seqs.descriptions[:] = [seqs.descriptions[i] for i in order.tolist()]
    return True


@dataclass
class DeviceData:
    """tokens: uint8 (n, L); labels: float32 (n, C) or None; both on one device."""

    tokens: torch.Tensor
    labels: torch.Tensor | None

    def __len__(self) -> int:
        return self.tokens.shape[0]


def model_tokens(spec: ArchSpec, seqs: SequenceSet) -> np.ndarray:
    """The uint8 (n, L) matrix a model with ``spec`` reads: one length for flattening
    architectures (mixed lengths refused), else N-padded (centred) to the longest record and to
    at least the architecture's minimum length."""
    if spec.flattens:
        check_lengths(seqs, spec.seq_len, spec.name)
        return seqs.as_matrix()
    longest = int(seqs.lengths.max()) if len(seqs) else 0
    return token_matrix(seqs, max(longest, spec.min_length()))


def to_device(data, device: torch.device, spec: ArchSpec | None = None) -> DeviceData:
    """A labelled SequenceSet, a ``(tokens, labels)`` pair or DeviceData -> DeviceData on ``device``."""
    if isinstance(data, DeviceData):
        return DeviceData(data.tokens.to(device), None if data.labels is None else data.labels.to(device))
    if isinstance(data, SequenceSet):
        mat = model_tokens(spec, data) if spec is not None else token_matrix(data)
        labels = data.labels
    else:
        mat, labels = data
    tokens = torch.as_tensor(np.ascontiguousarray(mat, dtype=np.uint8)).to(device)
    lab = None if labels is None else torch.as_tensor(np.asarray(labels, dtype=np.float32)).reshape(len(tokens), -1)
    return DeviceData(tokens, None if lab is None else lab.to(device))

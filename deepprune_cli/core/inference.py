"""Run a trained model on new sequences (``deepprune predict``): probabilities per record, streamed.

Input arrives as :class:`~deepprune_cli.core.sequences.SequenceSet` chunks (see
:func:`~deepprune_cli.core.sequences.stream_sequences`), so memory stays flat however many
records there are. Within a chunk, records are grouped by length and each group is run at its own
length: a record's prediction never depends on which other records share its chunk (padding a
short record with N up to a longer neighbour would change its global max).

With ``kernels=True`` each active first-layer kernel also reports its best window: the highest
pre-ReLU activation (batch norm folded in, as :func:`interpret.first_layer_filters` gives it),
its 0-based start on the record's forward strand and the strand it was found on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Callable, Iterable, Iterator

import numpy as np

from deepprune_cli.core.architectures import padding_widths
from deepprune_cli.core.errors import InputError
from deepprune_cli.core.models import MotifCNN
from deepprune_cli.core.sequences import SequenceSet


@dataclass
class PredictionChunk:
    """Predictions for one chunk of records.

    Attributes:
        ids: record ids, ``len(ids) == n``.
        probs: float32 ``(n, C)`` sigmoid outputs.
        activation: float32 ``(n, K_active)`` best pre-ReLU activation per active kernel, or None.
        start: int64 ``(n, K_active)`` 0-based window start on the forward strand, or None.
        minus: bool ``(n, K_active)`` True when the best window is on the reverse strand, or None.
    """

    ids: list[str]
    probs: np.ndarray
    activation: np.ndarray | None = None
    start: np.ndarray | None = None
    minus: np.ndarray | None = None


def check_input(model: MotifCNN, seqs: SequenceSet) -> None:
    """Refuse records the model cannot read: the wrong length for architectures that flatten
    positions into a dense layer, or shorter than the first layer needs (one line, naming a record)."""
    from deepprune_cli.core.layout import check_lengths

    spec = model.spec
    if len(seqs) == 0:
        return
    if spec.flattens:
        check_lengths(seqs, spec.seq_len, spec.name)
        return
    need = spec.min_length()
    short = np.flatnonzero(seqs.lengths < need)
    if len(short):
        i = int(short[0])
        raise InputError(
            f"{seqs.source}: record '{seqs.ids[i]}' is {int(seqs.lengths[i])} bp, shorter than model "
            f"{spec.name} can read ({need} bp; its kernels are {spec.kernel_length} bp)"
        )


def length_groups(seqs: SequenceSet) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(index int64 (m,), tokens uint8 (m, L))`` for each record length in ``seqs``; one group
    (a view, no copy) when all records share a length."""
    if len(seqs) == 0:
        return
    if seqs.fixed_length() is not None:
        yield np.arange(len(seqs)), seqs.as_matrix()
        return
    lengths = seqs.lengths
    for length in np.unique(lengths):
        index = np.flatnonzero(lengths == length)
        yield index, seqs.subset(index).as_matrix()


def kernel_best(model: MotifCNN, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best window of every active kernel in each record.

    Args:
        tokens: uint8 ``(n, L)``, one length.

    Returns:
        ``activation`` float32 ``(n, K_active)`` (pre-ReLU, batch norm folded), ``start`` int64
        ``(n, K_active)`` (0-based window start on the forward strand; under ``same`` or ``full``
        padding a window may hang over an end, so it can be negative or end past ``L``),
        ``minus`` bool ``(n, K_active)``.
    """
    from deepprune_cli.core.interpret import first_layer_filters, max_activations

    weight, bias = first_layer_filters(model)
    active = active_kernels(model)
    c0 = model.spec.convs[0]
    W = weight.shape[2]
    L = tokens.shape[1]
    left = padding_widths(c0.padding, W)[0]
    if c0.padding in ("valid", "full") and model.bn1 is None and _fused_ok():
        # the compiled scan the model itself runs on CPU: each record on its own, exactly, so a
        # record's numbers never depend on the chunk it came in
        from deepprune_cli.core.first_layer import fused_best_windows
        from deepprune_cli.core.interpret import pad_like_model

        padded = pad_like_model(tokens, W, c0.padding)
        values, start, strand = fused_best_windows(padded, weight[active], bias[active], model.spec.both_strands)
        return values, start.astype(np.int64) - left, strand.astype(bool)
    values, pos, minus = max_activations(
        weight[active], bias[active], tokens, both_strands=model.spec.both_strands, padding=c0.padding
    )
    # positions are in the padded strand that won; the reverse strand's window q covers the
    # forward bases [L - q - W, L - q)
    start = np.where(minus, L - (pos - left) - W, pos - left)
    return values, start.astype(np.int64), minus


def _fused_ok() -> bool:
    from deepprune_cli.core.first_layer import fused_available

    return fused_available()


def active_kernels(model: MotifCNN) -> np.ndarray:
    """Physical indices of the kernels the mask keeps: int64 ``(K_active,)``."""
    return np.flatnonzero(model.kernel_mask.detach().cpu().numpy() > 0)


def kernel_names(model: MotifCNN) -> list[str]:
    """``kernel<original id>`` for each active kernel (the ids ``logos`` gives its motifs)."""
    ids = model.kernel_ids.cpu().numpy()
    return [f"kernel{int(ids[k])}" for k in active_kernels(model)]


def predict_chunks(
    model: MotifCNN,
    chunks: Iterable[SequenceSet],
    device=None,
    batch_size: int = 4096,
    kernels: bool = False,
) -> Iterator[PredictionChunk]:
    """Predict every chunk of ``chunks`` in turn (each checked with :func:`check_input` first)."""
    from deepprune_cli.core import training

    n_out = model.spec.n_outputs
    n_k = len(active_kernels(model))
    for seqs in chunks:
        check_input(model, seqs)
        n = len(seqs)
        probs = np.empty((n, n_out), np.float32)
        act = np.empty((n, n_k), np.float32) if kernels else None
        start = np.empty((n, n_k), np.int64) if kernels else None
        minus = np.empty((n, n_k), bool) if kernels else None
        for index, mat in length_groups(seqs):
            probs[index] = training.predict(model, mat, device=device, batch_size=batch_size)
            if kernels:
                act[index], start[index], minus[index] = kernel_best(model, mat)
        yield PredictionChunk(seqs.ids, probs, act, start, minus)


def header(model: MotifCNN, kernels: bool = False) -> str:
    """The TSV header line (with its newline): ``id``, ``probability`` (or ``probability_<c>``
    per output) and, with ``kernels``, ``<kernel>_activation``, ``_start``, ``_strand``."""
    n_out = model.spec.n_outputs
    cols = ["id"] + (["probability"] if n_out == 1 else [f"probability_{c}" for c in range(n_out)])
    if kernels:
        for name in kernel_names(model):
            cols += [f"{name}_activation", f"{name}_start", f"{name}_strand"]
    return "\t".join(cols) + "\n"


def format_rows(chunk: PredictionChunk) -> str:
    """TSV rows of one chunk (probabilities and activations to 6 significant digits)."""
    cols = [chunk.ids]
    cols += [[f"{v:.6g}" for v in chunk.probs[:, c].tolist()] for c in range(chunk.probs.shape[1])]
    if chunk.activation is not None:
        for k in range(chunk.activation.shape[1]):
            cols.append([f"{v:.6g}" for v in chunk.activation[:, k].tolist()])
            cols.append([str(v) for v in chunk.start[:, k].tolist()])
            cols.append(np.where(chunk.minus[:, k], "-", "+").tolist())
    return "".join("\t".join(row) + "\n" for row in zip(*cols))


def write_predictions(
    model: MotifCNN,
    chunks: Iterable[SequenceSet],
    out: IO[str],
    device=None,
    batch_size: int = 4096,
    kernels: bool = False,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Stream predictions for ``chunks`` to the text stream ``out`` (header first); return the
    number of records. ``progress(n_records_so_far)`` is called after every chunk."""
    out.write(header(model, kernels))
    total = 0
    for chunk in predict_chunks(model, chunks, device=device, batch_size=batch_size, kernels=kernels):
        out.write(format_rows(chunk))
        total += len(chunk.ids)
        if progress is not None:
            progress(total)
    return total

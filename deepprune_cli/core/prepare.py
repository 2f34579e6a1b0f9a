"""From input records to what a fit needs: architecture, labelled splits on the device, test set.

``train`` and ``prune`` share this so that both read, label, split and lay out data the same way:

1. label the input and add seeded dinucleotide-shuffled negatives where it has none
   (:func:`datasets.make_training_data`);
2. resolve the architecture against the data (classes, one length for flattening architectures);
3. check the test set (labelled, same classes, usable lengths);
4. split off a seeded validation set that keeps each positive with its shuffles
   (:func:`datasets.split_validation`), or use a given validation set (``train --valid``: labelled
   and negatives added exactly as the input is), and move both parts to the device as uint8 tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from deepprune_cli.core import architectures, datasets, layout
from deepprune_cli.core.errors import InputError
from deepprune_cli.core.sequences import SequenceSet
from deepprune_cli.core.layout import DeviceData, to_device


@dataclass
class PreparedData:
    """Everything a fit needs.

    Attributes:
        spec: the architecture resolved for this data (classes, sequence length).
        train, val: DeviceData, uint8 tokens (n, L) and float32 labels (n, C) on the device.
        test: the labelled test set (SequenceSet) or None.
        data: the labelled training data before the split.
        info: provenance for ``config.json`` (counts, fingerprint, split seed ...).
    """

    spec: architectures.ArchSpec
    train: DeviceData
    val: DeviceData
    test: SequenceSet | None
    data: datasets.TrainingData
    info: dict


def resolve_spec(
    data: SequenceSet,
    arch: str,
    kernels: int | None,
    kernel_length: int | None,
    both_strands: bool,
    padding: str | None = None,
) -> architectures.ArchSpec:
    """The architecture ``arch`` sized for ``data`` (its classes and, where needed, its one length);
    ``padding`` replaces its first layer's (:data:`~deepprune_cli.core.choices.PADDINGS`)."""
    n_classes = data.n_classes
    probe = architectures.arch_spec(arch, kernels, kernel_length, n_classes, both_strands, seq_len=200, padding=padding)
    if n_classes > 1 and not probe.multi_output:
        raise InputError(
            f"{data.source}: labels have {n_classes} classes but architecture {probe.name} has one output "
            f"(use a multi-label architecture such as cnn-4)"
        )
    seq_len = None
    if probe.flattens:
        seq_len = data.fixed_length()
        if seq_len is None:
            lo, hi = int(data.lengths.min()), int(data.lengths.max())
            raise InputError(
                f"{data.source}: sequences have different lengths ({lo}..{hi} bp); architecture {probe.name} needs "
                f"one length (globally pooled architectures such as deepbind pad with N instead)"
            )
    spec = architectures.arch_spec(arch, kernels, kernel_length, n_classes, both_strands, seq_len=seq_len, padding=padding)
    if spec.flattens:
        spec.validate_length(seq_len, data.source)
    return spec


def check_test_set(test: SequenceSet, spec: architectures.ArchSpec) -> None:
    """A test set must be labelled with the model's classes and readable by the architecture."""
    if test.labels is None:
        raise InputError(f"{test.source}: --test needs labelled sequences (e.g. label=0/1 in FASTA headers)")
    if test.labels.shape[1] != spec.n_outputs:
        raise InputError(
            f"{test.source}: test labels have {test.labels.shape[1]} class(es); the model has {spec.n_outputs}"
        )
    if spec.flattens:
        layout.check_lengths(test, spec.seq_len, spec.name)


def prepare_training(
    positives: SequenceSet,
    negatives: SequenceSet | None = None,
    test: SequenceSet | None = None,
    *,
    valid: SequenceSet | None = None,
    spec: architectures.ArchSpec | None = None,
    arch: str = "deepbind",
    kernels: int | None = None,
    kernel_length: int | None = None,
    both_strands: bool = True,
    padding: str | None = None,
    shuffle: str | bool = "auto",
    negative_copies: int = 2,
    val_fraction: float | None = 0.1,
    seed: int = 0,
    device: torch.device | str = "cpu",
    threads: int | None = None,
    reorder_input: bool = False,
) -> PreparedData:
    """Label, (shuffle,) resolve the architecture, split and move to ``device``.

    Give ``spec`` to use an existing model's architecture (e.g. ``prune --from``); otherwise it is
    built from ``arch``, ``kernels``, ``kernel_length``, ``both_strands`` and ``padding`` (None: the
    architecture's own).

    Give ``valid`` to validate on that set instead of a split of the input (``val_fraction`` must
    then be None): it is labelled like the input and, when the input got dinucleotide-shuffled
    negatives, gets them too if it has none of its own (seeded from ``seed``).

    The training and validation parts of fixed-length data are views of one token matrix, reordered
    in place (training records first; :func:`layout.partition_rows`) rather than copies: that saves
    a copy of every token (1 byte per base). Records that were combined here (shuffled negatives,
    a negatives file) are reordered always; ``positives`` itself only with ``reorder_input=True``,
    which lets its records (tokens, ids, labels) change order, the same records still: give it
    when ``positives`` is not needed in its file order afterwards (``deepprune train`` and ``prune``).
    """
    if valid is not None and val_fraction is not None:
        raise InputError("--valid and --val-fraction exclude each other (a given validation set is not split)")
    if valid is None and val_fraction is None:
        val_fraction = 0.1
    if negative_copies < 1:
        raise InputError(f"--negative-copies must be at least 1, got {negative_copies}")
    device = torch.device(device)
    data = datasets.make_training_data(
        positives, negatives, shuffle=shuffle, copies=negative_copies, seed=seed, threads=threads
    )
    if spec is None:
        spec = resolve_spec(data.seqs, arch, kernels, kernel_length, both_strands, padding)
    else:
        if data.seqs.n_classes != spec.n_outputs:
            raise InputError(
                f"{positives.source}: labels have {data.seqs.n_classes} class(es); the model has {spec.n_outputs}"
            )
        if spec.flattens:
            layout.check_lengths(data.seqs, spec.seq_len, spec.name)
    if test is not None:
        check_test_set(test, spec)
    # Before any reordering: the fingerprint names the data in its input order.
    data_fingerprint = datasets.fingerprint(data.seqs)
    if valid is None:
        train_idx, val_idx = datasets.split_validation(data, val_fraction, seed=seed)
        own = reorder_input or not np.may_share_memory(data.seqs.tokens, positives.tokens)
        train_dd, val_dd = _split_to_device(data, train_idx, val_idx, spec, device, in_place=own)
        n_train, n_val = len(train_idx), len(val_idx)
        del train_idx, val_idx
    else:
        train_set, val_set = data.seqs, _given_validation(valid, data, spec, negative_copies, seed, threads)
        n_train, n_val = len(train_set), len(val_set)
        if spec.flattens:
            train_dd, val_dd = to_device(train_set, device, spec), to_device(val_set, device, spec)
        else:
            # Both parts share one token length so validation runs with the training layout.
            L = max(int(data.seqs.lengths.max()), int(val_set.lengths.max()), spec.min_length())
            train_dd = to_device((layout.token_matrix(train_set, L), train_set.labels), device)
            val_dd = to_device((layout.token_matrix(val_set, L), val_set.labels), device)
    info = dict(
        data.info,
        fingerprint=data_fingerprint,
        split_seed=seed,
        val_fraction=val_fraction,
        n_train=n_train,
        n_val=n_val,
        test=test.source if test is not None else None,
        max_length=int(data.seqs.lengths.max()),
        min_length=int(data.seqs.lengths.min()),
    )
    if valid is not None:
        info.update(valid=valid.source, valid_fingerprint=datasets.fingerprint(val_set), split_seed=None)
    return PreparedData(spec, train_dd, val_dd, test, data, info)


def _split_to_device(
    data: datasets.TrainingData,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    spec: architectures.ArchSpec,
    device: torch.device,
    in_place: bool = False,
) -> tuple[DeviceData, DeviceData]:
    """Training and validation parts of ``data.seqs`` (records ``train_idx``, ``val_idx``: int
    ascending ``(n_train,)``, ``(n_val,)``) as DeviceData: uint8 tokens ``(n_part, L)``, float32
    labels ``(n_part, C)``.

    ``in_place`` with fixed-length records already at ``L``: the records are reordered in place,
    training part first (:func:`layout.partition_rows`, ``data.groups`` along), and both parts are
    views of the one token matrix (on the CPU no token is copied). Otherwise rows are gathered
    straight from ``seqs.tokens`` (:func:`layout.token_matrix` with ``index``): each token is copied
    once, into its part. ``L`` is the architecture's one length, or for pooled architectures the
    longest record and at least the architecture's minimum, shared by both parts.
    """
    seqs = data.seqs
    L = spec.seq_len if spec.flattens else max(int(seqs.lengths.max()), spec.min_length())
    if in_place and seqs.fixed_length() == L and layout.partition_rows(seqs, train_idx, val_idx):
        data.groups = np.concatenate([data.groups[train_idx], data.groups[val_idx]])
        mat, m = seqs.as_matrix(), len(train_idx)
        return to_device((mat[:m], seqs.labels[:m]), device), to_device((mat[m:], seqs.labels[m:]), device)
    parts = []
    for idx in (train_idx, val_idx):
        parts.append(to_device((layout.token_matrix(seqs, L, index=idx), seqs.labels[idx]), device))
    return parts[0], parts[1]


def _given_validation(
    valid: SequenceSet,
    data: datasets.TrainingData,
    spec: architectures.ArchSpec,
    negative_copies: int,
    seed: int,
    threads: int | None,
) -> SequenceSet:
    """``--valid``: the given validation records, labelled as the input was (shuffled negatives
    exactly when the input got them), checked against the model's classes and length."""
    # A validation file that has its own negatives keeps them; one without gets shuffles only if the
    # input got them too (else it lacks negatives, and says so).
    shuffle = "auto" if "shuffled_negatives" in data.info else False
    val = datasets.make_training_data(
        valid, None, shuffle=shuffle, copies=negative_copies, seed=seed, threads=threads
    ).seqs
    if val.n_classes != spec.n_outputs:
        raise InputError(f"{valid.source}: validation labels have {val.n_classes} class(es); the model has {spec.n_outputs}")
    if spec.flattens:
        layout.check_lengths(val, spec.seq_len, spec.name)
    return val

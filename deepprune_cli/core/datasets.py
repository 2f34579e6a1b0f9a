"""From sequence files to labelled training data: negatives, labels, validation split, token matrix.

Label rules (one class unless the input carries ``labels=`` vectors):

* unlabelled records (plain FASTA, BED) are positives;
* a labelled input with both classes is used as it is;
* an input with a class that has no negatives (unlabelled, all ``Bound=1`` like a DeepBind ``_AC``
  file, or a multi-label column of ones) gets dinucleotide-shuffled negatives, two per record by
  default (twice the negative examples generalise better than one at a modest cost), seeded
  (``shuffle="auto"``); ``negatives=`` supplies your own instead. Multi-label data in which every
  class has records without its label (Koo & Eddy's design: every sequence holds some motif, no
  all-zero rows) get none: each class's negatives are the other classes' records, as published;
  :func:`negatives_note` says which case applied (``metrics.json``'s ``negatives``);
* every class must end up with both positives and negatives.

A positive and the shuffles made from it share a *group*; the validation split keeps groups
together, so no shuffle of a training sequence is used to validate.

Mixed lengths: architectures ending in global max pooling (``deepbind``, ``1layer``, ``2layer``,
``3layer`` ...) pad every record with N, centred, to the longest; architectures that flatten
(``*_local_win*``, Koo's ``cnn-*``) need one length and refuse mixed lengths.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from deepprune_cli.core.errors import InputError
from deepprune_cli.core.sequences import SequenceSet


@dataclass
class TrainingData:
    """A labelled set ready to split.

    Attributes:
        seqs: records with float32 labels (n, C).
        groups: int64 (n,); records sharing a value land on the same side of the split.
        info: how it was made (counts, negatives source), recorded in ``config.json``.
    """

    seqs: SequenceSet
    groups: np.ndarray
    info: dict = field(default_factory=dict)


def _negative_rows(labels: np.ndarray) -> np.ndarray:
    return ~labels.astype(bool).any(axis=1)


def make_training_data(
    positives: SequenceSet,
    negatives: SequenceSet | None = None,
    *,
    shuffle: str | bool = "auto",
    copies: int = 2,
    seed: int = 0,
    threads: int | None = None,
) -> TrainingData:
    """Label ``positives`` (and ``negatives``) and add shuffled negatives where needed.

    Args:
        positives: the main input; unlabelled records count as positives.
        negatives: optional negatives (unlabelled, or labelled all 0).
        shuffle: ``"auto"`` (shuffle when there are no negatives), True or False.
        copies: shuffled negatives per positive (default 2).
        seed: seed of the shuffles (record i, copy c is seeded from (seed, i, c)).
    """
    if len(positives) == 0:
        raise InputError(f"{positives.source}: no sequences")
    src = positives.source
    labels = positives.labels
    if labels is None:
        labels = np.ones((len(positives), 1), dtype=np.float32)
    C = labels.shape[1]
    pos = positives.with_labels(labels)
    parts = [pos]
    groups = [np.arange(len(pos), dtype=np.int64)]
    info = {"input": src, "n_input": len(pos), "classes": C}
    if negatives is not None:
        if len(negatives) == 0:
            raise InputError(f"{negatives.source}: no sequences")
        if negatives.labels is not None and negatives.labels.any():
            raise InputError(f"{negatives.source}: the negatives file has records labelled 1")
        parts.append(negatives.with_labels(np.zeros((len(negatives), C), dtype=np.float32)))
        groups.append(np.arange(len(pos), len(pos) + len(negatives), dtype=np.int64))
        info["negatives"] = negatives.source
        info["n_negatives_file"] = len(negatives)
    # A class lacks negatives when every record carries it; multi-label rows need not be all zero.
    has_negatives = negatives is not None or bool((labels.min(axis=0) < 0.5).all())
    do_shuffle = (not has_negatives) if shuffle == "auto" else bool(shuffle)
    if do_shuffle:
        if copies < 1:
            raise InputError(f"--negative-copies must be at least 1, got {copies}")
        from deepprune_cli.core.shuffle import shuffle_set

        # Shuffle only the positives; a record's shuffles join its group.
        base_idx = np.flatnonzero(~_negative_rows(labels))
        base = pos.subset(base_idx)
        shuf = shuffle_set(base, k=2, copies=copies, seed=seed, threads=threads)
        parts.append(shuf.with_labels(np.zeros((len(shuf), C), dtype=np.float32)))
        groups.append(np.repeat(base_idx, copies))
        info["shuffled_negatives"] = {"k": 2, "copies": copies, "seed": seed, "n": len(shuf)}
    # A labelled input used as it is needs no copy of its tokens.
    seqs = parts[0] if len(parts) == 1 else SequenceSet.concatenate(parts, source=src)
    y = seqs.labels
    for c in range(C):
        col = y[:, c]
        if col.min() == col.max():
            which = "positive" if col[0] == 1 else "negative"
            cls = f" class {c + 1}" if C > 1 else ""
            raise InputError(f"{src}: one class only: every record is{cls} {which}; training needs positives and negatives")
    info["n_positive"] = [int(v) for v in y.sum(axis=0)]
    info["n_total"] = len(seqs)
    return TrainingData(seqs, np.concatenate(groups), info)


def negatives_note(info: dict) -> str | None:
    """Where the negatives of data made by :func:`make_training_data` came from, in words (for logs
    and ``metrics.json``); None when ``info`` does not say (e.g. an empty dict)."""
    if "n_input" not in info:
        return None
    shuffled = info.get("shuffled_negatives")
    parts = []
    if "n_negatives_file" in info:
        parts.append(f"{info['n_negatives_file']} from {info['negatives']}")
    if shuffled:
        parts.append(
            f"dinucleotide-shuffled, {shuffled['copies']} per positive ({shuffled['n']} made, seed {shuffled['seed']})"
        )
    if not parts:
        if info.get("classes", 1) > 1:
            return "from the input's labels (each class: the records without its label; none invented)"
        return "from the input's labels (records labelled 0; none invented)"
    return "; ".join(parts)


def split_validation(data: TrainingData, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of whole groups, stratified by label pattern: (train_idx, val_idx).

    Both parts must hold positives and negatives of every class, else :class:`InputError`.
    """
    src = data.seqs.source
    if not 0 < val_fraction < 1:
        raise InputError(f"--val-fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    y = data.seqs.labels
    uniq, first, inverse = np.unique(data.groups, return_index=True, return_inverse=True)
    # Stratify groups by the labels of their first record (pos/neg pairs all look alike).
    keys = y[first]
    if y.shape[1] > 1:
        keys = keys.any(axis=1, keepdims=True).astype(np.float32)
    # keys has one column: a plain unique of its values gives the ids a row-wise unique (axis=0)
    # would, without sorting structured rows (80 ms for 200,000 records)
    _, key_id = np.unique(keys[:, 0], return_inverse=True)
    key_id = key_id.reshape(-1)
    rng = np.random.default_rng([seed, 0x5EED])
    val_group = np.zeros(len(uniq), dtype=bool)
    for k in range(int(key_id.max()) + 1):
        members = np.flatnonzero(key_id == k)
        n_val = int(round(val_fraction * len(members)))
        if len(members) >= 2:
            n_val = min(max(n_val, 1), len(members) - 1)
        val_group[rng.permutation(members)[:n_val]] = True
    is_val = val_group[inverse]
    val_idx = np.flatnonzero(is_val)
    train_idx = np.flatnonzero(~is_val)
    for part, idx in (("validation", val_idx), ("training", train_idx)):
        if len(idx) == 0 or any(y[idx, c].min() == y[idx, c].max() for c in range(y.shape[1])):
            raise InputError(
                f"{src}: too few sequences ({len(y)}) for a {val_fraction:.0%} validation split: the "
                f"{part} part lacks positives or negatives; give more sequences or change --val-fraction"
            )
    return train_idx, val_idx


def fingerprint(seqs: SequenceSet) -> str:
    """Short SHA-256 of tokens, record boundaries and labels: identifies the exact data trained on."""
    h = hashlib.sha256()
    # Arrays are hashed through their buffers: .tobytes() would copy every token once more.
    h.update(np.ascontiguousarray(seqs.tokens[seqs.offsets[0] : seqs.offsets[-1]]))
    h.update(np.ascontiguousarray(seqs.lengths, dtype=np.int64))
    if seqs.labels is not None:
        h.update(np.ascontiguousarray(seqs.labels, dtype=np.float32))
    return h.hexdigest()[:16]

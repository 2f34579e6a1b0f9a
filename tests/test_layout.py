"""layout.token_matrix with ``index`` (the rows a split needs, gathered without a SequenceSet copy) and
partition_rows (the split reordered in place, both parts views of one matrix)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepprune_cli.core import layout
from deepprune_cli.core.errors import InputError
from deepprune_cli.core.sequences import SequenceSet


@pytest.mark.parametrize("fixed", [True, False])
def test_token_matrix_index_matches_subset(fixed):
    rng = np.random.default_rng(0)
    lens = [9] * 25 if fixed else [int(x) for x in rng.integers(1, 15, 25)]
    seqs = SequenceSet.from_strings(["".join(rng.choice(list("ACGTN"), n)) for n in lens])
    idx = rng.integers(0, 25, 40)
    for L in (None, max(lens), max(lens) + 3):
        want = layout.token_matrix(seqs.subset(idx), L)
        got = layout.token_matrix(seqs, L, index=idx)
        assert got.dtype == np.uint8 and got.shape == want.shape
        assert (got == want).all()
    assert layout.token_matrix(seqs, 20, index=np.zeros(0, np.int64)).shape == (0, 20)
    with pytest.raises(InputError, match="longer"):
        layout.token_matrix(seqs, max(lens) - 1, index=np.arange(25))


def test_token_matrix_index_copies_only_the_rows():
    seqs = SequenceSet.from_strings(["ACGT", "TTTT", "GGGG"])
    got = layout.token_matrix(seqs, index=[2, 0])
    assert not np.shares_memory(got, seqs.tokens)
    assert (got == layout.token_matrix(seqs)[[2, 0]]).all()


# --- partition_rows: the split's two parts as views of one reordered token matrix ---


def _records(seqs):
    return {rid: (seqs.text(i), tuple(seqs.labels[i])) for i, rid in enumerate(seqs.ids)}


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), length=st.integers(1, 12), seed=st.integers(0, 2**16), block=st.integers(1, 7))
def test_partition_rows_keeps_records_and_orders_parts(n, length, seed, block):
    rng = np.random.default_rng(seed)
    seqs = SequenceSet.from_strings(
        ["".join(rng.choice(list("ACGTN"), length)) for _ in range(n)],
        ids=[f"r{i}" for i in range(n)], labels=rng.integers(0, 2, (n, 2)),
    )
    before = _records(seqs)
    old_texts = [seqs.text(i) for i in range(n)]
    is_first = rng.random(n) < 0.7
    first, then = np.flatnonzero(is_first), np.flatnonzero(~is_first)
    ids_list, tokens = seqs.ids, seqs.tokens
    saved = layout.PARTITION_BLOCK_ROWS
    layout.PARTITION_BLOCK_ROWS = block  # small blocks: sources and targets overlap across blocks
    try:
        assert layout.partition_rows(seqs, first, then)
    finally:
        layout.PARTITION_BLOCK_ROWS = saved
    assert seqs.ids is ids_list and seqs.tokens is tokens  # in place
    assert _records(seqs) == before  # the same records, each with its tokens and labels
    order = np.concatenate([first, then])
    assert seqs.ids == [f"r{i}" for i in order]
    assert [seqs.text(i) for i in range(n)] == [old_texts[i] for i in order]


def test_partition_rows_refuses_what_it_cannot_do_in_place():
    mixed = SequenceSet.from_strings(["ACGT", "AC", "GGGG"])
    assert not layout.partition_rows(mixed, [0, 2], [1])
    seqs = SequenceSet.from_strings(["ACGT", "TTTT", "GGGG"])
    snapshot = seqs.tokens.copy()
    assert not layout.partition_rows(seqs, [2, 0], [1])  # not ascending
    assert not layout.partition_rows(seqs, [0, 1], [1])  # not a partition
    assert not layout.partition_rows(seqs, [0], [1])  # records missing
    seqs.tokens.flags.writeable = False
    assert not layout.partition_rows(seqs, [0, 2], [1])
    assert (seqs.tokens == snapshot).all() and seqs.ids == ["seq0", "seq1", "seq2"]


@pytest.mark.parametrize("labelled", [True, False])
def test_prepare_reordered_split_equals_gathered_split(labelled):
    """reorder_input=True gives the same training and validation tensors as the gathering copy,
    and leaves the caller's set a consistent reordering of its records."""
    from deepprune_cli.core.prepare import prepare_training

    rng = np.random.default_rng(1)
    n = 300
    texts = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(n)]
    labels = (np.arange(n) % 2)[:, None] if labelled else None

    def make():
        return SequenceSet.from_strings(texts, labels=labels)

    copied = prepare_training(make(), arch="deepbind", kernels=4, seed=5)
    pos = make()
    before = {rid: pos.text(i) for i, rid in enumerate(pos.ids)}
    inplace = prepare_training(pos, arch="deepbind", kernels=4, seed=5, reorder_input=True)
    for a, b in ((copied.train, inplace.train), (copied.val, inplace.val)):
        assert torch.equal(a.tokens, b.tokens) and torch.equal(a.labels, b.labels)
    assert copied.info == inplace.info  # fingerprint of the input order
    assert np.shares_memory(inplace.train.tokens.numpy(), inplace.data.seqs.tokens)
    assert {rid: pos.text(i) for i, rid in enumerate(pos.ids)} == before
    # without reorder_input a labelled caller's set keeps its order
    kept = make()
    prepare_training(kept, arch="deepbind", kernels=4, seed=5)
    assert kept.ids == [f"seq{i}" for i in range(n)]

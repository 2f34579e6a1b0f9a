"""RecordIds: compact ids that behave like the list of str they replace."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepprune_cli.core import record_ids
from deepprune_cli.core.errors import InputError
from deepprune_cli.core.record_ids import RecordIds
from deepprune_cli.core.sequences import SequenceSet, read_sequences

id_lists = st.lists(st.text(min_size=0, max_size=8), max_size=30)


@settings(max_examples=80, deadline=None)
@given(ids=id_lists)
def test_behaves_like_the_list(ids):
    r = RecordIds.from_strings(ids)
    assert len(r) == len(ids) and list(r) == ids and r == ids and r == tuple(ids)
    for i in range(-len(ids), len(ids)):
        assert r[i] == ids[i]
    assert r[1:5] == ids[1:5] and r[::-2] == ids[::-2]
    for s in ids[:3]:
        assert s in r and r.index(s) == ids.index(s) and r.count(s) == ids.count(s)
    with pytest.raises(IndexError):
        r[len(ids)]
    assert r != ids + ["extra"]


@settings(max_examples=80, deadline=None)
@given(ids=id_lists, seed=st.integers(0, 1000))
def test_take_concatenate_reorder(ids, seed):
    rng = np.random.default_rng(seed)
    r = RecordIds.from_strings(ids)
    idx = rng.integers(0, len(ids), 2 * len(ids)) if ids else np.zeros(0, np.int64)
    assert r.take(idx) == [ids[i] for i in idx]
    assert record_ids.take(ids, idx) == [ids[i] for i in idx]
    half = len(ids) // 2
    assert RecordIds.concatenate([RecordIds.from_strings(ids[:half]), ids[half:]]) == ids
    order = rng.permutation(len(ids))
    r.reorder_in_place(order)
    assert r == [ids[i] for i in order]


@settings(max_examples=150, deadline=None)
@given(ids=st.lists(st.sampled_from(["", "a", "b", "ab", "ba", "é", "seq1", "seq10"]), max_size=12))
def test_first_duplicate_matches_a_set_scan(ids):
    want = None
    seen = set()
    for s in ids:
        if s in seen:
            want = s
            break
        seen.add(s)
    assert record_ids.first_duplicate(ids) == want
    assert record_ids.first_duplicate(RecordIds.from_strings(ids)) == want


def test_first_duplicate_across_hash_blocks(monkeypatch):
    monkeypatch.setattr(record_ids, "_HASH_BLOCK", 3)
    ids = [f"seq{i}" for i in range(20)] + ["seq7"]
    assert record_ids.first_duplicate(RecordIds.from_strings(ids)) == "seq7"
    assert record_ids.first_duplicate(RecordIds.from_strings(ids[:-1])) is None
    assert RecordIds.from_strings(ids).take(np.arange(20)[::-1]) == ids[:20][::-1]


def test_read_sequences_keeps_ids_compact_and_checks_duplicates(tmp_path):
    fa = tmp_path / "x.fa"
    fa.write_text("".join(f">r{i} label={i % 2}\nACGTACGT\n" for i in range(50)))
    seqs = read_sequences(fa)
    assert isinstance(seqs.ids, RecordIds) and seqs.ids == [f"r{i}" for i in range(50)]
    sub = seqs.subset([3, 1, 3])
    assert sub.ids == ["r3", "r1", "r3"]
    both = SequenceSet.concatenate([seqs, SequenceSet.from_strings(["AC"], ids=["z"], labels=[1])])
    assert both.ids[-1] == "z" and len(both.ids) == 51
    dup = tmp_path / "dup.fa"
    dup.write_text(">a\nACGT\n>b\nACGT\n>a\nACGT\n")
    with pytest.raises(InputError, match="duplicate record id 'a'"):
        read_sequences(dup)

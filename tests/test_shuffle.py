"""Exactness and uniformity of the k-let shuffle (deepprune_cli.core.shuffle)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from deepprune_cli.core.errors import InputError
from deepprune_cli.core.sequences import SequenceSet, encode
from deepprune_cli.core.shuffle import klet_counts, shuffle_set, shuffle_tokens


def all_klet_shuffles(seq: str, k: int) -> set[str]:
    """Every sequence with the k-let counts and (k>=2) the ends of ``seq``, by brute-force DFS.

    Independent of the implementation under test: a depth-first search over the remaining
    k-let multiset, extending a prefix one letter at a time.
    """
    if k == 1:
        from itertools import permutations

        return {"".join(p) for p in permutations(seq)}
    m = k - 1
    remaining = Counter(seq[i : i + k] for i in range(len(seq) - k + 1))
    found: set[str] = set()

    def extend(prefix: str) -> None:
        if len(prefix) == len(seq):
            found.add(prefix)
            return
        tail = prefix[-m:]
        for a in "ACGT":
            kmer = tail + a
            if remaining[kmer] > 0:
                remaining[kmer] -= 1
                extend(prefix + a)
                remaining[kmer] += 1

    extend(seq[:m])
    return found


def sample(seq: str, k: int, n: int, seed: int = 0) -> list[str]:
    s = SequenceSet.from_strings([seq])
    out = shuffle_set(s, k=k, copies=n, seed=seed)
    return [out.text(i) for i in range(n)]


def test_swap_counterexample_has_27_shuffles_and_all_are_reached_uniformly():
    seq = "ACCCACGATGATG"
    valid = all_klet_shuffles(seq, 2)
    assert len(valid) == 27
    draws = Counter(sample(seq, 2, 27 * 400, seed=11))
    assert set(draws) == valid
    assert chisquare([draws[v] for v in sorted(valid)]).pvalue > 1e-3


@pytest.mark.parametrize("seq, k", [("AACGTTGCAAGT", 2), ("ACACAGACATACACAGACA", 3), ("AACCGT", 1), ("GATTACAGATTACA", 2)])
def test_uniform_over_all_valid_shuffles(seq, k):
    valid = all_klet_shuffles(seq, k)
    assert len(valid) > 2
    n = min(len(valid) * 300, 60000)
    draws = Counter(sample(seq, k, n, seed=5))
    assert set(draws) <= valid
    if n >= len(valid) * 300:
        assert set(draws) == valid
        assert chisquare([draws[v] for v in sorted(valid)]).pvalue > 1e-3


acgt = st.text(alphabet="ACGT", min_size=1, max_size=80)


@given(seq=acgt, k=st.integers(1, 3), seed=st.integers(0, 2**32))
@settings(max_examples=150, deadline=None)
def test_exact_klet_counts_and_ends(seq, k, seed):
    out = sample(seq, k, 1, seed)[0]
    assert len(out) == len(seq)
    for j in range(1, k + 1):  # counts of every j-let up to k are kept
        assert klet_counts(encode(out), j) == klet_counts(encode(seq), j)
    if k >= 2:
        assert out[: k - 1] == seq[: k - 1] and out[-(k - 1) :] == seq[-(k - 1) :]


@given(seq=st.text(alphabet="ACGTN", min_size=1, max_size=80), seed=st.integers(0, 1000))
@settings(max_examples=100, deadline=None)
def test_n_runs_stay_and_segments_keep_dinucleotides(seq, seed):
    out = sample(seq, 2, 1, seed)[0]
    assert [i for i, c in enumerate(out) if c == "N"] == [i for i, c in enumerate(seq) if c == "N"]
    for a, b in zip(seq.split("N"), out.split("N")):
        assert klet_counts(encode(a), 2) == klet_counts(encode(b), 2) if a else b == ""


def test_seeded_per_record_independent_of_threads_and_batching():
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 101)) for _ in range(500)]
    s = SequenceSet.from_strings(seqs)
    one = shuffle_set(s, seed=42, threads=1)
    two = shuffle_set(s, seed=42, threads=2)
    assert np.array_equal(one.tokens, two.tokens)
    # a record's shuffle depends on (seed, its index) only, not on the rest of the batch
    head = shuffle_set(s.subset(range(100)), seed=42)
    assert np.array_equal(head.tokens, one.tokens[: head.offsets[-1]])
    other = shuffle_set(s, seed=43)
    assert not np.array_equal(one.tokens, other.tokens)


def test_copies_ids_and_too_short():
    s = SequenceSet.from_strings(["ACGTACGGTA", "AC"], ids=["x", "y"])
    out = shuffle_set(s, copies=3, tag="_neg")
    assert out.ids == ["x_neg1", "x_neg2", "x_neg3", "y_neg1", "y_neg2", "y_neg3"]
    assert out.too_short == 1
    assert all(out.text(i) == "AC" for i in range(3, 6))


def test_bad_parameters():
    t = encode("ACGT")
    with pytest.raises(InputError):
        shuffle_tokens(t, np.array([0, 4]), k=0)
    with pytest.raises(InputError):
        shuffle_tokens(t, np.array([0, 4]), copies=0)


@pytest.mark.parametrize("k, copies, seed, tag", [(2, 1, 7, "_shuf"), (3, 3, 11, "_n"), (1, 2, 0, ""), (6, 1, 2**40, "_k6")])
def test_streamed_shuffle_gives_the_bytes_of_the_whole_file_shuffle(tmp_path, k, copies, seed, tag):
    # The streamed writer (deepprune shuffle) must reproduce, byte for byte, the whole-input path:
    # read everything, shuffle_set, format_fasta. Small chunks cut the 20,000 records into hundreds.
    from deepprune_cli.core.sequences import format_fasta, read_sequences, stream_sequences
    from deepprune_cli.core.shuffle import write_shuffled
    import io

    rng = np.random.default_rng(3)
    lines = []
    for i in range(20_000):
        s = rng.choice(list("ACGTNacgtR"), int(rng.integers(1, 160)), p=[0.23] * 4 + [0.04, 0.01, 0.01, 0.01, 0.01, 0.0])
        lines.append(f">r{i}{' a description' if i % 5 == 0 else ''}\n{''.join(s)}\n")
    path = tmp_path / "in.fa"
    path.write_text("".join(lines))
    whole = format_fasta(shuffle_set(read_sequences(path), k=k, copies=copies, seed=seed, tag=tag))
    out = io.BytesIO()
    summary = write_shuffled(stream_sequences(path, chunk_bytes=5000), out, k=k, copies=copies, seed=seed, tag=tag)
    assert out.getvalue() == whole
    assert summary.records == 20_000 and summary.written == 20_000 * copies
    assert summary.too_short == shuffle_set(read_sequences(path), k=k, seed=seed).too_short

"""layout.token_matrix with ``index``: the rows a split needs, gathered without a SequenceSet copy."""

import numpy as np
import pytest

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

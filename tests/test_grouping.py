"""core.grouping: kernels that are the same motif up to shift and strand form one group."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepprune_cli.core.grouping import _star_groups, group_motifs
from deepprune_cli.core.motifs import Motif, load_motifs

# CTCF, MAX, YY1, GATA1, SOX2: five JASPAR motifs unlike each other
CTCF, MAX, YY1, GATA1, SOX2 = load_motifs("jaspar:MA0139.1,MA0058.3,MA0095.2,MA0035.4,MA0143.4")


def _copy(m: Motif, new_id: str, start: int = 0, stop: int | None = None, rc: bool = False) -> Motif:
    """A learned-kernel-like copy of ``m``: columns ``[start, stop)``, optionally reverse complemented."""
    probs = m.probs[start:stop]
    return Motif(new_id, probs[::-1, ::-1] if rc else probs, nsites=200)


def test_shifted_reverse_complement_and_partial_copies_group_together():
    motifs = [
        _copy(CTCF, "full"),
        _copy(CTCF, "shifted_rc", 3, 17, rc=True),
        _copy(MAX, "max"),
        _copy(CTCF, "left_part", 0, 10),
        _copy(YY1, "yy1", rc=True),
    ]
    g = group_motifs(motifs, importance=[1.0, 5.0, 2.0, 0.5, 0.1])
    assert g.partition() == frozenset(
        {frozenset({"full", "shifted_rc", "left_part"}), frozenset({"max"}), frozenset({"yy1"})}
    )
    # groups numbered by their representative's importance; the most important copy represents CTCF
    assert g.group.tolist() == [1, 1, 2, 1, 3]
    assert [m.id for m in g.distinct()] == ["shifted_rc", "max", "yy1"]
    assert g.members(1) == [0, 1, 3]
    assert g.p[0, 1] < 1e-10 and g.p[1, 0] == g.p[0, 1] and g.p[0, 2] > 1e-4
    assert g.n_targets == 879 + 5  # JASPAR 2024 CORE vertebrates + the motifs themselves


def test_different_motifs_stay_apart_and_edge_cases():
    g = group_motifs([_copy(m, f"m{i}") for i, m in enumerate((CTCF, MAX, YY1, GATA1, SOX2))])
    assert g.n_groups == 5 and g.group.tolist() == [1, 2, 3, 4, 5]  # no importance: input order
    assert group_motifs([]).n_groups == 0
    single = group_motifs([_copy(MAX, "only")])
    assert single.group.tolist() == [1] and single.representatives == [0]
    # a looser threshold can only merge groups
    loose = group_motifs([_copy(m, f"m{i}") for i, m in enumerate((CTCF, MAX, YY1))], threshold=1.0)
    assert loose.n_groups == 1
    with pytest.raises(ValueError, match="threshold"):
        group_motifs([_copy(MAX, "a")], threshold=0)
    with pytest.raises(ValueError, match="importance"):
        group_motifs([_copy(MAX, "a")], importance=[1.0, 2.0])


def test_groups_form_around_representatives_not_chains():
    # a ~ c ~ b (two halves of one long motif, each inside the whole), d alone
    same = np.eye(4, dtype=bool)
    same[0, 2] = same[2, 0] = same[1, 2] = same[2, 1] = True
    # the whole motif c represents: both halves join it
    assert _star_groups(same, np.array([1.0, 1.0, 3.0, 0.0])).tolist() == [2, 2, 2, 3]
    # a half represents: the whole joins it, the other half (not the same as a) stands alone
    assert _star_groups(same, np.array([3.0, 1.0, 2.0, 0.0])).tolist() == [0, 1, 0, 3]
    # a chain a ~ b ~ c ~ d ~ e (each only like its neighbours) is not one motif: representatives
    # are never the same motif as each other, every member is the same as its representative
    chain = np.eye(5, dtype=bool) | np.eye(5, k=1, dtype=bool) | np.eye(5, k=-1, dtype=bool)
    labels = _star_groups(chain, np.zeros(5))
    assert labels.tolist() == [0, 0, 2, 2, 4]
    reps = sorted(set(labels.tolist()))
    assert not chain[np.ix_(reps, reps)][~np.eye(len(reps), dtype=bool)].any()
    assert all(chain[i, labels[i]] for i in range(5))


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 9), data=st.data())
def test_star_groups_invariants(n, data):
    """Any relation and importance: each member is the same as its representative, the
    representatives are pairwise different, and a representative is its group's most important."""
    upper = np.array(data.draw(st.lists(st.booleans(), min_size=n * n, max_size=n * n))).reshape(n, n)
    same = np.triu(upper, 1)
    same = same | same.T | np.eye(n, dtype=bool)
    key = np.array(data.draw(st.lists(st.floats(-5, 5), min_size=n, max_size=n)))
    labels = _star_groups(same, key)
    reps = sorted(set(labels.tolist()))
    assert all(labels[r] == r for r in reps)
    assert all(same[i, labels[i]] for i in range(n))
    assert not same[np.ix_(reps, reps)][~np.eye(len(reps), dtype=bool)].any()
    for i in range(n):
        r = labels[i]
        assert (key[r], -r) >= (key[i], -i)


# A pool of kernel-like motifs: three copies of CTCF, two of MAX, one YY1, one GATA1.
POOL = [
    _copy(CTCF, "ctcf_a"),
    _copy(CTCF, "ctcf_b", 2, 16, rc=True),
    _copy(CTCF, "ctcf_c", 5, 19),
    _copy(MAX, "max_a"),
    _copy(MAX, "max_b", 1, 9, rc=True),
    _copy(YY1, "yy1"),
    _copy(GATA1, "gata1", rc=True),
]
EXPECTED = frozenset(
    {frozenset({"ctcf_a", "ctcf_b", "ctcf_c"}), frozenset({"max_a", "max_b"}), frozenset({"yy1"}), frozenset({"gata1"})}
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subset=st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=len(POOL), unique=True),
    flips=st.lists(st.booleans(), min_size=len(POOL), max_size=len(POOL)),
)
def test_grouping_ignores_kernel_order_and_strand(subset, flips):
    """Any subset of the pool, in any order, with any kernels reverse complemented, groups as the
    pool's known partition restricted to it."""
    motifs = [POOL[i].reverse_complement() if flips[i] else POOL[i] for i in subset]
    got = group_motifs(motifs).partition()
    ids = {m.id for m in motifs}
    want = frozenset(frozenset(s & ids) for s in EXPECTED if s & ids)
    assert got == want


def test_near_uniform_flanks_do_not_make_different_motifs_the_same():
    """Kernel motifs are as wide as the kernel: ATF1 and HMX3 padded to 24 columns with sampled
    uniform flanks (60 sites) look alike through the flanks (Euclidean scores find near-uniform
    columns very similar next to JASPAR's); the default trimming compares the cores only."""
    atf1, hmx3 = load_motifs("jaspar:MA0604.1,MA0898.2")
    rng = np.random.default_rng(0)

    def pad(m, name, width=24, n=60):
        left = (width - m.width) // 2
        flank = lambda k: rng.multinomial(n, [0.25] * 4, size=k) / n  # noqa: E731
        return Motif(name, np.vstack([flank(left), m.probs, flank(width - m.width - left)]), nsites=n)

    motifs = [pad(atf1, "atf1"), pad(hmx3, "hmx3_a"), pad(hmx3, "hmx3_b")]
    assert group_motifs(motifs, trim_bits=0).n_groups == 1  # the pitfall
    g = group_motifs(motifs)
    assert g.partition() == frozenset({frozenset({"atf1"}), frozenset({"hmx3_a", "hmx3_b"})})
    assert [m.width for m in g.motifs] == [24, 24, 24]  # reported untrimmed


def test_kernel_groups_labels_a_models_copies_alike_and_motifless_kernels_zero():
    """A model whose kernels 0 and 1 are CACGTG (1 shifted, on the other strand), 2 TTGACA, 3 flat
    and 4 masked: the labels say 0 ~ 1, 2 apart, 3 and 4 without a motif; group 1 is the most
    important kernel's."""
    import torch

    from deepprune_cli.core.architectures import arch_spec
    from deepprune_cli.core.grouping import kernel_groups
    from deepprune_cli.core.models import build_model
    from deepprune_cli.core.layout import token_matrix
    from deepprune_cli.core.sequences import SequenceSet

    def kernel(site: str, offset: int) -> torch.Tensor:
        w = torch.full((4, 8), -0.25)
        for i, b in enumerate(site):
            w[:, offset + i] = -1.0
            w["ACGT".index(b), offset + i] = 1.0
        return w

    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 40)) for _ in range(400)]
    seqs = [s[:10] + ("CACGTGAA" if i % 2 else "TTTGACAT") + s[18:] for i, s in enumerate(seqs)]
    tokens = token_matrix(SequenceSet.from_strings(seqs), 40)
    model = build_model(arch_spec("deepbind", n_kernels=5, kernel_length=8), seed=0)
    with torch.no_grad():
        model.conv1.weight.copy_(torch.stack([kernel("CACGTG", 0), kernel("CACGTG", 2).flip(0, 1),
                                              kernel("TTGACA", 1), torch.zeros(4, 8), kernel("GATA", 0)]))
        model.conv1.bias.copy_(torch.tensor([-3.0, -3.0, -3.0, -1.0, -2.0]))
        model.kernel_mask[4] = 0.0
    labels, grouping = kernel_groups(model, tokens, importance=[1.0, 3.0, 2.0, 0.0, 5.0])
    assert labels.tolist() == [1, 1, 2, 0, 0]
    assert grouping.n_groups == 2 and len(grouping.motifs) == 3
    # over physical kernels: the two CACGTG kernels are the same motif; kernels without a motif
    # (flat, masked) are the same as none, not even themselves
    assert [m.id for m in grouping.motifs] == [f"kernel{k}" for k in grouping.kernels]  # by importance: 1, 2, 0
    same = grouping.kernel_same(5)
    assert same.tolist() == [
        [True, True, False, False, False],
        [True, True, False, False, False],
        [False, False, True, False, False],
        [False] * 5,
        [False] * 5,
    ]

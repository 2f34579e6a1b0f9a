"""Tests for deepprune_cli.core.simulate: the statistics of the simulated data, not just its shape."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from deepprune_cli.core.errors import InputError
from deepprune_cli.core.motifs import Motif, load_motifs, read_meme
from deepprune_cli.core.sequences import COMPLEMENT, read_sequences
from deepprune_cli.core.simulate import (
    KOO2019_COUNT_PROBS,
    MULTI_LABEL,
    PRESETS,
    SINGLE_SITE,
    _random_subsets,
    bayes_optimal_log_odds,
    bayes_optimal_scores,
    make_design,
    sample_sites,
    simulate,
    uniform_background,
    write_dataset,
)

# Many chi-square tests run on fixed seeds; a strict level keeps them meaningful yet stable.
ALPHA = 1e-3


def chisquare_p(observed, expected_probs) -> float:
    """Chi-square goodness-of-fit p-value over the cells with non-zero expectation.

    A cell with expectation 0 must be empty (asserted), since it cannot enter the statistic.
    """
    observed = np.asarray(observed, dtype=float)
    probs = np.asarray(expected_probs, dtype=float)
    assert observed[probs == 0].sum() == 0, "a letter with probability 0 was drawn"
    keep = probs > 0
    if keep.sum() < 2:
        return 1.0
    expected = probs[keep] / probs[keep].sum() * observed[keep].sum()
    return float(stats.chisquare(observed[keep], expected).pvalue)


def auroc(scores, labels) -> float:
    """Area under the ROC curve via the Mann-Whitney rank statistic (ties count one half)."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels).astype(bool)
    ranks = stats.rankdata(scores)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def site_letters(ds, motif_index: int) -> np.ndarray:
    """The inserted letters of one motif, read on the motif's own strand: uint8 ``(sites, W)``."""
    chosen = np.flatnonzero(ds.site_motif == motif_index)
    width = ds.motifs[motif_index].width
    cols = ds.site_start[chosen, None] + np.arange(width)
    letters = ds.tokens[ds.site_seq[chosen, None], cols]
    minus = ds.site_strand[chosen] == 1
    letters[minus] = COMPLEMENT[letters[minus][:, ::-1]]
    return letters


def site_mask(ds) -> np.ndarray:
    """bool ``(n, L)``: True where a site was inserted."""
    mask = np.zeros(ds.tokens.shape, dtype=bool)
    for s, a, b in zip(ds.site_seq, ds.site_start, ds.site_ends()):
        mask[s, a:b] = True
    return mask


DETERMINISTIC = Motif("DET1", np.eye(4)[[0, 0, 1, 3, 2, 2, 1, 0]], name="AACTGGCA")  # AACTGGCA, not palindromic


# ---------------------------------------------------------------------------- designs and presets


def test_presets_use_the_issue_motifs():
    expected = {
        "deepprune-sim1": ["MA0691.1", "MA0500.2"],
        "deepprune-sim2": ["MA1633.1", "MA0014.3"],
        "deepprune-sim3": ["MA0819.1", "MA1148.1"],
        "deepprune-sim4": ["MA0691.1", "MA0500.2", "MA1633.1", "MA0014.3"],
        "deepprune-sim5": ["MA0691.1", "MA0500.2", "MA1633.1", "MA0014.3", "MA0819.1", "MA1148.1", "MA1146.1", "MA0009.2"],
    }
    for preset, ids in expected.items():
        design = make_design(preset)
        assert (design.design, design.length, design.strands) == (SINGLE_SITE, 101, "forward")
        motifs = load_motifs(design.motifs, design.motif_ids)
        assert [m.id for m in motifs] == ids
    koo = make_design("koo2019")
    assert (koo.design, koo.n, koo.length, koo.motif_count_probs) == (MULTI_LABEL, 25000, 200, KOO2019_COUNT_PROBS)
    assert koo.split_sizes() == {"train": 17500, "valid": 2500, "test": 5000}
    assert set(PRESETS) == set(expected) | {"koo2019"}


def test_overrides_and_custom_design():
    design = make_design("deepprune-sim1", n=100, length=1000, strands="both", seed=7)
    assert (design.n, design.length, design.strands, design.seed, design.motif_ids) == (100, 1000, "both", 7, ("MA0691.1", "MA0500.2"))
    # New motifs replace the preset's id list instead of filtering them by it.
    assert make_design("deepprune-sim1", motifs="jaspar:MA0139.1").motif_ids is None
    custom = make_design(motifs="jaspar:MA0139.1")
    assert (custom.design, custom.n, custom.length, custom.preset) == (SINGLE_SITE, 6000, 101, None)
    with pytest.raises(InputError, match="--motifs is required"):
        make_design()
    with pytest.raises(InputError, match="unknown preset"):
        make_design("sim9")


# ---------------------------------------------------------------------------- single-site statistics


@pytest.fixture(scope="module")
def sim4_both():
    """deepprune-sim4 (4 motifs), both strands, 24,000 sequences: 12,000 sites."""
    return simulate(make_design("deepprune-sim4", n=24000, strands="both", seed=11))


def test_single_site_shapes_and_balance(sim4_both):
    ds = sim4_both
    assert ds.tokens.shape == (24000, 101) and ds.tokens.dtype == np.uint8
    assert ds.split_sizes == {"train": 12000, "test": 12000}
    for name in ds.split_sizes:
        split = ds.split(name)
        assert split.labels.shape == (12000, 1) and split.labels.sum() == 6000
        assert split.as_matrix().shape == (12000, 101)
    # One site per positive, none in negatives.
    np.testing.assert_array_equal(ds.site_seq, np.flatnonzero(ds.labels[:, 0] == 1))
    assert len(set(ds.ids)) == len(ds.ids)
    # Labels are shuffled within each split, not sorted.
    assert 0 < ds.labels[:100, 0].sum() < 100


def test_inserted_letters_follow_the_pwm_columns(sim4_both):
    ds = sim4_both
    n_tests = sum(m.width for m in ds.motifs)
    for index, motif in enumerate(ds.motifs):
        letters = site_letters(ds, index)
        assert len(letters) > 2000
        for j in range(motif.width):
            counts = np.bincount(letters[:, j], minlength=4)
            assert chisquare_p(counts, motif.probs[j]) > ALPHA / n_tests, (motif.id, j, counts, motif.probs[j])
        # Sampled, not the consensus: the share of exact consensus sites matches its probability.
        consensus_share = np.mean(np.all(letters == np.argmax(motif.probs, axis=1), axis=1))
        assert consensus_share == pytest.approx(np.prod(motif.probs.max(axis=1)), abs=0.03)
        assert consensus_share < 0.5


def test_motifs_strands_and_positions_are_uniform(sim4_both):
    ds = sim4_both
    m = len(ds.motifs)
    assert chisquare_p(np.bincount(ds.site_motif, minlength=m), np.full(m, 1 / m)) > ALPHA
    assert stats.binomtest(int(ds.site_strand.sum()), ds.site_strand.size).pvalue > ALPHA
    for index, motif in enumerate(ds.motifs):
        starts = ds.site_start[ds.site_motif == index]
        positions = 101 - motif.width + 1
        assert starts.min() >= 0 and starts.max() <= positions - 1
        assert chisquare_p(np.bincount(starts, minlength=positions), np.full(positions, 1 / positions)) > ALPHA


def test_background_is_uniform_and_independent(sim4_both):
    ds = sim4_both
    outside = ds.tokens[~site_mask(ds)]
    assert chisquare_p(np.bincount(outside, minlength=5), [0.25, 0.25, 0.25, 0.25, 0]) > ALPHA
    negatives = ds.tokens[ds.labels[:, 0] == 0]
    pairs = (negatives[:, :-1] * 4 + negatives[:, 1:]).reshape(-1)
    assert chisquare_p(np.bincount(pairs, minlength=16), np.full(16, 1 / 16)) > ALPHA
    # Composition does not drift along the sequence either.
    per_position = np.stack([np.bincount(negatives[:, p], minlength=4) for p in range(101)])
    assert stats.chi2_contingency(per_position).pvalue > ALPHA


def test_uniform_background_exact_and_cheap():
    rng = np.random.default_rng(5)
    tokens = uniform_background(1000, 37, rng)  # a length that is not a multiple of 4
    assert tokens.shape == (1000, 37) and tokens.dtype == np.uint8 and tokens.max() == 3
    assert chisquare_p(np.bincount(tokens.reshape(-1), minlength=4), np.full(4, 0.25)) > ALPHA


def test_sample_sites_many_draws():
    motif = Motif("m", [[0.7, 0.2, 0.1, 0.0], [0.0, 0.0, 0.0, 1.0], [0.25, 0.25, 0.25, 0.25]])
    letters = sample_sites(motif, 40000, np.random.default_rng(1))
    for j in range(3):
        assert chisquare_p(np.bincount(letters[:, j], minlength=4), motif.probs[j]) > ALPHA
    # Positions are independent: the joint of columns 0 and 2 is the product of the marginals.
    table = np.zeros((4, 4))
    np.add.at(table, (letters[:, 0], letters[:, 2]), 1)
    assert stats.chi2_contingency(table[:3]).pvalue > ALPHA


def test_sites_are_where_truth_says(tmp_path):
    """With a deterministic PWM the slice [start, end) is the motif (+) or its reverse complement (-)."""
    ds = simulate(make_design(motifs="unused", n=400, length=30, strands="both", seed=2), motifs=[DETERMINISTIC])
    forward = np.array([0, 0, 1, 3, 2, 2, 1, 0], dtype=np.uint8)
    for s, a, b, strand in zip(ds.site_seq, ds.site_start, ds.site_ends(), ds.site_strand):
        expected = forward if strand == 0 else COMPLEMENT[forward[::-1]]
        np.testing.assert_array_equal(ds.tokens[s, a:b], expected)
    assert set(ds.site_strand.tolist()) == {0, 1}


# ---------------------------------------------------------------------------- koo2019 statistics


@pytest.fixture(scope="module")
def koo():
    return simulate(make_design("koo2019", seed=3))


def test_koo2019_counts_labels_and_layout(koo):
    ds = koo
    n, length = ds.tokens.shape
    assert (n, length) == (25000, 200) and ds.labels.shape == (25000, 12)
    sites_per_seq = np.bincount(ds.site_seq, minlength=n)
    assert sites_per_seq.min() == 1 and sites_per_seq.max() == 5
    observed = np.bincount(sites_per_seq, minlength=6)[1:]
    assert chisquare_p(observed, KOO2019_COUNT_PROBS) > ALPHA
    # Labels: a TF is 1 exactly when it (either strand) has a site in the sequence.
    expected = np.zeros_like(ds.labels)
    expected[ds.site_seq, ds.site_motif] = 1
    np.testing.assert_array_equal(ds.labels, expected)
    # Non-overlapping, at least 1 nt apart and 1 nt from both ends.
    ends = ds.site_ends()
    assert ds.site_start.min() >= 1 and ends.max() <= length - 1
    same_seq = ds.site_seq[1:] == ds.site_seq[:-1]
    assert np.all(ds.site_start[1:][same_seq] >= ends[:-1][same_seq] + 1)
    # Motifs and strands drawn uniformly (12 PWMs and their reverse complements).
    assert chisquare_p(np.bincount(ds.site_motif, minlength=12), np.full(12, 1 / 12)) > ALPHA
    assert stats.binomtest(int(ds.site_strand.sum()), ds.site_strand.size).pvalue > ALPHA


def test_koo2019_letters_and_single_site_positions(koo):
    ds = koo
    n_tests = sum(m.width for m in ds.motifs)
    for index, motif in enumerate(ds.motifs):
        letters = site_letters(ds, index)
        for j in range(motif.width):
            counts = np.bincount(letters[:, j], minlength=4)
            assert chisquare_p(counts, motif.probs[j]) > ALPHA / n_tests, (motif.id, j)
    # In a sequence with one site, the start is uniform over 1 .. L - 1 - W (keeping 1 nt to each end).
    alone = (np.bincount(ds.site_seq, minlength=len(ds.tokens)) == 1)[ds.site_seq]
    for index, motif in enumerate(ds.motifs):
        starts = ds.site_start[alone & (ds.site_motif == index)] - 1
        positions = 200 - 2 - motif.width + 1
        assert starts.min() >= 0 and starts.max() < positions
        counts = np.bincount(starts, minlength=positions)
        assert chisquare_p(counts, np.full(positions, 1 / positions)) > ALPHA / len(ds.motifs), motif.id
    outside = ds.tokens[~site_mask(ds)]
    assert chisquare_p(np.bincount(outside, minlength=5), [0.25, 0.25, 0.25, 0.25, 0]) > ALPHA


def test_random_subsets_uniform():
    """Floyd's algorithm gives every 2-subset of range(5) with probability 1/10."""
    subsets = _random_subsets(np.full(20000, 5), 2, np.random.default_rng(0))
    codes = subsets[:, 0] * 5 + subsets[:, 1]
    all_codes = [a * 5 + b for a, b in itertools.combinations(range(5), 2)]
    counts = np.array([np.sum(codes == c) for c in all_codes])
    assert counts.sum() == 20000
    assert chisquare_p(counts, np.full(10, 0.1)) > ALPHA


@settings(max_examples=25, deadline=None)
@given(
    length=st.integers(20, 80),
    probs=st.lists(st.integers(0, 5), min_size=1, max_size=4).filter(lambda p: sum(p) > 0),
    seed=st.integers(0, 2**32 - 1),
)
def test_multi_label_layout_invariants(length, probs, seed):
    motifs = [DETERMINISTIC, Motif("W3", np.full((3, 4), 0.25))]
    count_probs = tuple(p / sum(probs) for p in probs)
    # Only ask for counts that can fit; the simulator refuses impossible ones.
    if any(p > 0 and (k + 1) * 3 + (k + 1) + 1 > length for k, p in enumerate(count_probs)):
        with pytest.raises(InputError):
            simulate(make_design("koo2019", motifs="x", n=30, length=length, motif_count_probs=count_probs, seed=seed), motifs)
        return
    ds = simulate(make_design("koo2019", motifs="x", n=30, length=length, motif_count_probs=count_probs, seed=seed), motifs)
    ends = ds.site_ends()
    same_seq = ds.site_seq[1:] == ds.site_seq[:-1]
    assert ds.site_start.min() >= 1 and ends.max() <= length - 1
    assert np.all(ds.site_start[1:][same_seq] > ends[:-1][same_seq])
    per_seq = np.bincount(ds.site_seq, minlength=30)
    assert set(per_seq.tolist()) <= {k + 1 for k, p in enumerate(count_probs) if p > 0}


# ---------------------------------------------------------------------------- determinism, errors


def test_same_seed_same_data_and_other_seed_differs():
    a = simulate(make_design("deepprune-sim2", n=500, seed=4))
    b = simulate(make_design("deepprune-sim2", n=500, seed=4))
    c = simulate(make_design("deepprune-sim2", n=500, seed=5))
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_array_equal(a.site_start, b.site_start)
    assert not np.array_equal(a.tokens, c.tokens)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(length=10), "is 19 bp, longer than the 10 bp sequences"),
        (dict(n=3), "too small"),
        (dict(test_fraction=0), "--test-fraction must be in (0, 1)"),
        (dict(test_fraction=0.6, valid_fraction=0.4), "leave no training data"),
        (dict(motif_ids=("MA0139.1", "MA0139.1")), "appears twice"),
        (dict(motif_ids=("NOPE",)), "no motif with id 'NOPE'"),
        (dict(design=MULTI_LABEL, motif_count_probs=(0.5, 0.2)), "sum to 1"),
        (dict(design=MULTI_LABEL, length=20), "plus 1 nt at each end"),
        (dict(design=MULTI_LABEL, length=40, motif_count_probs=(0.5, 0.5)), "2 sites of the shortest motif"),
    ],
)
def test_bad_designs_raise_one_line(overrides, message):
    with pytest.raises(InputError) as err:
        simulate(make_design(motifs="jaspar2020", **{"motif_ids": ("MA0139.1",), **overrides}))
    assert message in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------------------- files on disk


def test_written_files_agree(tmp_path):
    ds = simulate(make_design("koo2019", n=300, seed=9))
    write_dataset(ds, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dataset.json", "motifs.meme", "test.fa", "train.fa", "truth.tsv", "valid.fa",
    ]
    sets = {name: read_sequences(tmp_path / f"{name}.fa") for name in ("train", "valid", "test")}
    assert [len(s) for s in sets.values()] == [210, 30, 60]
    # Labels in the headers agree with truth.tsv.
    rows = [line.split("\t") for line in (tmp_path / "truth.tsv").read_text().splitlines()]
    assert rows[0] == ["seq_id", "motif_id", "start", "end", "strand"]
    motif_ids = [m.id for m in read_meme(tmp_path / "motifs.meme")]
    assert motif_ids == [m.id for m in load_motifs("koo2019")]
    from_truth: dict[str, set] = {}
    widths = {m.id: m.width for m in ds.motifs}
    for seq_id, motif_id, start, end, strand in rows[1:]:
        from_truth.setdefault(seq_id, set()).add(motif_id)
        assert int(end) - int(start) == widths[motif_id] and strand in "+-"
    for seqs in sets.values():
        assert seqs.labels.shape[1] == 12
        for seq_id, label_row in zip(seqs.ids, seqs.labels):
            assert {motif_ids[k] for k in np.flatnonzero(label_row)} == from_truth[seq_id]
    # The sequences on disk are the ones in memory.
    np.testing.assert_array_equal(sets["train"].as_matrix(), ds.tokens[:210])


# ---------------------------------------------------------------------------- Bayes-optimal scores


def test_bayes_log_odds_is_exact_on_a_tiny_universe():
    """Enumerate every 4-bp sequence: the formula equals P(x|pos)/P(x|neg) from the generative model."""
    m1 = Motif("a", [[0.7, 0.1, 0.1, 0.1], [0.1, 0.2, 0.3, 0.4]])
    m2 = Motif("b", [[0.0, 0.5, 0.5, 0.0], [0.25, 0.25, 0.0, 0.5], [0.9, 0.0, 0.0, 0.1]])
    length = 4
    universe = np.array(list(itertools.product(range(4), repeat=length)), dtype=np.uint8)
    for strands in ("forward", "both"):
        p_pos = np.zeros(len(universe))
        for motif in (m1, m2):
            variants = [motif] + ([motif.reverse_complement()] if strands == "both" else [])
            starts = length - motif.width + 1
            for variant in variants:
                for start in range(starts):
                    # P(x | this motif, start, strand): PWM inside the site, 1/4 outside.
                    p = np.full(len(universe), 0.25 ** (length - motif.width))
                    for j in range(motif.width):
                        p *= variant.probs[j, universe[:, start + j]]
                    p_pos += p / (2 * starts * len(variants))
        assert p_pos.sum() == pytest.approx(1.0)
        with np.errstate(divide="ignore"):
            expected = np.log(p_pos / 0.25**length)
        got = bayes_optimal_log_odds(universe, [m1, m2], strands)
        finite = np.isfinite(expected)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-10, atol=1e-12)
        assert np.all(np.isneginf(got[~finite]))


def test_bayes_auroc_near_one_for_an_informative_motif():
    ds = simulate(make_design(motifs="jaspar:MA0139.1", n=2000, seed=1))  # CTCF, ~17 bits
    test = ds.split("test")
    scores = bayes_optimal_scores(test, ds)
    assert auroc(scores, test.labels[:, 0]) > 0.995


def _max_scan(tokens, motif, strands):
    """The classic single-PWM scan: best log-odds window over the sequence (and strands)."""
    best = np.full(len(tokens), -np.inf)
    variants = [motif] + ([motif.reverse_complement()] if strands == "both" else [])
    with np.errstate(divide="ignore"):
        for v in variants:
            logs = np.log(v.probs / 0.25)
            positions = tokens.shape[1] - v.width + 1
            window = np.zeros((len(tokens), positions))
            for j in range(v.width):
                window += logs[j][tokens[:, j : j + positions]]
            best = np.maximum(best, window.max(axis=1))
    return best


def test_bayes_beats_every_single_pwm_scan(tmp_path):
    # sim2 (BACH1, PAX5): two unrelated motifs, so one PWM alone misses half the positives.
    # (sim1's TFAP4 and MYOG are both CAGCTG E-boxes and detect each other's sites.)
    ds = simulate(make_design("deepprune-sim2", n=6000, strands="both", seed=21))
    write_dataset(ds, tmp_path)
    test = ds.split("test")
    labels = test.labels[:, 0]
    bayes = auroc(bayes_optimal_scores(test, tmp_path), labels)  # from the directory on disk
    # motifs.meme keeps 6 decimals, so scores from disk agree to about 1e-5.
    np.testing.assert_allclose(bayes_optimal_scores(test, tmp_path), bayes_optimal_scores(test, ds), rtol=1e-4, atol=1e-4)
    tokens = test.as_matrix()
    single = {}
    for motif in ds.motifs:
        single[f"{motif.id} max"] = auroc(_max_scan(tokens, motif, "both"), labels)
        single[f"{motif.id} sum"] = auroc(bayes_optimal_log_odds(tokens, [motif], "both"), labels)
    assert bayes > max(single.values()) + 0.1, (bayes, single)
    # Even the best of both max-scans is not better than the likelihood ratio.
    both = np.maximum(*[_max_scan(tokens, m, "both") for m in ds.motifs])
    assert bayes >= auroc(both, labels) - 0.005


def test_bayes_scores_reject_multi_label():
    ds = simulate(make_design("koo2019", n=50))
    with pytest.raises(InputError, match="single-site"):
        bayes_optimal_scores(ds.split("test"), ds)

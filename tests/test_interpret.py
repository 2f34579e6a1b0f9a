"""Kernels -> PPMs (core/interpret.py): planted motifs come back, strands, thresholds, dead kernels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepprune_cli.core import interpret as itp
from deepprune_cli.core.motifs import load_motifs


def _log_odds_kernel(probs: np.ndarray) -> np.ndarray:
    """A PWM's log-odds scores as one conv kernel (1, 4, W)."""
    p = (probs + 0.01) / (1 + 0.04)
    return np.log2(p / 0.25).T[None].astype(np.float32)


def _sample_site(probs, rng):
    return np.array([rng.choice(4, p=row) for row in probs], dtype=np.uint8)


def _planted(motif, n=1500, length=100, frac=0.5, strand="both", seed=0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, (n, length)).astype(np.uint8)
    W = motif.width
    for i in range(int(n * frac)):
        site = _sample_site(motif.probs, rng)
        if strand == "minus" or (strand == "both" and rng.random() < 0.5):
            site = (3 - site)[::-1]
        s = rng.integers(0, length - W + 1)
        tokens[i, s : s + W] = site
    return tokens


@pytest.fixture(scope="module")
def srf():
    # NFYB (MA0502.1, 15 bp, AAATGGACCAATCAG): not palindromic, so strands can be told apart
    return load_motifs("koo2019", ["MA0502.1"])[0]


def test_planted_pwm_is_recovered(srf):
    tokens = _planted(srf)
    (km,) = itp.kernel_ppms(_log_odds_kernel(srf.probs), None, tokens, threshold=0.7)
    assert not km.dead and km.width == srf.width
    assert 300 < km.nsites <= 750  # only sequences with a strong planted site pass 0.7
    assert np.corrcoef(km.probs.ravel(), srf.probs.ravel())[0, 1] > 0.97
    assert np.abs(km.probs - srf.probs).max() < 0.2
    strong = srf.probs.max(axis=1) >= 0.5
    got = np.array(list(km.to_motif().consensus))
    assert "".join(got[strong]) == "".join(np.array(list(srf.consensus))[strong])
    np.testing.assert_allclose(km.counts.sum(axis=1), km.nsites)


def test_both_strands(srf):
    tokens = _planted(srf, strand="minus", seed=1)
    kernel = _log_odds_kernel(srf.probs)
    (both,) = itp.kernel_ppms(kernel, None, tokens, both_strands=True)
    (fwd,) = itp.kernel_ppms(kernel, None, tokens, both_strands=False, min_sites=1)
    # sites were planted on the reverse strand only: read there, they give the motif itself
    assert both.nsites > 300 and np.corrcoef(both.probs.ravel(), srf.probs.ravel())[0, 1] > 0.97
    assert fwd.nsites < both.nsites / 5
    values, positions, minus = itp.max_activations(kernel, None, tokens[:750])
    assert minus.mean() > 0.8


def test_threshold_behaviour(srf):
    tokens = _planted(srf, seed=2)
    kernel = _log_odds_kernel(srf.probs)
    sites = [itp.kernel_ppms(kernel, None, tokens, threshold=t, min_sites=1)[0].nsites for t in (0.3, 0.5, 0.7, 0.9)]
    assert sites == sorted(sites, reverse=True) and sites[0] > sites[-1]
    # relative to the largest activation seen rather than the theoretical maximum: more sites,
    # and at threshold 1 exactly the sequences reaching that largest activation
    weak = kernel * 0.5 + 0.3 * np.random.default_rng(9).normal(size=kernel.shape)
    possible = itp.kernel_ppms(weak, None, tokens, threshold=0.7, relative_to="possible", min_sites=1)[0].nsites
    observed = itp.kernel_ppms(weak, None, tokens, threshold=0.7, relative_to="observed", min_sites=1)[0].nsites
    assert observed >= possible
    values, _, _ = itp.max_activations(weak, None, tokens)
    top = itp.kernel_ppms(weak, None, tokens, threshold=1.0, relative_to="observed", min_sites=1, min_bits=0)[0]
    assert top.nsites == int((values[:, 0] >= values[:, 0].max() - 1e-5 * abs(values[:, 0].max())).sum()) >= 1
    with pytest.raises(ValueError):
        itp.kernel_ppms(weak, None, tokens, relative_to="dataset")
    # at threshold 1 only perfect consensus windows reach the maximum possible activation
    best = srf.consensus
    seq = np.frombuffer(("A" * 10 + best + "A" * 10).encode(), np.uint8)
    tok = np.searchsorted(np.frombuffer(b"ACGT", np.uint8), seq).astype(np.uint8)[None]
    (km,) = itp.kernel_ppms(kernel, None, np.repeat(tok, 3, 0), threshold=1.0, min_sites=1, min_bits=0)
    assert km.nsites == 3 and km.to_motif().consensus == best
    assert np.all(km.probs.max(axis=1) == 1.0)


def test_dead_kernels_flagged_and_ordering(srf):
    tokens = _planted(srf, seed=3)
    W = srf.width
    noise = 1e-4 * np.random.default_rng(0).normal(size=(1, 4, W))
    weight = np.concatenate(
        [
            noise,  # ~zero weights under a positive bias: fires everywhere, prefers nothing
            -np.ones((1, 4, W)),  # can never activate
            _log_odds_kernel(srf.probs),
            0.5 * _log_odds_kernel(srf.probs),
            np.full((1, 4, W), 0.1),  # the same weight for every letter
        ]
    )
    bias = np.array([1.0, 0.0, 0.0, 0.0, 0.0])
    out = itp.kernel_ppms(weight, bias, tokens, importance=[5.0, 9.0, 0.1, -3.0, 1.0])
    assert [m.kernel for m in out] == [3, 2, 1, 0, 4]  # live by |importance|, then dead ones
    by_kernel = {m.kernel: m for m in out}
    assert [m.dead for m in out] == [False, False, True, True, True]
    assert by_kernel[0].reason.startswith("flat weights") and by_kernel[0].nsites == len(tokens)
    assert by_kernel[4].reason.startswith("flat weights")
    assert by_kernel[1].reason.startswith("never activates") and by_kernel[1].probs is None
    with pytest.raises(ValueError):
        by_kernel[1].to_motif()
    few = itp.kernel_ppms(weight[2:3], None, tokens[:5], min_sites=10)[0]
    assert few.dead and "too few sites" in few.reason
    # windows full of N count 1/4 per letter: a uniform PPM, flagged rather than emitted
    positive = np.abs(weight[2:3]) + 0.1
    uniform = itp.kernel_ppms(positive, None, np.full((50, 40), 4, np.uint8), threshold=0.1)[0]
    assert uniform.dead and uniform.reason.startswith("near-uniform")
    np.testing.assert_allclose(uniform.probs, 0.25)
    inactive = itp.kernel_ppms(weight, bias, tokens, active=[False, False, True, False, False], kernel_ids=[7, 8, 9, 10, 11])
    assert [m.kernel_id for m in inactive] == [9] and inactive[0].to_motif().id == "kernel9"


def test_n_counts_a_quarter_and_trimming(srf):
    W = srf.width
    cons = np.searchsorted(np.frombuffer(b"ACGT", np.uint8), np.frombuffer(srf.consensus.encode(), np.uint8))
    kernel = _log_odds_kernel(srf.probs)
    rows = []
    for i in range(20):
        site = cons.astype(np.uint8).copy()
        if i < 4:
            site[0] = 4  # N at the first column of 4 sites
        rows.append(np.concatenate([np.zeros(5, np.uint8), site, np.full(5, 2, np.uint8)]))
    tokens = np.stack(rows)
    (km,) = itp.kernel_ppms(kernel, None, tokens, threshold=0.8, min_sites=1, min_bits=0)
    assert km.nsites == 20
    expected = np.full(4, 1.0)  # 4 N's spread 0.25 over the letters
    expected[cons[0]] += 16
    np.testing.assert_allclose(km.counts[0], expected)
    # trimming: flanks below the bit threshold go, the core stays
    probs = np.vstack([np.full((3, 4), 0.25), srf.probs, np.full((2, 4), 0.25)])
    informative = np.nonzero(itp.information_content(srf.probs) >= 0.5)[0] + 3
    start, stop = itp.trim_flanks(probs, 0.5)
    assert (start, stop) == (informative[0], informative[-1] + 1) and start >= 3 and stop <= 3 + W
    assert itp.trim_flanks(probs, 0) == (0, len(probs))
    assert itp.trim_flanks(np.full((5, 4), 0.25), 0.5) == (0, 5)  # nothing informative: keep all
    # a kernel with 4 zero columns on each side: its sites have random flanks, trimmed away
    wide = np.concatenate([np.zeros((1, 4, 4)), kernel, np.zeros((1, 4, 4))], axis=2)
    trimmed = itp.kernel_ppms(wide, None, _planted(srf, seed=7), trim_bits=0.5)[0]
    assert trimmed.start >= 4 and trimmed.stop <= 4 + W and trimmed.probs.shape == (trimmed.width, 4)
    assert trimmed.counts.shape == (W + 8, 4)


def _brute_force(weight, bias, tokens, both, padding):
    K, _, W = weight.shape
    table = np.vstack([np.eye(4), np.full(4, 0.25), np.zeros(4)])
    best = np.full((len(tokens), K), -np.inf)
    for strand in ([0, 1] if both else [0]):
        toks = tokens if strand == 0 else np.array([3, 2, 1, 0, 4])[tokens[:, ::-1]]
        if padding == "same":
            left = (W - 1) // 2
            toks = np.concatenate([np.full((len(toks), left), 5), toks, np.full((len(toks), W - 1 - left), 5)], 1)
        if padding == "full":  # DeepBind: W-1 N (0.25 each) on each side
            toks = np.concatenate([np.full((len(toks), W - 1), 4), toks, np.full((len(toks), W - 1), 4)], 1)
        x = table[toks]  # (n, L, 4)
        for p in range(toks.shape[1] - W + 1):
            s = np.einsum("nwc,kcw->nk", x[:, p : p + W], weight) + bias
            best = np.maximum(best, s)
    return best


@pytest.mark.parametrize("both,padding", [(True, "valid"), (False, "valid"), (True, "same"), (True, "full"), (False, "full")])
def test_max_activations_match_brute_force(both, padding):
    rng = np.random.default_rng(4)
    weight = rng.normal(size=(5, 4, 6)).astype(np.float32)
    bias = rng.normal(size=5).astype(np.float32)
    tokens = rng.integers(0, 5, (30, 25)).astype(np.uint8)
    values, _, _ = itp.max_activations(weight, bias, tokens, both_strands=both, padding=padding)
    np.testing.assert_allclose(values, _brute_force(weight, bias, tokens, both, padding), rtol=1e-5, atol=1e-5)


def test_consistent_with_the_model_first_layer():
    from deepprune_cli.core.architectures import arch_spec
    from deepprune_cli.core.models import build_model

    model = build_model(arch_spec("deepbind", n_kernels=6, kernel_length=8), seed=1).eval()
    rng = np.random.default_rng(5)
    tokens = rng.integers(0, 5, (40, 50)).astype(np.uint8)
    with torch.no_grad():
        ref = model.kernel_activations(torch.from_numpy(tokens)).numpy()
    values, _, _ = itp.max_activations(
        model.conv1.weight.detach().numpy(), model.conv1.bias.detach().numpy(), tokens, both_strands=True
    )
    np.testing.assert_allclose(np.maximum(values, 0), ref, rtol=1e-5, atol=1e-5)


def test_fold_batch_norm_matches_torch():
    rng = np.random.default_rng(6)
    conv = torch.nn.Conv1d(4, 3, 5)
    bn = torch.nn.BatchNorm1d(3).eval()
    bn.running_mean.copy_(torch.tensor(rng.normal(size=3)))
    bn.running_var.copy_(torch.tensor(rng.random(3) + 0.5))
    bn.weight.data.copy_(torch.tensor([1.5, -0.7, 0.2]))
    bn.bias.data.copy_(torch.tensor(rng.normal(size=3)))
    x = torch.tensor(rng.random((2, 4, 12)), dtype=torch.float32)
    with torch.no_grad():
        ref = bn(conv(x)).numpy()
        w, b = itp.fold_batch_norm(
            conv.weight.numpy(), conv.bias.numpy(), bn.weight.numpy(), bn.bias.numpy(),
            bn.running_mean.numpy(), bn.running_var.numpy(), bn.eps,
        )  # fmt: skip
        out = torch.nn.functional.conv1d(x, torch.tensor(w, dtype=torch.float32), torch.tensor(b, dtype=torch.float32))
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-4, atol=1e-5)


def test_activation_difference_and_background():
    values = np.array([[3.0, -1.0], [1.0, 2.0], [0.0, 2.0], [-5.0, 0.0]])
    labels = np.array([1, 1, 0, 0])
    np.testing.assert_allclose(itp.activation_difference(values, labels), [2.0, 0.0])
    with pytest.raises(ValueError):
        itp.activation_difference(values, np.ones(4))
    bg = itp.letter_background(np.array([[0, 0, 1, 4], [2, 3, 3, 3]], np.uint8), pseudocount=0)
    np.testing.assert_allclose(bg, [2 / 7, 1 / 7, 1 / 7, 3 / 7])


@settings(max_examples=25, deadline=None)
@given(
    k=st.integers(1, 4),
    w=st.integers(1, 7),
    n=st.integers(1, 20),
    length=st.integers(7, 30),
    threshold=st.floats(0.05, 1.0),
    both=st.booleans(),
    padding=st.sampled_from(["valid", "same", "full"]),
    seed=st.integers(0, 2**16),
)
def test_properties(k, w, n, length, threshold, both, padding, seed):
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(k, 4, w))
    bias = rng.normal(size=k)
    tokens = rng.integers(0, 5, (n, length)).astype(np.uint8)
    out = itp.kernel_ppms(weight, bias, tokens, threshold=threshold, both_strands=both, padding=padding, min_sites=1)
    assert sorted(m.kernel for m in out) == list(range(k))
    for m in out:
        assert 0 <= m.nsites <= n
        if m.probs is not None:
            assert m.probs.shape == (m.stop - m.start, 4)
            assert np.all(m.probs >= 0)
            np.testing.assert_allclose(m.probs.sum(axis=1), 1.0, atol=1e-9)
            if padding == "valid":
                np.testing.assert_allclose(m.counts.sum(axis=1), m.nsites)
        else:
            assert m.dead


def test_full_padding_counts_only_the_bases_a_site_covers():
    """Under 'full' padding a window overhanging an end is scored with N there (as the model
    scores it) but counts only the bases inside the sequence: no N mass in the PPM."""
    W = 8
    motif = np.array([0, 1, 2, 3], np.uint8)  # ACGT in the kernel's columns 4..7
    weight = np.zeros((1, 4, W))
    weight[0, motif, np.arange(4) + 4] = 1.0
    tokens = np.full((20, 12), 3, np.uint8)  # T background
    tokens[:, :4] = motif  # the site at the very start: the best window starts at -4
    (m,) = itp.kernel_ppms(weight, None, tokens, both_strands=False, padding="full", min_sites=1, min_bits=0)
    assert m.nsites == 20
    np.testing.assert_allclose(m.counts[:4].sum(axis=1), 0.0)  # the overhang counts nothing
    np.testing.assert_allclose(m.counts[4:], 20 * np.eye(4)[motif])  # the site, whole

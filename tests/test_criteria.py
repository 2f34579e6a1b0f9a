"""The pruning criteria, above all greedy elimination by training loss (the default)."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from deepprune_cli.core.criteria import (
    calibrate_output,
    fold_removed_means,
    greedy_loss_selection,
    Selection,
    select_count,
    select_half,
    select_one_per_group,
)
from deepprune_cli.core.errors import InputError
from deepprune_cli.core.architectures import arch_spec
from deepprune_cli.core.models import build_model, select_kernels
from deepprune_cli.core.sequences import SequenceSet
from deepprune_cli.core.layout import DeviceData, to_device

CPU = torch.device("cpu")
BASES = "ACGT"


def one_hot_kernel(site: str, width: int) -> torch.Tensor:
    """A (4, width) kernel scoring +1 per matching base of ``site`` (placed at the left)."""
    w = torch.full((4, width), -0.25)
    for i, b in enumerate(site):
        w[:, i] = -1.0
        w[BASES.index(b), i] = 1.0
    return w


def two_motif_data(n=800, length=40, seed=0):
    """Half the positives carry CACGTG, the other half TTGACA; negatives are uniform."""
    rng = np.random.default_rng(seed)
    seqs = rng.choice(list(BASES), size=(n, length))
    labels = np.arange(n) % 2
    for k, i in enumerate(np.flatnonzero(labels)):
        site = "CACGTG" if k % 2 else "TTGACA"
        p = rng.integers(0, length - 6)
        seqs[i, p : p + 6] = list(site)
    return SequenceSet.from_strings(["".join(r) for r in seqs], labels=labels.astype(np.float32))


def hand_built_model(arch="deepbind", fit_on=None):
    """Kernels 0 and 1: both CACGTG (duplicates); 2: TTGACA; 3: noise. With ``fit_on`` (data), the
    read-out of a ``deepbind`` model is fitted by logistic regression, as training would."""
    spec = arch_spec(arch, n_kernels=4, kernel_length=6)
    model = build_model(spec, seed=0)
    noise = torch.randn(4, 6, generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.no_grad():
        model.conv1.weight.copy_(torch.stack([one_hot_kernel("CACGTG", 6), one_hot_kernel("CACGTG", 6),
                                              one_hot_kernel("TTGACA", 6), noise]))
        model.conv1.bias.copy_(torch.tensor([-3.0, -3.0, -3.0, 0.0]))
        if arch == "deepbind":
            model.out.weight.copy_(torch.tensor([[3.0, 3.0, 2.0, 0.1]]))
            model.out.bias.fill_(-1.5)
    model.eval()
    if fit_on is not None:
        u = model.kernel_activations(fit_on.tokens).detach()
        opt = torch.optim.LBFGS(list(model.out.parameters()), max_iter=200)

        def closure():
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model.out(u), fit_on.labels)
            loss.backward()
            return loss

        opt.step(closure)
    return spec, model


@pytest.fixture(scope="module")
def data():
    spec = arch_spec("deepbind", n_kernels=4, kernel_length=6)
    return to_device(two_motif_data(), CPU, spec)


def model_loss(model, data) -> float:
    model.eval()
    with torch.no_grad():
        return float(F.binary_cross_entropy_with_logits(model(data.tokens).double(), data.labels.double()))


def pruned_with_means(model, data, keep):
    pruned = select_kernels(model, keep)
    with torch.no_grad():
        means = model.eval().kernel_activations(data.tokens).double().mean(dim=0)
    fold_removed_means(model, pruned, Selection(np.asarray(keep), np.zeros(model.n_kernels), means))
    return pruned.eval()


def test_loss_keeps_one_of_two_duplicates_and_the_unique_motif(data):
    _, model = hand_built_model(fit_on=data)
    choice = select_half(model, data, "loss")
    keep, stat = choice.keep, choice.statistic
    assert 2 in keep and len(set(keep) & {0, 1}) == 1
    assert stat.shape == (4,) and np.isfinite(stat).all()


@pytest.mark.parametrize("arch", ["deepbind", "1layer"])
def test_folded_means_give_the_model_the_criterion_judged(data, arch):
    """Pruned + folded model == parent with removed features held at their training means."""
    spec, model = hand_built_model(arch)
    keep = np.array([0, 2])
    pruned = pruned_with_means(model, data, keep)
    with torch.no_grad():
        u = model.kernel_activations(data.tokens)
        held = u.clone()
        for j in (1, 3):
            held[:, j] = u[:, j].double().mean().float()
        expected = model._head(held)
        got = pruned(data.tokens)
    assert torch.allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("arch", ["deepbind", "1layer"])
def test_one_removal_is_the_brute_force_best(data, arch):
    """K=4 -> 3 is a single greedy step: it must be the removal with the lowest real loss."""
    _, model = hand_built_model(arch)
    if arch != "deepbind":
        torch.manual_seed(1)
        with torch.no_grad():
            model.conv1.weight.add_(torch.randn_like(model.conv1.weight) * 0.3)
    choice = greedy_loss_selection(model, data, keep=3)
    keep, stat = choice.keep, choice.statistic
    base = model_loss(model, data)
    losses = {}
    for gone in range(4):
        kept = np.array([j for j in range(4) if j != gone])
        losses[gone] = model_loss(pruned_with_means(model, data, kept), data)
    best = min(losses, key=losses.get)
    assert sorted(set(range(4)) - set(keep.tolist())) == [best]
    assert stat[best] == pytest.approx(losses[best] - base, abs=1e-6)


@given(st.integers(2, 12), st.integers(0, 2**16))
@settings(max_examples=25, deadline=None)
def test_greedy_keeps_exactly_half_deterministically(k, seed):
    spec = arch_spec("deepbind", n_kernels=k, kernel_length=5)
    model = build_model(spec, seed=seed).eval()
    dd = to_device(two_motif_data(n=60, length=20, seed=seed), CPU, spec)
    keep, stat = select_half(model, dd, "loss").keep, select_half(model, dd, "loss").statistic
    again = select_half(model, dd, "loss").keep
    assert len(keep) == k // 2 and np.all(np.diff(keep) > 0)
    assert keep.tolist() == again.tolist()
    assert stat.shape == (k,)


def test_masked_kernels_go_first(data):
    _, model = hand_built_model()
    model.kernel_mask[2] = 0.0  # the unique motif is already pruned away
    keep = greedy_loss_selection(model, data, keep=2).keep
    assert 2 not in keep


def test_greedy_matches_exhaustive_search_on_the_planted_example(data):
    """On the hand-built model, greedy elimination finds the best pair of all six."""
    _, model = hand_built_model(fit_on=data)
    keep = select_half(model, data, "loss").keep
    losses = {pair: model_loss(pruned_with_means(model, data, np.array(pair)), data)
              for pair in itertools.combinations(range(4), 2)}
    assert tuple(keep.tolist()) == min(losses, key=losses.get)


def test_one_class_only_is_refused(data):
    _, model = hand_built_model()
    one_class = type(data)(data.tokens, torch.ones_like(data.labels))
    with pytest.raises(InputError, match="positives and negatives"):
        select_half(model, one_class, "loss")


@given(st.integers(1, 200_000), st.integers(1, 512), st.integers(1, 64))
@settings(max_examples=60, deadline=None)
def test_evaluation_rows_are_an_even_spread_within_budget(n, alive, width):
    from deepprune_cli.core import criteria

    rows = criteria._evaluation_rows(n, alive, width).numpy()
    assert len(rows) == min(n, max(criteria._MIN_EVAL_SEQUENCES, criteria._STEP_BUDGET // (alive * width)))
    assert rows[0] == 0 and rows[-1] < n and np.all(np.diff(rows) >= 1)


@pytest.mark.parametrize("weights", [[1.5, 1.5, 1.0, 0.1], [1.0, 1.0, 1.5, 0.1], [2.0, 2.0, 1.0, 0.1]])
def test_loss_refit_judges_copies_after_refitting_the_readout(data, weights):
    """With the read-out refit, removing one of two identical kernels costs about nothing and
    removing the only TTGACA kernel costs a lot, whatever the read-out weights were; the pruned
    model carries the refit read-out, so its loss is the one the criterion computed."""
    _, model = hand_built_model()
    with torch.no_grad():
        model.out.weight.copy_(torch.tensor([weights]))
    choice = greedy_loss_selection(model, data, keep=2, refit=True)
    assert 2 in choice.keep and len(set(choice.keep.tolist()) & {0, 1}) == 1
    copy = ({0, 1} - set(choice.keep.tolist())).pop()
    assert abs(choice.statistic[copy]) < 0.01 and choice.statistic[2] > 0.3
    pruned = select_kernels(model, choice.keep)
    fold_removed_means(model, pruned, choice)
    # refit on the kept kernels: at least as good as holding the removed ones at their means
    assert model_loss(pruned, data) <= model_loss(pruned_with_means(model, data, choice.keep), data) + 1e-9
    w, b = choice.readout
    assert torch.allclose(pruned.out.weight.double().ravel(), w, atol=1e-6) and float(pruned.out.bias.detach()) == pytest.approx(float(b), abs=1e-6)


def test_loss_refit_matches_an_independent_logistic_fit(data):
    """The cost of removing kernel j = loss of a read-out fitted without j minus with the rest
    (the same ridge-penalised fit, by LBFGS instead of the criterion's batched Newton steps)."""
    _, model = hand_built_model()
    with torch.no_grad():  # kernel 1 a near copy of 0, not an exact one (collinear fits are ridge-limited)
        model.conv1.weight[1].add_(torch.randn(4, 6, generator=torch.Generator().manual_seed(2)) * 0.3)
    choice = greedy_loss_selection(model, data, keep=3, refit=True)
    with torch.no_grad():
        u = model.eval().kernel_activations(data.tokens).double()

    def fitted_loss(cols):
        """Training loss of the read-out minimising it plus the criterion's ridge on standardised weights."""
        from deepprune_cli.core.criteria import _REFIT_L2

        lin = torch.nn.Linear(len(cols), 1).double()
        opt = torch.optim.LBFGS(list(lin.parameters()), max_iter=1000, tolerance_grad=1e-12, tolerance_change=1e-14,
                                line_search_fn="strong_wolfe")
        x = u[:, cols]
        scale = x.std(dim=0)

        def bce():
            return F.binary_cross_entropy_with_logits(lin(x), data.labels.double())

        def closure():
            opt.zero_grad()
            loss = bce() + 0.5 * _REFIT_L2 * ((lin.weight[0] * scale) ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            return float(bce())

    kept = choice.keep.tolist()
    gone = [j for j in range(4) if j not in kept]
    assert len(gone) == 1 and gone[0] in (0, 1, 3)  # a copy or the noise kernel, never TTGACA
    # the removed kernel: its cost from all four; TTGACA (kept): its cost from the kept three
    assert choice.statistic[gone[0]] == pytest.approx(fitted_loss(kept) - fitted_loss([0, 1, 2, 3]), abs=5e-3)
    without_2 = [c for c in kept if c != 2]
    assert choice.statistic[2] == pytest.approx(fitted_loss(without_2) - fitted_loss(kept), abs=5e-3)
    assert choice.statistic[2] > 0.3


@pytest.mark.parametrize("criterion", ["loss", "loss-refit", "weight", "score-weight"])
def test_one_per_group_keeps_one_kernel_per_motif(data, criterion):
    """Kernels 0 and 1 are one motif (group 1), 2 another (group 2), 3 has none (0): every
    criterion keeps one copy of group 1 and kernel 2. With the loss criteria the copy kept is
    the one whose removal would cost more, and the statistic of the removed copy is its cost."""
    _, model = hand_built_model(fit_on=data)
    groups = np.array([1, 1, 2, 0])
    choice = select_one_per_group(model, data, criterion, groups)
    assert len(choice.keep) == 2 and 2 in choice.keep and len(set(choice.keep.tolist()) & {0, 1}) == 1
    assert select_count(model, data, criterion, 2, groups=groups).keep.tolist() == choice.keep.tolist()
    if criterion in ("loss", "loss-refit"):
        # Kernel 2 alone carries TTGACA: removing it must cost more than any copy did.
        gone = ({0, 1} - set(choice.keep.tolist())).pop()
        assert choice.statistic[2] > choice.statistic[gone]


def test_one_per_group_keeps_a_motif_plain_loss_would_drop(data):
    """A read-out that leans on the two CACGTG copies and barely on TTGACA: plain elimination keeps
    both copies (removing either, its feature at the mean, costs more than losing TTGACA); one
    kernel per motif keeps one copy and TTGACA."""
    _, model = hand_built_model()
    with torch.no_grad():
        model.out.weight.copy_(torch.tensor([[4.0, 4.0, 0.05, 0.1]]))
    assert greedy_loss_selection(model, data, keep=2).keep.tolist() == [0, 1]
    keep = select_one_per_group(model, data, "loss", np.array([1, 1, 2, 0])).keep.tolist()
    assert keep in ([0, 2], [1, 2])


def test_one_per_group_refuses_inconsistent_labels(data):
    _, model = hand_built_model()
    with pytest.raises(ValueError, match="no kernel carries a motif"):
        select_one_per_group(model, data, "loss", np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="label each of the 4 kernels"):
        greedy_loss_selection(model, data, keep=2, groups=np.array([1, 1, 2]))


def test_groups_make_copies_go_first_then_loss_decides(data):
    """With groups, kernels without a motif and copies go before any motif's last kernel; once one
    kernel per motif is left, the loss decides as without groups."""
    _, model = hand_built_model(fit_on=data)
    # three kernels called one motif, kernel 3 none: at 2 kernels, two of {0, 1, 2} stay (copies kept
    # only because keep > motifs), never the motif-less kernel 3
    keep = greedy_loss_selection(model, data, keep=2, groups=np.array([1, 1, 1, 0])).keep.tolist()
    assert 3 not in keep and len(keep) == 2
    # at 1 kernel with two motifs: the copy and kernel 3 go first, then the cheaper of 0 and 2
    groups = np.array([1, 1, 2, 0])
    one = greedy_loss_selection(model, data, keep=1, groups=groups)
    two = greedy_loss_selection(model, data, keep=2, groups=groups)
    assert set(one.keep.tolist()) < set(two.keep.tolist()) and set(two.keep.tolist()) in ({0, 2}, {1, 2})



@pytest.mark.parametrize("criterion", ["loss", "weight"])
def test_one_per_motif_keeps_pairwise_different_motifs_across_groups(data, criterion):
    """Groups formed around representatives can leave a member of one group the same motif as
    another group's kernel (0 ~ 1 ~ 2, 0 and 2 not alike; 3 has no motif): without ``keep`` the
    kept kernels are pairwise different motifs and the motif-less kernel goes, whatever the labels."""
    _, model = hand_built_model(fit_on=data)
    groups = np.array([1, 1, 2, 0])
    same = np.eye(4, dtype=bool)
    same[0, 1] = same[1, 0] = same[1, 2] = same[2, 1] = True
    same[3, 3] = False
    keep = select_one_per_group(model, data, criterion, groups, same=same).keep.tolist()
    assert 3 not in keep and keep
    assert not any(same[i, j] for i in keep for j in keep if i != j)
    # kernel 1, alike to both 0 (its CACGTG twin) and 2, goes; CACGTG and TTGACA both stay
    assert keep == [0, 2]
    with pytest.raises(ValueError, match="same must be"):
        select_one_per_group(model, data, criterion, groups, same=np.eye(3, dtype=bool))
    with pytest.raises(ValueError, match="need groups"):
        greedy_loss_selection(model, data, keep=1, until_distinct=True)


def test_has_copies():
    """A same-motif matrix holds copies when a kernel has no motif or matches another kernel."""
    from deepprune_cli.core.criteria import has_copies, same_motif_matrix

    assert not has_copies(same_motif_matrix(np.array([1, 2, 3])))
    assert has_copies(same_motif_matrix(np.array([1, 1, 2])))  # two kernels of motif 1
    assert has_copies(same_motif_matrix(np.array([1, 2, 0])))  # a kernel without a motif
    pairwise = np.eye(3, dtype=bool)
    pairwise[0, 2] = pairwise[2, 0] = True  # different groups, yet alike
    assert has_copies(same_motif_matrix(np.array([1, 2, 3]), pairwise))


@given(scale=st.floats(0.05, 20.0), shift=st.floats(-15.0, 15.0))
@settings(max_examples=25, deadline=None)
def test_calibrate_output_keeps_the_ranking_and_never_raises_the_loss(data, scale, shift):
    """A fitted model's logits scaled and shifted (as held-at-mean features leave an exp model's):
    calibrate_output refits a * logit + c (a > 0) into the output layer: the same ranking (logits
    an increasing affine map of the old ones), a training loss no higher than before, and about
    the fitted model's loss again."""
    _, fitted = hand_built_model(fit_on=data)
    best = model_loss(fitted, data)
    model = copy.deepcopy(fitted)
    with torch.no_grad():
        model.out.weight.mul_(scale)
        model.out.bias.mul_(scale).add_(shift)
        before_logits = model(data.tokens)[:, 0].double()
    before = model_loss(model, data)
    a, c = calibrate_output(model, data)
    with torch.no_grad():
        after_logits = model(data.tokens)[:, 0].double()
    assert a > 0
    assert torch.allclose(after_logits, a * before_logits + c, atol=1e-3 * (1 + before_logits.abs().max()))
    after = model_loss(model, data)
    assert after <= before + 1e-6  # float32 weights: the refit is exact in float64
    assert after == pytest.approx(best, abs=1e-3)  # the fitted read-out was the best affine map of itself


def test_calibrate_output_leaves_what_it_cannot_fix(data):
    """None, model unchanged: several outputs, one class only, logits that rank backwards."""
    _, model = hand_built_model(fit_on=data)
    state = copy.deepcopy(model.state_dict())
    one_class = DeviceData(data.tokens[:50], torch.ones(50, 1))
    assert calibrate_output(model, one_class) is None
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())  # unchanged
    with torch.no_grad():
        model.out.weight.neg_()
        model.out.bias.neg_()
    flipped = copy.deepcopy(model.state_dict())
    assert calibrate_output(model, data) is None  # a < 0 would be needed: no affine fix
    assert all(torch.equal(flipped[k], v) for k, v in model.state_dict().items())
    multi = build_model(arch_spec("deepbind", n_kernels=2, kernel_length=6, n_outputs=2), seed=0)
    multi_state = copy.deepcopy(multi.state_dict())
    assert calibrate_output(multi, data) is None
    assert all(torch.equal(multi_state[k], v) for k, v in multi.state_dict().items())


def _variant_motif_model():
    """A model over 600 positives (each holds CACGTGACGGA or TTTGACATCCT) and 600 random
    negatives, with kernels: 0 CACGTGAC, 1 its reverse complement, 2 TTTGACAT, 3 CGTGACGG (the
    first motif shifted by two: p = 10^-3.4 against kernel 0, different at logos' 1e-4, the same
    at 1e-3), 4 masked (no motif)."""
    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list(BASES), 40)) for _ in range(1200)]
    seqs = [s[:12] + ("CACGTGACGGA" if i % 3 else "TTTGACATCCT") + s[23:] if i < 600 else s
            for i, s in enumerate(seqs)]
    labels = (np.arange(1200) < 600).astype(np.float32)
    spec = arch_spec("deepbind", n_kernels=5, kernel_length=8)
    data = to_device(SequenceSet.from_strings(seqs, labels=labels), CPU, spec)
    model = build_model(spec, seed=0)
    with torch.no_grad():
        model.conv1.weight.copy_(torch.stack([
            one_hot_kernel("CACGTGAC", 8), one_hot_kernel("CACGTGAC", 8).flip(0, 1),
            one_hot_kernel("TTTGACAT", 8), one_hot_kernel("CGTGACGG", 8), one_hot_kernel("GATA", 8)]))
        model.conv1.bias.copy_(torch.tensor([-4.0, -4.0, -4.0, -3.0, -2.0]))
        model.kernel_mask[4] = 0.0
    return model, data


def test_motif_labels_threshold_and_parts_only_add_pairs():
    """A looser threshold and grouping on parts of the positives only add same-motif pairs: the
    labels are those of all the positives at the threshold, the diagonal (which kernels have a
    motif) never changes, and the parts add exactly the pairs logos' grouping finds on each
    interleaved part (here part 0 holds only TTTGACAT sites: kernels without a motif on a part
    lose nothing)."""
    from deepprune_cli.core.criteria import _positive_mask, motif_labels
    from deepprune_cli.core.grouping import kernel_groups

    model, data = _variant_motif_model()
    labels, same = motif_labels(model, data)
    tokens = data.tokens[_positive_mask(data)].numpy()
    want_labels, grouping = kernel_groups(model, tokens)
    assert labels.tolist() == want_labels.tolist() and (same == grouping.kernel_same(5)).all()
    assert same[0, 1] and not same[0, 2] and not same[0, 3] and not same[4].any()
    loose_labels, loose = motif_labels(model, data, threshold=1e-3)
    assert loose_labels.tolist() == kernel_groups(model, tokens, threshold=1e-3)[0].tolist() == [1, 1, 2, 1, 0]
    assert loose[0, 3] and loose[1, 3] and not loose[2, 3]  # the shifted motif joins at 1e-3
    _, both = motif_labels(model, data, threshold=1e-3, parts=3)
    for wider, narrower in ((loose, same), (both, loose)):
        assert (wider | narrower == wider).all()  # only adds pairs
        assert (np.diag(wider) == np.diag(same)).all() and (wider == wider.T).all()
    from_parts = np.zeros_like(same)
    for k in range(3):
        from_parts |= kernel_groups(model, tokens[k::3])[1].kernel_same(5)
    alive = np.diag(same)
    expect = loose | (from_parts & alive[:, None] & alive[None, :])
    np.fill_diagonal(expect, alive)
    assert (both == expect).all()


def test_motif_labels_parts_never_join_a_kernel_without_a_motif_on_all_positives():
    """A kernel (3, CACGTT) with too few strong sites for a motif on all the positives, but a motif
    on one part where it is the same as kernel 0 (CACGTG): the parts join no pair of it, and its
    diagonal stays False (it has no motif)."""
    from deepprune_cli.core.criteria import _positive_mask, motif_labels
    from deepprune_cli.core.grouping import kernel_groups

    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list(BASES), 40)) for _ in range(1200)]
    seqs = [s[:12] + ("CACGTGAC" if i % 3 else "TTTGACAT") + s[20:] if i < 600 else s for i, s in enumerate(seqs)]
    labels = (np.arange(1200) < 600).astype(np.float32)
    spec = arch_spec("deepbind", n_kernels=4, kernel_length=8)
    data = to_device(SequenceSet.from_strings(seqs, labels=labels), CPU, spec)
    model = build_model(spec, seed=0)
    with torch.no_grad():
        model.conv1.weight.copy_(torch.stack([one_hot_kernel("CACGTG", 8), one_hot_kernel("TTGACA", 8),
                                              one_hot_kernel("CACGTT", 8), one_hot_kernel("GATA", 8)]))
        model.conv1.bias.copy_(torch.tensor([-3.0, -3.0, -3.0, -2.0]))
        model.kernel_mask[3] = 0.0
    tokens = data.tokens[_positive_mask(data)].numpy()
    whole = kernel_groups(model, tokens)[1].kernel_same(4)
    part_same = [kernel_groups(model, tokens[k::3])[1].kernel_same(4) for k in range(3)]
    assert not whole[2, 2] and any(p[0, 2] for p in part_same)  # the case: a motif on a part only
    labels, same = motif_labels(model, data, parts=3)
    assert labels[2] == 0 and not same[2].any() and not same[:, 2].any()

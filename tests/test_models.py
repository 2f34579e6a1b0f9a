"""Architectures, the token-gather first layer, both strands, kernel mask and kernel selection."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from deepprune_cli.core import architectures as A
from deepprune_cli.core import first_layer as FL
from deepprune_cli.core import models as M
from deepprune_cli.core.errors import InputError
from deepprune_cli.core.sequences import one_hot, reverse_complement

torch.set_num_threads(1)  # the machine is shared; parallel regions only add noise here
numba.set_num_threads(1)


def _length(name: str) -> int:
    return 200 if name.startswith("cnn") else 101


def _model(name: str, n_outputs: int = 1, both: bool = True, seed: int = 0, **kw) -> M.MotifCNN:
    L = _length(name)
    return M.build_model(A.arch_spec(name, n_outputs=n_outputs, both_strands=both, seq_len=L, **kw), seed=seed).eval()


@pytest.mark.parametrize("name", A.ARCHITECTURES)
def test_every_architecture_builds_and_runs(name):
    n_out = 3 if name.startswith("cnn") else 1
    m = _model(name, n_out)
    L = _length(name)
    x = torch.randint(0, 5, (2, L), dtype=torch.uint8)
    with torch.no_grad():
        y = m(x)
        acts = m.kernel_activations(x)
    assert y.shape == (2, n_out)
    assert acts.shape == (2, m.n_kernels) and (acts >= 0).all()
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", ["deepbind", "1layer_local_win9", "3layer_local_win3", "cnn-50-2"])
def test_gradients_reach_the_motif_kernels(name):
    m = _model(name, 2 if name.startswith("cnn") else 1).train()  # batch norm and dropout active
    m(torch.randint(0, 4, (4, _length(name)), dtype=torch.uint8)).sum().backward()
    assert m.conv1.weight.grad is not None and m.conv1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["deepbind", "1layer", "1layer_local_win3", "2layer", "cnn-4", "cnn-50-2"])
def test_both_strands_prediction_equals_reverse_complement(name):
    m = _model(name, seed=3)
    L = _length(name)
    x = np.random.default_rng(1).integers(0, 5, size=(8, L)).astype(np.uint8)
    rc = reverse_complement(x).copy()
    with torch.no_grad():
        a = m(torch.from_numpy(x))
        b = m(torch.from_numpy(rc))
        ka = m.kernel_activations(torch.from_numpy(x))
        kb = m.kernel_activations(torch.from_numpy(rc))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ka, kb, rtol=1e-5, atol=1e-5)


def test_one_strand_is_not_symmetric():
    m = _model("deepbind", both=False, seed=3)
    x = np.random.default_rng(1).integers(0, 4, size=(8, 101)).astype(np.uint8)
    with torch.no_grad():
        a, b = m(torch.from_numpy(x)), m(torch.from_numpy(reverse_complement(x).copy()))
    assert not torch.allclose(a, b)


def _conv_reference(tokens: np.ndarray, weight: torch.Tensor, bias: torch.Tensor, padding="valid"):
    """nn.Conv1d on a float one-hot (N = 0.25 each) built with the foundation's one_hot."""
    conv = torch.nn.Conv1d(4, weight.shape[0], weight.shape[2], padding=padding)
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return conv(torch.from_numpy(one_hot(tokens)))


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@settings(max_examples=30, deadline=None)
@given(
    k=st.integers(1, 9),
    w=st.integers(1, 12),
    extra=st.integers(0, 30),
    b=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
)
def test_gather_conv_equals_conv1d_on_one_hot(k, w, extra, b, seed):
    rng = np.random.default_rng(seed)
    L = w + extra
    tokens = rng.integers(0, 5, size=(b, L)).astype(np.uint8)  # includes N
    weight = torch.from_numpy(rng.normal(size=(k, 4, w)).astype(np.float32))
    bias = torch.from_numpy(rng.normal(size=k).astype(np.float32))
    ref = _conv_reference(tokens, weight, bias)
    t = torch.from_numpy(tokens)
    torch.testing.assert_close(FL.conv_gather(t, weight, bias), ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(FL.conv_onehot(t, weight, bias), ref, rtol=1e-4, atol=1e-4)
    # fused global max = max over positions of the reference conv (without bias)
    fused = FL.fused_global_max(t, weight) + bias
    torch.testing.assert_close(fused, ref.amax(dim=2), rtol=1e-4, atol=1e-4)
    # 'same' padding: PAD tokens weigh zero, as zero padding of the one-hot input
    same = FL.first_conv_map(t, weight, bias, "same", "gather")
    torch.testing.assert_close(same, _conv_reference(tokens, weight, bias, "same"), rtol=1e-4, atol=1e-4)


def test_fused_gradient_equals_autograd_through_conv1d():
    rng = np.random.default_rng(0)
    tokens = torch.from_numpy(rng.integers(0, 5, size=(32, 60)).astype(np.uint8))
    w = torch.from_numpy(rng.normal(size=(6, 4, 11)).astype(np.float32))
    g = torch.from_numpy(rng.normal(size=(32, 6)).astype(np.float32))
    w1 = w.clone().requires_grad_()
    (FL.fused_global_max(tokens, w1) * g).sum().backward()
    w2 = w.clone().requires_grad_()
    (FL.conv_onehot(tokens, w2, None).amax(dim=2) * g).sum().backward()
    torch.testing.assert_close(w1.grad, w2.grad, rtol=1e-4, atol=1e-4)


def test_fused_and_torch_paths_train_identically_for_one_step():
    x = torch.randint(0, 5, (64, 101), dtype=torch.uint8)
    y = torch.randint(0, 2, (64, 1)).float()
    grads = []
    for impl in ("fused", "onehot", "gather"):
        m = _model("deepbind", seed=5, dropout=0.0).train()  # no dropout: same function in all three
        m.conv_impl = impl
        F.binary_cross_entropy_with_logits(m(x), y).backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in m.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grads[2], grads[1], rtol=1e-4, atol=1e-5)


def test_kernel_mask_silences_kernels():
    m = _model("deepbind", seed=2)
    x = torch.randint(0, 4, (16, 101), dtype=torch.uint8)
    m.kernel_mask[[1, 4]] = 0
    ref = _model("deepbind", seed=2)
    with torch.no_grad():
        ref.out.weight[:, [1, 4]] = 0
        torch.testing.assert_close(m(x), ref(x))


@pytest.mark.parametrize("name", ["deepbind", "1layer", "1layer_local_win3", "2layer", "cnn-4"])
def test_select_kernels_matches_masked_model(name):
    m = _model(name, seed=7)
    keep = [0, 2, 5, 9]
    drop = [j for j in range(m.n_kernels) if j not in keep]
    m.kernel_mask[drop] = 0
    small = M.select_kernels(m, keep).eval()
    L = _length(name)
    x = torch.randint(0, 5, (16, L), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(small(x), m(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(small.kernel_activations(x), m.kernel_activations(x)[:, keep])
    assert small.n_kernels == 4 and small.conv1.weight.shape[0] == 4
    assert small.kernel_ids.tolist() == keep
    assert small.spec.n_kernels_original == m.n_kernels
    mask = M.full_kernel_mask(small)
    assert mask.shape == (m.n_kernels,) and mask.sum() == 4 and mask[keep].all()
    # a second selection keeps the original ids
    smaller = M.select_kernels(small, [1, 3])
    assert smaller.kernel_ids.tolist() == [2, 9]


def test_arch_errors():
    with pytest.raises(InputError, match="unknown architecture 'deepbnd'.*deepbind"):
        A.arch_spec("deepbnd")
    with pytest.raises(InputError, match="--kernels must be at least 1"):
        A.arch_spec("deepbind", n_kernels=0)
    with pytest.raises(InputError, match="too short"):
        M.MotifCNN(A.arch_spec("3layer_local_win3", seq_len=40))
    spec = A.arch_spec("cnn9-4", seq_len=200)
    assert spec.convs[0].width == 9 and spec.convs[0].pool == 4 and spec.convs[1].pool == 25
    assert A.arch_spec("cnn-50-2", seq_len=200).convs[0].pool_stride == 2
    assert A.arch_spec("deepbind", n_kernels=4, kernel_length=10).convs[0].width == 10


def test_fixed_length_architecture_refuses_other_lengths():
    m = _model("cnn-4")
    with pytest.raises(InputError, match="200-bp"):
        m(torch.zeros(2, 150, dtype=torch.uint8))
    # globally pooled architectures take any length (at least the kernel)
    assert _model("deepbind")(torch.zeros(2, 300, dtype=torch.uint8)).shape == (2, 1)


def test_spec_round_trip():
    spec = A.arch_spec("cnn-50-2", n_outputs=12, seq_len=200)
    again = A.ArchSpec.from_dict(spec.to_dict())
    assert again == spec


@pytest.mark.parametrize("activation", ["relu", "exp"])
def test_fused_and_torch_paths_agree_for_each_first_layer_activation(activation):
    x = torch.randint(0, 5, (64, 101), dtype=torch.uint8)
    y = torch.randint(0, 2, (64, 1)).float()
    outs, grads = [], []
    for impl in ("fused", "onehot"):
        m = _model("deepbind", seed=5, dropout=0.0, activation=activation).train()
        m.conv_impl = impl
        out = m(x)
        F.binary_cross_entropy_with_logits(out, y).backward()
        outs.append(out.detach())
        grads.append(torch.cat([p.grad.reshape(-1) for p in m.parameters()]))
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-5)


def test_exp_activation_is_the_exponential_of_the_pooled_conv():
    relu = _model("deepbind", seed=4, activation="relu")
    exp = _model("deepbind", seed=4, activation="exp")
    x = torch.randint(0, 4, (16, 101), dtype=torch.uint8)
    with torch.no_grad():
        pre = FL.fused_kernel_features(x, exp.conv1.weight, exp.conv1.bias, True, relu=False)
        torch.testing.assert_close(exp.kernel_activations(x), torch.exp(pre))
        torch.testing.assert_close(relu.kernel_activations(x), pre.clamp(min=0))
        # features feed the same read-out: the two models differ by the activation alone
        torch.testing.assert_close(exp(x), exp.out(torch.exp(pre)))
    # Koo & Eddy's models apply it after batch norm, before pooling
    koo = _model("cnn-4", n_outputs=2, activation="exp")
    assert (koo.kernel_activations(torch.randint(0, 4, (4, 200), dtype=torch.uint8)) > 0).all()
    with pytest.raises(InputError, match="--activation must be one of relu, exp"):
        A.arch_spec("deepbind", activation="tanh")


# ---- first-layer padding (issue 19: 'full', W-1 N on each side) ----------------------------------


@pytest.mark.parametrize("activation", ["relu", "exp"])
def test_full_padding_fused_and_torch_paths_agree(activation):
    x = torch.randint(0, 5, (64, 60), dtype=torch.uint8)
    y = torch.randint(0, 2, (64, 1)).float()
    outs, grads = [], []
    for impl in ("fused", "onehot", "gather"):
        m = _model("deepbind", seed=7, dropout=0.0, activation=activation, padding="full").train()
        m.conv_impl = impl
        out = m(x)
        F.binary_cross_entropy_with_logits(out, y).backward()
        outs.append(out.detach())
        grads.append(torch.cat([p.grad.reshape(-1) for p in m.parameters()]))
    for o, g in zip(outs[1:], grads[1:]):
        torch.testing.assert_close(outs[0], o, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(grads[0], g, rtol=1e-4, atol=1e-5)


def test_full_padding_sees_a_site_at_either_end_as_in_the_middle():
    """A kernel wider than its motif scores the motif at a sequence end exactly as inside (the
    overhang reads N, the mean weight); without padding the end sites are scored lower."""
    W, L = 24, 60
    motif = np.array([0, 1, 2, 3, 3, 2, 1, 0], dtype=np.uint8)  # ACGTTGCA
    weight = np.zeros((1, 4, W), np.float32)
    weight[0, motif, np.arange(8) + 8] = 2.0  # the motif in the kernel's middle, flanks weigh 0
    seqs = np.full((3, L), 4, np.uint8)  # N background: only the motif scores
    for row, start in enumerate((0, 26, L - 8)):
        seqs[row, start : start + 8] = motif
    t = torch.from_numpy(seqs)
    scores = {}
    for padding in ("valid", "full"):
        m = _model("deepbind", seed=0, padding=padding, n_kernels=1, both=False, dropout=0.0)
        with torch.no_grad():
            m.conv1.weight.copy_(torch.from_numpy(weight))
            m.conv1.bias.zero_()
            scores[padding] = m.kernel_activations(t)[:, 0].numpy()
    np.testing.assert_allclose(scores["full"], 16.0)  # every site whole, wherever it sits
    assert scores["valid"][1] == pytest.approx(16.0)
    assert scores["valid"][0] < 16.0 and scores["valid"][2] < 16.0  # the ends are cut


def test_padding_option_and_lengths():
    spec = A.arch_spec("deepbind", padding="full")
    assert spec.convs[0].padding == "full"
    assert spec.length_after(10) == [1] and spec.min_length() == 1  # any length: windows overhang
    assert A.arch_spec("deepbind").min_length() == 24
    assert A.padding_widths("full", 24) == (23, 23, 4)  # N tokens
    assert A.padding_widths("same", 24) == (11, 12, 5)  # PAD tokens (weigh 0)
    assert A.ArchSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(InputError, match="--padding must be one of valid, same, full"):
        A.arch_spec("deepbind", padding="circular")
    with pytest.raises(ValueError, match="padding must be one of"):
        A.ConvSpec(4, 24, padding="both")

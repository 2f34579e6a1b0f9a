"""Training loop, data preparation, metrics, devices and seeds, on a real ENCODE slice."""

from __future__ import annotations

from pathlib import Path

import numba
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepprune_cli.core import datasets as D
from deepprune_cli.core import layout, metrics, store
from deepprune_cli.core import architectures as A
from deepprune_cli.core import models as M
from deepprune_cli.core import training as T
from deepprune_cli.core.errors import InputError
from deepprune_cli.core.sequences import SequenceSet, read_sequences

torch.set_num_threads(1)  # the machine is shared; parallel regions only add noise here
numba.set_num_threads(1)
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def rest():
    """300 REST peaks (+ 300 seeded shuffles) and the 100 + 100 test slice."""
    pos = read_sequences(DATA / "encode_REST_AC_slice.seq.gz")
    test = read_sequences(DATA / "encode_REST_B_slice.seq.gz")
    data = D.make_training_data(pos, seed=0)
    tr, va = D.split_validation(data, 0.2, seed=0)
    return data.seqs.subset(tr), data.seqs.subset(va), test


@pytest.fixture(scope="module")
def trained(rest):
    train, val, test = rest
    model = M.build_model(A.arch_spec("deepbind", n_kernels=8), seed=0)
    model, history = T.fit(model, train, val, T.TrainOptions(max_epochs=25, lr=0.01, batch_size=64))
    return model, history


def test_trained_model_beats_chance_on_real_test_slice(rest, trained):
    model, history = trained
    ev = T.evaluate(model, rest[2], prefix="test_")
    assert ev["test_auroc"] > 0.85, ev
    assert 0 <= ev["test_loss"] < 0.69
    assert [r["epoch"] for r in history] == list(range(1, len(history) + 1))


def test_best_weights_are_restored(rest, trained):
    model, history = trained
    best = T.best_row(history)
    ev = T.evaluate(model, rest[1], prefix="val_")
    assert ev["val_loss"] == pytest.approx(best["val_loss"], rel=1e-5, abs=1e-6)


def test_training_failure_says_constant_and_chance_models_failed(rest, trained):
    train, val, test = rest
    assert T.training_failure(trained[0], val) is None  # a model that learned
    dead = M.build_model(A.arch_spec("deepbind", n_kernels=8), seed=0)
    with torch.no_grad():
        for p in dead.parameters():
            p.zero_()
    assert T.training_failure(dead, val).startswith("constant output")
    # labels unrelated to the sequences: whatever the model does is chance
    rng = np.random.default_rng(0)
    noise = val.with_labels(rng.permutation(val.labels))
    assert "no better than chance" in T.training_failure(trained[0], noise)


def test_early_stopping_stops_before_max_epochs(rest):
    train, val, _ = rest
    model = M.build_model(A.arch_spec("deepbind", n_kernels=4), seed=0)
    # lr this high overfits fast; patience 2 must end the run long before 200 epochs
    _, history = T.fit(model, train, val, T.TrainOptions(max_epochs=200, patience=2, lr=0.05, batch_size=32))
    assert len(history) < 200
    best = T.best_row(history)["epoch"]
    assert len(history) == best + 2


def test_same_seed_identical_weights_other_seed_differs(rest):
    train, val, _ = rest
    opts = T.TrainOptions(max_epochs=3, lr=0.01, batch_size=64, seed=4)

    def run(seed, opt_seed):
        m = M.build_model(A.arch_spec("1layer", n_kernels=4), seed=seed)  # has dropout: RNG matters
        m, h = T.fit(m, train, val, T.TrainOptions(**{**opts.to_dict(), "seed": opt_seed}))
        return store.state_bytes(m), h

    a, ha = run(1, 4)
    b, hb = run(1, 4)
    c, _ = run(1, 5)
    assert a == b and ha == hb
    assert a != c


def test_fit_is_reusable_with_fresh_optimiser_and_smaller_model(rest):
    train, val, _ = rest
    m = M.build_model(A.arch_spec("deepbind", n_kernels=6), seed=0)
    m, _ = T.fit(m, train, val, T.TrainOptions(max_epochs=2, lr=0.01))
    small = M.select_kernels(m, [0, 3])
    acts = T.kernel_activations(small, val)
    assert acts.shape == (len(val), 2) and (acts >= 0).all()
    np.testing.assert_allclose(acts, T.kernel_activations(m, val)[:, [0, 3]], rtol=1e-6)
    small, h = T.fit(small, train, val, T.TrainOptions(max_epochs=2, lr=0.001))
    assert small.n_kernels == 2 and len(h) == 2


def test_masked_kernels_stay_frozen(rest):
    train, val, _ = rest
    m = M.build_model(A.arch_spec("deepbind", n_kernels=4), seed=0)
    m.kernel_mask[2] = 0
    before = m.conv1.weight[2].clone()
    m, _ = T.fit(m, train, val, T.TrainOptions(max_epochs=2))
    torch.testing.assert_close(m.conv1.weight[2], before)


def test_l1_penalty_shrinks_dense_weights(rest):
    train, val, _ = rest
    norms = []
    for l1 in (0.0, 0.05):
        m = M.build_model(A.arch_spec("deepbind", n_kernels=8), seed=0)
        m, _ = T.fit(m, train, val, T.TrainOptions(max_epochs=4, lr=0.01, l1=l1))
        norms.append(float(m.out.weight.detach().abs().sum()))
    assert norms[1] < norms[0]


def test_grouped_seeds_match_sequential_training(rest):
    """The vmapped multi-seed path (used on GPUs) equals one-by-one training, here on CPU."""
    train, val, _ = rest
    spec = A.arch_spec("deepbind", n_kernels=4, dropout=0.0)  # dropout draws differ under vmap
    opts = T.TrainOptions(max_epochs=3, lr=0.01, batch_size=64)
    seeds = [0, 1]
    seq = T.fit_many([M.build_model(spec, seed=s, conv_impl="onehot") for s in seeds], train, val, opts, seeds, grouped=False)
    grp = T.fit_many([M.build_model(spec, seed=s, conv_impl="onehot") for s in seeds], train, val, opts, seeds, grouped=True)
    for (ms, hs), (mg, hg) in zip(seq, grp):
        for (k, a), b in zip(ms.state_dict().items(), mg.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4, msg=k)
        assert [r["epoch"] for r in hs] == [r["epoch"] for r in hg]
        assert hs[-1]["val_loss"] == pytest.approx(hg[-1]["val_loss"], rel=1e-3)


def test_grouped_seeds_with_batch_norm_update_running_stats():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(96, 40)).astype(np.uint8)
    y = rng.integers(0, 2, size=(96, 2)).astype(np.float32)
    spec = A.arch_spec("cnn9-4", n_outputs=2, seq_len=40)
    models = [M.build_model(spec, seed=s) for s in (0, 1)]
    out = T.fit_many(models, (x[:64], y[:64]), (x[64:], y[64:]), T.TrainOptions(max_epochs=2, batch_size=32), [0, 1], grouped=True)
    rm = [m.bn1.running_mean for m, _ in out]
    assert not torch.equal(rm[0], torch.zeros_like(rm[0]))
    assert not torch.equal(rm[0], rm[1])


def test_predict_pads_mixed_lengths_and_matches_model(trained):
    model, _ = trained
    seqs = SequenceSet.from_strings(["ACGT" * 30, "GGGCCCAAATTT" * 5, "ACGTAC"])
    p = T.predict(model, seqs)
    assert p.shape == (3, 1) and np.all((p > 0) & (p < 1))
    # the padded record scores as itself padded with N explicitly
    padded = SequenceSet.from_strings(["N" * 30 + "GGGCCCAAATTT" * 5 + "N" * 30])
    assert T.predict(model, padded)[0, 0] == pytest.approx(p[1, 0], rel=1e-6)


def test_resolve_device():
    assert T.resolve_device("cpu").type == "cpu"
    assert T.resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(InputError, match="unknown device"):
        T.resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            T.resolve_device("cuda:0")


# ---- data preparation -----------------------------------------------------------------------


def test_unlabelled_positives_get_grouped_shuffled_negatives():
    pos = SequenceSet.from_strings(["ACGTTGCAAGGCTTACGGAT" * 3] * 5, ids=[f"p{i}" for i in range(5)])
    data = D.make_training_data(pos, seed=3, copies=2)
    assert len(data.seqs) == 15 and data.seqs.labels[:, 0].sum() == 5
    assert data.groups.tolist() == [0, 1, 2, 3, 4, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    again = D.make_training_data(pos, seed=3, copies=2)
    assert np.array_equal(again.seqs.tokens, data.seqs.tokens)
    tr, va = D.split_validation(data, 0.4, seed=0)
    assert set(data.groups[tr]).isdisjoint(data.groups[va])


def test_labelled_input_used_as_is_and_one_class_refused(data_dir):
    both = read_sequences(data_dir / "seq_CTCFL_B_slice.seq.gz")
    data = D.make_training_data(both)
    assert len(data.seqs) == len(both) and "shuffled_negatives" not in data.info
    only_neg = both.subset(np.flatnonzero(both.labels[:, 0] == 0))
    with pytest.raises(InputError, match="one class only"):
        D.make_training_data(only_neg)
    only_pos = both.subset(np.flatnonzero(both.labels[:, 0] == 1))
    with pytest.raises(InputError, match="one class only"):
        D.make_training_data(only_pos, shuffle=False)
    with pytest.raises(InputError, match="labelled 1"):
        D.make_training_data(only_pos, negatives=only_pos)


def test_multilabel_without_zero_rows_gets_no_invented_negatives():
    # Koo & Eddy's design: every sequence carries some class, so no row is all zero; each class's
    # negatives are the other records. Shuffles used to be added here (any all-zero row was asked for).
    seqs = ["ACGTTGCAAGGCTTACGGAT" * 2] * 10
    ml = SequenceSet.from_strings(seqs, labels=np.array([[1, 0], [0, 1]] * 5, dtype=np.float32))
    data = D.make_training_data(ml)
    assert len(data.seqs) == 10 and "shuffled_negatives" not in data.info
    assert "none invented" in D.negatives_note(data.info)
    # a class that every record carries still gets shuffled negatives, and the note says so
    ones = SequenceSet.from_strings(seqs, labels=np.array([[1, 0], [1, 1]] * 5, dtype=np.float32))
    data = D.make_training_data(ones, copies=3)
    assert len(data.seqs) == 40 and data.seqs.labels[10:].sum() == 0
    assert D.negatives_note(data.info).startswith("dinucleotide-shuffled, 3 per positive (30 made")
    assert D.negatives_note(D.make_training_data(ml, shuffle=True).info).startswith("dinucleotide-shuffled, 2 per")


def test_split_is_stratified_seeded_and_refuses_too_few():
    pos = SequenceSet.from_strings(["ACGT" * 10] * 20 + ["TTGA" * 10] * 20, labels=[1] * 20 + [0] * 20)
    data = D.make_training_data(pos)
    tr, va = D.split_validation(data, 0.25, seed=1)
    assert len(va) == 10 and data.seqs.labels[va, 0].sum() == 5
    tr2, va2 = D.split_validation(data, 0.25, seed=1)
    assert np.array_equal(va, va2)
    tiny = D.make_training_data(SequenceSet.from_strings(["ACGTACGGTACCA" * 3]))
    with pytest.raises(InputError, match="too few sequences"):
        D.split_validation(tiny, 0.1)
    with pytest.raises(InputError, match="between 0 and 1"):
        D.split_validation(data, 1.5)


def test_token_matrix_pads_with_n_centred():
    seqs = SequenceSet.from_strings(["ACGT", "AC", "ACGTACG"])
    mat = layout.token_matrix(seqs)
    assert mat.tolist() == [[4, 0, 1, 2, 3, 4, 4], [4, 4, 0, 1, 4, 4, 4], [0, 1, 2, 3, 0, 1, 2]]
    with pytest.raises(InputError, match="different lengths"):
        layout.check_lengths(seqs, 7, "cnn-4")


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 300), levels=st.integers(1, 30), seed=st.integers(0, 2**31 - 1))
def test_metrics_equal_scikit_learn_including_ties(n, levels, seed):
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    if y.min() == y.max():
        y[0] = 1 - y[0]
    s = rng.integers(0, levels, n).astype(np.float64)  # few levels: many ties
    assert metrics.auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert metrics.auprc(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_adam_is_bit_identical_to_torch_optim():
    def run(make):
        torch.manual_seed(0)
        model = M.build_model(A.arch_spec("1layer", n_kernels=3, dropout=0.0), seed=0)
        model.dense[0][2].p = 0.0  # no dropout: same function for both optimisers
        opt = make(model.parameters())
        x = torch.randint(0, 4, (32, 101), dtype=torch.uint8)
        y = torch.randint(0, 2, (32, 1)).float()
        for _ in range(20):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return store.state_bytes(model)

    assert run(lambda p: T.Adam(p, lr=0.01)) == run(lambda p: torch.optim.Adam(p, lr=0.01, foreach=True))


def test_metrics_auroc_and_sd():
    y = np.array([0, 0, 1, 1])
    assert metrics.auroc(y, [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert np.isnan(metrics.auroc([1, 1], [0.2, 0.3]))
    two = metrics.per_class("auroc", np.array([[0, 1], [1, 1]]), np.array([[0.1, 0.2], [0.9, 0.3]]))
    assert two[0] == 1.0 and np.isnan(two[1])
    assert metrics.mean_sd([1.0, 2.0, 3.0]) == (2.0, 1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_training_and_grouped_seeds(rest):
    train, val, test = rest
    dev = T.resolve_device("cuda")
    m = M.build_model(A.arch_spec("deepbind", n_kernels=8), seed=0)
    m, h = T.fit(m, train, val, T.TrainOptions(max_epochs=25, lr=0.01, batch_size=64), device=dev)
    assert T.evaluate(m, test)["auroc"] > 0.85
    # One model, eval mode (dropout off): the CPU's fused kernel and the GPU's one-hot convolution
    # give the same logits, before and after training.
    x = torch.from_numpy(layout.token_matrix(val))
    for net in (M.build_model(A.arch_spec("deepbind", n_kernels=8), seed=0), m):
        net = net.eval()
        on_gpu = net.to(dev)(x.to(dev)).cpu()
        torch.testing.assert_close(net.cpu()(x), on_gpu, rtol=1e-4, atol=1e-4)
    out = T.fit_many([M.build_model(A.arch_spec("deepbind", n_kernels=8), seed=s) for s in (0, 1)], train, val,
                     T.TrainOptions(max_epochs=5), [0, 1], device=dev)  # fmt: skip
    assert len(out) == 2 and all(len(h) == 5 for _, h in out)


def test_train_options_given_treats_none_as_the_default():
    opts = T.TrainOptions.given(lr=None, max_epochs=None, patience=3, seed=7)
    assert opts.lr == T.TrainOptions.lr and opts.max_epochs == T.TrainOptions.max_epochs
    assert (opts.patience, opts.seed) == (3, 7)
    assert T.TrainOptions.given(lr=0.01).lr == 0.01

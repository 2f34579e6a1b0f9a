"""Training steps replayed as CUDA graphs (graphed_step) and the device-side Adam they need.

The graph itself needs a GPU (those tests skip without one); the step runner's eager paths and the
capturable Adam run on CPU here, so the code a GPU user runs is exercised on every machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepprune_cli.core import architectures as A
from deepprune_cli.core import datasets as D
from deepprune_cli.core import graphed_step
from deepprune_cli.core import models as M
from deepprune_cli.core import training as T
from deepprune_cli.core.sequences import read_sequences

DATA = Path(__file__).parent / "data"
CUDA = torch.cuda.is_available()


@given(steps=st.integers(1, 40), lr=st.floats(1e-4, 0.1), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=25, deadline=None)
def test_capturable_adam_follows_the_host_adam(steps, lr, seed):
    # The same update with the step count on the device: equal up to float32 bias corrections.
    g = torch.Generator().manual_seed(seed)
    host = [torch.randn(6, 3, generator=g, requires_grad=True), torch.randn(5, generator=g, requires_grad=True)]
    dev = [p.detach().clone().requires_grad_(True) for p in host]
    a, b = T.Adam(host, lr=lr), T.Adam(dev, lr=lr, capturable=True)
    for _ in range(steps):
        for p, q in zip(host, dev):
            p.grad = torch.randn(p.shape, generator=g)
            q.grad = p.grad.clone()
        a.step()
        b.step()
    assert float(b.step_count) == steps
    for p, q in zip(host, dev):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=lr * 1e-3)


def test_step_runner_runs_every_step_eagerly_off_cuda():
    seen = []
    runner = graphed_step.StepRunner(lambda idx: seen.append(idx.tolist()), batch_size=2, device=torch.device("cpu"))
    assert not runner.use_graph
    for idx in ([0, 1], [2, 3], [4]):
        runner(torch.tensor(idx))
    assert seen == [[0, 1], [2, 3], [4]] and runner.graph is None and runner.replays == 0


@pytest.fixture(scope="module")
def rest():
    pos = read_sequences(DATA / "encode_REST_AC_slice.seq.gz")
    data = D.make_training_data(pos, seed=0)
    tr, va = D.split_validation(data, 0.2, seed=0)
    return data.seqs.subset(tr), data.seqs.subset(va)


def _runners(monkeypatch) -> list:
    made = []
    real = graphed_step.StepRunner

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(T, "StepRunner", spy)
    return made


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.parametrize("arch", ["deepbind", "deepbind64", "1layer_128motif"])
def test_graphed_fit_learns_like_the_eager_fit(rest, monkeypatch, arch):
    train, val = rest
    made = _runners(monkeypatch)
    runs = {}
    for graphs in (False, True):
        m = M.build_model(A.arch_spec(arch), seed=0)
        opts = T.TrainOptions(max_epochs=6, patience=6, batch_size=32, cuda_graphs=graphs)
        m, hist = T.fit(m, train, val, opts, device="cuda")
        runs[graphs] = [h["train_loss"] for h in hist], T.evaluate(m, val)["auroc"]
    assert made[1].failure is None, made[1].failure
    assert made[1].graph is not None and made[1].replays > 0
    # Same batches and dropout seed; float32 sums in another order: close, not equal.
    np.testing.assert_allclose(runs[True][0], runs[False][0], rtol=0.05)
    assert abs(runs[True][1] - runs[False][1]) < 0.05


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_graphed_grouped_seeds_learn_like_eager_ones(rest, monkeypatch):
    train, val = rest
    made = _runners(monkeypatch)
    out = {}
    for graphs in (False, True):
        nets = [M.build_model(A.arch_spec("deepbind", n_kernels=8), seed=s) for s in (0, 1, 2)]
        opts = T.TrainOptions(max_epochs=5, patience=5, batch_size=32, cuda_graphs=graphs)
        out[graphs] = T.fit_many(nets, train, val, opts, [0, 1, 2], device="cuda", grouped=True)
    assert made[1].failure is None and made[1].replays > 0
    for (_, eager), (_, graphed) in zip(out[False], out[True]):
        np.testing.assert_allclose([h["train_loss"] for h in graphed], [h["train_loss"] for h in eager], rtol=0.05)


def test_deepprune_device_sets_what_auto_means(monkeypatch):
    monkeypatch.setenv("DEEPPRUNE_DEVICE", "cpu")
    assert T.resolve_device("auto") == torch.device("cpu") and T.resolve_device(None) == torch.device("cpu")
    monkeypatch.setenv("DEEPPRUNE_DEVICE", "auto")
    assert T.resolve_device("auto").type == ("cuda" if CUDA else "cpu")
    monkeypatch.setenv("DEEPPRUNE_DEVICE", "tpu")
    with pytest.raises(T.InputError, match=r"DEEPPRUNE_DEVICE=tpu .*unknown device"):
        T.resolve_device("auto")
    assert T.resolve_device("cpu") == torch.device("cpu")  # a device named on the command line wins
    if not CUDA:
        monkeypatch.setenv("DEEPPRUNE_DEVICE", "cuda")
        with pytest.raises(T.InputError, match="DEEPPRUNE_DEVICE=cuda .*CUDA is not available"):
            T.resolve_device("auto")


def test_a_bad_deepprune_device_is_one_error_line_exit_2(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, DEEPPRUNE_DEVICE="gpu0")
    proc = subprocess.run([sys.executable, "-m", "deepprune_cli", "train", str(DATA / "encode_REST_AC_slice.seq.gz"),
                           "-o", str(tmp_path / "m"), "--epochs", "1"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if ln.startswith("deepprune: error:")] == [
        "deepprune: error: DEEPPRUNE_DEVICE=gpu0 (what --device auto means here): unknown device (use auto, cpu, cuda or cuda:N)"]
    assert not (tmp_path / "m").exists()

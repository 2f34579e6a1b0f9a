"""The GPU path end to end through the CLI (`--device cuda`); skipped without CUDA.

The rest of the suite runs `--device auto` as the CPU (conftest sets DEEPPRUNE_DEVICE=cpu), so
these are the tests that put the commands themselves on a GPU.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import DATA, run_cli

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
AC = DATA / "encode_REST_AC_slice.seq.gz"
B = DATA / "encode_REST_B_slice.seq.gz"


def _scores(path) -> np.ndarray:
    rows = path.read_text().splitlines()[1:]
    return np.array([float(r.split("\t")[1]) for r in rows])


def test_train_and_predict_on_the_gpu_agree_with_the_cpu(tmp_path):
    proc = run_cli("train", AC, "--test", B, "-o", tmp_path / "m", "--device", "cuda", "--kernels", "16",
                   "--epochs", "15", "--lr", "0.01")  # fmt: skip
    assert proc.returncode == 0, proc.stderr_text
    assert "device cuda" in proc.stderr_text
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["test_auroc"] > 0.8
    for dev in ("cuda", "cpu"):
        proc = run_cli("predict", tmp_path / "m", B, "-o", tmp_path / f"{dev}.tsv", "--device", dev, "-q")
        assert proc.returncode == 0, proc.stderr_text
    np.testing.assert_allclose(_scores(tmp_path / "cuda.tsv"), _scores(tmp_path / "cpu.tsv"), atol=1e-4)


def test_prune_on_the_gpu_writes_a_final_model(tmp_path):
    sim = tmp_path / "sim"
    assert run_cli("simulate", "--preset", "deepprune-sim4", "--n", "4000", "-o", sim, "--seed", "1").returncode == 0
    proc = run_cli("prune", sim / "train.fa", "--test", sim / "test.fa", "--kernels", "4", "--rounds", "3",
                   "--epochs", "20", "-o", tmp_path / "p", "--device", "cuda", "-q")  # fmt: skip
    assert proc.returncode == 0, proc.stderr_text
    assert (tmp_path / "p" / "final" / "weights.pt").exists()
    cfg = json.loads((tmp_path / "p" / "final" / "config.json").read_text())
    assert cfg["n_kernels"] == 4

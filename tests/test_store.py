"""Model directories: save/load round trips, byte-identical output, clear errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from deepprune_cli.core import architectures as A
from deepprune_cli.core import models as M
from deepprune_cli.core import store
from deepprune_cli.core import training as T
from deepprune_cli.core.errors import ModelDirError
from deepprune_cli.core.sequences import SequenceSet

HISTORY = [
    {"epoch": 1, "train_loss": 0.69, "val_loss": 0.68, "val_auroc": 0.61, "val_auprc": 0.6},
    {"epoch": 2, "train_loss": 0.5, "val_loss": 0.52, "val_auroc": float("nan"), "val_auprc": 0.7},
]


def _seqs(n=20, L=101, seed=0):
    rng = np.random.default_rng(seed)
    return SequenceSet.from_strings(["".join(rng.choice(list("ACGTN"), L)) for _ in range(n)])


@pytest.mark.parametrize("name,L,C", [("deepbind", 101, 1), ("2layer_local_win3", 101, 1), ("cnn-10", 200, 3)])
def test_round_trip_gives_identical_predictions(tmp_path, name, L, C):
    spec = A.arch_spec(name, n_outputs=C, seq_len=L)
    model = M.build_model(spec, seed=1)
    with torch.no_grad():  # non-trivial batch-norm statistics must travel too
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                mod.running_mean.uniform_(-1, 1)
                mod.running_var.uniform_(0.5, 2)
    model.eval()
    model.kernel_mask[1] = 0
    seqs = _seqs(20, L)
    before = T.predict(model, seqs)
    store.save_model(tmp_path / "m", model, history=HISTORY, metrics={"val_auroc": 0.9, "test_auroc": None},
                     training={"lr": 0.003, "seed": 1}, data={"fingerprint": "abc"})  # fmt: skip
    rec = store.load_model(tmp_path / "m")
    assert np.array_equal(T.predict(rec.model, seqs), before)
    assert rec.config["arch"] == name and rec.config["version"] == store.VERSION
    assert rec.config["kernel_mask"][1] == 0 and sum(rec.config["kernel_mask"]) == spec.n_kernels - 1
    assert rec.config["training"]["lr"] == 0.003 and rec.config["data"]["fingerprint"] == "abc"
    assert rec.metrics == {"val_auroc": 0.9, "test_auroc": None}
    assert [r["epoch"] for r in rec.history] == [1, 2] and np.isnan(rec.history[1]["val_auroc"])
    assert not rec.model.training


def test_saving_twice_is_byte_identical(tmp_path):
    model = M.build_model(A.arch_spec("deepbind"), seed=3)
    for d in ("a", "b"):
        store.save_model(tmp_path / d, model, history=HISTORY, metrics={"x": 1.0})
    for f in (store.CONFIG, store.WEIGHTS, store.HISTORY, store.METRICS):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_selected_model_keeps_original_ids_and_mask(tmp_path):
    model = M.build_model(A.arch_spec("deepbind", n_kernels=10), seed=0)
    small = M.select_kernels(model, [1, 4, 7])
    small.kernel_mask[1] = 0  # original kernel 4 masked
    store.save_model(tmp_path / "s", small)
    rec = store.load_model(tmp_path / "s")
    assert rec.model.n_kernels == 3 and rec.model.kernel_ids.tolist() == [1, 4, 7]
    assert rec.config["n_kernels_original"] == 10
    assert rec.config["kernel_mask"] == [0, 1, 0, 0, 0, 0, 0, 1, 0, 0]
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 4, (5, 101)).astype(np.uint8))
    with torch.no_grad():
        torch.testing.assert_close(rec.model(x), small.eval()(x))


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model"
    store.save_model(path, M.build_model(A.arch_spec("deepbind", n_kernels=4), seed=0))
    return path


def test_missing_or_not_a_model(tmp_path, saved):
    with pytest.raises(ModelDirError, match="no such model directory"):
        store.load_model(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelDirError, match="not a directory"):
        store.load_model(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelDirError, match="no config.json"):
        store.load_model(tmp_path / "empty")


def test_corrupt_config_and_versions(saved):
    cfg_path = saved / store.CONFIG
    good = json.loads(cfg_path.read_text())
    cfg_path.write_text("{not json")
    with pytest.raises(ModelDirError, match="corrupt JSON"):
        store.load_model(saved)
    cfg_path.write_text(json.dumps(dict(good, format="something-else")))
    with pytest.raises(ModelDirError, match="not a deepprune model config"):
        store.load_model(saved)
    cfg_path.write_text(json.dumps(dict(good, version=99)))
    with pytest.raises(ModelDirError, match="version 99 .* newer deepprune"):
        store.load_model(saved)
    cfg_path.write_text(json.dumps(dict(good, spec={"name": "x"})))
    with pytest.raises(ModelDirError, match="invalid architecture spec"):
        store.load_model(saved)


def test_missing_corrupt_or_mismatched_weights(saved, tmp_path):
    w = saved / store.WEIGHTS
    data = w.read_bytes()
    w.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelDirError, match="weights.pt: corrupt"):
        store.load_model(saved)
    w.unlink()
    with pytest.raises(ModelDirError, match="no weights.pt"):
        store.load_model(saved)
    other = tmp_path / "other"
    store.save_model(other, M.build_model(A.arch_spec("deepbind", n_kernels=8), seed=0))
    shutil.copy(other / store.WEIGHTS, w)
    with pytest.raises(ModelDirError, match="weights do not match config.json"):
        store.load_model(saved)


def test_seed_folder_hint(tmp_path):
    root = tmp_path / "seeds"
    store.save_model(root / "seed0", M.build_model(A.arch_spec("deepbind", n_kernels=2), seed=0))
    (root / "summary.json").write_text("{}")
    with pytest.raises(ModelDirError, match="one model per seed; load one of seed0"):
        store.load_model(root)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"arch": 5}, "'arch' must be a string"),
        ({"alphabet": ["A"]}, "'alphabet' must be a string"),
        ({"prune": "round3"}, "'prune' must be an object"),
        ({"prune": {"round": "3", "variant": "deepprune"}}, "'prune.round' must be an integer"),
        ({"prune": {"round": 3, "variant": ["x"]}}, "'prune.variant' must be a string"),
        ({"training": []}, "'training' must be an object"),
    ],
)
def test_config_fields_of_the_wrong_type(saved, change, message):
    cfg_path = saved / store.CONFIG
    cfg_path.write_text(json.dumps(dict(json.loads(cfg_path.read_text()), **change)))
    with pytest.raises(ModelDirError, match=message):
        store.load_model(saved)


def test_binary_history_and_mismatch_details(saved, tmp_path):
    (saved / store.HISTORY).write_bytes(b"epoch\n\xff\xfe\n")
    with pytest.raises(ModelDirError, match="history.tsv: not a text file"):
        store.load_model(saved)
    (saved / store.HISTORY).unlink()
    other = tmp_path / "other"
    store.save_model(other, M.build_model(A.arch_spec("deepbind", n_kernels=8), seed=0))
    shutil.copy(other / store.WEIGHTS, saved / store.WEIGHTS)
    with pytest.raises(ModelDirError, match=r"do not match config.json \(conv1.bias: config says 4, weights have 8\)"):
        store.load_model(saved)


def test_weights_that_would_run_code_are_refused(saved, tmp_path):
    import os
    import pickle
    import warnings
    import zipfile

    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    w = saved / store.WEIGHTS
    with zipfile.ZipFile(w) as src:
        entries = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(w, "w") as dst:
        for info, data in entries:
            dst.writestr(info, pickle.dumps(Payload(), protocol=2) if info.filename.endswith("/data.pkl") else data)
    with pytest.raises(ModelDirError, match=r"weights.pt: refused: .*system"):
        store.load_model(saved)
    assert not marker.exists()
    w.write_bytes(b"\x80\xd0" + bytes(range(256)) * 16)  # "pickle protocol 208": torch warns, then fails
    with warnings.catch_warnings(record=True) as caught:  # nothing but the one error
        warnings.simplefilter("always")
        with pytest.raises(ModelDirError, match="weights.pt: corrupt"):
            store.load_model(saved)
    assert not caught, [str(w.message) for w in caught]


def test_absurd_sizes_in_config_fail_by_name_without_allocating(saved):
    """A config asking for 10^9 kernels of width 10^6 (petabytes) is compared with the weights'
    shapes before any model is built."""
    import resource

    cfg_path = saved / store.CONFIG
    cfg = json.loads(cfg_path.read_text())
    cfg["spec"]["convs"][0]["channels"] = 10**9
    cfg["spec"]["convs"][0]["width"] = 10**6
    cfg_path.write_text(json.dumps(cfg))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ModelDirError, match=r"weights do not match config.json \(conv1.weight: config says"):
        store.load_model(saved)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB: < 200 MiB more

"""``deepprune evaluate``: model and prune directories on labelled data, paired comparisons, plots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import assert_clean_error, run_cli
from deepprune_cli.core.motifs import load_motifs

W = 19


def _write_data(path, seed, n=200, length=80):
    """Labelled FASTA: the first half carry a CTCF site (either strand), the rest are random."""
    ctcf = load_motifs("jaspar:MA0139.1")[0]
    rng = np.random.default_rng(seed)
    comp = str.maketrans("ACGT", "TGCA")
    lines = []
    for i in range(n):
        s = list("".join("ACGT"[x] for x in rng.integers(0, 4, length)))
        if i < n // 2:
            site = "".join("ACGT"[rng.choice(4, p=r)] for r in ctcf.probs)
            if rng.random() < 0.5:
                site = site[::-1].translate(comp)
            p = rng.integers(0, length - W)
            s[p : p + W] = site
        lines.append(f">r{i} label={int(i < n // 2)}\n{''.join(s)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _make_prune_dir(out, noise_seed):
    """A prune output layout (summary.tsv + round<r>_<variant> model dirs) without training:
    deepprune stages hold a clean CTCF detector, baselines a noisy one."""
    import torch

    from deepprune_cli.core.architectures import arch_spec
    from deepprune_cli.core.models import build_model
    from deepprune_cli.core.pruning import StageResult, format_summary, stage_name
    from deepprune_cli.core.store import save_model

    ctcf = load_motifs("jaspar:MA0139.1")[0]
    pwm = np.log2((ctcf.probs + 0.01) / 1.04 / 0.25).T
    rng = np.random.default_rng(noise_seed)
    results = []
    for r, k in enumerate([8, 4, 2]):
        for variant in ["initial"] if r == 0 else ["deepprune", "baseline"]:
            model = build_model(arch_spec("deepbind", n_kernels=k, kernel_length=W), seed=r)
            kernel = pwm + (rng.normal(0, 1.5, pwm.shape) if variant == "baseline" else 0)
            with torch.no_grad():
                model.conv1.weight[0] = torch.tensor(kernel, dtype=torch.float32)
                model.conv1.bias[0] = -5.0
                model.out.weight.zero_()
                model.out.weight[0, 0] = 1.0
            save_model(out / stage_name(r, variant), model, prune={"round": r, "variant": variant, "criterion": "weight"})
            results.append(StageResult(r, k, variant, "weight", 1, 0.5, None, 0.1))
    (out / "summary.tsv").write_text(format_summary(results))
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("evaluate")
    data = [_write_data(d / f"data{i}.fa", seed=i) for i in range(4)]
    prunes = [_make_prune_dir(d / f"prune{i}", noise_seed=10 + i) for i in range(4)]
    with open(d / "pairs.tsv", "w") as fh:
        fh.write("model\tdata\tdataset\n")
        for i in range(4):
            fh.write(f"prune{i}\tdata{i}.fa\tset{i}\n")
    return d, data, prunes


def _rows(text):
    lines = text.strip().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def test_model_and_prune_dir_on_data(setup):
    d, data, prunes = setup
    proc = run_cli("evaluate", prunes[0] / "round1_deepprune", prunes[0], data[0], "--json", "-o", d / "table.tsv")
    assert proc.returncode == 0, proc.stderr_text
    rows = _rows((d / "table.tsv").read_text())
    # the model directory, then every stage the prune summary lists
    assert [r["variant"] for r in rows] == ["deepprune", "initial", "deepprune", "baseline", "deepprune", "baseline"]
    assert [r["kernels"] for r in rows] == ["4", "8", "4", "4", "2", "2"]
    assert all(r["n_pos"] == "100" and r["n_neg"] == "100" and r["class"] == "0" for r in rows)
    # AUROC/AUPRC are scikit-learn's on the model's predictions
    from sklearn.metrics import average_precision_score, roc_auc_score

    from deepprune_cli.core.sequences import read_sequences
    from deepprune_cli.core.store import load_model
    from deepprune_cli.core.training import predict

    seqs = read_sequences(data[0])
    scores = predict(load_model(prunes[0] / "round2_baseline").model, seqs)[:, 0]
    row = rows[5]
    assert float(row["auroc"]) == pytest.approx(roc_auc_score(seqs.labels[:, 0], scores), abs=1e-6)
    assert float(row["auprc"]) == pytest.approx(average_precision_score(seqs.labels[:, 0], scores), abs=1e-6)
    assert float(rows[0]["auroc"]) > 0.9 and float(rows[0]["auroc"]) > float(row["auroc"])
    records = [json.loads(line) for line in proc.stdout_text.splitlines()]
    assert len(records) == 6 and records[1]["variant"] == "initial" and records[1]["round"] == 0
    assert records[0]["auroc"] == pytest.approx(float(rows[0]["auroc"]), abs=1e-6)
    assert "evaluation" in proc.stderr_text


def test_pairs_compare_and_plots(setup):
    d, data, prunes = setup
    out = d / "cmp"
    proc = run_cli(
        "evaluate", "--pairs", d / "pairs.tsv", "--compare", "baseline", "deepprune", "--compare-out", out / "cmp.tsv",
        "--plot", out / "fig.png", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr_text
    assert proc.stderr_text == ""
    rows = _rows(proc.stdout_text)
    assert {r["dataset"] for r in rows} == {"set0", "set1", "set2", "set3"}
    cmp = _rows((out / "cmp.tsv").read_text())
    assert [c["kernels"] for c in cmp] == ["4", "2"]
    from scipy.stats import wilcoxon

    for c in cmp:
        a = [float(r["auroc"]) for r in rows if r["variant"] == "baseline" and r["kernels"] == c["kernels"]]
        b = [float(r["auroc"]) for r in rows if r["variant"] == "deepprune" and r["kernels"] == c["kernels"]]
        assert int(c["n_datasets"]) == 4 and int(c["b_wins"]) == sum(y > x for x, y in zip(a, b))
        assert float(c["p_value"]) == pytest.approx(wilcoxon(b, a, alternative="greater").pvalue, rel=1e-6)
    for name in ("fig.png", "fig_scatter.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_multilabel_per_class_rows(tmp_path):
    from deepprune_cli.core.architectures import arch_spec
    from deepprune_cli.core.models import build_model
    from deepprune_cli.core.store import save_model

    model = build_model(arch_spec("cnn-4", n_outputs=2, seq_len=60), seed=0)
    save_model(tmp_path / "koo", model)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(40):
        labels = f"{i % 2},{(i // 2) % 2}"
        lines.append(f">r{i} labels={labels}\n" + "".join("ACGT"[x] for x in rng.integers(0, 4, 60)))
    (tmp_path / "ml.fa").write_text("\n".join(lines) + "\n")
    proc = run_cli("evaluate", tmp_path / "koo", tmp_path / "ml.fa", "-q")
    assert proc.returncode == 0, proc.stderr_text
    rows = _rows(proc.stdout_text)
    assert [r["class"] for r in rows] == ["0", "1", "mean"]
    assert rows[0]["n_pos"] == "20" and rows[2]["n_pos"] == "40"
    mean = (float(rows[0]["auroc"]) + float(rows[1]["auroc"])) / 2
    assert float(rows[2]["auroc"]) == pytest.approx(mean, abs=2e-6)


def test_bad_inputs(setup, tmp_path):
    d, data, prunes = setup
    out = tmp_path / "t.tsv"
    proc = run_cli("evaluate", tmp_path, data[0], "-o", out)
    assert_clean_error(proc, "not a deepprune model directory or prune output")
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(prunes[0] / "round1_deepprune", bad)
    (bad / "weights.pt").write_bytes(b"PK\x03\x04 truncated")
    proc = run_cli("evaluate", bad, data[0], "-o", out, "--plot", tmp_path / "f.png")
    assert_clean_error(proc, "weights.pt", "corrupt")
    # cheaper checks in-process (same entry point, no interpreter start-up)
    from click.testing import CliRunner

    from deepprune_cli.cli.main import main

    unlabelled = tmp_path / "u.fa"
    unlabelled.write_text(">a\n" + "ACGT" * 30 + "\n")
    for args, fragment in [
        ((prunes[0] / "round1_deepprune", unlabelled), "needs labelled sequences"),
        ((prunes[0], data[0], "--compare", "baseline", "lottery"), "no results for variant 'lottery'"),
        ((prunes[0], tmp_path / "nope.fa"), "nope.fa: no such file or directory"),
        ((data[0],), "no MODEL given"),
    ]:
        res = CliRunner().invoke(main, ["evaluate", *map(str, args), "-o", str(out)])
        assert res.exit_code == 2, res.output
        assert "deepprune: error:" in res.output and fragment in res.output and "Traceback" not in res.output
    assert not out.exists() and not (tmp_path / "f.png").exists()


def test_comparison_against_baseline_also_against_the_first_seed_baseline():
    from deepprune_cli.core.evaluation import format_comparison, paired_comparison

    auc = {"baseline": [0.90, 0.91, 0.92], "baseline_first": [0.50, 0.91, 0.80], "deepprune": [0.93, 0.90, 0.95]}
    records = [
        {"dataset": f"d{i}", "variant": v, "kernels": 4, "round": 6, "auroc": a[i]} for v, a in auc.items() for i in range(3)
    ]
    rows = paired_comparison(records, "baseline", "deepprune")
    assert [(r["a"], r["b_wins"]) for r in rows] == [("baseline", 2), ("baseline_first", 2)]
    assert rows[1]["median_a"] == 0.80 and rows[0]["median_a"] == 0.91
    assert format_comparison(rows).splitlines()[2].startswith("baseline_first\tdeepprune\t4")
    # asked for another pair, nothing is added
    assert [r["a"] for r in paired_comparison(records, "baseline_first", "deepprune")] == ["baseline_first"]

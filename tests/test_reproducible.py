"""The same command with the same seed on CPU writes the same bytes, for every output file.

Each command runs twice, as two real ``python -m deepprune_cli`` processes (side by side), into
different directories; every file under them, and stdout, must be byte-identical. The only value
allowed to differ is wall-clock time: the ``seconds`` column of a prune run's ``summary.tsv``
(model directories, ``prune.json`` and everything else hold no time, date, host or path of the
output). ``shuffle`` and ``simulate`` are covered in their own test files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
FAST = ["--kernel-length", "8", "--epochs", "3", "--patience", "3", "--batch-size", "64", "--threads", "1"]


def _fasta(path: Path, n: int, seed: int, labelled: bool) -> Path:
    """E-box (CACGTGAC) in the positives; with ``labelled``, as many uniform negatives."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        s = list(rng.choice(list("ACGT"), 50))
        positive = not labelled or i % 2 == 0
        if positive:
            p = rng.integers(0, 42)
            s[p : p + 8] = list("CACGTGAC")
        label = f" label={int(positive)}" if labelled else ""
        lines.append(f">r{i}{label}\n{''.join(s)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def twice(make_args, root: Path, name: str, stdout=lambda out: out) -> tuple[Path, Path]:
    """Run the command ``make_args(out_dir)`` twice at once into ``root/name/{a,b}``; both must
    succeed and write the same ``stdout(bytes)``. Returns the two output directories."""
    dirs = [root / name / "a", root / name / "b"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    procs = []
    for d in dirs:
        d.mkdir(parents=True)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "deepprune_cli", *map(str, make_args(d))],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        )
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err.decode(errors="replace")
    assert stdout(outs[0][0]) == stdout(outs[1][0]), "stdout differs"
    return dirs[0], dirs[1]


def _json_without_seconds(out: bytes) -> list[dict]:
    rows = json.loads(out)
    assert rows and all("seconds" in r for r in rows)
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def _drop_seconds(data: bytes) -> bytes:
    lines = data.decode().splitlines()
    assert lines[0].split("\t")[-1] == "seconds"
    return "\n".join(line.rsplit("\t", 1)[0] for line in lines).encode()


def assert_same_files(a: Path, b: Path, *, prune_summary: bool = False) -> list[str]:
    """Every file under ``a`` and ``b`` by relative path, byte for byte; returns the paths."""
    files_a = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    files_b = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    assert files_a, f"{a}: no output"
    for rel in files_a:
        da, db = (a / rel).read_bytes(), (b / rel).read_bytes()
        if prune_summary and Path(rel).name == "summary.tsv" and (a / rel).parent.name == "pruned":
            da, db = _drop_seconds(da), _drop_seconds(db)  # wall-clock seconds: the one legitimate difference
        assert da == db, f"{rel} differs between two runs with the same seed"
    return files_a


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("repro")
    _fasta(d / "pos.fa", 300, seed=0, labelled=False)
    for i in range(3):
        _fasta(d / f"test{i}.fa", 200, seed=10 + i, labelled=True)
    return d


@pytest.fixture(scope="module")
def pruned(root) -> Path:
    """``prune`` twice with the same seed: every file the same but summary.tsv's seconds column.
    Later tests use one of the two runs as their input."""
    a, b = twice(
        lambda d: ["prune", root / "pos.fa", "-o", d / "pruned", "--kernels", "2", "--rounds", "2", "--lottery",
                   "--test", root / "test0.fa", "--seed", "3", "--json", "-q", *FAST],
        root, "prune", stdout=_json_without_seconds,
    )  # fmt: skip
    files = assert_same_files(a, b, prune_summary=True)
    assert "pruned/final/weights.pt" in files and "pruned/round2_lottery/metrics.json" in files
    return a / "pruned"


def test_prune_twice(pruned):
    seconds = [line.split("\t")[-1] for line in (pruned / "summary.tsv").read_text().splitlines()[1:]]
    assert seconds and all(float(s) >= 0 for s in seconds)  # kept, but only there
    assert "seconds" not in (pruned / "final" / "metrics.json").read_text()


def test_train_with_seeds_twice(root):
    a, b = twice(
        lambda d: ["train", root / "pos.fa", "-o", d / "model", "--kernels", "4", "--seeds", "0,1",
                   "--test", root / "test0.fa", "--json", "-q", *FAST],
        root, "train",
    )  # fmt: skip
    files = assert_same_files(a, b)
    expected = {"model/summary.tsv", "model/summary.json", "model/seed1/weights.pt", "model/seed0/config.json"}
    assert expected <= set(files)


def test_evaluate_twice(root, pruned):
    """A model directory and a prune directory (every stage) on three data sets (--pairs): the
    TSV, --json records on stdout, the Wilcoxon --compare table and both figures."""
    pairs = root / "pairs.tsv"
    rows = [f"{pruned / 'final'}\t{root / 'test0.fa'}\tset0\n"]
    rows += [f"{pruned}\t{root / f'test{i}.fa'}\tset{i}\n" for i in range(3)]
    pairs.write_text("model\tdata\tdataset\n" + "".join(rows))
    a, b = twice(
        lambda d: ["evaluate", "--pairs", pairs, "--compare", "baseline", "deepprune", "--compare-out", d / "cmp.tsv",
                   "-o", d / "table.tsv", "--json", "--plot", d / "fig.png", "-q"],
        root, "evaluate",
    )  # fmt: skip
    assert assert_same_files(a, b) == ["cmp.tsv", "fig.png", "fig_scatter.png", "table.tsv"]


def test_logos_twice(root, pruned):
    """motifs.meme, motifs.tsv, matches.tsv (--match), truth.tsv, PNG and SVG logos."""
    db = DATA / "motifs_jaspar2020_first3.meme.gz"
    a, b = twice(
        lambda d: ["logos", pruned / "final", root / "pos.fa", "-o", d / "motifs.meme", "--png", d / "png",
                   "--svg", d / "svg", "--match", db, "--match-thresh", "1", "--truth", db, "--min-bits", "0",
                   "--min-sites", "1", "--seed", "2", "-q"],
        root, "logos",
    )  # fmt: skip
    files = assert_same_files(a, b)
    expected = {"motifs.meme", "motifs.tsv", "matches.tsv", "truth.tsv", "png/overview.png", "svg/overview.svg"}
    assert expected <= set(files)
    assert len([f for f in files if f.startswith("svg/")]) >= 2  # the overview and at least one logo

"""End-to-end tests of ``deepprune simulate``: a real subprocess and click's CliRunner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from deepprune_cli.cli.main import main
from deepprune_cli.core.motifs import read_meme
from deepprune_cli.core.sequences import read_sequences

DATA = Path(__file__).parent / "data"
FILES = ["dataset.json", "motifs.meme", "test.fa", "train.fa", "truth.tsv"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deepprune_cli", "simulate", *args], capture_output=True, text=True, timeout=120
    )


def invoke(*args: str):
    return CliRunner().invoke(main, ["simulate", *args], catch_exceptions=False)


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_same_seed_gives_byte_identical_files(tmp_path):
    runs = {}
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        args = ("--preset", "deepprune-sim1", "--n", "400", "--strands", "both", "--seed", seed, "-o", str(tmp_path / name))
        if name == "c":  # in-process is enough to show that another seed changes the data
            assert invoke(*args).exit_code == 0
        else:  # two real processes: nothing process-specific (hash seeds, ...) leaks into the files
            result = run_cli(*args)
            assert result.returncode == 0, result.stderr
            assert result.stdout == ""  # data go to files; the summary goes to stderr
            assert "deepprune-sim1" in result.stderr and "train.fa" in result.stderr
        runs[name] = {f: (tmp_path / name / f).read_bytes() for f in listing(tmp_path / name)}
    assert sorted(runs["a"]) == FILES
    assert runs["a"] == runs["b"]
    assert runs["a"]["train.fa"] != runs["c"]["train.fa"]
    assert listing(tmp_path) == ["a", "b", "c"]  # no temporary directories left behind


def test_koo2019_preset(tmp_path):
    out = tmp_path / "koo"
    result = invoke("--preset", "koo2019", "--n", "200", "-o", str(out), "--seed", "1")
    assert result.exit_code == 0, result.stderr
    assert listing(out) == sorted(FILES + ["valid.fa"])
    record = json.loads((out / "dataset.json").read_text())
    assert record["preset"] == "koo2019" and record["design"] == "multi-label"
    assert (record["n"], record["length"], record["strands"], record["seed"]) == (200, 200, "both", 1)
    assert record["motif_count_probs"] == [0.5, 0.25, 0.17, 0.05, 0.03]
    assert {k: v["sequences"] for k, v in record["splits"].items()} == {"train": 140, "valid": 20, "test": 40}
    train = read_sequences(out / "train.fa")
    assert train.labels.shape == (140, 12) and train.fixed_length() == 200
    assert train.labels.sum(axis=1).min() >= 1
    assert (out / "train.fa").read_text().startswith(">train_0 labels=")


def test_custom_design_from_bundled_jaspar(tmp_path):
    out = tmp_path / "custom"
    result = invoke("--motifs", "jaspar:MA0139.1,MA0048.2", "--strands", "both", "--length", "60", "--n", "100", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    record = json.loads((out / "dataset.json").read_text())
    assert record["preset"] is None and record["design"] == "single-site" and record["motifs"] == "jaspar:MA0139.1,MA0048.2"
    assert [m.id for m in read_meme(out / "motifs.meme")] == ["MA0139.1", "MA0048.2"]
    test = read_sequences(out / "test.fa")
    assert len(test) == 50 and test.fixed_length() == 60 and test.labels.sum() == 25
    truth = (out / "truth.tsv").read_text().splitlines()
    assert truth[0] == "seq_id\tmotif_id\tstart\tend\tstrand" and len(truth) == 1 + 50
    assert {line.split("\t")[4] for line in truth[1:]} == {"+", "-"}


def test_motif_file_with_ids_and_preset_overrides(tmp_path):
    out = tmp_path / "filters"
    result = invoke("--motifs", str(DATA / "motifs_explainn_3filters.meme"), "--motif-ids", "filter1", "--n", "20", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert [m.id for m in read_meme(out / "motifs.meme")] == ["filter1"]
    out = tmp_path / "paper_length"
    result = invoke("--preset", "deepprune-sim3", "--length", "1000", "--n", "60", "--test-fraction", "0.2", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    train = read_sequences(out / "train.fa")
    assert len(train) == 48 and train.fixed_length() == 1000


def test_existing_output_is_replaced_atomically(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    assert invoke("--preset", "deepprune-sim2", "--n", "20", "-o", str(out)).exit_code == 0
    assert listing(out) == FILES
    before = {f: (out / f).read_bytes() for f in FILES}
    # A failing run leaves the previous output untouched.
    assert invoke("--motifs", "jaspar:NOPE", "-o", str(out)).exit_code == 2
    assert {f: (out / f).read_bytes() for f in FILES} == before
    assert listing(tmp_path) == ["out"]


def _meme(body: str) -> str:
    return "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n" + body


BAD_FILES = {
    "empty.meme": "",
    "missing_alength.meme": _meme("MOTIF m1\nletter-probability matrix: w= 2\n1 0 0 0\n0 1 0 0\n"),
    "row_width.meme": _meme("MOTIF m1\nletter-probability matrix: alength= 4 w= 2\n1 0 0\n0 1 0 0\n"),
    "row_sum.meme": _meme("MOTIF m1\nletter-probability matrix: alength= 4 w= 2\n0.5 0.3 0 0\n0 1 0 0\n"),
}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--motifs", "jaspar:MA0139.1,MA9999.1"], "'MA9999.1' is not in the bundled JASPAR2024, JASPAR2020 or koo2019"),
        (["--preset", "deepprune-sim1", "--motif-ids", "MA0691.1,XYZ"], "no motif with id 'XYZ'"),
        (["--motifs", "jaspar:MA0139.1", "--length", "12"], "motif MA0139.1 (CTCF) is 19 bp, longer than the 12 bp sequences"),
        (["--motifs", "{tmp}/empty.meme"], "empty.meme: empty motif file"),
        (["--motifs", "{tmp}/missing_alength.meme"], "missing_alength.meme: motif m1 (line 8): letter-probability matrix line has no 'alength='"),
        (["--motifs", "{tmp}/row_width.meme"], "row_width.meme: motif m1 (line 8): row 1 (line 9) has 3 values, expected 4"),
        (["--motifs", "{tmp}/row_sum.meme"], "row_sum.meme: motif m1 (line 8): row 1 (line 9) sums to 0.8, not 1"),
        (["--motifs", "{tmp}/missing.meme"], "missing.meme: no such file"),
        ([], "--motifs is required without --preset"),
        (["--preset", "koo2019", "--motif-count-probs", "0.5,0.4"], "--motif-count-probs must be non-negative and sum to 1"),
        (["--preset", "deepprune-sim1", "--test-fraction", "1.5"], "--test-fraction must be in (0, 1)"),
        (["--preset", "deepprune-sim1", "--n", "2"], "--n 2 is too small"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, args, message):
    for name, text in BAD_FILES.items():
        (tmp_path / name).write_text(text)
    out = tmp_path / "out"
    result = invoke(*[a.replace("{tmp}", str(tmp_path)) for a in args], "-o", str(out))
    assert result.exit_code == 2
    assert result.stderr.startswith("deepprune: error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert listing(tmp_path) == sorted(BAD_FILES)  # no temporary directory either


def test_output_path_that_is_a_file(tmp_path):
    target = tmp_path / "a_file"
    target.write_text("keep")
    result = invoke("--preset", "deepprune-sim1", "-o", str(target))
    assert result.exit_code == 2 and result.stderr.startswith("deepprune: error: ") and "is a file" in result.stderr
    assert target.read_text() == "keep"


def test_bad_input_in_a_real_process(tmp_path):
    bad = tmp_path / "bad.meme"
    bad.write_text(BAD_FILES["row_width.meme"])
    result = run_cli("--motifs", str(bad), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr == (
        f"deepprune: error: {bad}: motif m1 (line 8): row 1 (line 9) has 3 values, expected 4 (A C G T)\n"
    )
    assert not (tmp_path / "out").exists()


def test_usage_errors_exit_2():
    result = CliRunner().invoke(main, ["simulate", "--preset", "sim9", "-o", "x"])
    assert result.exit_code == 2 and "sim9" in result.stderr

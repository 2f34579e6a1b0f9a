"""The Snakemake workflow in examples/, run for real (local executor) on the bundled data.

A copy of examples/ alone is enough (as the README promises): the test copies it to a temporary
directory, overrides the configuration to a tiny run (2 experiments, 4 -> 2 kernels in one round,
3 epochs) and checks the aggregated outputs, then that a second run does nothing. The zeng and
bed layouts are checked with dry runs (the full runs of both were checked by hand), and a failing
step must fail the run and leave no output. These tests are skipped when snakemake is not
installed (`pip install snakemake`; in the test extras for Python >= 3.11);
scripts/aggregate.py is also tested on its own.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

needs_snakemake = pytest.mark.skipif(
    importlib.util.find_spec("snakemake") is None, reason="snakemake is not installed (pip install snakemake)"
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SUMMARY_COLUMNS = [
    "dataset", "round", "kernels", "variant", "criterion", "epochs", "val_auroc", "test_auroc", "test_auprc",
    "n_pos", "n_neg", "fit_seconds", "model",
]  # fmt: skip
STEPS = ["shuffle", "train", "prune", "evaluate", "logos"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

TINY_CONFIG = """\
datasets: [GABPA, REST]
seed: 3
train: {{epochs: 3, patience: 2}}
prune: {{kernels: 2, rounds: 1, epochs: 3, patience: 2}}
logos: {{extra: "--min-sites 1 --min-bits 0"}}
threads: {{shuffle: 1, train: 1, prune: 1, evaluate: 1, logos: 1}}
python: "{python}"
"""


def _workflow_env(tmp_path: Path) -> dict:
    """PATH with a `deepprune` of this python first (the workflow calls the one on PATH)."""
    bindir = Path(sys.executable).parent
    if not (bindir / "deepprune").exists():
        bindir = tmp_path / "bin"
        bindir.mkdir(exist_ok=True)
        shim = bindir / "deepprune"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m deepprune_cli "$@"\n')
        shim.chmod(0o755)
    return dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONUNBUFFERED="1")


def _copy_examples(dest: Path) -> Path:
    shutil.copytree(EXAMPLES, dest, ignore=shutil.ignore_patterns("results", "logs", ".snakemake", "__pycache__"))
    (dest / "tiny.yaml").write_text(TINY_CONFIG.format(python=sys.executable))
    return dest


def _snakemake(workdir: Path, env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc


def _explain(proc: subprocess.CompletedProcess, workdir: Path) -> str:
    logs = []
    for log in sorted((workdir / "logs").rglob("*.log")) if (workdir / "logs").is_dir() else []:
        text = log.read_text(errors="replace")
        if "error" in text.lower() or "Traceback" in text:
            logs.append(f"--- {log}\n{text[-2000:]}")
    return f"rc={proc.returncode}\n{proc.stderr[-4000:]}\n" + "\n".join(logs)


def _read_tsv(path: Path) -> tuple[list[str], list[dict]]:
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    return header, [dict(zip(header, line.split("\t"))) for line in lines[1:] if line]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.slow
@needs_snakemake
def test_snakemake_workflow_runs_and_aggregates(tmp_path):
    work = _copy_examples(tmp_path / "examples")
    env = _workflow_env(tmp_path)
    t0 = time.perf_counter()
    proc = _snakemake(work, env, "--cores", "2", "--configfile", "tiny.yaml")
    first_run = time.perf_counter() - t0
    assert proc.returncode == 0, _explain(proc, work)
    res = work / "results"

    # the aggregated table: dataset x variant x kernels -> AUROC
    header, rows = _read_tsv(res / "summary.tsv")
    assert header == SUMMARY_COLUMNS
    assert {r["dataset"] for r in rows} == {"GABPA", "REST"}
    for ds in ("GABPA", "REST"):
        stages = {(r["variant"], int(r["kernels"]), r["round"]) for r in rows if r["dataset"] == ds}
        assert stages == {
            ("initial", 4, "0"), ("deepprune", 2, "1"), ("inter", 2, "1"), ("baseline", 2, "1"), ("baseline_first", 2, "1"),
        }  # fmt: skip
    for r in rows:
        assert 0.0 <= float(r["test_auroc"]) <= 1.0 and 0.0 <= float(r["val_auroc"]) <= 1.0
        assert (r["n_pos"], r["n_neg"]) == ("100", "100")  # the bundled _B slices
        assert (res / r["model"] / "config.json").is_file()
    # the trained models learn something even in 3 epochs on 600 peaks
    assert max(float(r["test_auroc"]) for r in rows) > 0.75

    header, comparison = _read_tsv(res / "comparison.tsv")
    assert header[:5] == ["a", "b", "kernels", "round", "n_datasets"]
    # both ways: against the best-of-seeds baseline and against the first seed's alone (--baseline-seeds)
    assert [(c["a"], c["b"], c["kernels"], c["n_datasets"]) for c in comparison] == [
        ("baseline", "deepprune", "2", "2"), ("baseline_first", "deepprune", "2", "2"),
    ]  # fmt: skip

    for fig in ("baseline_vs_deepprune.png", "auroc_vs_kernels.png", "GABPA/auroc_vs_kernels.png"):
        w, h = _png_size(res / fig)
        assert w > 100 and h > 100

    # per dataset: motifs in MEME format with JASPAR matches, logos, evaluate tables, logs
    header, motifs = _read_tsv(res / "motifs.tsv")
    assert header[0] == "dataset" and {"consensus", "best_match", "status"} <= set(header)
    assert {m["dataset"] for m in motifs} == {"GABPA", "REST"}
    for ds in ("GABPA", "REST"):
        assert (res / ds / "motifs" / "motifs.meme").read_text().startswith("MEME version 4")
        assert (res / ds / "motifs" / "matches.tsv").read_text().startswith("query\ttarget")
        _png_size(res / ds / "motifs" / "logos" / "overview.png")
        assert (res / ds / "evaluate.tsv").read_text().startswith("model\tdataset")
        for step in STEPS:
            assert (work / "logs" / ds / f"{step}.log").is_file()
    header, costs = _read_tsv(res / "costs.tsv")
    assert header == ["dataset", "step", "seconds", "cpu_seconds", "max_rss_mb"]
    assert sorted((c["dataset"], c["step"]) for c in costs) == sorted((d, s) for d in ("GABPA", "REST") for s in STEPS)
    assert (res / "deepprune_version.txt").read_text().startswith("deepprune, version")
    # the workflow ends with one HTML report over both experiments
    page = (res / "report.html").read_text(encoding="utf-8")
    assert "Across experiments" in page and page.count("<h2 id=\"run") == 2 and "<script" not in page
    # no temporary or partial files left behind
    assert not list(res.rglob("*.partial")) and not list(res.rglob(".*.tmp"))

    # a second run is a no-op: nothing rebuilt, nothing touched
    outputs = sorted(p for p in res.rglob("*") if p.is_file())
    before = {p: p.stat().st_mtime_ns for p in outputs}
    again = _snakemake(work, env, "--cores", "2", "--configfile", "tiny.yaml")
    assert again.returncode == 0, _explain(again, work)
    assert "Nothing to be done" in again.stdout + again.stderr
    assert {p: p.stat().st_mtime_ns for p in outputs} == before
    print(f"workflow run: {first_run:.1f} s")


def _dry_run(work: Path, env: dict, config: str) -> str:
    (work / "layout.yaml").write_text(config)
    proc = _snakemake(work, env, "-n", "--cores", "2", "--configfile", "layout.yaml", timeout=60)
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-4000:]
    return proc.stdout + proc.stderr


@needs_snakemake
def test_zeng_and_bed_layouts_plan_every_step(tmp_path):
    work = _copy_examples(tmp_path / "examples")
    env = _workflow_env(tmp_path)
    zeng = tmp_path / "zeng"
    zeng.mkdir()
    for name in ("STAT3_GM12878", "MAX_K562"):
        for split in ("train", "test"):
            (zeng / f"{name}_{split}.data.gz").write_bytes(b"")
    out = _dry_run(work, env, f"layout: zeng\ninput_dir: {zeng}\n")
    assert "rule shuffle" not in out  # Zeng's files carry their own negatives
    for rule in ("train", "prune", "evaluate", "logos", "aggregate"):
        assert f"rule {rule}:" in out
    assert "results/STAT3_GM12878/prune" in out and "results/MAX_K562/prune" in out

    bed = tmp_path / "bed"
    bed.mkdir()
    (bed / "CTCF_(sc-1)_K562.narrowPeak").write_text("chr1\t10\t20\t.\t0\t.\t1\t1\t1\t5\n")
    out = _dry_run(work, env, f"layout: bed\ninput_dir: {bed}\ngenome: {bed}/genome.fa\n")
    for rule in ("bed_split", "bed_test_negatives", "bed_test_set", "shuffle", "train", "prune", "logos"):
        assert f"rule {rule}:" in out
    assert "results/CTCF_(sc-1)_K562/input/test.fa" in out


@needs_snakemake
def test_bad_config_is_one_clear_error(tmp_path):
    work = _copy_examples(tmp_path / "examples")
    env = _workflow_env(tmp_path)
    (work / "bad.yaml").write_text("datasets: [NOPE]\n")
    proc = _snakemake(work, env, "-n", "--cores", "1", "--configfile", "bad.yaml", timeout=60)
    assert proc.returncode != 0
    assert "NOPE" in proc.stderr + proc.stdout


@needs_snakemake
def test_a_failing_step_fails_the_run_and_leaves_no_output(tmp_path):
    work = _copy_examples(tmp_path / "examples")
    env = _workflow_env(tmp_path)
    with gzip.open(work / "workflow_data" / "BROKEN_AC.seq.gz", "wt") as fh:
        fh.write("FoldID\tEventID\tseq\tBound\nA\tseq_1_peak\tACGTXACGT\t1\n")  # X is not a base
    shutil.copy(work / "workflow_data" / "REST_B.seq.gz", work / "workflow_data" / "BROKEN_B.seq.gz")
    (work / "broken.yaml").write_text("datasets: [BROKEN]\n")
    proc = _snakemake(work, env, "--cores", "1", "--configfile", "broken.yaml", timeout=120)
    assert proc.returncode != 0
    log = (work / "logs" / "BROKEN" / "shuffle.log").read_text()
    assert "deepprune: error:" in log and "BROKEN_AC.seq.gz" in log and "Traceback" not in log
    assert not (work / "results" / "BROKEN" / "negatives.fa").exists()
    assert not (work / "results" / "summary.tsv").exists()


@pytest.mark.slow
@needs_snakemake
def test_keep_going_finishes_the_others_and_names_the_failed(tmp_path):
    """One experiment lacks its test file, one fails in a step: with --keep-going the third
    finishes, and results/failed.tsv (and the run's stderr) name both, with step and reason."""
    work = _copy_examples(tmp_path / "examples")
    env = _workflow_env(tmp_path)
    data = work / "workflow_data"
    (data / "USF1_B.seq.gz").unlink()  # a missing input file
    with gzip.open(data / "REST_AC.seq.gz", "wt") as fh:  # a step that fails: X is not a base
        fh.write("FoldID\tEventID\tseq\tBound\nA\tseq_1_peak\tACGTXACGT\t1\n")
    (work / "three.yaml").write_text("datasets: [GABPA, REST, USF1]\n")
    proc = _snakemake(work, env, "--cores", "2", "--keep-going", "--configfile", "tiny.yaml", "three.yaml")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    res = work / "results"
    # the good experiment went all the way
    assert (res / "GABPA" / "evaluate.tsv").is_file() and (res / "GABPA" / "motifs" / "motifs.meme").is_file()
    assert not (res / "summary.tsv").exists()  # the full aggregate needs every experiment
    # the failed ones are named, with their step and the error
    _, failed = _read_tsv(res / "failed.tsv")
    by_ds = {f["dataset"]: f for f in failed}
    assert sorted(by_ds) == ["REST", "USF1"]
    assert by_ds["USF1"]["step"] == "inputs" and "USF1_B.seq.gz" in by_ds["USF1"]["reason"]
    assert by_ds["REST"]["step"] == "shuffle" and by_ds["REST"]["reason"].startswith("deepprune: error:")
    assert "REST_AC.seq.gz" in by_ds["REST"]["reason"]
    assert "USF1: inputs:" in out and "REST: shuffle: deepprune: error:" in out
    # what finished is aggregated beside it
    _, rows = _read_tsv(res / "partial" / "summary.tsv")
    assert {r["dataset"] for r in rows} == {"GABPA"} and len(rows) == 5  # initial, deepprune, inter, baseline(_first)
    _, motifs = _read_tsv(res / "partial" / "motifs.tsv")
    assert {m["dataset"] for m in motifs} == {"GABPA"}
    # nothing half-written by the failed steps
    assert not (res / "REST" / "negatives.fa").exists() and not (res / "USF1").joinpath("negatives.fa").exists()
    assert not list(res.rglob("*.tmp")) and not list(res.rglob("*.partial"))


# ---- scripts/aggregate.py on its own (no snakemake needed) ---------------------------------------

EVALUATE_HEADER = "model\tdataset\tarch\tround\tvariant\tkernels\tclass\tn_pos\tn_neg\tauroc\tauprc\n"
PRUNE_HEADER = "round\tkernels\tvariant\tcriterion\tepochs\tval_auroc\ttest_auroc\tseconds\n"


def _fake_results(root: Path, aurocs: dict) -> None:
    """results/<ds>/{evaluate.tsv, prune/summary.tsv, motifs/motifs.tsv} as the workflow writes them."""
    for ds, (base, dp) in aurocs.items():
        (root / ds / "prune").mkdir(parents=True)
        (root / ds / "motifs").mkdir()
        stages = [(0, 8, "initial", 0.9), (1, 4, "deepprune", dp), (1, 4, "inter", 0.8), (1, 4, "baseline", base)]
        ev = EVALUATE_HEADER + "".join(
            f"{root}/{ds}/prune/round{r}_{v}\t{ds}_B\tdeepbind\t{r}\t{v}\t{k}\t0\t100\t100\t{a:.6f}\t{a:.6f}\n"
            for r, k, v, a in stages
        )
        (root / ds / "evaluate.tsv").write_text(ev)
        (root / ds / "prune" / "summary.tsv").write_text(
            PRUNE_HEADER + "".join(f"{r}\t{k}\t{v}\tweight\t5\t0.5\t{a:.6f}\t1.5\n" for r, k, v, a in stages)
        )
        (root / ds / "motifs" / "motifs.tsv").write_text(
            "id\tkernel\trank\tstatus\tconsensus\tbest_match\nkernel1\t1\t1\tok\tACGT\tMA0001.1\n"
        )


def _aggregate(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "scripts" / "aggregate.py"), *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )  # fmt: skip


def test_aggregate_script_tables_and_figures(tmp_path):
    res = tmp_path / "results"
    aurocs = {"A": (0.70, 0.80), "B": (0.75, 0.85), "C": (0.60, 0.90), "D": (0.81, 0.80), "E": (0.5, 0.7)}
    _fake_results(res, aurocs)
    out = tmp_path / "out"
    proc = _aggregate(
        "--results", res, "--datasets", *aurocs, "--summary", out / "summary.tsv", "--comparison", out / "cmp.tsv",
        "--scatter", out / "scatter.png", "--curve", out / "curve.svg", "--motifs", out / "motifs.tsv",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    header, rows = _read_tsv(out / "summary.tsv")
    assert header == SUMMARY_COLUMNS and len(rows) == 4 * len(aurocs)
    a = [r for r in rows if r["dataset"] == "A"]
    assert [r["variant"] for r in a] == ["initial", "deepprune", "inter", "baseline"]
    assert a[1]["test_auroc"] == "0.800000" and a[1]["val_auroc"] == "0.500000" and a[1]["model"] == "A/prune/round1_deepprune"
    _, cmp = _read_tsv(out / "cmp.tsv")
    assert len(cmp) == 1 and cmp[0]["kernels"] == "4" and cmp[0]["b_wins"] == "4" and cmp[0]["n_datasets"] == "5"
    from scipy.stats import wilcoxon

    base = [v[0] for v in aurocs.values()]
    dp = [v[1] for v in aurocs.values()]
    assert float(cmp[0]["p_value"]) == pytest.approx(wilcoxon(dp, base, alternative="greater").pvalue, rel=1e-5)
    _png_size(out / "scatter.png")
    assert (out / "curve.svg").read_text().lstrip().startswith("<?xml")
    _, motifs = _read_tsv(out / "motifs.tsv")
    assert [m["dataset"] for m in motifs] == list(aurocs)


def test_aggregate_script_fails_cleanly_and_writes_nothing(tmp_path):
    res = tmp_path / "results"
    _fake_results(res, {"A": (0.7, 0.8)})
    out = tmp_path / "out"
    proc = _aggregate("--results", res, "--datasets", "A", "MISSING", "--summary", out / "summary.tsv", "--scatter", out / "s.png")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("aggregate.py: error:") and "MISSING" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_aggregate_skip_failed_names_the_failed_datasets(tmp_path):
    res = tmp_path / "results"
    _fake_results(res, {"A": (0.7, 0.8), "B": (0.6, 0.9)})
    (res / "B" / "evaluate.tsv").unlink()  # B's evaluate step failed
    logs = tmp_path / "logs"
    (logs / "B").mkdir(parents=True)
    (logs / "B" / "train.log").write_text("epoch 1\n")
    (logs / "B" / "evaluate.log").write_text("loading\ndeepprune: error: x.seq.gz: line 3: bad base 'X'\n")
    out = tmp_path / "out"
    # without --skip-failed a missing result is an error, and nothing is written
    proc = _aggregate("--results", res, "--datasets", "A", "B", "--summary", out / "summary.tsv")
    assert proc.returncode == 1 and "B/evaluate.tsv" in proc.stderr and not out.exists()
    proc = _aggregate("--results", res, "--datasets", "A", "B", "--skip-failed", "--logs", logs,
                      "--failed", out / "failed.tsv", "--summary", out / "summary.tsv", "--motifs", out / "motifs.tsv")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    _, rows = _read_tsv(out / "summary.tsv")
    assert {r["dataset"] for r in rows} == {"A"}
    _, failed = _read_tsv(out / "failed.tsv")
    assert failed == [{"dataset": "B", "step": "evaluate", "reason": "deepprune: error: x.seq.gz: line 3: bad base 'X'"}]
    assert "B: evaluate: deepprune: error:" in proc.stderr
    _, motifs = _read_tsv(out / "motifs.tsv")
    assert {m["dataset"] for m in motifs} == {"A"}  # a failed dataset is left out of every table
    # every dataset failed: failed.tsv still names them, and the exit status says so
    proc = _aggregate("--results", res, "--datasets", "B", "--skip-failed", "--logs", logs,
                      "--failed", out / "failed2.tsv", "--summary", out / "summary2.tsv")  # fmt: skip
    assert proc.returncode == 1 and "every dataset failed" in proc.stderr
    assert _read_tsv(out / "failed2.tsv")[1][0]["dataset"] == "B" and not (out / "summary2.tsv").exists()


def _cost_table(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLES / "scripts" / "cost_table.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_cost_table_from_benchmark_records(tmp_path):
    res = tmp_path / "results"
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    # (wall s, cpu s, rss MB) per step; two experiments
    records = {"X": {"shuffle": (2, 1, 100), "train": (100, 150, 500), "prune": (400, 700, 600)},
               "Y": {"shuffle": (4, 2, 120), "train": (200, 300, 520), "prune": (800, 1400, 640)}}  # fmt: skip
    for ds, steps in records.items():
        (res / "benchmarks" / ds).mkdir(parents=True)
        for step, (wall, cpu, rss) in steps.items():
            (res / "benchmarks" / ds / f"{step}.tsv").write_text(header + f"{wall}\t0:00:{wall}\t{rss}\t0\t0\t0\t0\t0\t0\t{cpu}\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("threads: {shuffle: 1, train: 2, prune: 2}\nmem_mb: {shuffle: 1000, train: 4000, prune: 4000}\n")
    proc = _cost_table("--results", res, "--config", cfg, "--experiments", 100, "--nodes", 2, "--cores", 4,
                       "--mem-gb", 8, "--tsv", tmp_path / "steps.tsv")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "| train | 2 | 2 | 4000 | 150.0 | 200.0 | 225.0 | 520 |" in out  # medians over X and Y, max RSS
    assert "| **per experiment** (median) | 2 | | | 753.0 | 1,004.0 | 1,276.5 | 640 |" in out
    # 100 experiments: CPU-hours = 100 x mean(851, 1702) / 3600; cores held = wall x threads, and
    # 4000 MB on a 2 GB-per-core node holds 2 cores; wall = held core-hours / (2 x 4 cores)
    cpu_h = 100 * (851 + 1702) / 2 / 3600
    core_h = 100 * ((2 + 200 + 800) + (4 + 400 + 1600)) / 2 / 3600
    assert f"{cpu_h:,.1f} CPU-hours; {core_h:,.1f} core-hours allocated" in out
    assert f"about {core_h / 8:,.2f} h of wall time" in out
    _, steps = _read_tsv(tmp_path / "steps.tsv")
    assert [s["step"] for s in steps] == ["shuffle", "train", "prune"] and steps[2]["wall_s"] == "600.000"
    # a record that is not one, or no records at all: one line, exit 1
    (res / "benchmarks" / "X" / "train.tsv").write_text("nonsense\n")
    proc = _cost_table("--results", res)
    assert proc.returncode == 1 and proc.stderr.startswith("cost_table.py: error:") and "train.tsv" in proc.stderr
    proc = _cost_table("--results", tmp_path / "nothing")
    assert proc.returncode == 1 and "no such directory" in proc.stderr

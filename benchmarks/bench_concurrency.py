"""Concurrency stress: many small `train` / `prune` runs at once, into separate and into shared outputs.

Each repeat starts, all at the same moment, 8 runs into outputs of their own (4 train, 4 prune,
seeds 0-3) and 8 runs aimed at two shared outputs (4 train with --force into shared/train, 4 prune
into shared/prune, seeds 10-13); the shared outputs are kept from one repeat to the next, so later
repeats replace them. Every run must either finish (exit 0) or be refused cleanly (exit 2, one
`deepprune: error: ... another run (pid ...)` line, nothing written); anything else is counted as
"other" and shown.

Then every output is checked against the command lines that could have written it:

* train: `config.json` names the seed of a run that finished at that output, and its weights load;
* prune: `prune.json` names such a seed, and every stage directory's `config.json` carries the
  training seed that this seed gives that stage (round r, variant v), so a directory mixing two
  runs' stages is caught; `summary.tsv` lists exactly the stage directories present;
* no lock file, temporary or work directory is left beside any output.

    python benchmarks/bench_concurrency.py [--repeats 3] [--threads 1]

Tiny data (300 x 50 bp), few epochs: about two minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEPARATE_SEEDS = (0, 1, 2, 3)
SHARED_SEEDS = (10, 11, 12, 13)


def ebox_fasta(path: Path, n: int = 300, length: int = 50, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        s = list(rng.choice(list("ACGT"), length))
        p = rng.integers(0, length - 8)
        s[p : p + 8] = list("CACGTGAC")
        lines.append(f">p{i}\n{''.join(s)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def command(kind: str, fasta: Path, out: Path, seed: int, threads: int) -> list[str]:
    common = ["--kernel-length", "8", "--batch-size", "64", "--threads", str(threads), "--seed", str(seed), "-q"]
    if kind == "train":
        return [sys.executable, "-m", "deepprune_cli", "train", str(fasta), "-o", str(out), "--kernels", "4",
                "--epochs", "5", "--patience", "5", "--force", *common]  # fmt: skip
    return [sys.executable, "-m", "deepprune_cli", "prune", str(fasta), "-o", str(out), "--kernels", "2",
            "--rounds", "2", "--epochs", "3", "--patience", "3", *common]  # fmt: skip


def outcome(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr
    errors = [ln for ln in err.splitlines() if ln.startswith("deepprune: error:")]
    if proc.returncode == 0 and not errors:
        return "finished"
    if proc.returncode == 2 and len(errors) == 1 and "another run (pid " in errors[0] and "Traceback" not in err:
        return "refused"
    return "other"


def check_train(out: Path, seeds: set[int]) -> str | None:
    """None if ``out`` is one complete train result of one of ``seeds``, else what is wrong."""
    from deepprune_cli.core.store import load_model

    try:
        rec = load_model(out)
    except Exception as exc:  # noqa: BLE001 - any failure is a finding
        return f"{out}: does not load ({exc})"
    seed = rec.config.get("training", {}).get("seed")
    if seed not in seeds:
        return f"{out}: config.json has seed {seed}, expected one of {sorted(seeds)}"
    return None


def check_prune(out: Path, seeds: set[int]) -> str | None:
    from deepprune_cli.core.pruning import _round_seed, read_summary, stage_name
    from deepprune_cli.core.store import read_config

    try:
        record = json.loads((out / "prune.json").read_text())
        seed = record["options"]["train"]["seed"]
        rows = read_summary(out)
    except Exception as exc:  # noqa: BLE001
        return f"{out}: incomplete ({exc})"
    if seed not in seeds:
        return f"{out}: prune.json has seed {seed}, expected one of {sorted(seeds)}"
    stages = {stage_name(r["round"], r["variant"]) for r in rows}
    present = {p.name for p in out.iterdir() if p.is_dir() and p.name.startswith("round")}
    if stages != present:
        return f"{out}: summary.tsv lists {sorted(stages)}, the directory holds {sorted(present)}"
    for row in rows:
        name = stage_name(row["round"], row["variant"])
        cfg = read_config(out / name)
        got = cfg.get("training", {}).get("seed")
        if row["variant"] == "inter":
            continue  # not trained: no seed of its own
        if row["variant"] == "baseline" or row["round"] == 0:
            want = _round_seed(seed, 0, "initial")
        else:
            want = _round_seed(seed, row["round"], row["variant"])
        if got != want:
            return f"{out}/{name}: trained with seed {got}, but prune.json's seed {seed} gives {want} (mixed runs)"
    final = read_config(out / "final")
    last = read_config(out / stage_name(max(r["round"] for r in rows), "deepprune"))
    if final != last:
        return f"{out}/final: not the last round's model"
    return None


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def run_all(jobs: list[dict], fasta: Path, threads: int) -> float:
    """Start every job at once; record each one's exit code, stderr, outcome and exit time."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    for job in jobs:
        job["log"] = tempfile.TemporaryFile()
        job["proc"] = subprocess.Popen(command(job["kind"], fasta, job["out"], job["seed"], threads),
                                       stdout=subprocess.DEVNULL, stderr=job["log"], env=env)  # fmt: skip
    running = list(jobs)
    try:
        while running:
            for job in list(running):
                if job["proc"].poll() is not None:
                    job["ended"] = time.perf_counter()
                    running.remove(job)
            time.sleep(0.02)
    finally:  # interrupted: leave no run behind
        for job in running:
            job["proc"].kill()
            job["proc"].wait()
    for job in jobs:
        job["log"].seek(0)
        err = job["log"].read().decode("utf-8", errors="replace")
        job["log"].close()
        job["err"] = err
        job["outcome"] = outcome(subprocess.CompletedProcess(job["proc"].args, job["proc"].returncode, "", err))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="--threads of every run")
    ap.add_argument("--keep", default=None, help="Work in this directory (kept) instead of a temporary one.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_concurrency_") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        fasta = ebox_fasta(root / "pos.fa")
        shared = root / "shared"
        shared.mkdir(exist_ok=True)
        holder = {}  # shared output -> seed of the last run that finished there (any repeat)
        totals = dict.fromkeys(("runs", "finished", "refused", "other", "shared_finished", "shared_refused",
                                "mixed", "leftovers"), 0)  # fmt: skip
        for rep in range(1, args.repeats + 1):
            sep = root / f"separate{rep}"
            sep.mkdir()
            jobs = []
            for kind in ("train", "prune"):
                jobs += [{"kind": kind, "out": sep / f"{kind}{s}", "seed": s, "shared": False} for s in SEPARATE_SEEDS]
                jobs += [{"kind": kind, "out": shared / kind, "seed": s, "shared": True} for s in SHARED_SEEDS]
            wall = run_all(jobs, fasta, args.threads)
            counts = {k: sum(j["outcome"] == k for j in jobs) for k in ("finished", "refused", "other")}
            problems = [f"{j['kind']} seed {j['seed']} -> {j['out'].relative_to(root)}: exit {j['proc'].returncode}: "
                        f"{(j['err'].strip().splitlines() or [''])[-1]}" for j in jobs if j["outcome"] == "other"]  # fmt: skip
            # Runs at one output are serialised by its lock, so the last to finish wrote what it holds.
            for out in {j["out"] for j in jobs}:
                done = sorted((j for j in jobs if j["out"] == out and j["outcome"] == "finished"), key=lambda j: j["ended"])
                if done:
                    holder[out] = done[-1]["seed"]
            mixed = 0
            for out in sorted({j["out"] for j in jobs}):
                check = check_train if out.name.startswith("train") else check_prune
                problem = check(out, {holder[out]}) if out in holder else f"{out}: no run finished there"
                if problem:
                    mixed += 1
                    problems.append(problem)
            left = [f"separate{rep}/{n}" for n in leftovers(sep)] + [f"shared/{n}" for n in leftovers(shared)]
            sh_fin = sum(j["shared"] and j["outcome"] == "finished" for j in jobs)
            sh_ref = sum(j["shared"] and j["outcome"] == "refused" for j in jobs)
            for key, value in (("runs", len(jobs)), *counts.items(), ("shared_finished", sh_fin),
                               ("shared_refused", sh_ref), ("mixed", mixed), ("leftovers", len(left))):
                totals[key] += value
            print(f"repeat {rep}: {len(jobs)} runs in {wall:.1f} s: separate outputs {counts['finished'] - sh_fin} "
                  f"finished of 8; shared outputs {sh_fin} finished, {sh_ref} refused cleanly; {counts['other']} "
                  f"other; {mixed} mixed or incomplete outputs; {len(left)} leftovers {' '.join(left)}", flush=True)  # fmt: skip
            for problem in problems:
                print(f"  ! {problem}", flush=True)
        t = totals
        print(f"total: {t['runs']} runs: {t['finished']} finished ({t['shared_finished']} at a shared output), "
              f"{t['refused']} refused cleanly (exit 2, one lock line; {t['shared_refused']} at a shared output), "
              f"{t['other']} other; {t['mixed']} mixed or incomplete outputs; {t['leftovers']} leftover "
              f"lock/temporary/work files")  # fmt: skip
        if t["other"] or t["mixed"] or t["leftovers"]:
            sys.exit(1)


if __name__ == "__main__":
    main()

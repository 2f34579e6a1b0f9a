"""Full-scale ENCODE prune (issue 18): CPU-minutes per experiment and in total, and cores used.

For each of DeepBind's ENCODE experiments in ../shared/data/encode: `deepprune prune` on ALL the
`_AC` peaks (negatives: their seeded dinucleotide shuffles, as the tool makes them), 256 -> 4
kernels in 6 rounds with the default 3-seed baselines and 100-epoch cap, tested on the `_B` set,
as one whole process per experiment with `--threads T`. Reported per experiment: wall seconds,
CPU seconds (user + system of the process and its children, from os.wait4), cores used (CPU / wall,
against the T given), peak RSS, and the final 4-kernel test AUROC of deepprune and of the best-of-3
baseline; then the total CPU-minutes.

CPU seconds are the figure to compare across machines and loads; wall seconds and cores used mean
something only on an otherwise idle machine (on an oversubscribed one, thread pools spin and bill
CPU time without progress: run with --threads 1 there).

    python benchmarks/bench_prune_fullscale.py --threads 2                  # all 10, one after another
    python benchmarks/bench_prune_fullscale.py --only REST,ARID3A --threads 1

Writes benchmarks/results/prune_fullscale.tsv. Skips (exit 0) when the data are absent.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import deepprune, write_tsv  # noqa: E402

ENCODE = Path(os.environ.get("DEEPPRUNE_ENCODE", HERE.parent.parent / "shared" / "data" / "encode"))


def run_one(ac: Path, threads: int, seed: int) -> dict:
    """One experiment as a whole `deepprune prune` process: its times, memory and final AUROCs."""
    b = Path(str(ac).replace("_AC.seq.gz", "_B.seq.gz"))
    with tempfile.TemporaryDirectory(prefix="prune_fullscale_") as tmp:
        out = Path(tmp) / "run"
        cmd = deepprune("prune", ac, "--kernels", 4, "--rounds", 6, "--test", b, "--threads", threads,
                        "--seed", seed, "-o", out, "-q")  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        err = proc.stderr.read().decode()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"failed: {' '.join(map(str, cmd))}\n{err[-2000:]}")
        lines = (out / "summary.tsv").read_text().splitlines()
        head = lines[0].split("\t")
        rows = [dict(zip(head, ln.split("\t"))) for ln in lines[1:]]
    final = {r["variant"]: float(r["test_auroc"]) for r in rows if r["kernels"] == "4"}
    with gzip.open(ac, "rt") as fh:  # peaks: the .seq file's lines after its header line
        peaks = sum(1 for _ in fh) - 1
    cpu = usage.ru_utime + usage.ru_stime
    return dict(experiment=ac.name.split("_")[0], peaks=peaks, threads=threads, wall_s=wall, cpu_s=cpu,
                cpu_min=cpu / 60, cores_used=cpu / wall, peak_mib=usage.ru_maxrss / 1024,
                deepprune_test_auroc=final["deepprune"], baseline_test_auroc=final["baseline"])  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default=None, help="comma-separated experiment name prefixes")
    ap.add_argument("--threads", type=int, default=2, help="--threads of each prune (the cores it is given)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results" / "prune_fullscale.tsv"))
    a = ap.parse_args()
    acs = sorted(ENCODE.glob("*_AC.seq.gz"))
    if a.only:
        acs = [p for p in acs if any(p.name.startswith(x) for x in a.only.split(","))]
    if not acs:
        print(f"no ENCODE data under {ENCODE}; skipped")
        return
    rows = []
    for ac in acs:
        row = run_one(ac, a.threads, a.seed)
        rows.append(row)
        print(f"{row['experiment']:<8} {row['peaks']:>6} peaks  {row['cpu_min']:6.1f} CPU-min  {row['wall_s']:7.0f} s wall  "
              f"{row['cores_used']:.2f} of {a.threads} cores  {row['peak_mib']:4.0f} MiB  test AUROC deepprune "
              f"{row['deepprune_test_auroc']:.4f} vs baseline {row['baseline_test_auroc']:.4f}", flush=True)
    write_tsv(a.out, rows, float_format=".4f")
    total = sum(r["cpu_min"] for r in rows)
    peaks = sum(r["peaks"] for r in rows)
    print(f"\n{len(rows)} experiments, {peaks:,} peaks: {total:.1f} CPU-min in all "
          f"({60 * total / peaks * 1000:.1f} CPU-s per 1,000 peaks); wrote {a.out}")


if __name__ == "__main__":
    main()

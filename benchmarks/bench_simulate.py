"""Benchmark ``deepprune simulate``: 1,000,000 sequences of 101 bp (the issue asks for < 10 s).

Measures, in one run on this machine:

1. the core in-process: generation (:func:`simulate`) and writing (:func:`write_dataset`);
2. the command end to end in a fresh process (``python -m deepprune_cli simulate``), which is what
   users time, including interpreter start-up and imports;
3. a named reference: a straightforward per-sequence, per-base Python implementation of the same
   design (``random.choice`` per background base, ``random.choices`` per site letter, one f-string
   per record), timed on a subsample and extrapolated linearly to the full size.

Prints throughput, time and peak RSS, and the speed-up over the reference.

    .venv/bin/python benchmarks/bench_simulate.py [--n 1000000] [--length 101] [--reference-n 20000]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from deepprune_cli.core.atomic import atomic_directory
from deepprune_cli.core.motifs import load_motifs
from deepprune_cli.core.simulate import make_design, simulate, write_dataset


def peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def reference_python(n: int, length: int, motifs, seed: int, path: Path) -> None:
    """The naive implementation: one Python loop iteration per base (the design of deepprune-sim1)."""
    rng = random.Random(seed)
    with open(path, "w") as fa:
        for i in range(n):
            bases = [rng.choice("ACGT") for _ in range(length)]
            label = i % 2
            if label:
                motif = rng.choice(motifs)
                start = rng.randrange(length - motif.width + 1)
                for j, row in enumerate(motif.probs):
                    bases[start + j] = rng.choices("ACGT", weights=row)[0]
            fa.write(f">seq_{i} label={label}\n{''.join(bases)}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--length", type=int, default=101)
    parser.add_argument("--reference-n", type=int, default=20_000, help="subsample for the per-base Python reference")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"machine: {platform.node()} {platform.machine()} {platform.processor() or ''}".rstrip())
    print(f"cpus: {os.cpu_count()} visible, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"python {platform.python_version()}, numpy {np.__version__}")
    print(f"dataset: deepprune-sim1, n={args.n:,}, length={args.length} bp, seed={args.seed}\n")

    work = Path(tempfile.mkdtemp(prefix="bench_simulate."))
    try:
        # 1. in-process core
        design = make_design("deepprune-sim1", n=args.n, length=args.length, seed=args.seed)
        t0 = time.perf_counter()
        dataset = simulate(design)
        t1 = time.perf_counter()
        with atomic_directory(work / "inproc") as tmp:
            write_dataset(dataset, tmp)
        t2 = time.perf_counter()
        size_mb = sum(p.stat().st_size for p in (work / "inproc").iterdir()) / 1e6
        core_total = t2 - t1 + (t1 - t0)
        print("core, in process")
        print(f"  generate   {t1 - t0:7.2f} s  {args.n / (t1 - t0):12,.0f} seq/s")
        print(f"  write      {t2 - t1:7.2f} s  ({size_mb:,.0f} MB of files)")
        print(f"  total      {core_total:7.2f} s  {args.n / core_total:12,.0f} seq/s  "
              f"{args.n * args.length / core_total / 1e6:6.1f} Mbp/s")
        print(f"  peak RSS   {peak_rss_mb():7.0f} MB (this process)")
        del dataset

        # 2. the command, end to end
        cmd = [sys.executable, "-m", "deepprune_cli", "simulate", "--preset", "deepprune-sim1",
               "--n", str(args.n), "--length", str(args.length), "--seed", str(args.seed), "-o", str(work / "cli")]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
        cli_seconds = time.perf_counter() - t0
        same = all((work / "cli" / f.name).read_bytes() == f.read_bytes() for f in (work / "inproc").iterdir())
        print("\ndeepprune simulate (fresh process)")
        print(f"  wall       {cli_seconds:7.2f} s  {args.n / cli_seconds:12,.0f} seq/s   target < 10 s: "
              f"{'PASS' if cli_seconds < 10 else 'FAIL'}")
        print(f"  peak RSS   {peak_rss_mb(resource.RUSAGE_CHILDREN):7.0f} MB")
        print(f"  files identical to the in-process run: {same}")

        # 3. the per-base Python reference on a subsample
        motifs = load_motifs("jaspar2020", ["MA0691.1", "MA0500.2"])
        sub = min(args.reference_n, args.n)
        t0 = time.perf_counter()
        reference_python(sub, args.length, motifs, args.seed, work / "reference.fa")
        ref_seconds = (time.perf_counter() - t0) * args.n / sub
        print(f"\nreference: per-base pure Python, {sub:,} sequences timed, extrapolated to {args.n:,}")
        print(f"  total      {ref_seconds:7.2f} s  {args.n / ref_seconds:12,.0f} seq/s")
        print(f"\nspeed-up: core {ref_seconds / core_total:.0f}x, command {ref_seconds / cli_seconds:.0f}x "
              f"over the per-base Python reference")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

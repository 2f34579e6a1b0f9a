"""Read 1,000,000 FASTA records of 101 bp: time, peak memory and resident bytes per base.

Each figure is taken with the C kernels (``DEEPPRUNE_KERNELS=c``) and with the numba kernels they
port (``DEEPPRUNE_KERNELS=numba``, the reader before the C extension), best of ``--repeats`` runs
each, alternating. References in the same run: the whole-file parse (all bytes read, then one
``parse_fasta_bytes`` call: how ``read_sequences`` read FASTA before it read in chunks), same
process set-up; and Biopython's SeqIO.parse (one str per record), on a 100,000-record slice,
extrapolated linearly. Output also goes to benchmarks/results/read.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from _common import random_fasta

RESULTS = Path(__file__).resolve().parent / "results"

MEASURE = r"""
import json, resource, sys, time, os
def peak_mib():
    # VmHWM, not getrusage's ru_maxrss: that one keeps the parent's peak across fork and exec
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith('VmHWM:')) / 1024
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
from deepprune_cli.core.sequences import parse_fasta_bytes, read_input_bytes, read_sequences
import numpy as np
parse_fasta_bytes(b">warm\nACGT\n")  # load the compiled kernels first: not part of the per-base cost
base = rss()
t = time.perf_counter()
if sys.argv[2] == "whole":
    s = parse_fasta_bytes(read_input_bytes(sys.argv[1]), sys.argv[1])
else:
    s = read_sequences(sys.argv[1])
wall = time.perf_counter() - t
bases = int(s.offsets[-1])
print(json.dumps(dict(records=len(s), bases=bases, seconds=wall, resident_per_base=(rss() - base) / bases,
                      peak_mib=peak_mib(),
                      tokens_per_base=s.tokens.nbytes / bases)))
"""

REFERENCE = r"""
import sys, time
from Bio import SeqIO
t = time.perf_counter()
seqs = [str(r.seq) for r in SeqIO.parse(sys.argv[1], 'fasta')]
print(time.perf_counter() - t, len(seqs))
"""


def measure(path, how: str, backend: str) -> dict:
    env = {**os.environ, "DEEPPRUNE_KERNELS": backend}
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(path), how], capture_output=True, text=True,
                          check=True, env=env)
    return json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs per figure; the fastest is kept")
    repeats = ap.parse_args().repeats
    n = 1_000_000
    lines = [f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start"]
    say = lambda line: (print(line, flush=True), lines.append(line))  # noqa: E731
    results = {}
    for gz, how in ((False, "chunked"), (True, "chunked"), (False, "whole")):
        path = random_fasta(n, gz=gz)
        runs = {b: [] for b in ("c", "numba")}
        for _ in range(repeats):
            for backend in runs:
                runs[backend].append(measure(path, how, backend))
        for backend, rs in runs.items():
            res = results[(gz, how, backend)] = min(rs, key=lambda r: r["seconds"])
            say(
                f"{'read' if how == 'chunked' else 'reference: whole-file parse of'} {path.name} [{backend}]: "
                f"{res['records']:,} records in {res['seconds']:.2f} s (best of {repeats}; "
                f"{res['records'] / res['seconds']:,.0f} records/s); resident {res['resident_per_base']:.2f} B/base "
                f"(tokens {res['tokens_per_base']:.2f} B/base); process peak RSS {res['peak_mib']:.0f} MiB"
            )
    small = random_fasta(100_000)
    out = subprocess.run([sys.executable, "-c", REFERENCE, str(small)], capture_output=True, text=True, check=True)
    ref_seconds = float(out.stdout.split()[0]) * n / 100_000
    say(f"reference: Biopython SeqIO.parse, 100,000 records extrapolated to {n:,}: {ref_seconds:.2f} s")
    c, nb = results[(False, "chunked", "c")], results[(False, "chunked", "numba")]
    say(f"ratio numba kernels / C kernels (plain FASTA, read_sequences): {nb['seconds'] / c['seconds']:.2f}x time")
    say(f"ratio numba / C (gzip FASTA): "
        f"{results[(True, 'chunked', 'numba')]['seconds'] / results[(True, 'chunked', 'c')]['seconds']:.2f}x time")
    whole = results[(False, "whole", "c")]
    say(f"ratio whole-file parse / deepprune (plain FASTA, C): {whole['seconds'] / c['seconds']:.1f}x "
        f"time, {whole['peak_mib'] / c['peak_mib']:.2f}x peak memory")
    say(f"ratio Biopython / deepprune (plain FASTA, C): {ref_seconds / c['seconds']:.1f}x")
    say(f"load average {os.getloadavg()[0]:.2f} at the end")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "read.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

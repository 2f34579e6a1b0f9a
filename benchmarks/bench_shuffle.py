"""Dinucleotide shuffle throughput, FASTA in to FASTA out, whole `deepprune shuffle` process.

`deepprune shuffle` streams (about 4 MiB of input at a time), so its peak memory should not grow
with the input: it is printed at 100,000 and 1,000,000 records (``--n 10000000`` adds 10 M). Each
size runs ``--repeats`` times with the C kernels and as often with the numba kernels they port
(``DEEPPRUNE_KERNELS=numba``: the command before the C extension), alternating; the fastest run of
each is printed, with the median, and the two outputs must be the same bytes.

References in the same run:

* the whole-file path (read everything, ``shuffle_set``, ``format_fasta``: what the command did
  before it streamed), as its own process on the largest input: same bytes, time and peak memory;
* a straightforward pure-Python implementation of the same exact Euler-path algorithm (Altschul &
  Erickson 1985), the kind found in many CNN codebases, on a 10,000-record slice, extrapolated.

* MEME's ``fasta-shuffle-letters -kmer 2`` (uShuffle in C) when it is on PATH; otherwise the figure
  measured on this machine kind when the issue was filed (2.25 s, 11 MiB for 1 M x 101 bp) is
  printed as such, not as a same-run figure.

Output also goes to benchmarks/results/shuffle.txt.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import OUT, deepprune, random_fasta, timed_process

RESULTS = Path(__file__).resolve().parent / "results"
MEME_1M = (2.25, 11.0)  # seconds, MiB: fasta-shuffle-letters -kmer 2 on 1 M x 101 bp, this machine kind


def euler_shuffle_python(seq: str, rng: random.Random) -> str:
    """Uniform dinucleotide shuffle, plain Python: random last-edge arborescence + edge shuffles."""
    if len(seq) < 3:
        return seq
    edges: dict[str, list[str]] = {}
    for a, b in zip(seq, seq[1:]):
        edges.setdefault(a, []).append(b)
    last = seq[-1]
    # Wilson's algorithm for the last-exit arborescence rooted at the last letter.
    in_tree = {last}
    nxt: dict[str, str] = {}
    for v in edges:
        u = v
        while u not in in_tree:
            nxt[u] = rng.choice(edges[u])
            u = nxt[u]
        u = v
        while u not in in_tree:
            in_tree.add(u)
            u = nxt[u]
    order: dict[str, list[str]] = {}
    for v, outs in edges.items():
        rest = list(outs)
        if v in nxt:
            rest.remove(nxt[v])
        rng.shuffle(rest)
        if v in nxt:
            rest.append(nxt[v])
        order[v] = rest
    out = [seq[0]]
    pos = {v: 0 for v in order}
    u = seq[0]
    for _ in range(len(seq) - 1):
        b = order[u][pos[u]]
        pos[u] += 1
        out.append(b)
        u = b
    return "".join(out)


WHOLE_FILE = r"""
import sys
from deepprune_cli.core.sequences import format_fasta, read_sequences
from deepprune_cli.core.shuffle import shuffle_set
data = format_fasta(shuffle_set(read_sequences(sys.argv[1]), seed=int(sys.argv[3])))
with open(sys.argv[2], "wb") as fh:
    fh.write(data)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, action="append", help="records (repeatable; default 100,000 and 1,000,000)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per size and kernel backend")
    args = ap.parse_args()
    sizes = args.n or [100_000, 1_000_000]
    lines = [f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start"]
    say = lambda line: (print(line, flush=True), lines.append(line))  # noqa: E731
    backends = {"c": {}, "numba": {"DEEPPRUNE_KERNELS": "numba"}}
    say(subprocess.run(deepprune("--version"), capture_output=True, text=True, check=True).stdout.strip())
    # warm the numba cache once so the figures are steady-state runs
    warm = random_fasta(1000)
    for env in backends.values():
        timed_process(deepprune("shuffle", warm, "-o", OUT / "warm.fa"), env={**os.environ, **env})
    figures = {}
    for n in sizes:
        path = random_fasta(n)
        runs = {b: [] for b in backends}
        for _ in range(args.repeats):
            for backend, env in backends.items():
                runs[backend].append(timed_process(deepprune("shuffle", path, "-o", OUT / f"shuffled_{n}_{backend}.fa",
                                                             "--seed", 1), env={**os.environ, **env}))
        same = filecmp.cmp(OUT / f"shuffled_{n}_c.fa", OUT / f"shuffled_{n}_numba.fa", shallow=False)
        for backend, rs in runs.items():
            wall = min(r[0] for r in rs)
            peak = max(r[1] for r in rs)
            figures[(n, backend)] = (wall, peak)
            say(f"deepprune shuffle {n:,} x 101 bp [{backend} kernels]: {wall:.2f} s whole process (best of "
                f"{len(rs)}; median {statistics.median(r[0] for r in rs):.2f} s), {n / wall:,.0f} sequences/s, "
                f"peak RSS {peak:.0f} MiB")
        say(f"ratio numba / C at {n:,}: {figures[(n, 'numba')][0] / figures[(n, 'c')][0]:.2f}x time, "
            f"{figures[(n, 'numba')][1] / figures[(n, 'c')][1]:.2f}x peak memory; same bytes: {same}")
        if n != 1_000_000:
            (OUT / f"shuffled_{n}_numba.fa").unlink()
    # The whole-file reference holds everything several times over: at most 1 M records.
    n = max([m for m in sizes if m <= 1_000_000] or [min(sizes)])
    wall, peak = figures[(n, "c")]
    ours = n / wall
    meme = shutil.which("fasta-shuffle-letters")
    if meme:
        meme_wall, meme_peak = timed_process(["sh", "-c", f"'{meme}' -kmer 2 -seed 1 '{random_fasta(n)}' > '{OUT}/meme.fa'"])
        say(f"reference: MEME fasta-shuffle-letters -kmer 2, {n:,} x 101 bp: {meme_wall:.2f} s, peak RSS {meme_peak:.0f} MiB")
        say(f"ratio MEME / deepprune (C): {meme_wall / wall:.2f}x speed")
    elif n == 1_000_000:
        say(f"MEME fasta-shuffle-letters is not installed here: on this machine kind it took {MEME_1M[0]} s and "
            f"{MEME_1M[1]:.0f} MiB for 1 M x 101 bp (issue #18; not measured in this run); "
            f"deepprune (C) runs at {MEME_1M[0] / wall:.2f}x its speed")
    whole_wall, whole_peak = timed_process([sys.executable, "-c", WHOLE_FILE, random_fasta(n), OUT / "whole.fa", 1])
    same = filecmp.cmp(OUT / f"shuffled_{n}_c.fa", OUT / "whole.fa", shallow=False)
    say(f"reference: whole-file path {n:,} x 101 bp: {whole_wall:.2f} s, peak RSS {whole_peak:.0f} MiB; "
        f"same bytes as the streamed output: {same}")
    say(f"ratio streamed / whole-file: time {wall / whole_wall:.2f}x, peak memory {peak / whole_peak:.2f}x")
    rng = random.Random(0)
    lines_in = random_fasta(10_000).read_text().split("\n")
    seqs = lines_in[1::2]
    start = time.perf_counter()
    shuffled = [euler_shuffle_python(s, rng) for s in seqs if s]
    ref = len(shuffled) / (time.perf_counter() - start)
    say(f"reference: pure-Python Euler-path shuffle (no I/O): {ref:,.0f} sequences/s")
    say(f"ratio deepprune (C) / reference: {ours / ref:.1f}x")
    say(f"load average {os.getloadavg()[0]:.2f} at the end")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "shuffle.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

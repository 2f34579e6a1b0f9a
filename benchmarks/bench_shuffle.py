"""Dinucleotide shuffle throughput, FASTA in to FASTA out, whole `deepprune shuffle` process.

`deepprune shuffle` streams (about 4 MiB of input at a time), so its peak memory should not grow
with the input: it is printed at 100,000 and 1,000,000 records (``--n 10000000`` adds 10 M).

References in the same run:

* the whole-file path (read everything, ``shuffle_set``, ``format_fasta``: what the command did
  before it streamed), as its own process on the largest input: same bytes, time and peak memory;
* a straightforward pure-Python implementation of the same exact Euler-path algorithm (Altschul &
  Erickson 1985), the kind found in many CNN codebases, on a 10,000-record slice, extrapolated.

For context (not measured here): MEME's C fasta-shuffle-letters does ~530,000 sequences/s on one
core of this machine type (2.25 s for 1,000,000 x 101 bp, 11 MiB).
"""

from __future__ import annotations

import argparse
import filecmp
import random
import sys
import time

from _common import OUT, deepprune, random_fasta, timed_process


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
    sizes = ap.parse_args().n or [100_000, 1_000_000]
    # warm the numba cache once so the figures are steady-state runs
    warm = random_fasta(1000)
    timed_process(deepprune("shuffle", warm, "-o", OUT / "warm.fa"))
    figures = {}
    for n in sizes:
        wall, peak = figures[n] = timed_process(deepprune("shuffle", random_fasta(n), "-o", OUT / f"shuffled_{n}.fa",
                                                          "--seed", 1))
        print(f"deepprune shuffle {n:,} x 101 bp: {wall:.2f} s whole process, {n / wall:,.0f} sequences/s, "
              f"peak RSS {peak:.0f} MiB", flush=True)
    # The whole-file reference holds everything several times over: at most 1 M records.
    n = max([m for m in sizes if m <= 1_000_000] or [min(sizes)])
    wall, peak = figures[n]
    ours = n / wall
    whole_wall, whole_peak = timed_process([sys.executable, "-c", WHOLE_FILE, random_fasta(n), OUT / "whole.fa", 1])
    same = filecmp.cmp(OUT / f"shuffled_{n}.fa", OUT / "whole.fa", shallow=False)
    print(f"reference: whole-file path {n:,} x 101 bp: {whole_wall:.2f} s, peak RSS {whole_peak:.0f} MiB; "
          f"same bytes as the streamed output: {same}")
    print(f"ratio streamed / whole-file: time {wall / whole_wall:.2f}x, peak memory {peak / whole_peak:.2f}x")
    rng = random.Random(0)
    lines = random_fasta(10_000).read_text().split("\n")
    seqs = lines[1::2]
    start = time.perf_counter()
    shuffled = [euler_shuffle_python(s, rng) for s in seqs if s]
    ref = len(shuffled) / (time.perf_counter() - start)
    print(f"reference: pure-Python Euler-path shuffle (no I/O): {ref:,.0f} sequences/s")
    print(f"ratio deepprune / reference: {ours / ref:.1f}x")


if __name__ == "__main__":
    main()

"""Dinucleotide shuffle throughput, FASTA in to FASTA out, whole `deepprune shuffle` process.

Reference in the same run: a straightforward pure-Python implementation of the same exact
Euler-path algorithm (Altschul & Erickson 1985), the kind found in many CNN codebases, on a
10,000-record slice, extrapolated. For context (not measured here): MEME's C
fasta-shuffle-letters does ~530,000 sequences/s on one core of this machine type.
"""

from __future__ import annotations

import random
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


def main() -> None:
    # warm the numba cache once so the figures are steady-state runs
    warm = random_fasta(1000)
    timed_process(deepprune("shuffle", warm, "-o", OUT / "warm.fa"))
    for n in (100_000, 1_000_000):
        src = random_fasta(n)
        wall, peak = timed_process(deepprune("shuffle", src, "-o", OUT / "shuffled.fa", "--seed", 1))
        print(f"deepprune shuffle {n:,} x 101 bp: {wall:.2f} s whole process, {n / wall:,.0f} sequences/s, "
              f"peak RSS {peak:.0f} MiB")
    ours = n / wall
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

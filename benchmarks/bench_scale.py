"""Scale: 1,000,000 sequences through `deepprune shuffle` and `deepprune train`, peak memory per sequence.

The data: `deepprune simulate --preset deepprune-sim1` with 1,250,000 × 101 bp sequences, of which
1,000,000 (half positives) form the labelled training set. Each command runs as its own process;
its wall time and peak resident memory are measured from outside (`_common.timed_process`).

Reference in the same run: the memory a Python program needs just to hold the same 1,000,000
training sequences as strings (Biopython `SeqIO.parse` into a list of `str`), i.e. before any
model sees them. The ratio says how many such "just load it" footprints each command needs.

    python benchmarks/bench_scale.py [--n 1000000] [--epochs 2] [--threads 2]

Prints a table and writes benchmarks/results/scale.tsv.

``--memory``: resident bytes per base through ``deepprune train`` instead (issue 18's ≤ 2 B/base):
the marginal cost, (peak RSS at ``--n`` records - peak RSS at ``--n``/4) / (bases between them),
on labelled uniform random 101-bp FASTA (half label=1: the records are used as they are, no
shuffled negatives), ``train --arch deepbind --kernels 16 --epochs 1``; the fixed part (Python,
torch, the model) cancels. Reference in the same run, measured the same way: the Biopython
load-as-strings program above. Writes benchmarks/results/scale_memory.txt.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import os

from _common import OUT, deepprune, random_fasta, timed_process, write_tsv

HERE = Path(__file__).resolve().parent

LOAD_AS_STRINGS = """
import sys
from Bio import SeqIO
seqs = [str(r.seq) for r in SeqIO.parse(sys.argv[1], "fasta")]
"""


def memory(n: int, threads: int) -> None:
    """Marginal resident bytes per base of ``train`` and of the reference, between n/4 and n records."""
    lines = [f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start"]
    say = lambda line: (print(line, flush=True), lines.append(line))  # noqa: E731
    sizes = (n // 4, n)
    bases = {k: 101 * k for k in sizes}
    peaks: dict[str, dict[int, float]] = {"train": {}, "reference": {}}
    for k in sizes:
        fa = random_fasta(k, labelled=True)
        _, peaks["reference"][k] = timed_process([sys.executable, "-c", LOAD_AS_STRINGS, fa])
        wall, peaks["train"][k] = timed_process(deepprune(
            "train", fa, "--arch", "deepbind", "--kernels", 16, "--epochs", 1, "--threads", threads, "--seed", 0,
            "-q", "-o", OUT / "scale_memory_model", "--force"))
        say(f"{k:>9,} x 101 bp: train peak {peaks['train'][k]:6.0f} MiB ({wall:.1f} s); "
            f"reference peak {peaks['reference'][k]:6.0f} MiB  [load {os.getloadavg()[0]:.2f}]")
    per_base = {what: (p[n] - p[n // 4]) * 2**20 / (bases[n] - bases[n // 4]) for what, p in peaks.items()}
    say(f"train: {per_base['train']:.2f} B/base resident (marginal, {n // 4:,} -> {n:,} records); "
        f"fixed part {peaks['train'][n] - per_base['train'] * bases[n] / 2**20:.0f} MiB")
    say(f"reference (Biopython, list of str): {per_base['reference']:.2f} B/base")
    say(f"ratio train / reference: {per_base['train'] / per_base['reference']:.2f}x")
    say(f"load average {os.getloadavg()[0]:.2f} at the end")
    (HERE / "results").mkdir(parents=True, exist_ok=True)
    (HERE / "results" / "scale_memory.txt").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="training sequences")
    ap.add_argument("--epochs", type=int, default=2, help="training epochs (time scales linearly)")
    ap.add_argument("--kernels", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results" / "scale.tsv"))
    ap.add_argument("--memory", action="store_true", help="resident B/base through train (see above) only")
    args = ap.parse_args()
    if args.memory:
        memory(args.n, args.threads)
        return
    n_total = int(round(args.n / 0.8))
    sim = OUT / f"scale_sim1_{args.n}"
    rows = []

    def measure(what: str, cmd: list[str], n: int) -> None:
        wall, peak = timed_process(cmd)
        rows.append(dict(step=what, sequences=n, seconds=wall, per_second=n / wall, peak_rss_mib=peak,
                         bytes_per_sequence=peak * 2**20 / n))
        print(f"{what:<44} {wall:8.1f} s  {n / wall:10,.0f} seq/s  peak {peak:8.0f} MiB  "
              f"{peak * 2**20 / n:7.0f} B/sequence", flush=True)

    if not (sim / "train.fa").exists():
        measure(f"simulate {n_total:,} x 101 bp", deepprune(
            "simulate", "--preset", "deepprune-sim1", "--n", n_total, "--test-fraction", 0.2, "-o", sim), n_total)
    train, test = sim / "train.fa", sim / "test.fa"
    measure("reference: load as Python strings (Biopython)", [sys.executable, "-c", LOAD_AS_STRINGS, train], args.n)
    measure("deepprune shuffle (dinucleotide, FASTA out)",
            deepprune("shuffle", train, "-o", OUT / "scale_shuffled.fa", "--seed", 1, "--threads", args.threads), args.n)
    measure(f"deepprune train ({args.kernels} kernels, {args.epochs} epochs)", deepprune(
        "train", train, "--test", test, "--kernels", args.kernels, "--epochs", args.epochs, "--threads", args.threads,
        "--seed", 0, "-q", "-o", OUT / "scale_model", "--force"), args.n)
    ref = rows[[r["step"] for r in rows].index("reference: load as Python strings (Biopython)")]
    for r in rows:
        r["vs_reference_memory"] = r["peak_rss_mib"] / ref["peak_rss_mib"]
    print(f"\npeak memory relative to holding the sequences as Python strings ({ref['peak_rss_mib']:.0f} MiB):")
    for r in rows:
        print(f"  {r['step']:<44} {r['vs_reference_memory']:5.2f}x")
    write_tsv(args.out, rows, ".3f")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Koo & Eddy 2019 through the command line alone, as a user would run it (the README recipe).

    deepprune simulate --preset koo2019 -o koo
    deepprune train koo/train.fa --arch cnn-25 --valid koo/valid.fa --test koo/test.fa -o koo/cnn-25 ...
    deepprune logos koo/cnn-25 koo/test.fa --threshold 0.5 --truth koo/motifs.meme -o koo/cnn-25.meme
    (the same with cnn-2)

The measure is `bench_compare.py koo`'s (which reaches the paper through the Python API): a
filter's sites are the test positives whose best window reaches half the filter's largest
activation; a filter matches when its motif is within E <= 0.1 of one of the 12 true motifs,
searched inside JASPAR 2020 (`logos --truth` defaults); the match fraction counts every filter,
so filters that gave no motif count as not matching, as in the paper (cnn-25 0.98, cnn-2 0.13).

    python benchmarks/bench_koo_cli.py                       # full: 25,000 sequences, max 100 epochs, patience 10 (the recipe)
    python benchmarks/bench_koo_cli.py --n 10000 --epochs 10 # reduced
    python benchmarks/bench_koo_cli.py --archs cnn-25 --epochs 60 --out benchmarks/results/koo_cli_e60.tsv

Prints one line per architecture and writes benchmarks/results/koo_cli.tsv.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import OUT, deepprune  # noqa: E402

PAPER = {"cnn-25": 0.98, "cnn-2": 0.13}


def sh(args: list) -> None:
    print("$", " ".join(str(a) for a in args[2:]).replace("-m deepprune_cli", "deepprune"), flush=True)
    subprocess.run(args, check=True)


def match_fraction(motifs_tsv: Path, truth_tsv: Path) -> tuple[int, int, int]:
    """(filters matching a true motif, all filters, true motifs recovered) from `logos`' outputs."""
    with open(motifs_tsv) as fh:
        n_filters = sum(1 for _ in csv.DictReader(fh, delimiter="\t"))
    text = truth_tsv.read_text()
    m = re.search(r"# recovered (\d+)/\d+ true motifs; match fraction \S+ \((\d+)/\d+ learned", text)
    return int(m.group(2)), n_filters, int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=25_000, help="sequences in all splits (the preset: 25,000)")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--archs", default="cnn-25,cnn-2", help="comma list of cnn-25, cnn-2")
    ap.add_argument("--out", default=str(HERE / "results" / "koo_cli.tsv"))
    args = ap.parse_args()
    work = OUT / f"koo_cli_n{args.n}"
    work.mkdir(parents=True, exist_ok=True)
    sim = work / "koo"
    sh(deepprune("simulate", "--preset", "koo2019", "--n", args.n, "--seed", args.seed, "-o", sim))
    rows = []
    for arch in args.archs.split(","):
        model = work / arch
        t0 = time.perf_counter()
        sh(deepprune("train", sim / "train.fa", "--arch", arch, "--valid", sim / "valid.fa", "--test", sim / "test.fa",
                     "--lr", args.lr, "--epochs", args.epochs, "--patience", args.patience, "--seed", args.seed,
                     "--threads", args.threads, "-q", "--force", "-o", model))  # fmt: skip
        secs = time.perf_counter() - t0
        meme = work / f"{arch}.meme"
        sh(deepprune("logos", model, sim / "test.fa", "--threshold", "0.5", "--truth", sim / "motifs.meme",
                     "--truth-out", work / f"{arch}.truth.tsv", "--group-db", "none", "-q", "-o", meme))  # fmt: skip
        matching, filters, recovered = match_fraction(meme.with_suffix(".tsv"), work / f"{arch}.truth.tsv")
        met = json.loads((model / "metrics.json").read_text())
        row = {
            "arch": arch, "n": args.n, "epochs_run": met["epochs_run"], "best_epoch": met["best_epoch"], "train_seconds": round(secs, 1),
            "test_auroc": round(met["test_auroc"], 4), "filters": filters, "matching": matching,
            "match_fraction": round(matching / filters, 3), "paper": PAPER[arch], "tfs_recovered": recovered,
            "negatives": met.get("negatives", ""),
        }  # fmt: skip
        rows.append(row)
        print(
            f"== {arch}: match fraction {row['match_fraction']:.2f} ({matching}/{filters} filters; paper "
            f"{PAPER[arch]:.2f}), {recovered}/12 TFs recovered, test AUROC {row['test_auroc']:.3f}, "
            f"{row['epochs_run']} epochs, {secs:.0f} s",
            flush=True,
        )
    out = Path(args.out)
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

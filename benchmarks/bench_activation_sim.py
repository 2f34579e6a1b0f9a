"""Issue 19: the first-layer activation (ReLU vs Koo & Ploenzke 2021's exponential) on simulations.

Simulations of the presets' single-site design (101 bp, forward strand, uniform negatives, one
site of one of m motifs per positive) with motif sets drawn at random from JASPAR 2024 (motifs
8-20 bp that no preset uses; m = 2, 4, 6, 8): 10,000 positives + 10,000 negatives to train (the
seeded 10 % validation split of them drives early stopping and is what a choice may look at),
10,000 sequences to test. For every set, kernel count and seed, `deepbind`-layout models with
each activation are fitted exactly as `deepprune train` fits them (``prepare_training`` +
``fit_seeds``: same split, same initial weights, same batch order for both activations); the
exact Bayes-optimal AUROC on the test set (likelihood ratio under the generating model) is the
ceiling.

    python benchmarks/bench_activation_sim.py                            # m 2,4,6,8; 4 and 64 kernels; 2 seeds
    python benchmarks/bench_activation_sim.py --motif-counts 4 --kernels 4 --seeds 0
    python benchmarks/bench_activation_sim.py --summary a.tsv,b.tsv      # summarise runs made separately

Writes benchmarks/results/activation_sim.tsv (one row per set, kernels, seed, activation) and
prints the mean validation and test AUROC and the mean gap to the Bayes ceiling per activation.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import write_tsv  # noqa: E402


def motif_set(m: int, seed: int = 2026) -> list[str]:
    """m motifs of the presets' kind drawn from JASPAR 2024, none that a preset uses."""
    import numpy as np

    from deepprune_cli.core.motifs import bundled_collection
    from deepprune_cli.core.simulate import PRESETS, make_design

    used = set()
    for p in PRESETS:
        used.update(make_design(p).motif_ids or ())
    pool = sorted(m_.id for m_ in bundled_collection("jaspar2024") if m_.id not in used and 8 <= m_.width <= 20)
    rng = np.random.default_rng([seed, m])
    return [str(x) for x in rng.choice(pool, size=m, replace=False)]


def summarize(rows: list[dict], acts: list[str]) -> None:
    """Mean validation and test AUROC, gap to the Bayes ceiling, and validation wins per activation."""
    print(f"\n{'kernels':>7} {'activation':>10} {'val AUROC':>10} {'test AUROC':>10} {'gap to Bayes':>12} {'wins (val)':>10}")
    for k in sorted({r["kernels"] for r in rows}):
        for act in acts:
            rs = [r for r in rows if r["kernels"] == k and r["activation"] == act]
            other = {(r["m"], r["seed"]): r for r in rows if r["kernels"] == k and r["activation"] != act}
            wins = sum(r["val_auroc"] > other[(r["m"], r["seed"])]["val_auroc"] for r in rs if (r["m"], r["seed"]) in other)
            print(f"{k:>7} {act:>10} {statistics.mean(r['val_auroc'] for r in rs):>10.4f} "
                  f"{statistics.mean(r['test_auroc'] for r in rs):>10.4f} {statistics.mean(r['gap'] for r in rs):>12.4f} "
                  f"{wins:>4}/{len(rs)}")  # fmt: skip


def read_rows(paths: list[str]) -> list[dict]:
    """Rows of earlier runs' TSVs (numbers parsed), e.g. to summarise seeds run separately."""
    rows = []
    for p in paths:
        with open(p, newline="") as fh:
            for r in csv.DictReader(fh, delimiter="\t"):
                rows.append({k: (int(v) if k in ("m", "kernels", "seed", "best_epoch") else
                                 v if k in ("motifs", "activation", "trained_ok") else float(v)) for k, v in r.items()})  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--motif-counts", default="2,4,6,8")
    ap.add_argument("--kernels", default="4,64")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--activations", default="relu,exp")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--patience", type=int, default=15)
    ap.add_argument("--out", default=str(HERE / "results" / "activation_sim.tsv"))
    ap.add_argument("--summary", default=None, metavar="TSV[,TSV]", help="only summarise earlier runs' TSVs")
    args = ap.parse_args()
    if args.summary:
        summarize(read_rows(args.summary.split(",")), args.activations.split(","))
        return

    import torch

    from deepprune_cli.core.metrics import auroc
    from deepprune_cli.core.prepare import prepare_training
    from deepprune_cli.core.seeds import fit_seeds
    from deepprune_cli.core.simulate import bayes_optimal_scores, make_design, simulate
    from deepprune_cli.core.training import TrainOptions

    torch.set_num_threads(1)
    acts = args.activations.split(",")
    rows = []
    for m in (int(x) for x in args.motif_counts.split(",")):
        ids = motif_set(m)
        design = make_design(None, motifs="jaspar2024", motif_ids=ids, n=30_000, test_fraction=1 / 3, seed=0)
        ds = simulate(design)
        train, test = ds.split("train"), ds.split("test")
        bayes = auroc(test.labels.ravel(), bayes_optimal_scores(test, ds))
        for k in (int(x) for x in args.kernels.split(",")):
            for seed in (int(x) for x in args.seeds.split(",")):
                prep = prepare_training(train, None, test, arch="deepbind", kernels=k, seed=seed)
                for act in acts:
                    prep.spec.convs[0].activation = act
                    t0 = time.perf_counter()
                    (fit,) = fit_seeds(prep, [seed], TrainOptions(max_epochs=args.epochs, patience=args.patience, seed=seed))
                    row = dict(m=m, motifs=",".join(ids), kernels=k, seed=seed, activation=act, bayes=bayes,
                               val_auroc=fit.metrics["val_auroc"], test_auroc=fit.metrics["test_auroc"],
                               gap=bayes - fit.metrics["test_auroc"], best_epoch=fit.metrics["best_epoch"],
                               trained_ok=fit.metrics["trained_ok"], seconds=time.perf_counter() - t0)  # fmt: skip
                    rows.append(row)
                    print(f"m={m} k={k:<3} seed {seed} {act:<4}: val {row['val_auroc']:.4f} test {row['test_auroc']:.4f} "
                          f"bayes {bayes:.4f} gap {row['gap']:.4f} epoch {row['best_epoch']} ({row['seconds']:.0f} s)",
                          flush=True)  # fmt: skip
    write_tsv(args.out, rows)
    summarize(rows, acts)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

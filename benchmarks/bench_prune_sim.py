"""Quality bar 1 of `deepprune prune`: simulated data (Luo et al. 2019's design), 256 -> 4 kernels.

For each motif set (the presets deepprune-sim1..5, plus motif sets of the same design drawn at
random from JASPAR 2024 that the method was never looked at with), one dataset (101 bp, 6,000
sequences, half test) and five training seeds: prune 4·2^R -> 4 kernels (R = --rounds, default 6
i.e. 256 -> 4; --criterion, default score-weight; the tool's defaults otherwise) and record the test AUROC of the final `deepprune`
model and of the 4-kernel `baseline` (trained from scratch with the same seed). The Bayes-optimal
AUROC (exact likelihood ratio under the generating model) is the ceiling; the table reports the
share of the baseline's gap to it that Deepprune closes.

    python benchmarks/bench_prune_sim.py                 # all sets, 5 seeds, 2 worker processes
    python benchmarks/bench_prune_sim.py --sets deepprune-sim4 --seeds 0,1 --jobs 1
    python benchmarks/bench_prune_sim.py --no-presets --motif-counts 2,4,6,8 --padding valid,full   # issue 19

With several ``--padding`` values (or ``--distinct off,on``) every set and seed runs with each, on the
same data, split and seed; the summary then compares them on validation AUROC (the figure a choice may
look at) as well as test AUROC and the gap to the Bayes ceiling.

Writes benchmarks/results/prune_sim.tsv (one row per set and seed) and prints a summary table.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import write_tsv  # noqa: E402
PRESETS = [f"deepprune-sim{i}" for i in range(1, 6)]


def random_motif_sets(n_sets: int, seed: int = 2026, sizes: list[int] | None = None) -> dict[str, list[str]]:
    """Motif sets of the same design drawn from JASPAR 2024, avoiding every preset motif.

    ``sizes``: motifs per set (default 2, 4, 6, 2, 4, 6 cut to ``n_sets``); one set per size."""
    import numpy as np

    from deepprune_cli.core.motifs import bundled_collection
    from deepprune_cli.core.simulate import make_design

    used = set()
    for p in PRESETS:
        used.update(make_design(p).motif_ids or ())
    pool = [m.id for m in bundled_collection("jaspar2024") if m.id not in used and 8 <= m.width <= 20]
    rng = np.random.default_rng(seed)
    if sizes is None:
        sizes = [2, 4, 6, 2, 4, 6][:n_sets]
        names = [f"jaspar2024-random{i + 1}" for i in range(len(sizes))]
    else:
        names = [f"jaspar2024-m{k}" for k in sizes]
    return {name: [str(x) for x in rng.choice(pool, size=k, replace=False)] for name, k in zip(names, sizes)}


def run_one(task: tuple) -> dict:
    name, motif_ids, seed, epochs, patience, rounds, criterion, padding, distinct = task
    import numpy as np
    import torch

    from deepprune_cli.core.metrics import auroc
    from deepprune_cli.core.prepare import prepare_training
    from _common import prune_summary
    from deepprune_cli.core.pruning import PruneOptions
    from deepprune_cli.core.simulate import bayes_optimal_scores, make_design, simulate
    from deepprune_cli.core.training import TrainOptions

    torch.set_num_threads(1)
    if motif_ids is None:
        design = make_design(name, seed=0)
    else:
        design = make_design(None, motifs="jaspar2024", motif_ids=motif_ids, seed=0)
    ds = simulate(design)
    train, test = ds.split("train"), ds.split("test")
    bayes = auroc(test.labels.ravel(), bayes_optimal_scores(test, ds))
    prep = prepare_training(train, None, test, arch="deepbind", kernels=4 * 2**rounds, seed=seed, padding=padding)
    opts = PruneOptions(kernels=4, rounds=rounds, criterion=criterion, distinct=distinct or None,
                        train=TrainOptions(max_epochs=epochs, patience=patience, seed=seed))
    t0 = time.perf_counter()
    rows = prune_summary(prep, test, opts)
    final = {r["variant"]: r["test_auroc"] for r in rows if r["kernels"] == 4}
    final_val = {r["variant"]: r["val_auroc"] for r in rows if r["kernels"] == 4}
    initial = rows[0]["test_auroc"]
    return dict(set=name, criterion=criterion, rounds=rounds, padding=padding, distinct=int(bool(distinct)),
                motifs=",".join(m.id for m in ds.motifs), seed=seed, bayes=bayes, initial=initial,
                initial_val=rows[0]["val_auroc"], deepprune=final["deepprune"], inter=final["inter"],
                baseline=final["baseline"], deepprune_val=final_val["deepprune"], baseline_val=final_val["baseline"],
                seconds=time.perf_counter() - t0)  # fmt: skip


def summarize_variants(rows: list[dict], variants: list[tuple[str, bool]]) -> None:
    """Per variant: mean final val/test AUROC, mean gap to Bayes, and validation wins against the first."""
    key = lambda r: (r["padding"], bool(r["distinct"]))
    ref = {(r["set"], r["seed"]): r for r in rows if key(r) == variants[0]}
    print(f"\n{'variant':<16} {'val':>7} {'test':>7} {'gap':>7} {'val wins vs ' + variants[0][0]:>18} {'vs baseline (test)':>18}")
    for v in variants:
        rs = [r for r in rows if key(r) == v]
        wins = sum(r["deepprune_val"] > ref[(r["set"], r["seed"])]["deepprune_val"] for r in rs)
        beats = sum(r["deepprune"] > r["baseline"] for r in rs)
        print(f"{v[0] + ('+distinct' if v[1] else ''):<16} {statistics.mean(r['deepprune_val'] for r in rs):7.4f} "
              f"{statistics.mean(r['deepprune'] for r in rs):7.4f} {statistics.mean(r['bayes'] - r['deepprune'] for r in rs):7.4f} "
              f"{wins:>14}/{len(rs)} {beats:>15}/{len(rs)}")  # fmt: skip
    for m in sorted({len(r["motifs"].split(",")) for r in rows}):
        parts = []
        for v in variants:
            rs = [r for r in rows if key(r) == v and len(r["motifs"].split(",")) == m]
            parts.append(f"{v[0] + ('+distinct' if v[1] else '')} gap {statistics.mean(r['bayes'] - r['deepprune'] for r in rs):.4f}")
        print(f"  m={m}: " + ", ".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default=None, help="comma-separated preset names (default: sim1..5 + random sets)")
    ap.add_argument("--random-sets", type=int, default=3, help="random JASPAR 2024 motif sets of the same design")
    ap.add_argument("--no-presets", action="store_true", help="only the random motif sets")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--patience", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=6, help="start from 4 * 2**rounds kernels")
    ap.add_argument("--criterion", default="loss", help="as deepprune prune --criterion (default: the tool default)")
    ap.add_argument("--motif-counts", default=None, help="random sets of these sizes (e.g. 2,4,6,8) instead of --random-sets")
    ap.add_argument("--padding", default="valid", help="first-layer padding(s), comma-separated: valid, full")
    ap.add_argument("--distinct", default="off", help="fixed-count --distinct: off, on or off,on")
    ap.add_argument("--out", default=str(HERE / "results" / "prune_sim.tsv"))
    args = ap.parse_args()
    sets: dict[str, list[str] | None] = {}
    for name in (args.sets.split(",") if args.sets else ([] if args.no_presets else PRESETS)):
        sets[name] = None
    if not args.sets:
        sizes = [int(k) for k in args.motif_counts.split(",")] if args.motif_counts else None
        sets.update(random_motif_sets(args.random_sets, sizes=sizes))
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = [(p, d == "on") for p in args.padding.split(",") for d in args.distinct.split(",")]
    tasks = [(name, ids, seed, args.epochs, args.patience, args.rounds, args.criterion, p, d)
             for name, ids in sets.items() for seed in seeds for p, d in variants]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        rows = []
        for row in pool.imap(run_one, tasks):
            rows.append(row)
            print(f"{row['set']:<22} seed {row['seed']} {row['padding']}{'+distinct' if row['distinct'] else ''}: "
                  f"deepprune {row['deepprune']:.4f} (val {row['deepprune_val']:.4f})  baseline "
                  f"{row['baseline']:.4f}  bayes {row['bayes']:.4f}  ({row['seconds']:.0f} s)", flush=True)
    write_tsv(args.out, rows)
    if len(variants) > 1:
        summarize_variants(rows, variants)
    print(f"\n{'set':<22} {'deepprune':>16} {'baseline':>16} {'inter':>8} {'bayes':>7} {'gap closed':>10}")
    wins = 0
    for name in sets:
        rs = [r for r in rows if r["set"] == name]
        dp = [r["deepprune"] for r in rs]
        bl = [r["baseline"] for r in rs]
        it = [r["inter"] for r in rs]
        bayes = rs[0]["bayes"]
        sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
        mdp, mbl = statistics.mean(dp), statistics.mean(bl)
        closed = (mdp - mbl) / (bayes - mbl) if bayes > mbl else float("nan")
        wins += mdp > mbl
        print(f"{name:<22} {mdp:.4f} ± {sd(dp):.4f}  {mbl:.4f} ± {sd(bl):.4f} {statistics.mean(it):8.4f} "
              f"{bayes:7.4f} {closed:10.1%}")
    print(f"\n{4 * 2**args.rounds} -> 4 kernels; deepprune mean > baseline mean on {wins}/{len(sets)} motif sets; "
          f"{len(rows)} runs in {time.perf_counter() - t0:.0f} s with {args.jobs} processes")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

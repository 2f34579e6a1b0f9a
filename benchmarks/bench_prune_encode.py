"""Quality bar 2 of `deepprune prune`: real ChIP-seq (DeepBind's ENCODE sets), 256 -> 4 kernels.

For every experiment in ../shared/data/encode: positives = the `_AC` peaks (rank-ordered; the top
`--max-peaks`, default all), negatives = their seeded dinucleotide shuffles (as `deepprune prune`
makes them), prune 256 -> 4 kernels in 6 rounds with the tool's defaults, and compare the test
AUROC on the fixed `_B` set of the final `deepprune` model against the 4-kernel `baseline`
(trained from scratch, same seed). Reports the count of experiments where Deepprune wins and the
one-sided Wilcoxon signed-rank p-value (the paper: Deepprune beat the baseline on 77% of 690).
With `--motifs`, also the motif bar of `deepprune logos`: the final model's kernels turned into
motifs on the `_B` positives (the logos defaults: 0.7 of the largest observed activation, ordered
by |dense weight|, flanks trimmed at 0.3 bits) and compared with JASPAR 2020; does the top motif
match the profiled TF or its family (`bench_compare.ENCODE_FAMILY`)?

    python benchmarks/bench_prune_encode.py [--max-peaks 5000] [--jobs 2] [--only GABPA,REST]
    python benchmarks/bench_prune_encode.py --max-peaks 3000 --rounds 4 --padding valid,full   # issue 19

With several ``--padding`` values every experiment runs with each (same data, split and seed) and the
summary compares them on the final model's validation AUROC, the figure a choice may look at.

Writes benchmarks/results/prune_encode.tsv. Skips (exit 0) when the data are absent.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENCODE = Path(os.environ.get("DEEPPRUNE_ENCODE", HERE.parent.parent / "shared" / "data" / "encode"))


def top_motif(model, test) -> dict:
    """The final model's motifs vs JASPAR 2020: top motif, its best match, TF-family agreement."""
    from bench_compare import ENCODE_FAMILY, _motifs_from

    from deepprune_cli.core import compare
    from deepprune_cli.core.motifs import bundled_collection

    tf = Path(test.source).name.split("_")[0]
    motifs, _, bg = _motifs_from(model, test, trim=0.3, relative_to="observed")
    if not motifs:
        return dict(top_motif="", top_match="", top_match_p=float("nan"), family_match=False, any_family=0)
    comp = compare.compare_motifs(motifs, bundled_collection("jaspar2020"), background=bg)
    fam = ENCODE_FAMILY.get(tf, {tf})
    best = comp.best(0)
    family_kernels = {m.query for m in comp.matches(0.5) if m.target_name.upper() in fam}
    return dict(top_motif=motifs[0].consensus, top_match=f"{best.target} {best.target_name}", top_match_p=best.p,
                family_match=best.target_name.upper() in fam, any_family=len(family_kernels))


def run_one(task: tuple) -> dict:
    ac, b, max_peaks, seed, epochs, patience, criterion, motifs, rounds, padding, baseline_seeds = task
    import numpy as np
    import torch

    from deepprune_cli.core.prepare import prepare_training
    from _common import prune_summary
    from deepprune_cli.core.pruning import PruneOptions
    from deepprune_cli.core.sequences import read_sequences
    from deepprune_cli.core.store import load_model
    from deepprune_cli.core.training import TrainOptions

    torch.set_num_threads(1)
    pos = read_sequences(ac)
    if max_peaks and len(pos) > max_peaks:
        pos = pos.subset(np.arange(max_peaks))  # the files are ordered by peak rank
    test = read_sequences(b)
    prep = prepare_training(pos, None, test, arch="deepbind", kernels=4 * 2**rounds, seed=seed, padding=padding)
    opts = PruneOptions(kernels=4, rounds=rounds, criterion=criterion, baseline_seeds=baseline_seeds,
                        train=TrainOptions(max_epochs=epochs, patience=patience, seed=seed))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = prune_summary(prep, test, opts, keep_final=Path(tmp) / "final")
        seconds = time.perf_counter() - t0
        motif = top_motif(load_model(Path(tmp) / "final").model, test) if motifs else {}
    final = {r["variant"]: r["test_auroc"] for r in rows if r["kernels"] == 4}
    final_val = {r["variant"]: r["val_auroc"] for r in rows if r["kernels"] == 4}
    name = Path(ac).name.replace("_AC.seq.gz", "")
    return dict(experiment=name, padding=padding, n_positives=len(pos), initial_256=rows[0]["test_auroc"],
                initial_val=rows[0]["val_auroc"], deepprune=final["deepprune"], inter=final["inter"],
                baseline=final["baseline"], deepprune_val=final_val["deepprune"], baseline_val=final_val["baseline"],
                seconds=seconds, **motif)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-peaks", type=int, default=0, help="top peaks per experiment (0 = all)")
    ap.add_argument("--only", default=None, help="comma-separated experiment name prefixes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--patience", type=int, default=15)
    ap.add_argument("--criterion", default="loss", help="as deepprune prune --criterion (default: the tool default)")
    ap.add_argument("--motifs", action="store_true", help="also check the final model's top motif against JASPAR")
    ap.add_argument("--rounds", type=int, default=6, help="start from 4 * 2**rounds kernels (default 6: 256)")
    ap.add_argument("--padding", default="valid", help="first-layer padding(s), comma-separated: valid, full")
    ap.add_argument("--baseline-seeds", type=int, default=3, help="as deepprune prune --baseline-seeds")
    ap.add_argument("--out", default=str(HERE / "results" / "prune_encode.tsv"))
    args = ap.parse_args()
    acs = sorted(ENCODE.glob("*_AC.seq.gz"))
    if not acs:
        print(f"no ENCODE data under {ENCODE}; skipped")
        return
    if args.only:
        acs = [a for a in acs if any(a.name.startswith(p) for p in args.only.split(","))]
    paddings = args.padding.split(",")
    tasks = [(str(a), str(a).replace("_AC.seq.gz", "_B.seq.gz"), args.max_peaks, args.seed, args.epochs,
              args.patience, args.criterion, args.motifs, args.rounds, pad, args.baseline_seeds)
             for a in acs for pad in paddings]  # fmt: skip
    t0 = time.perf_counter()
    rows = []
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for row in pool.imap(run_one, tasks):
            rows.append(row)
            motif = (f"  top motif {row['top_motif']} ~ {row['top_match']} (p={row['top_match_p']:.2g}, family "
                     f"{'yes' if row['family_match'] else 'no'})") if args.motifs else ""
            print(f"{row['experiment']:<45} {row['padding']:<5} deepprune {row['deepprune']:.4f} (val "
                  f"{row['deepprune_val']:.4f})  baseline {row['baseline']:.4f}  {4 * 2**args.rounds} kernels "
                  f"{row['initial_256']:.4f}  ({row['seconds']:.0f} s){motif}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]), delimiter="\t")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.3g}" if k.endswith("_p") else f"{v:.6f}") if isinstance(v, float) else v
                        for k, v in r.items()})
    from scipy.stats import wilcoxon

    if len(paddings) > 1:
        ref = {r["experiment"]: r for r in rows if r["padding"] == paddings[0]}
        for pad in paddings[1:]:
            rs = [r for r in rows if r["padding"] == pad]
            wins = sum(r["deepprune_val"] > ref[r["experiment"]]["deepprune_val"] for r in rs)
            twins = sum(r["deepprune"] > ref[r["experiment"]]["deepprune"] for r in rs)
            print(f"--padding {pad} vs {paddings[0]}: final 4-kernel val AUROC higher in {wins}/{len(rs)}, test in "
                  f"{twins}/{len(rs)}")
        rows = [r for r in rows if r["padding"] == paddings[-1]]
        print(f"(the comparison with the baseline below is for --padding {paddings[-1]})")
    dp = [r["deepprune"] for r in rows]
    bl = [r["baseline"] for r in rows]
    wins = sum(d > b for d, b in zip(dp, bl))
    p = wilcoxon(dp, bl, alternative="greater").pvalue if len(rows) > 1 else float("nan")
    med = lambda v: sorted(v)[len(v) // 2] if len(v) % 2 else sum(sorted(v)[len(v) // 2 - 1 : len(v) // 2 + 1]) / 2
    print(f"\ndeepprune beats baseline on {wins}/{len(rows)} experiments; one-sided Wilcoxon signed-rank "
          f"p = {p:.4g}; medians deepprune {med(dp):.4f}, baseline {med(bl):.4f}")
    if args.motifs:
        hits = [r["experiment"].split("_")[0] for r in rows if r["family_match"]]
        print(f"top motif matches the TF or its family in {len(hits)}/{len(rows)}: {', '.join(hits)}")
    print(f"{len(rows)} experiments in {time.perf_counter() - t0:.0f} s with {args.jobs} processes; wrote {args.out}")


if __name__ == "__main__":
    main()

"""`deepprune scan` on a simulation: precision and recall of kernel hits against the planted sites.

A simulated data set (preset deepprune-sim4 by default: four JASPAR motifs planted once in each
positive, 101 bp) is generated in-process exactly as `deepprune simulate` writes it (its
truth.tsv holds the same site table). A DeepBind-style model with --kernels kernels is trained on
the train split; then the test split is scanned twice at the same per-window p-values:

* **kernels**: `deepprune scan`'s scanner (each active kernel, exact p-values of its weights);
* **true PWMs**: the generating motifs as FIMO scans them (log2-odds against a uniform
  background, pseudocount 0.01, exact p-values of the log-odds score; both strands).

A hit is *true* when it covers at least half of a planted site in the same sequence (either
strand); precision = true hits / hits, recall = planted sites covered by at least one hit.

    python benchmarks/bench_scan.py                       # sim4, 8 kernels, p = 1e-3, 1e-4, 1e-5
    python benchmarks/bench_scan.py --preset deepprune-sim1 --kernels 4 --epochs 20

Writes benchmarks/results/scan_<preset>.tsv and prints the table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def pwm_scanner(motif, pvalue: float):
    """A FIMO-style scanner for one true motif: log2-odds weights, exact p-value threshold."""
    import torch

    from deepprune_cli.core.first_layer import reverse_complement_weight
    from deepprune_cli.core.scan import Scanner, null_distribution

    probs = (motif.probs + 0.01) / (1 + 4 * 0.01)
    w = np.log2(probs / 0.25).T  # (4, W)
    null = null_distribution(w, 0.0)
    wt = torch.from_numpy(w[None].astype(np.float32))
    weight = torch.cat([wt, reverse_complement_weight(wt)]).numpy()
    return Scanner(weight, np.zeros(2, np.float32), [motif.id], [motif.id], [null],
                   np.array([null.threshold(pvalue)]), True)  # fmt: skip


def evaluate(hits_by_seq: dict, sites_by_seq: dict, n_sites: int) -> tuple[int, float, float]:
    """(hits, precision, recall) for hits ``{seq: [(start, end)]}`` against sites ``{seq: [(start, end)]}``."""
    n_hits = true_hits = 0
    covered = set()
    for seq, hits in hits_by_seq.items():
        sites = sites_by_seq.get(seq, [])
        for a, b in hits:
            n_hits += 1
            good = False
            for j, (s, e) in enumerate(sites):
                if min(b, e) - max(a, s) >= (e - s) / 2:
                    good = True
                    covered.add((seq, j))
            true_hits += good
    precision = true_hits / n_hits if n_hits else float("nan")
    return n_hits, precision, len(covered) / n_sites if n_sites else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="deepprune-sim4")
    ap.add_argument("--kernels", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pvalues", default="1e-3,1e-4,1e-5")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    from deepprune_cli.core import scan
    from deepprune_cli.core.metrics import auroc
    from deepprune_cli.core.models import build_model
    from deepprune_cli.core.prepare import prepare_training
    from deepprune_cli.core.simulate import make_design, simulate
    from deepprune_cli.core.training import TrainOptions, fit, predict

    torch.set_num_threads(args.threads)
    ds = simulate(make_design(args.preset, seed=0))
    train, test = ds.split("train"), ds.split("test")
    t0 = time.perf_counter()
    prep = prepare_training(train, None, test, arch="deepbind", kernels=args.kernels, seed=args.seed)
    model, _ = fit(build_model(prep.spec, seed=args.seed), prep.train, prep.val,
                   TrainOptions(max_epochs=args.epochs, patience=6, seed=args.seed))  # fmt: skip
    model.eval()
    test_auc = auroc(test.labels.ravel(), predict(model, test).ravel())
    print(f"{args.preset}: trained {args.kernels} kernels in {time.perf_counter() - t0:.0f} s, test AUROC {test_auc:.3f}")

    # planted sites of the test split, as truth.tsv lists them
    first, end = ds.split_bounds()["test"]
    ends = ds.site_ends()
    sites: dict[str, list] = {}
    n_sites = 0
    for s, a, b in zip(ds.site_seq.tolist(), ds.site_start.tolist(), ends.tolist()):
        if first <= s < end:
            sites.setdefault(ds.ids[s], []).append((a, b))
            n_sites += 1

    def hits_of(table) -> dict:
        out: dict[str, list] = {}
        W = table.scanner.width
        for c, a in zip(table.chrom.tolist(), table.start.tolist()):
            out.setdefault(table.chrom_names[c], []).append((a, a + W))
        return out

    rows = []
    for p in [float(x) for x in args.pvalues.split(",")]:
        t1 = time.perf_counter()
        kernel_table = scan.scan(scan.make_scanner(model, pvalue=p), [test])
        t_kernels = time.perf_counter() - t1
        n, prec, rec = evaluate(hits_of(kernel_table), sites, n_sites)
        rows.append(dict(pvalue=p, method=f"kernels ({args.kernels})", hits=n, precision=prec, recall=rec, seconds=t_kernels))
        pwm_hits: dict[str, list] = {}
        t1 = time.perf_counter()
        for motif in ds.motifs:
            for seq, h in hits_of(scan.scan(pwm_scanner(motif, p), [test])).items():
                pwm_hits.setdefault(seq, []).extend(h)
        n, prec, rec = evaluate(pwm_hits, sites, n_sites)
        rows.append(dict(pvalue=p, method="true PWMs (FIMO-style)", hits=n, precision=prec, recall=rec,
                         seconds=time.perf_counter() - t1))  # fmt: skip

    cols = ("pvalue", "method", "hits", "precision", "recall", "seconds")
    lines = ["\t".join(cols)] + [
        "\t".join([f"{r['pvalue']:g}", r["method"], str(r["hits"]), f"{r['precision']:.3f}", f"{r['recall']:.3f}",
                   f"{r['seconds']:.2f}"]) for r in rows  # fmt: skip
    ]
    text = "\n".join(lines) + "\n"
    print(f"test split: {len(test)} sequences, {n_sites} planted sites of {len(ds.motifs)} motifs")
    print(text, end="")
    out = HERE / "results" / f"scan_{args.preset}.tsv"
    out.write_text(f"# {args.preset}, deepbind {args.kernels} kernels, seed {args.seed}, test AUROC {test_auc:.3f}\n" + text)


if __name__ == "__main__":
    main()

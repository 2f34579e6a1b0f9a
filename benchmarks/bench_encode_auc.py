"""Quality bar: `deepprune train` on each ENCODE `_AC` file, AUROC on its fixed `_B` test set.

For every experiment in ../shared/data/encode (DeepBind's benchmark, Alipanahi et al. 2015) this
runs the real command, whole process, exactly as a user would:

    deepprune train X_AC.seq.gz -o DIR --test X_B.seq.gz [configuration options]

and compares the test AUROC with DeepBind's published numbers (`published_auc.tsv`: `DeepBind`
trained on the top 500 peaks, `DeepBind_star` on all peaks). The bar: the median over the
experiments of the `default` configuration must reach the median of `DeepBind`.

    python benchmarks/bench_encode_auc.py                      # default settings, 1 thread
    python benchmarks/bench_encode_auc.py --configs default,one_strand,lr1e-3
    python benchmarks/bench_encode_auc.py --only GABPA,REST    # a subset

Writes a TSV (default benchmarks/results/encode_auc.tsv): one row per experiment and
configuration plus a median row per configuration. Skips (exit 0) if the data are absent.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENCODE = Path(os.environ.get("DEEPPRUNE_ENCODE", HERE.parent.parent / "shared" / "data" / "encode"))

#: configuration name -> extra `deepprune train` options (default = the tool's defaults)
CONFIGS = {
    "default": [],  # deepbind64 (64 kernels, exp activation), both strands, dropout 0.3, 2 shuffles per peak, lr 0.003, <= 100 epochs, patience 15
    "deepbind": ["--arch", "deepbind"],  # DeepBind as published: 16 kernels (the default before issue 19)
    "first": ["--negative-copies", "1", "--dropout", "0", "--epochs", "60"],  # the first defaults tried
    "copies1": ["--negative-copies", "1"],
    "no_dropout": ["--dropout", "0"],
    "one_strand": ["--one-strand"],
    "lr1e-3": ["--lr", "0.001"],
    "lr1e-2": ["--lr", "0.01"],
    "seeds3": ["--seeds", "0,1,2"],  # mean test AUROC over 3 seeds
    "kernels4": ["--arch", "deepbind", "--kernels", "4"],
    "kernels64": ["--arch", "deepbind", "--kernels", "64"],  # issue 19: does a larger first layer pay on all peaks?
    "relu64": ["--activation", "relu"],  # deepbind64 with ReLU: the same model as kernels64
    "kernels128": ["--arch", "deepbind", "--kernels", "128"],
    "exp": ["--activation", "exp"],  # issue 19: Koo & Ploenzke 2021's exponential first-layer activation (= default)
    "deepbind_exp": ["--arch", "deepbind", "--activation", "exp"],
    "restarts3": ["--restarts", "3"],  # best of 3 fits by validation loss
    "valid_padding": ["--padding", "valid"],  # no padding: the first layer sees only whole windows
    "full_padding": ["--padding", "full"],  # DeepBind's W-1 N on each side: sites at the ends seen whole
    "deepbind_full": ["--arch", "deepbind", "--padding", "full"],
}


def published(path: Path) -> dict[str, dict[str, float]]:
    with open(path, newline="") as fh:
        return {r["experiment"]: {k: float(v) for k, v in r.items() if k not in ("experiment", "ucsc_table")}
                for r in csv.DictReader(fh, delimiter="\t")}  # fmt: skip


def run_one(ac: Path, b: Path, extra: list[str], threads: int) -> tuple[dict, float, float]:
    with tempfile.TemporaryDirectory(prefix="encode_auc_") as tmp:
        cmd = [sys.executable, "-m", "deepprune_cli", "train", str(ac), "-o", str(Path(tmp) / "model"),
               "--test", str(b), "--json", "--quiet", "--threads", str(threads), *extra]  # fmt: skip
        t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
        wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
        res = json.loads(proc.stdout)
    if "seeds" in res:  # --seeds: mean test AUROC over the seeds
        res = {"test_auroc": res["test_auroc"]["mean"], "best_epoch": None, "epochs_run": None,
               "test_auroc_sd": res["test_auroc"]["sd"], "val_auroc": res["val_auroc"]["mean"]}  # fmt: skip
    return res, wall, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="default", help=f"comma list of: {', '.join(CONFIGS)}")
    ap.add_argument("--only", default=None, help="comma list of experiment name prefixes")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(HERE / "results" / "encode_auc.tsv"))
    args = ap.parse_args()
    if not (ENCODE / "published_auc.tsv").exists():
        print(f"skipped: ENCODE data not found at {ENCODE} (set DEEPPRUNE_ENCODE)")
        return 0
    pub = published(ENCODE / "published_auc.tsv")
    names = sorted(pub)
    if args.only:
        prefixes = args.only.split(",")
        names = [n for n in names if any(n.startswith(p) for p in prefixes)]
    configs = args.configs.split(",")
    for c in configs:
        if c not in CONFIGS:
            raise SystemExit(f"unknown configuration {c}; choose from {', '.join(CONFIGS)}")
    rows = []
    header = f"{'experiment':44s} {'config':11s} {'ours':>7s} {'DeepBind':>8s} {'DB*':>7s} {'diff':>7s} {'diff*':>7s} {'epoch':>5s} {'sec':>6s}"
    print(header, flush=True)
    for config in configs:
        ours = []
        for name in names:
            res, wall, cpu = run_one(ENCODE / f"{name}_AC.seq.gz", ENCODE / f"{name}_B.seq.gz", CONFIGS[config], args.threads)
            auc = res["test_auroc"]
            db, dbs = pub[name]["DeepBind"], pub[name]["DeepBind_star"]
            ours.append(auc)
            row = {"experiment": name, "config": config, "ours": auc, "DeepBind": db, "DeepBind_star": dbs,
                   "diff_DeepBind": auc - db, "diff_DeepBind_star": auc - dbs,
                   "best_epoch": res.get("best_epoch"), "seconds": wall, "cpu_seconds": cpu,
                   "val_auroc": res.get("val_auroc")}  # fmt: skip
            rows.append(row)
            print(f"{name:44s} {config:11s} {auc:7.4f} {db:8.4f} {dbs:7.4f} {auc - db:+7.4f} {auc - dbs:+7.4f} "
                  f"{res.get('best_epoch') or '':>5} {wall:6.1f}", flush=True)  # fmt: skip
        med = statistics.median(ours)
        mdb = statistics.median(pub[n]["DeepBind"] for n in names)
        mdbs = statistics.median(pub[n]["DeepBind_star"] for n in names)
        rows.append({"experiment": "MEDIAN", "config": config, "ours": med, "DeepBind": mdb, "DeepBind_star": mdbs,
                     "diff_DeepBind": med - mdb, "diff_DeepBind_star": med - mdbs, "best_epoch": None,
                     "seconds": sum(r["seconds"] for r in rows if r["config"] == config and r["experiment"] != "MEDIAN"),
                     "cpu_seconds": sum(r["cpu_seconds"] for r in rows if r["config"] == config and r["experiment"] != "MEDIAN"),
                     "val_auroc": statistics.median(r["val_auroc"] for r in rows
                                                    if r["config"] == config and r["experiment"] != "MEDIAN")})  # fmt: skip
        print(f"{'MEDIAN':44s} {config:11s} {med:7.4f} {mdb:8.4f} {mdbs:7.4f} {med - mdb:+7.4f} {med - mdbs:+7.4f}", flush=True)
        print(f"  -> {'PASS' if med >= mdb else 'FAIL'}: median {med:.4f} vs DeepBind {mdb:.4f} (DeepBind* {mdbs:.4f})", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # val_auroc: on the seeded validation split, the figure to choose a configuration by;
    # seconds: whole-process wall time; cpu_seconds: its user + system CPU time (MEDIAN rows: sums)
    cols = ["experiment", "config", "ours", "DeepBind", "DeepBind_star", "diff_DeepBind", "diff_DeepBind_star", "best_epoch",
            "seconds", "cpu_seconds", "val_auroc"]  # fmt: skip
    with open(out, "w", newline="") as fh:
        fh.write("\t".join(cols) + "\n")
        for r in rows:
            fh.write("\t".join("" if r[c] is None else (f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c])) for c in cols) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

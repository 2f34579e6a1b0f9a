"""Issue 19: `deepprune train` on Zeng et al. (2016)'s STAT3 GM12878 set against their published AUCs.

Runs the real command, whole process, on Zeng's own split (``../shared/data/zeng``: ``train.data``
with its dinucleotide-shuffled negatives, ``test.data``):

    deepprune train STAT3_train.data.gz --test STAT3_test.data.gz [configuration options]

and compares the test AUROC with the best of Zeng et al.'s architectures on this very split
(``published_auc.tsv``). Choose a configuration by ``val_auroc`` (the seeded validation split of
the training file), not by the test column.

    python benchmarks/bench_zeng.py                                 # default, relu64, deepbind, 1layer_128motif
    python benchmarks/bench_zeng.py --configs default,restarts3 --seeds 0,1,2

Writes benchmarks/results/zeng_auc.tsv. Skips (exit 0) if the data are absent.
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
sys.path.insert(0, str(HERE))
from _common import write_tsv  # noqa: E402
ZENG = Path(os.environ.get("DEEPPRUNE_ZENG", HERE.parent.parent / "shared" / "data" / "zeng"))
NAME = "wgEncodeAwgTfbsSydhGm12878Stat3IggmusUniPk"

#: configuration name -> extra `deepprune train` options (default = the tool's defaults)
CONFIGS = {
    "default": [],  # deepbind64: 64 kernels, exponential first-layer activation
    "relu64": ["--activation", "relu"],  # deepbind64 with ReLU (64 kernels alone)
    "deepbind": ["--arch", "deepbind"],  # 16 kernels, ReLU, as DeepBind published
    "1layer_128motif": ["--arch", "1layer_128motif"],  # Zeng's best architecture on this set
    "deepbind_exp": ["--arch", "deepbind", "--activation", "exp"],
    "restarts3": ["--restarts", "3"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="default,relu64,deepbind,1layer_128motif")
    ap.add_argument("--seeds", default="0", help="comma list: one run per seed (--seed S)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(HERE / "results" / "zeng_auc.tsv"))
    args = ap.parse_args()
    train, test = ZENG / f"{NAME}_train.data.gz", ZENG / f"{NAME}_test.data.gz"
    if not (train.exists() and (ZENG / "published_auc.tsv").exists()):
        print(f"skipped: Zeng data not found at {ZENG} (set DEEPPRUNE_ZENG)")
        return 0
    with open(ZENG / "published_auc.tsv", newline="") as fh:
        pub = {k: float(v) for k, v in next(csv.DictReader(fh, delimiter="\t")).items() if k != "experiment"}
    best_arch = max(pub, key=pub.get)
    print(f"Zeng et al.'s best on this split: {best_arch} {pub[best_arch]:.4f}", flush=True)
    rows = []
    for config in args.configs.split(","):
        if config not in CONFIGS:
            raise SystemExit(f"unknown configuration {config}; choose from {', '.join(CONFIGS)}")
        for seed in (int(s) for s in args.seeds.split(",")):
            with tempfile.TemporaryDirectory(prefix="zeng_auc_") as tmp:
                cmd = [sys.executable, "-m", "deepprune_cli", "train", str(train), "--test", str(test), "-o",
                       str(Path(tmp) / "m"), "--json", "--quiet", "--threads", str(args.threads), "--seed", str(seed),
                       *CONFIGS[config]]  # fmt: skip
                t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
                wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
                if proc.returncode != 0:
                    raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
                res = json.loads(proc.stdout)
            cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
            row = {"config": config, "seed": seed, "val_auroc": res["val_auroc"], "test_auroc": res["test_auroc"],
                   "zeng_best": pub[best_arch], "diff_zeng_best": res["test_auroc"] - pub[best_arch],
                   "best_epoch": res["best_epoch"], "seconds": wall, "cpu_seconds": cpu}  # fmt: skip
            rows.append(row)
            print(f"{config:16s} seed {seed}: val {row['val_auroc']:.4f} test {row['test_auroc']:.4f} "
                  f"({row['diff_zeng_best']:+.4f} vs Zeng's best) epoch {row['best_epoch']} {wall:.0f} s", flush=True)  # fmt: skip
    for config in dict.fromkeys(r["config"] for r in rows):
        rs = [r for r in rows if r["config"] == config]
        print(f"{config:16s} mean over {len(rs)} seed(s): val {statistics.mean(r['val_auroc'] for r in rs):.4f} "
              f"test {statistics.mean(r['test_auroc'] for r in rs):.4f}")  # fmt: skip
    out = Path(args.out)
    write_tsv(out, rows, ".4f")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed of `deepprune prune`: the full 256 -> 4 run with baselines on 20,000 training sequences, CPU.

Runs the real command (whole process) on a simulated deepprune-sim4 dataset with 20,000 training
sequences (101 bp) and reports the total time and, per round, the seconds and seconds per epoch
of every variant, from `summary.tsv`. Reference measured in the same run: the cost of an epoch
of a 256-kernel model with all but 4 kernels *masked* (multiplied by zero, as a naive
implementation would prune) against the physically pruned 4-kernel model, showing what
physical removal buys in the later rounds.

    python benchmarks/bench_prune_speed.py [--threads 2] [--epochs 60]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def epoch_seconds(n_kernels: int, active: int, train, val, threads: int, epochs: int = 2) -> float:
    import torch

    from deepprune_cli.core.architectures import arch_spec
    from deepprune_cli.core.models import build_model
    from deepprune_cli.core.training import TrainOptions, fit

    torch.set_num_threads(threads)
    model = build_model(arch_spec("deepbind", n_kernels=n_kernels), seed=0)
    mask = torch.zeros(n_kernels)
    mask[:active] = 1
    model.kernel_mask.copy_(mask)
    t0 = time.perf_counter()
    fit(model, train, val, TrainOptions(max_epochs=epochs, patience=epochs))
    return (time.perf_counter() - t0) / epochs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--n-train", type=int, default=20_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="prune_speed_") as tmp:
        tmp = Path(tmp)
        sim = tmp / "sim"
        subprocess.run([sys.executable, "-m", "deepprune_cli", "simulate", "--preset", "deepprune-sim4", "--n",
                        str(2 * args.n_train), "-o", str(sim), "--seed", "1"], check=True, capture_output=True)
        out = tmp / "pruned"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "deepprune_cli", "prune", str(sim / "train.fa"), "--test",
                        str(sim / "test.fa"), "--kernels", "4", "--rounds", "6", "-o", str(out), "--threads",
                        str(args.threads), "--epochs", str(args.epochs), "-q"], check=True)  # fmt: skip
        total = time.perf_counter() - t0
        from deepprune_cli.core.pruning import read_summary

        rows = read_summary(out)
        print(f"deepprune prune 256 -> 4 (6 rounds, baselines), {args.n_train:,} training sequences, "
              f"{args.threads} threads: {total:.0f} s whole process")
        print(f"{'round':>5} {'kernels':>7} {'variant':>10} {'epochs':>6} {'seconds':>8} {'s/epoch':>8} {'test AUROC':>10}")
        for r in rows:
            per = r["seconds"] / r["epochs"] if r["epochs"] else float("nan")
            print(f"{r['round']:>5} {r['kernels']:>7} {r['variant']:>10} {r['epochs']:>6} {r['seconds']:>8.1f} "
                  f"{per:>8.2f} {r['test_auroc']:>10.4f}")
        per_round = {}
        for r in rows:
            per_round[r["round"]] = per_round.get(r["round"], 0.0) + r["seconds"]
        print("seconds per round (all variants): " + ", ".join(f"{k}: {v:.0f}" for k, v in per_round.items()))

        # Reference: masked 256-kernel model vs physically pruned 4-kernel model, same data.
        from deepprune_cli.core.prepare import prepare_training
        from deepprune_cli.core.sequences import read_sequences

        prep = prepare_training(read_sequences(sim / "train.fa"), arch="deepbind", kernels=4, seed=0)
        masked = epoch_seconds(256, 4, prep.train, prep.val, args.threads)
        physical = epoch_seconds(4, 4, prep.train, prep.val, args.threads)
        print(f"reference: one epoch with 256 kernels, 4 active (masked): {masked:.2f} s; physically pruned to 4: "
              f"{physical:.2f} s; ratio {masked / physical:.1f}x")


if __name__ == "__main__":
    main()

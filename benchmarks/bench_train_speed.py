"""Training speed: whole `deepprune train` process vs a plain PyTorch reference, same run, CPU.

Workload (the issue's): 3 epochs of `deepbind` with 16 and 256 kernels on 200,000 sequences of
101 bp (half with a planted motif, half random), 10% held out for one validation pass per epoch.

* reference: a straightforward PyTorch script - the data as a float one-hot tensor (n, 4, L)
  held in memory, nn.Conv1d -> ReLU -> global max -> nn.Linear, Adam, batch 256, BCE, one
  validation pass per epoch (batch 256, no_grad) with AUROC. It reads a ready .npz token matrix
  (cheaper than parsing FASTA, which only favours the reference).
* ours: `python -m deepprune_cli train pos.fa --negatives neg.fa --epochs 3 --one-strand ...`,
  FASTA parsing, model directory writing and interpreter start-up included. `--one-strand`
  matches the reference's work; a both-strands row (the default, twice the scanning) is shown too.

Both run as separate subprocesses with the same thread count; wall time and each child's own
peak RSS (os.wait4) are reported (with ``--repeat N`` the fastest of N runs, as other jobs on a
shared machine only ever add time).

    python benchmarks/bench_train_speed.py                 # 1 thread, K = 4, 16, 64 and 256
    python benchmarks/bench_train_speed.py --threads 2 --kernels 16
    python benchmarks/bench_train_speed.py --gpu           # CUDA samples/s (skips without CUDA)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, deepprune  # noqa: E402

REFERENCE = r'''
import sys, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from sklearn.metrics import roc_auc_score
path, K, threads, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
d = np.load(path)
tok, y = d["tokens"], d["labels"]
table = np.zeros((5, 4), np.float32); table[:4] = np.eye(4); table[4] = 0.25
X = torch.from_numpy(np.ascontiguousarray(table[tok].transpose(0, 2, 1)))  # (n, 4, L) float one-hot
Y = torch.from_numpy(y.astype(np.float32))[:, None]
perm = np.random.default_rng(0).permutation(len(X)); n_val = len(X) // 10
Xtr, Ytr, Xva, Yva = X[perm[n_val:]], Y[perm[n_val:]], X[perm[:n_val]], Y[perm[:n_val]]
model = nn.Sequential(nn.Conv1d(4, K, 24), nn.ReLU(), nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(K, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(epochs):
    model.train()
    p = torch.randperm(len(Xtr))
    for i in range(0, len(Xtr), 256):
        idx = p[i:i + 256]
        loss = F.binary_cross_entropy_with_logits(model(Xtr[idx]), Ytr[idx])
        opt.zero_grad(); loss.backward(); opt.step()
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(Xva[i:i + 256]) for i in range(0, len(Xva), 256)])
        vl = F.binary_cross_entropy_with_logits(out, Yva).item()
    print(f"reference epoch {epoch + 1}: val loss {vl:.4f} AUROC {roc_auc_score(Yva.numpy(), out.numpy()):.4f}", file=sys.stderr)
'''

MOTIF = "TTGACTCATGCGCA"  # planted, with one random mismatch, at a random position of positives


def make_data(n: int, length: int = 101, seed: int = 0) -> tuple[Path, Path, Path]:
    """pos.fa, neg.fa (n/2 records each) and data.npz (tokens (n, L) uint8, labels (n,)), cached."""
    d = OUT / f"train_speed_{n}x{length}_s{seed}"
    pos, neg, npz = d / "pos.fa", d / "neg.fa", d / "data.npz"
    if npz.exists():
        return pos, neg, npz
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tok = rng.integers(0, 4, size=(n, length), dtype=np.uint8)
    half = n // 2
    motif = np.frombuffer(MOTIF.encode(), np.uint8)
    motif = np.searchsorted(np.frombuffer(b"ACGT", np.uint8), motif).astype(np.uint8)
    starts = rng.integers(0, length - len(motif) + 1, size=half)
    for i in range(half):
        m = motif.copy()
        m[rng.integers(len(m))] = rng.integers(4)
        tok[i, starts[i] : starts[i] + len(m)] = m
    labels = np.zeros(n, np.uint8)
    labels[:half] = 1
    letters = np.frombuffer(b"ACGT", np.uint8)
    for path, rows, name in ((pos, range(half), "p"), (neg, range(half, n), "n")):
        with open(path, "wb") as fh:
            for i in rows:
                fh.write(b">%s%d\n" % (name.encode(), i) + letters[tok[i]].tobytes() + b"\n")
    np.savez(npz, tokens=tok, labels=labels)
    return pos, neg, npz


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and the child's own peak RSS in MiB."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return wall, usage.ru_maxrss / 1024


def gpu_throughput(n: int = 500_000, epochs: int = 3) -> None:
    """Samples/s of `fit` on CUDA for deepbind (16 kernels, both strands), 101 bp."""
    import torch

    if not torch.cuda.is_available():
        print("skipped: no CUDA device")
        return
    from deepprune_cli.core import architectures, layout, models, training

    rng = np.random.default_rng(0)
    tok = rng.integers(0, 4, size=(n, 101), dtype=np.uint8)
    y = rng.integers(0, 2, size=(n, 1)).astype(np.float32)
    dev = torch.device("cuda")
    train = layout.to_device((tok, y), dev)
    val = layout.to_device((tok[:10000], y[:10000]), dev)
    for K in (16, 256):
        times = []

        def cb(row, times=times):
            torch.cuda.synchronize()
            times.append(row["seconds"])

        m = models.build_model(architectures.arch_spec("deepbind", n_kernels=K), seed=0)
        training.fit(m, train, val, training.TrainOptions(max_epochs=epochs, patience=epochs), dev, cb)
        best = min(times[1:] or times)
        print(f"GPU deepbind K={K}: {n / best:,.0f} samples/s ({best:.2f} s per epoch of {n:,} samples)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--kernels", default="4,16,64,256")
    ap.add_argument("--no-both", action="store_true", help="skip the both-strands rows")
    ap.add_argument("--repeat", type=int, default=1, help="runs per row; the fastest counts (shared machines)")
    ap.add_argument("--gpu", action="store_true", help="report CUDA samples/s instead")
    args = ap.parse_args()
    if args.gpu:
        gpu_throughput()
        return 0
    pos, neg, npz = make_data(args.n)
    rows = []
    print(f"{args.n:,} x 101 bp, {args.epochs} epochs, {args.threads} thread(s), CPU")
    print(f"{'K':>4s} {'run':28s} {'wall s':>8s} {'peak MiB':>9s} {'vs ref':>7s}", flush=True)
    with tempfile.TemporaryDirectory(prefix="train_speed_") as tmp:
        for K in [int(k) for k in args.kernels.split(",")]:
            ref_cmd = [sys.executable, "-c", REFERENCE, str(npz), str(K), str(args.threads), str(args.epochs)]
            ref, ref_mem = min(timed(ref_cmd) for _ in range(args.repeat))
            print(f"{K:4d} {'reference (nn.Conv1d one-hot)':28s} {ref:8.1f} {ref_mem:9.0f} {'1.00x':>7s}", flush=True)
            variants = [("ours --one-strand", ["--one-strand"])] + ([] if args.no_both else [("ours (both strands)", [])])
            for label, extra in variants:
                out = Path(tmp) / f"m{K}{label.replace(' ', '')}"
                # --arch deepbind: the reference's model (ReLU), not train's default deepbind64 (exp).
                cmd = deepprune("train", pos, "--negatives", neg, "-o", out, "--arch", "deepbind", "--kernels", K,
                                "--epochs", args.epochs,
                                "--threads", args.threads, "--lr", "0.001", "-q", "--force", *extra)  # fmt: skip
                wall, mem = min(timed(cmd) for _ in range(args.repeat))
                print(f"{K:4d} {label:28s} {wall:8.1f} {mem:9.0f} {ref / wall:6.2f}x", flush=True)
                rows.append((K, label, wall, mem, ref / wall))
    return 0


if __name__ == "__main__":
    sys.exit(main())

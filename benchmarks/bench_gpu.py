"""GPU readiness: train samples/s and a full 256 -> 4 prune, CPU and GPU in the same run.

Two measurements, each on the CPU (the reference, same run) and, when ``torch.cuda.is_available()``,
on the GPU:

* train throughput: samples/s of ``training.fit`` for ``deepbind`` (101 bp, both strands) at 4,
  16 and 256 kernels, one model, and grouped seeds (``fit_many(grouped=True)``: the seeds stacked
  and trained as one vmapped model, the CUDA default) - the fastest epoch after the first;
* a full ``deepprune prune`` 256 -> 4 (6 rounds, baselines) on a simulated ``deepprune-sim4``
  dataset of 20,000 training sequences: whole-process wall seconds.

With a GPU it also times the 16-kernel fit on the GPU without CUDA graphs
(``TrainOptions(cuda_graphs=False)``, eager launches): what ``graphed_step`` brings, same run.

Targets (issue 18): > 1,000,000 samples/s at 16 kernels and the 256 -> 4 prune in < 20 s on the
GPU. Without CUDA the GPU column says "not measured": no GPU figure is ever estimated.

    python benchmarks/bench_gpu.py                      # GPU sizes (500,000 samples, 60 epochs)
    python benchmarks/bench_gpu.py --threads 16 --cpu-n 10000 --no-cpu-prune   # as run on the H100
    python benchmarks/bench_gpu.py --n 20000 --cpu-n 20000 --prune-epochs 3   # a quick CPU-only look

The CPU prune at GPU size takes minutes (on 16 threads of the H100 machine it had not finished
when the 470 s time limit of the whole run stopped it), hence ``--no-cpu-prune``; the H100 figures are in
results/gpu.tsv and gpu_h100.txt.

Prints a table and writes benchmarks/results/gpu.tsv.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import write_tsv  # noqa: E402


def train_rate(device: str, kernels: int, n: int, epochs: int, seeds: int, threads: int, graphs: bool = True) -> float:
    """Samples/s of the fastest epoch after the first (all seeds' samples count when grouped)."""
    import torch

    from deepprune_cli.core import architectures, layout, models, training

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    tok = rng.integers(0, 4, size=(n, 101), dtype=np.uint8)
    y = rng.integers(0, 2, size=(n, 1)).astype(np.float32)
    dev = torch.device(device)
    train = layout.to_device((tok, y), dev)
    val = layout.to_device((tok[: max(n // 10, 1)], y[: max(n // 10, 1)]), dev)
    stamps = []

    def done(*_):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    spec = architectures.arch_spec("deepbind", n_kernels=kernels)
    opts = training.TrainOptions(max_epochs=epochs, patience=epochs, cuda_graphs=graphs)
    nets = [models.build_model(spec, seed=s).to(dev) for s in range(seeds)]
    stamps.append(time.perf_counter())
    if seeds == 1:
        training.fit(nets[0], train, val, opts, dev, done)
    else:
        training.fit_many(nets, train, val, opts, list(range(seeds)), dev, lambda i, row: done() if i == 0 else None,
                          grouped=True)
    epoch = np.diff(stamps)
    best = float(epoch[1:].min()) if len(epoch) > 1 else float(epoch[0])
    return n * seeds / best


def prune_seconds(device: str, sim: Path, epochs: int, threads: int) -> float:
    """Wall seconds of the whole `deepprune prune` 256 -> 4 process on ``device``."""
    with tempfile.TemporaryDirectory(prefix="bench_gpu_") as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "deepprune_cli", "prune", str(sim / "train.fa"), "--test",
                        str(sim / "test.fa"), "--kernels", "4", "--rounds", "6", "-o", str(Path(tmp) / "p"),
                        "--device", device, "--threads", str(threads), "--epochs", str(epochs), "-q"],
                       check=True)  # fmt: skip
        return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500_000, help="training samples per epoch on the GPU")
    ap.add_argument("--cpu-n", type=int, default=50_000, help="training samples per epoch on the CPU")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per throughput fit (the first is not counted)")
    ap.add_argument("--seeds", type=int, default=4, help="seeds of the grouped rows")
    ap.add_argument("--kernels", default="4,16,256")
    ap.add_argument("--n-train", type=int, default=20_000, help="training sequences of the prune")
    ap.add_argument("--prune-epochs", type=int, default=60, help="maximum epochs per fit of the prune")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads")
    ap.add_argument("--no-cpu-prune", action="store_true",
                    help="time the prune on the GPU only (on CPU it takes minutes; the CPU column says not run)")
    ap.add_argument("--out", default=str(HERE / "results" / "gpu.tsv"))
    args = ap.parse_args()
    import torch

    gpu = torch.cuda.is_available()
    devices = ["cpu"] + (["cuda"] if gpu else [])
    print(f"CPU: {args.threads} thread(s); GPU: " + (torch.cuda.get_device_name(0) if gpu else
          "none (torch.cuda.is_available() is false): the GPU column is not measured"), flush=True)
    rows = []

    def record(what: str, unit: str, values: dict) -> None:
        cpu, dev = values.get("cpu"), values.get("cuda")
        shown = f"{dev:14,.1f}" if dev is not None else f"{'not measured':>14s}"
        both = dev is not None and cpu is not None
        ratio = f"{(dev / cpu if unit == 'samples/s' else cpu / dev):6.1f}x" if both else f"{'-':>7s}"
        cpu_shown = f"{cpu:14,.1f}" if cpu is not None else f"{'not run':>14s}"
        print(f"{what:<44s} {cpu_shown} {shown} {ratio}  {unit}", flush=True)
        rows.append(dict(what=what, unit=unit, cpu="" if cpu is None else f"{cpu:.3f}",
                         gpu="" if dev is None else f"{dev:.3f}", gpu_vs_cpu=ratio.strip() if both else ""))

    print(f"{'':<44s} {'CPU':>14s} {'GPU':>14s} {'GPU/CPU':>7s}")
    for K in [int(k) for k in args.kernels.split(",")]:
        for seeds in (1, args.seeds):
            values = {d: train_rate(d, K, args.n if d == "cuda" else args.cpu_n, args.epochs, seeds, args.threads)
                      for d in devices}
            label = f"train deepbind K={K}" + (f", {seeds} grouped seeds" if seeds > 1 else "")
            record(label, "samples/s", values)
    if gpu:  # what the CUDA graphs (graphed_step) bring, same run: the GPU without them
        K = int(args.kernels.split(",")[min(1, args.kernels.count(","))])
        eager = train_rate("cuda", K, args.n, args.epochs, 1, args.threads, graphs=False)
        print(f"GPU train deepbind K={K} without CUDA graphs: {eager:,.1f} samples/s", flush=True)
        rows.append(dict(what=f"train deepbind K={K}, GPU without CUDA graphs", unit="samples/s", cpu="",
                         gpu=f"{eager:.3f}", gpu_vs_cpu=""))
    with tempfile.TemporaryDirectory(prefix="bench_gpu_sim_") as tmp:
        sim = Path(tmp) / "sim"
        subprocess.run([sys.executable, "-m", "deepprune_cli", "simulate", "--preset", "deepprune-sim4", "--n",
                        str(2 * args.n_train), "-o", str(sim), "--seed", "1"], check=True, capture_output=True)
        values = {d: prune_seconds(d, sim, args.prune_epochs, args.threads) for d in devices[::-1]
                  if not (d == "cpu" and gpu and args.no_cpu_prune)}
        record(f"prune 256 -> 4, {args.n_train:,} seq, <= {args.prune_epochs} epochs/fit", "seconds", values)
    print("targets (GPU): > 1,000,000 samples/s at K=16; prune 256 -> 4 on 20,000 sequences < 20 s" +
          ("" if gpu else " - not checked here: no GPU"))
    write_tsv(args.out, rows)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`deepprune predict` speed and memory: sequences per minute for a 4-kernel model on 101 bp.

End to end (a real `deepprune predict MODEL in.fa -o scores.tsv` process: start-up, FASTA
parsing, model, TSV writing) on random FASTA files of growing size, with the process's peak RSS:
memory should stay flat as the input grows, since input is streamed in chunks.

Reference in the same run: the plain torch forward pass of the same model on pre-tokenised data
(a uint8 (n, 101) matrix already in memory, batches of 4,096, inference mode) — the model's own
cost with no I/O at all. The ratio says how much of the model's speed the command keeps; the marginal rate between
consecutive sizes leaves out the fixed start-up (imports, loading compiled kernels).

    python benchmarks/bench_predict.py                       # 100k, 400k, 1.6M records, 2 threads
    python benchmarks/bench_predict.py --sizes 20000,80000 --threads 1

Writes benchmarks/results/predict_speed.tsv and prints the table.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _common import OUT, deepprune, random_fasta, timed_process

HERE = Path(__file__).resolve().parent


def model_dir(kernels: int) -> Path:
    """A DeepBind-style model with ``kernels`` kernels of 24 bp (seeded random weights: speed does
    not depend on what the kernels learned)."""
    from deepprune_cli.core.architectures import arch_spec
    from deepprune_cli.core.models import build_model
    from deepprune_cli.core.store import save_model

    path = OUT / f"predict_model_k{kernels}"
    if not path.exists():
        save_model(path, build_model(arch_spec("deepbind", n_kernels=kernels), seed=0))
    return path


def reference_rate(path: Path, n: int, threads: int) -> float:
    """Sequences/minute of the bare forward pass on a pre-tokenised (n, 101) matrix."""
    import numpy as np
    import torch

    from deepprune_cli.core.store import load_model

    torch.set_num_threads(threads)
    model = load_model(path).model
    tokens = torch.from_numpy(np.random.default_rng(0).integers(0, 4, size=(n, 101), dtype=np.uint8))
    with torch.inference_mode():
        model(tokens[:4096])  # compile / warm up
        t = time.perf_counter()
        for s in range(0, n, 4096):
            torch.sigmoid(model(tokens[s : s + 4096]))
        wall = time.perf_counter() - t
    return n / wall * 60


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,400000,1600000")
    ap.add_argument("--kernels", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    model = model_dir(args.kernels)
    ref = reference_rate(model, 400_000, args.threads)
    rows = []
    for n in sizes:
        fa = random_fasta(n, 101)
        out = OUT / f"predict_{n}.tsv"
        wall, peak = timed_process(deepprune("predict", model, fa, "-o", out, "-q", "--threads", args.threads,
                                             "--device", "cpu"))  # fmt: skip
        with open(out, "rb") as fh:
            lines = sum(1 for _ in fh) - 1
        assert lines == n, (lines, n)
        os.unlink(out)
        rows.append(dict(records=n, seconds=wall, per_min=n / wall * 60, peak_mib=peak))
        print(f"{n:>10,} records  {wall:7.1f} s  {n / wall * 60:>12,.0f} seq/min  peak {peak:6.0f} MiB", flush=True)
    # marginal rate between consecutive sizes: the streaming speed without the fixed start-up
    # (imports, loading the compiled kernels), which dominates small inputs
    lines = ["records\tseconds\tseq_per_min\tmarginal_seq_per_min\tpeak_rss_mib\tratio_to_bare_forward"]
    for i, r in enumerate(rows):
        marginal = ""
        if i:
            dn, dt = r["records"] - rows[i - 1]["records"], r["seconds"] - rows[i - 1]["seconds"]
            marginal = f"{dn / dt * 60:.0f}" if dt > 0 else ""
        lines.append(f"{r['records']}\t{r['seconds']:.2f}\t{r['per_min']:.0f}\t{marginal}\t{r['peak_mib']:.0f}\t"
                     f"{r['per_min'] / ref:.3f}")  # fmt: skip
    text = "\n".join(lines) + "\n"
    print(f"reference: bare forward pass on pre-tokenised data {ref:,.0f} seq/min ({args.threads} threads)")
    print(text, end="")
    (HERE / "results" / "predict_speed.tsv").write_text(
        f"# deepbind {args.kernels} kernels x 24 bp, 101-bp records, {args.threads} threads; "
        f"bare forward pass {ref:.0f} seq/min\n" + text
    )


if __name__ == "__main__":
    main()

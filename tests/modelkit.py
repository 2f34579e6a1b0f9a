"""Small models with a planted E-box detector, for the predict / scan / mutate tests.

Kernel 0 of a DeepBind-style model is set to +1 on CACGTGAC and -1 elsewhere with bias -6, so its
activation is 2 on an exact site (either strand), at most 0 one mismatch away; the output weights
read kernel 0 only. The other kernels keep their seeded random weights.
"""

from __future__ import annotations

import numpy as np

EBOX = "CACGTGAC"
EBOX_RC = "GTCACGTG"


def ebox_model(arch: str = "deepbind", n_kernels: int = 4, seq_len: int | None = None, seed: int = 0):
    import torch

    from deepprune_cli.core.architectures import arch_spec
    from deepprune_cli.core.models import build_model

    spec = arch_spec(arch, n_kernels=n_kernels, kernel_length=len(EBOX), seq_len=seq_len)
    model = build_model(spec, seed=seed)
    w = np.full((4, len(EBOX)), -1.0, np.float32)
    for i, c in enumerate(EBOX):
        w["ACGT".index(c), i] = 1.0
    with torch.no_grad():
        model.conv1.weight[0] = torch.from_numpy(w)
        model.conv1.bias[0] = -6.0
        if arch == "deepbind":
            model.out.weight.zero_()
            model.out.weight[0, 0] = 2.0
            model.out.bias.fill_(-1.0)
    return model.eval()


def random_seq(rng, length: int) -> str:
    return "".join("ACGT"[i] for i in rng.integers(0, 4, length))


def plant(seq: str, site: str, pos: int) -> str:
    return seq[:pos] + site + seq[pos + len(site) :]


def run_all(*commands):
    """Run several CLI invocations (each a tuple of arguments) concurrently; results in order."""
    from concurrent.futures import ThreadPoolExecutor

    from conftest import run_cli

    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(lambda args: run_cli(*args), commands))

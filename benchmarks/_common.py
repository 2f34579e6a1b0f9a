"""Helpers shared by the benchmarks: synthetic inputs, whole-process measurement, results tables."""

from __future__ import annotations

import csv
import gzip
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(os.environ.get("DEEPPRUNE_BENCH_DIR", Path(__file__).resolve().parent.parent / "bench_out"))


def write_tsv(path, rows: list[dict], float_format: str = ".6f") -> None:
    """Result rows as a TSV under ``path`` (its folder made): the first row's keys are the columns,
    floats are written with ``float_format``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]), delimiter="\t")
        w.writeheader()
        for r in rows:
            w.writerow({k: (format(v, float_format) if isinstance(v, float) else v) for k, v in r.items()})


def random_fasta(n: int, length: int = 101, seed: int = 0, gz: bool = False, labelled: bool = False) -> Path:
    """A FASTA of ``n`` uniform random ``length``-bp records (cached under bench_out/).

    ``labelled``: headers carry ``label=1`` (even records) or ``label=0`` (odd), so ``train`` uses
    the records as they are (no shuffled negatives)."""
    OUT.mkdir(parents=True, exist_ok=True)
    tag = "_labelled" if labelled else ""
    path = OUT / f"random_{n}x{length}_s{seed}{tag}.fa{'.gz' if gz else ''}"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, size=(n, length), dtype=np.uint8)]
    lines = np.full((n, length + 1), ord("\n"), dtype=np.uint8)
    lines[:, :length] = letters
    body = lines.tobytes()
    chunks = []
    for i in range(n):
        chunks.append(b">seq%d label=%d\n" % (i, 1 - i % 2) if labelled else b">seq%d\n" % i)
        chunks.append(body[i * (length + 1) : (i + 1) * (length + 1)])
    data = b"".join(chunks)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
    tmp.rename(path)
    return path


_PEAK_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:]).returncode\n"
    "sys.stderr.write('\\n@peak_rss_kib %d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(rc)\n"
)


def timed_process(args: list[str], **kwargs) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS MiB of that command alone).

    The command runs under a fresh wrapper process, whose RUSAGE_CHILDREN maximum is therefore
    this command's own peak (ours would be the largest of every child run so far)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, *map(str, args)], stderr=subprocess.PIPE,
                          **kwargs)
    wall = time.perf_counter() - start
    err = proc.stderr.decode(errors="replace")
    head, _, tail = err.rpartition("\n@peak_rss_kib ")
    sys.stderr.write(head)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, args)
    return wall, int(tail.split()[0]) / 1024


def deepprune(*args: str) -> list[str]:
    return [sys.executable, "-m", "deepprune_cli", *map(str, args)]


def prune_summary(prep, test, opts, keep_final: Path | None = None) -> list[dict]:
    """Run a Deepprune run on prepared data in a temporary directory; its summary rows.

    ``keep_final``: copy the run's ``final/`` model directory there (replacing it)."""
    import shutil
    import tempfile

    import torch

    from deepprune_cli.core.pruning import PruneRun, read_summary
    from deepprune_cli.core.layout import to_device

    with tempfile.TemporaryDirectory() as tmp:
        PruneRun(Path(tmp) / "run", opts, prep.train, prep.val, to_device(test, torch.device("cpu"), prep.spec),
                 data_info=prep.info).run(spec=prep.spec)
        if keep_final is not None:
            shutil.rmtree(keep_final, ignore_errors=True)
            shutil.copytree(Path(tmp) / "run" / "final", keep_final)
        return read_summary(Path(tmp) / "run")

"""Shared test helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

# The suite's assertions about results (byte-identical reruns and resumes, what small slices
# learn) are CPU claims: `--seed` reproduces on CPU, and CI has no GPU. So `--device auto` means
# the CPU here, in this process and in every CLI subprocess, also on a machine with a GPU; the GPU
# tests (marker gpu) ask for `--device cuda` by name.
os.environ["DEEPPRUNE_DEVICE"] = "cpu"


def as_in_a_terminal() -> None:
    """``preexec_fn`` for a child that a test interrupts: SIGINT handled as in a foreground terminal.

    A shell starts background jobs (``cmd &``, ``nohup``) with SIGINT ignored, children inherit
    that, and Python then never raises KeyboardInterrupt: a suite started that way would see
    Ctrl-C tests pass through their runs. The tests model a user pressing Ctrl-C, so the child
    gets the default disposition back before ``exec``.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(*args, input: bytes | None = None, cwd=None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m deepprune_cli ARGS`` in a real subprocess; stdout/stderr captured as text."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [sys.executable, "-m", "deepprune_cli", *map(str, args)],
        input=input,
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
    proc.stdout_text = proc.stdout.decode("utf-8", errors="replace")
    proc.stderr_text = proc.stderr.decode("utf-8", errors="replace")
    return proc


def assert_clean_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, exactly one ``deepprune: error:`` line naming the problem, no traceback."""
    err = proc.stderr_text
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err, err
    error_lines = [line for line in err.splitlines() if line.startswith("deepprune: error:") or line.startswith("Error:")]
    assert len(error_lines) == 1, err
    for fragment in fragments:
        assert fragment in error_lines[0], (fragment, err)


@pytest.fixture
def data_dir() -> Path:
    return DATA


def ebox_fasta(path: Path, n: int = 160, length: int = 40, seed: int = 0) -> Path:
    """Write ``n`` uniform random ``length``-bp positives, each with the E-box CACGTGAC somewhere."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        s = list(rng.choice(list("ACGT"), length))
        p = rng.integers(0, length - 8)
        s[p : p + 8] = list("CACGTGAC")
        lines.append(f">p{i}\n{''.join(s)}")
    path.write_text("\n".join(lines) + "\n")
    return path

"""Interrupted commands: SIGINT / SIGTERM / SIGKILL against real ``python -m deepprune_cli`` processes.

* SIGINT and SIGTERM end ``train`` and ``prune`` within seconds with exit 130 / 143 and one
  ``deepprune: error:`` line, leaving nothing under the final ``-o`` name and no temporary
  siblings; ``prune`` keeps its hidden ``.NAME.partial/`` resume state and says ``--resume``.
* Signals that arrive while an output is being written (injected from inside the write, so the
  timing is exact) still leave no temporary file or directory behind.
* After SIGKILL (or SIGTERM) in a later round, ``prune --resume`` ends with the same bytes as an
  uninterrupted run with the same seed (only summary.tsv's ``seconds`` column is wall-clock time).

The processes are polled (files, stderr), never timed with fixed sleeps, and every wait is
generous, so the tests hold on a loaded 2-core machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import as_in_a_terminal, ebox_fasta

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

START_TIMEOUT = 180  # s until a child is under way (torch import on a busy machine)
EXIT_TIMEOUT = 60  # s a signalled child may take to exit before the test fails
PROMPT_EXIT = 20  # s: "within a few seconds", generous for a loaded machine

# 8 -> 4 -> 2 kernels; fixed-length fits (patience = epochs), so each fit lasts long enough
# (~0.5 s) to be interrupted in the middle of a later round, and the whole run stays short.
PRUNE = ["--kernels", "2", "--rounds", "2", "--kernel-length", "8", "--epochs", "30", "--patience", "30",
         "--batch-size", "64", "--threads", "1", "--seed", "5", "-q"]  # fmt: skip
TRAIN = ["--kernels", "4", "--kernel-length", "8", "--epochs", "5000", "--patience", "5000", "--threads", "1"]

# Runs the CLI with store.state_bytes patched to send the process a signal from inside the
# N-th model write, i.e. while atomic temporary files and directories exist.
INJECT = """
import os, signal, sys
from deepprune_cli.core import store
sig, nth = getattr(signal, sys.argv[1]), int(sys.argv[2])
real, calls = store.state_bytes, []
def state_bytes(model):
    calls.append(1)
    if len(calls) == nth:
        os.kill(os.getpid(), sig)
    return real(model)
store.state_bytes = state_bytes
from deepprune_cli.cli.main import main
main(sys.argv[3:], prog_name="deepprune")
"""




class Child:
    """A ``deepprune`` process with stderr in a file (a pipe nobody reads could fill and block it)."""

    def __init__(self, args, log: Path, inject: tuple[str, int] | None = None):
        self.log = log
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        cmd = [sys.executable, "-c", INJECT, *map(str, inject)] if inject else [sys.executable, "-m", "deepprune_cli"]
        with open(log, "wb") as err:
            self.proc = subprocess.Popen([*cmd, *map(str, args)], stdout=subprocess.DEVNULL, stderr=err, env=env,
                                         preexec_fn=as_in_a_terminal)

    @property
    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, condition, what: str, timeout: float = START_TIMEOUT) -> None:
        """Poll until ``condition()``; fail if the child exits first or it takes too long."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.proc.poll() is not None:
                pytest.fail(f"child exited ({self.proc.returncode}) before {what}:\n{self.stderr}")
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"timed out waiting for {what}:\n{self.stderr}")
            time.sleep(0.02)

    def signal(self, sig) -> float:
        """Send ``sig``; return the seconds until the child exited."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"no exit {EXIT_TIMEOUT} s after {sig!r}:\n{self.stderr}")
        return time.monotonic() - t0

    def wait(self, timeout: float = 600) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def run(args, log: Path, inject=None) -> Child:
    child = Child(args, log, inject)
    child.wait()
    return child


def assert_interrupted(child: Child, code: int, word: str) -> str:
    err = child.stderr
    assert child.proc.returncode == code, (child.proc.returncode, err)
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("deepprune: error:")]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"deepprune: error: {word}"), err
    return lines[0]


def leftovers(directory: Path, allowed=()) -> list[str]:
    """Hidden entries (temporary files/dirs of atomic writes) other than ``allowed``."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") and p.name not in allowed)


def tree(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` by relative path; summary.tsv without its ``seconds`` column."""
    out = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if path.name == "summary.tsv" and path.parent == directory:
                lines = data.decode().splitlines()
                assert lines[0].endswith("\tseconds")
                data = "\n".join(ln.rsplit("\t", 1)[0] for ln in lines).encode()
            out[str(path.relative_to(directory))] = data
    return out


@pytest.fixture(scope="module")
def pos(tmp_path_factory) -> Path:
    return ebox_fasta(tmp_path_factory.mktemp("data") / "pos.fa", n=400, length=60)


@pytest.fixture(scope="module", autouse=True)
def reference(tmp_path_factory, pos):
    """An uninterrupted prune run, started in the background with the module (it runs while the
    train tests do) and waited for when a test compares against it."""
    d = tmp_path_factory.mktemp("reference")
    child = Child(["prune", pos, "-o", d / "out", *PRUNE], d / "err.txt")

    def finished() -> Path:
        assert child.wait() == 0, child.stderr
        return d / "out"

    yield finished
    if child.proc.poll() is None:  # no test needed it (e.g. -k train): do not leave it running
        child.proc.kill()
        child.proc.wait()


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_train_signal_during_training(tmp_path, pos, sig, code, word):
    out = tmp_path / "model"
    child = Child(["train", pos, "-o", out, *TRAIN], tmp_path / "err.txt")
    # The header is printed once the data are ready, right before the first epoch.
    child.wait_for(lambda: "deepprune train:" in child.stderr, "training to start")
    time.sleep(0.2)  # well into the epochs (5000 of them: far from the end)
    seconds = child.signal(sig)
    assert_interrupted(child, code, word)
    assert seconds < PROMPT_EXIT, seconds
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_train_sigterm_while_writing_the_model(tmp_path, pos):
    """SIGTERM arrives while weights.pt is being written inside the temporary model directory:
    both temporaries are removed and the final name never appears. (SIGINT unwinds the same way:
    both are exceptions to the atomic writers.)"""
    out = tmp_path / "model"
    args = ["train", pos, "-o", out, "--kernels", "4", "--kernel-length", "8", "--epochs", "2", "--threads", "1", "-q"]
    child = run(args, tmp_path / "err.txt", inject=("SIGTERM", 1))
    assert_interrupted(child, 143, "terminated")
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_prune_sigint_keeps_resume_state_only(tmp_path, pos):
    runs = tmp_path / "runs"
    runs.mkdir()
    out, work = runs / "pruned", runs / ".pruned.partial"
    child = Child(["prune", pos, "-o", out, *PRUNE], tmp_path / "err.txt")
    child.wait_for(lambda: (work / "round1_inter" / "metrics.json").exists(), "round 1")
    seconds = child.signal(signal.SIGINT)
    line = assert_interrupted(child, 130, "interrupted")
    assert seconds < PROMPT_EXIT, seconds
    assert "--resume" in line and ".pruned.partial" in line, line
    assert not out.exists()
    assert leftovers(runs, allowed={".pruned.partial"}) == []
    assert leftovers(work) == []  # no temporary stage directory or file inside the resume state
    assert (work / "run.json").exists() and (work / "round0_initial" / "weights.pt").exists()


def test_prune_sigterm_while_writing_a_stage_then_resume(tmp_path, pos, reference):
    """SIGTERM inside the write of round1_deepprune (the 3rd stage saved): exit 143, the temporary
    stage directory is removed, the completed stages are kept, and --resume finishes the run."""
    runs = tmp_path / "runs"
    runs.mkdir()
    out, work = runs / "pruned", runs / ".pruned.partial"
    child = run(["prune", pos, "-o", out, *PRUNE], tmp_path / "err.txt", inject=("SIGTERM", 3))
    line = assert_interrupted(child, 143, "terminated")
    assert "--resume" in line, line
    assert not out.exists()
    assert leftovers(runs, allowed={".pruned.partial"}) == []
    assert leftovers(work) == []
    assert sorted(p.name for p in work.iterdir() if p.is_dir()) == ["round0_initial", "round1_inter"]
    resumed = run(["prune", pos, "-o", out, "--resume", *PRUNE], tmp_path / "resume.txt")
    assert resumed.proc.returncode == 0, resumed.stderr
    assert tree(out) == tree(reference())


def test_prune_sigkill_in_a_later_round_then_resume(tmp_path, pos, reference):
    """SIGKILL cannot be caught: whatever the process was writing stays behind in the work
    directory. --resume cleans that up and ends with exactly the uninterrupted run's files."""
    runs = tmp_path / "runs"
    runs.mkdir()
    out, work = runs / "pruned", runs / ".pruned.partial"
    child = Child(["prune", pos, "-o", out, *PRUNE], tmp_path / "err.txt")
    child.wait_for(lambda: (work / "round1_deepprune" / "metrics.json").exists(), "round 1's fine-tuned model")
    child.signal(signal.SIGKILL)
    assert child.proc.returncode == -signal.SIGKILL
    assert not out.exists(), "the run finished before it could be killed; make the fits longer"
    # What a kill in the middle of a write leaves: a temporary stage directory and file.
    (work / ".round2_deepprune.abc123.tmp").mkdir()
    (work / ".round2_deepprune.abc123.tmp" / "weights.pt").write_bytes(b"half")
    (work / ".timings.json.xyz.tmp").write_bytes(b"{")
    resumed = run(["prune", pos, "-o", out, "--resume", *PRUNE], tmp_path / "resume.txt")
    assert resumed.proc.returncode == 0, resumed.stderr
    ref = reference()
    assert (out / "final" / "weights.pt").read_bytes() == (ref / "final" / "weights.pt").read_bytes()
    assert tree(out) == tree(ref)  # every file, summary.tsv without its seconds column
    assert not work.exists() and leftovers(runs) == []


def test_an_interrupt_wrapped_by_c_code_still_counts_as_one():
    """A signal's exception raised inside a callback from C can surface as another exception
    (numba's dispatcher: SystemError caused by it); it is still reported as the interruption."""
    from deepprune_cli.cli.common import Terminated
    from deepprune_cli.cli.main import _interruption

    def wrapped(inner):
        try:
            try:
                raise inner
            except BaseException as exc:
                raise SystemError("returned a result with an exception set") from exc
        except SystemError as outer:
            return outer

    assert _interruption(wrapped(Terminated())) == ("terminated", 143)
    assert _interruption(wrapped(KeyboardInterrupt())) == ("interrupted", 130)
    assert _interruption(ValueError("unrelated")) is None


SWALLOWED = """
import ctypes, os, signal, sys, time
from deepprune_cli.cli import main as M
from deepprune_cli.cli.common import Terminated
sig = getattr(signal, sys.argv[1])
restore = M._install_signal_handlers()
# The handler raises inside a C library's Python callback, which swallows it (as llvmlite's did
# while numba compiled, under a SLURM scancel): the run must still unwind.
f = ctypes.CFUNCTYPE(None)(lambda: (os.kill(os.getpid(), sig), time.sleep(0.05)))
try:
    f()
    for _ in range(300):
        time.sleep(0.01)
    print("carried on")
except (Terminated, KeyboardInterrupt) as e:
    print("unwound:", type(e).__name__)
restore()
"""


@pytest.mark.parametrize("sig, exc", [("SIGTERM", "Terminated"), ("SIGINT", "KeyboardInterrupt")])
def test_a_signal_swallowed_by_a_c_callback_still_ends_the_run(sig, exc):
    proc = subprocess.run([sys.executable, "-c", SWALLOWED, sig], capture_output=True, text=True, timeout=60,
                          preexec_fn=as_in_a_terminal)
    assert proc.stdout.strip() == f"unwound: {exc}", (proc.stdout, proc.stderr)

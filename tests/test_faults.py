"""Broken and concurrent runs, through the real CLI (``python -m deepprune_cli`` processes), for every
command that writes: simulate, shuffle, train, prune, evaluate and logos.

* A second run at an output another process is writing is refused at once (exit 2, one line naming
  the output and the holder's pid and host) and writes nothing; so is ``prune --resume``.
* A full disk half-way through the writes (an injected ``ENOSPC``, and a real small tmpfs where the
  test may mount one), a SIGKILL right at the final rename (both the atomic swap and the two-rename
  fallback) or at a random moment, and a read-only output directory: afterwards every final name holds
  either the complete new result or what it held before (nothing, or the previous complete result),
  never a mixture; the rerun (``prune --resume``) writes exactly the bytes of an undisturbed run and
  leaves no lock file, temporary or work directory behind.
* Two and four runs at once on the same and on different outputs: every run either finishes or is
  refused cleanly, and every output is one run's complete result.

Faults are injected by running the CLI under a small wrapper (``FAULTS`` below: ``python -c``) that
patches ``open`` / ``os.replace`` in that process only; the package itself has no test hooks.
Reference outputs are made once per module, in parallel. Only prune's summary.tsv differs between
identical runs (its ``seconds`` column, dropped before comparing).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import ebox_fasta

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and flock")

TIMEOUT = 300
PROMPT = 20  # s: a refusal comes "at once"; generous for a loaded 2-core machine (it is ~1 s)
TRAIN = ["--kernels", "4", "--kernel-length", "8", "--epochs", "3", "--patience", "3", "--batch-size", "64",
         "--threads", "1", "--seed", "3", "-q", "--force"]  # fmt: skip
PRUNE = ["--kernels", "2", "--rounds", "2", "--kernel-length", "8", "--epochs", "3", "--patience", "3",
         "--batch-size", "64", "--threads", "1", "--seed", "5", "-q"]  # fmt: skip

# Runs the CLI (argv[2:]) with the faults that the JSON in argv[1] asks for, in that process only:
#   root      only files under this directory are affected
#   enospc    the disk is full after this many more bytes written to files under root
#   rename    {"target", "when": before|after, "action": kill|pause, "paused", "go", "no_exchange"}:
#             SIGKILL (or wait for the file "go") right before / after the rename onto "target";
#             "no_exchange" makes directory replacement take the two-rename fallback
FAULTS = r"""
import builtins, errno, io, json, os, shutil, signal, sys, time
spec = json.loads(sys.argv[1])
root = os.path.realpath(spec["root"])

def inside(path):
    try:
        path = os.path.realpath(os.fspath(path))
    except TypeError:
        return False
    return path == root or path.startswith(root + os.sep)

if "enospc" in spec:
    left = [int(spec["enospc"])]
    shutil._USE_CP_SENDFILE = False  # file copies go through write() too
    real_open = builtins.open

    class Full:
        def __init__(self, fh):
            self._fh = fh
        def write(self, data):
            n = len(data.encode("utf-8") if isinstance(data, str) else bytes(data))
            if n > left[0]:
                part, left[0] = left[0], 0
                if part:
                    self._fh.write(data[:part])  # what still fits, as a real disk does
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            left[0] -= n
            return self._fh.write(data)
        def fileno(self):  # no writing around write() (PIL would write PNGs straight to the fd)
            raise io.UnsupportedOperation("fileno")
        def __enter__(self):
            self._fh.__enter__()
            return self
        def __exit__(self, *exc):
            return self._fh.__exit__(*exc)
        def __iter__(self):
            return iter(self._fh)
        def __getattr__(self, name):
            return getattr(self._fh, name)

    def open_(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        if not isinstance(file, int) and any(c in mode for c in "wax+") and inside(file):
            return Full(fh)
        return fh

    builtins.open = io.open = open_

if "rename" in spec:
    from deepprune_cli.core import atomic
    r = spec["rename"]
    target = os.path.abspath(r["target"])

    def act():
        if r["action"] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(60)
        open(r["paused"], "w").close()
        while not os.path.exists(r["go"]):
            time.sleep(0.02)

    def hooked(real):
        def call(a, b, *args, **kwargs):
            hit = os.path.abspath(os.fspath(b)) == target
            if hit and r["when"] == "before":
                act()
            result = real(a, b, *args, **kwargs)
            if hit and r["when"] == "after" and result is not False:
                act()
            return result
        return call

    os.replace = hooked(os.replace)
    atomic._exchange = (lambda a, b: False) if r.get("no_exchange") else hooked(atomic._exchange)

from deepprune_cli.cli.main import main
main(sys.argv[2:], prog_name="deepprune")
"""


def command_line(args, faults: dict | None = None) -> list[str]:
    if faults is None:
        return [sys.executable, "-m", "deepprune_cli", *map(str, args)]
    return [sys.executable, "-c", FAULTS, json.dumps(faults, default=str), *map(str, args)]


def start(args, log: Path, faults: dict | None = None) -> subprocess.Popen:
    """A CLI process with stderr in ``log`` (a pipe nobody reads could fill up and block it)."""
    with open(log, "wb") as err:
        return subprocess.Popen(command_line(args, faults), stdout=subprocess.DEVNULL, stderr=err,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))  # fmt: skip


def run(args, faults: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(command_line(args, faults), capture_output=True, timeout=TIMEOUT,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))  # fmt: skip
    proc.err = proc.stderr.decode("utf-8", errors="replace")
    return proc


def error_line(err: str) -> str:
    """The one ``deepprune: error:`` line of a failed run (and no traceback)."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("deepprune: error:")]
    assert len(lines) == 1, err
    return lines[0]


def files(directory: Path) -> dict[str, bytes]:
    """Every visible file under ``directory`` by relative path (hidden entries are not outputs);
    a prune summary.tsv without its ``seconds`` column (wall-clock time)."""
    out = {}
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            data = path.read_bytes()
            if path.name == "summary.tsv" and data.startswith(b"round\t"):
                data = b"\n".join(line.rsplit(b"\t", 1)[0] for line in data.splitlines())
            out[str(rel)] = data
    return out


def hidden(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# --------------------------------------------------------------------------------------------
# the commands, their reference runs and their previous results


@dataclass
class Cmd:
    name: str
    outputs: tuple[str, ...]  # final names under the run directory; the first is the main -o
    work: str | None = None  # prune's resume state

    def args(self, d: Path, data: dict, resume: bool = False, **change) -> list:
        a = {
            "simulate": ["simulate", "--preset", "deepprune-sim1", "--n", "1000", "--length", "60", "--seed", "3",
                         "-o", d / "out"],
            "shuffle": ["shuffle", data["pos"], "-o", d / "out.fa", "-n", "3", "--seed", "3"],
            "train": ["train", data["pos"], "-o", d / "out", *TRAIN],
            "prune": ["prune", data["pos"], "-o", d / "out", *PRUNE, *(["--resume"] if resume else [])],
            "evaluate": ["evaluate", data["model"], data["lab"], "-o", d / "auc.tsv", "--plot", d / "auc.png",
                         "-q", "--threads", "1"],
            "logos": ["logos", data["model"], data["pos"], "-o", d / "motifs.meme", "--png", d / "png", "-q",
                      "--threads", "1"],
        }[self.name]  # fmt: skip
        for key, value in change.items():  # e.g. seed="4"
            a[a.index(f"--{key}") + 1] = value
        return a


CMDS = {
    c.name: c
    for c in (
        Cmd("simulate", ("out",)),
        Cmd("shuffle", ("out.fa",)),
        Cmd("train", ("out",)),
        Cmd("prune", ("out",), work=".out.partial"),
        Cmd("evaluate", ("auc.tsv", "auc.png")),
        Cmd("logos", ("motifs.meme", "motifs.tsv", "png")),
    )
}


def _labelled(path: Path) -> Path:
    rng = np.random.default_rng(1)
    lines = []
    for i in range(200):
        s = list(rng.choice(list("ACGT"), 50))
        if i % 2 == 0:
            p = rng.integers(0, 42)
            s[p : p + 8] = list("CACGTGAC")
        lines.append(f">r{i} label={int(i % 2 == 0)}\n{''.join(s)}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("data")
    return {"pos": ebox_fasta(d / "pos.fa", n=300, length=50), "lab": _labelled(d / "lab.fa"), "model": None}


@pytest.fixture(scope="module")
def refs(tmp_path_factory, data):
    """Undisturbed runs of every command, started together; ``refs(name)`` waits for one and returns
    ``(directory, files, seconds)``. evaluate and logos read the trained reference model."""
    root = tmp_path_factory.mktemp("refs")
    procs, done = {}, {}

    def launch(name):
        d = root / name
        d.mkdir()
        procs[name] = (start(CMDS[name].args(d, data), root / f"{name}.err"), time.monotonic())

    def get(name):
        if name not in done:
            if name in ("evaluate", "logos") and data["model"] is None:
                data["model"] = get("train")[0] / "out"
            if name not in procs:
                launch(name)
            proc, t0 = procs[name]
            assert proc.wait(TIMEOUT) == 0, (root / f"{name}.err").read_text()
            d = root / name
            assert hidden(d) == [], hidden(d)
            done[name] = (d, files(d), time.monotonic() - t0)
        return done[name]

    for name in ("train", "prune", "simulate", "shuffle"):
        launch(name)
    yield get
    for proc, _ in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def previous_result(d: Path, ref: Path, cmd: Cmd) -> dict[str, bytes]:
    """Put a previous complete result at ``cmd``'s final names in ``d`` (the reference with every
    file changed) and return its files."""
    d.mkdir(parents=True, exist_ok=True)
    for name in cmd.outputs:
        src = ref / name
        if src.is_dir():
            shutil.copytree(src, d / name)
        else:
            shutil.copy2(src, d / name)
    for path in d.rglob("*"):
        if path.is_file():
            with open(path, "ab") as fh:
                fh.write(b"\nprevious run\n")
    return files(d)


def size(tree: dict[str, bytes]) -> int:
    return sum(len(v) for v in tree.values())


# --------------------------------------------------------------------------------------------
# a second run at a held output


HOLD = """
import sys
from deepprune_cli.core.locking import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""

# the output another process holds while the command runs: for evaluate and logos not the main one,
# since every output is locked
HELD = {"simulate": "out", "shuffle": "out.fa", "train": "out", "prune": "out", "evaluate": "auc.png", "logos": "png"}


@pytest.mark.parametrize("name", list(CMDS))
def test_a_held_output_refuses_a_second_run_at_once(tmp_path, data, name):
    cmd = CMDS[name]
    d = tmp_path / "run"
    d.mkdir()
    held = d / HELD[name]
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(held)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        if cmd.work:  # an interrupted run's resume state, which must stay untouched
            (d / cmd.work).mkdir()
            (d / cmd.work / "run.json").write_text("{}")
        before = sorted(str(p.relative_to(d)) for p in d.rglob("*"))
        runs = [cmd.args(d, dict(data, model=tmp_path / "model"))] + ([cmd.args(d, data, resume=True)] if cmd.work else [])
        for args in runs:
            t0 = time.monotonic()
            proc = run(args)
            seconds = time.monotonic() - t0
            line = error_line(proc.err)
            assert proc.returncode == 2, proc.err
            assert line.startswith(f"deepprune: error: {held}: another run (pid {holder.pid} on "), line
            assert seconds < PROMPT, seconds
            assert sorted(str(p.relative_to(d)) for p in d.rglob("*")) == before  # wrote nothing
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert hidden(d) == ([cmd.work] if cmd.work else [])  # the holder's lock file went with it


# --------------------------------------------------------------------------------------------
# a full disk, then a SIGKILL at the final rename, then the rerun


# evaluate and logos: three runs of ~5 s each (torch, numba and matplotlib imports), so marked slow
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in ("evaluate", "logos") else n for n in CMDS]
)
def test_full_disk_then_kill_at_the_final_rename_then_rerun(tmp_path, data, refs, name):
    cmd = CMDS[name]
    ref, ref_files, _ = refs(name)
    data = dict(data, model=refs("train")[0] / "out")
    d = tmp_path / "run"
    previous = previous_result(d, ref, cmd)
    allowed = [cmd.work] if cmd.work else []

    # 1. the disk fills up half-way through this run's writes: a one-line error, the previous result
    # untouched, no temporary or lock file (prune keeps its resume state and says so)
    proc = run(cmd.args(d, data), {"root": d, "enospc": size(ref_files) // 2})
    line = error_line(proc.err)
    assert proc.returncode == 1 and "No space left on device" in line, proc.err
    assert files(d) == previous
    assert hidden(d) == allowed
    if cmd.work:
        assert "--resume" in line, line

    # 2. killed right at the final rename; train takes the two-rename fallback (killed between the
    # two renames), the others the atomic swap (killed right before it)
    main = d / cmd.outputs[0]
    rename = {"target": main, "when": "before", "action": "kill", "no_exchange": name == "train"}
    proc = run(cmd.args(d, data, resume=True), {"root": d, "rename": rename})
    assert proc.returncode == -signal.SIGKILL, proc.err
    assert f".{main.name}.lock" in hidden(d)  # a stale lock of the killed process
    if name == "train":  # nothing under the final name; the previous result set aside, complete
        assert not main.exists()
        (old,) = [d / n for n in hidden(d) if n.startswith(".out.") and n.endswith(".old")]
        assert {f"out/{k}": v for k, v in files(old).items()} == previous
    else:
        assert files(d) == previous

    # 3. the rerun (prune: --resume) takes the stale lock over and writes the undisturbed run's bytes
    proc = run(cmd.args(d, data, resume=True))
    assert proc.returncode == 0, proc.err
    if name == "train":
        assert "put back the previous version" in proc.err  # the set-aside result went back first
    assert files(d) == ref_files
    assert hidden(d) == []  # no lock file, temporary, set-aside copy or work directory


def test_killed_right_after_the_swap_the_new_result_is_complete(tmp_path, data, refs):
    """simulate killed between swapping the new directory in and removing the old one: the final
    name holds the complete new result; the next run removes the leftover."""
    cmd = CMDS["simulate"]
    ref, ref_files, _ = refs("simulate")
    d = tmp_path / "run"
    previous_result(d, ref, cmd)
    rename = {"target": d / "out", "when": "after", "action": "kill"}
    proc = run(cmd.args(d, data), {"root": d, "rename": rename})
    assert proc.returncode == -signal.SIGKILL, proc.err
    assert files(d) == ref_files
    assert [n for n in hidden(d) if n.endswith(".tmp")]  # the previous result, not yet removed
    proc = run(cmd.args(d, data))
    assert proc.returncode == 0, proc.err
    assert files(d) == ref_files and hidden(d) == []


@pytest.mark.parametrize("name", ["train", "prune"])
def test_sigkill_at_a_random_moment_then_rerun(tmp_path, data, refs, name):
    """Randomised: SIGKILL at a random time within an undisturbed run's duration; the output is then
    absent or complete, and the rerun (prune: --resume) gives the undisturbed run's bytes."""
    cmd = CMDS[name]
    _, ref_files, seconds = refs(name)
    seed = random.randrange(1 << 30)
    # the reference ran alongside the others, so its time is generous; beyond ~8 s the run is done
    delay = random.Random(seed).uniform(0.3, min(8.0, max(1.0, seconds)))
    d = tmp_path / "run"
    d.mkdir()
    proc = start(cmd.args(d, data), tmp_path / "err.txt")
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(60)
    why = f"killed after {delay:.2f} s (random seed {seed}): {(tmp_path / 'err.txt').read_text()}"
    assert files(d) in ({}, ref_files), why
    rerun = run(cmd.args(d, data, resume=True))
    assert rerun.returncode == 0, rerun.err + why
    assert files(d) == ref_files, why
    assert hidden(d) == [], why


# --------------------------------------------------------------------------------------------
# concurrent runs


def test_prune_runs_at_the_same_and_at_another_output(tmp_path, data, refs):
    """The issue's case: while run A prunes into out/ (held after its first stage), B (another seed)
    and C (--resume) at out/ are refused at once naming A, and D into another output runs alongside.
    A then finishes with its own result: exactly the undisturbed run's bytes."""
    cmd = CMDS["prune"]
    _, ref_files, _ = refs("prune")
    d, other = tmp_path / "run", tmp_path / "other"
    d.mkdir()
    other.mkdir()
    paused, go = tmp_path / "paused", tmp_path / "go"
    rename = {"target": d / ".out.partial" / "round0_initial", "when": "after", "action": "pause",
              "paused": paused, "go": go}  # fmt: skip
    a = start(cmd.args(d, data), tmp_path / "a.err", {"root": d, "rename": rename})
    try:
        deadline = time.monotonic() + TIMEOUT
        while not paused.exists():
            assert a.poll() is None, (tmp_path / "a.err").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert json.loads((d / ".out.lock").read_text())["pid"] == a.pid
        runs = {
            "b": start(cmd.args(d, data, seed="6"), tmp_path / "b.err"),
            "c": start(cmd.args(d, data, resume=True), tmp_path / "c.err"),
            "d": start(cmd.args(other, data), tmp_path / "d.err"),
        }
        for key, proc in runs.items():
            proc.wait(TIMEOUT)
        for key in ("b", "c"):
            err = (tmp_path / f"{key}.err").read_text()
            assert runs[key].returncode == 2, err
            assert error_line(err).startswith(f"deepprune: error: {d / 'out'}: another run (pid {a.pid} on "), err
        assert runs["d"].returncode == 0, (tmp_path / "d.err").read_text()
        assert files(other) == ref_files and hidden(other) == []
        assert a.poll() is None  # still held up, holding the lock all along
    finally:
        go.touch()
    assert a.wait(TIMEOUT) == 0, (tmp_path / "a.err").read_text()
    assert files(d) == ref_files
    assert json.loads((d / "out" / "prune.json").read_text())["options"]["train"]["seed"] == 5
    assert hidden(d) == []


def test_four_runs_at_four_outputs_then_at_one(tmp_path, data, refs):
    """Four simulate runs (seeds 3-6) into four outputs, then the same four at once into one output:
    each run finishes or is refused cleanly, and the one output is exactly one finished run's result."""
    cmd = CMDS["simulate"]
    _, ref_files, _ = refs("simulate")
    seeds = ["3", "4", "5", "6"]
    apart = [tmp_path / f"seed{s}" for s in seeds]
    procs = [start(cmd.args(p, data, seed=s), tmp_path / f"apart{s}.err") for p, s in zip(apart, seeds)]
    for proc, s in zip(procs, seeds):
        assert proc.wait(TIMEOUT) == 0, (tmp_path / f"apart{s}.err").read_text()
    results = {s: files(p) for p, s in zip(apart, seeds)}
    assert results["3"] == ref_files
    for s in seeds:
        assert json.loads(results[s]["out/dataset.json"])["seed"] == int(s)
    shared = tmp_path / "shared"
    shared.mkdir()
    procs = [start(cmd.args(shared, data, seed=s), tmp_path / f"shared{s}.err") for s in seeds]
    finished = []
    for proc, s in zip(procs, seeds):
        proc.wait(TIMEOUT)
        err = (tmp_path / f"shared{s}.err").read_text()
        if proc.returncode == 0:
            finished.append(s)
        else:
            assert proc.returncode == 2 and "another run (pid " in error_line(err), err
    assert finished
    assert files(shared) in [results[s] for s in finished]
    assert hidden(shared) == []


# --------------------------------------------------------------------------------------------
# read-only and really full filesystems (a tmpfs where the test may mount one)


def _can_mount() -> bool:
    return sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.fixture
def tmpfs(tmp_path):
    """``mount(directory, options)`` mounts a fresh tmpfs (root only; skipped where not permitted)
    and ``remount(directory, options)`` changes it; all are unmounted at the end."""
    if not _can_mount():
        pytest.skip("mounting a tmpfs needs root on Linux")
    mounted = []

    def mount(directory: Path, options: str) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)], capture_output=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode(errors='replace').strip()}")
        mounted.append(directory)
        return directory

    def remount(directory: Path, options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(directory)], check=True)

    yield mount, remount
    for directory in reversed(mounted):
        subprocess.run(["umount", "-l", str(directory)], check=False)


@pytest.mark.parametrize("name", list(CMDS))
def test_read_only_output_directory(tmp_path, data, refs, tmpfs, name):
    """Outputs in a read-only directory (a tmpfs remounted read-only, holding a previous result): one
    line naming the output, before any work is done; the previous result is untouched."""
    mount, remount = tmpfs
    cmd = CMDS[name]
    ref = refs(name)[0]
    d = mount(tmp_path / "ro", "size=4m")
    previous = previous_result(d, ref, cmd)
    remount(d, "ro")
    args = cmd.args(d, dict(data, model=refs("train")[0] / "out") if name in ("evaluate", "logos") else data)
    t0 = time.monotonic()
    proc = run(args)
    line = error_line(proc.err)
    assert proc.returncode == 1, proc.err
    assert line.startswith(f"deepprune: error: {d / cmd.outputs[0]}: cannot write here (Read-only file system)"), line
    assert time.monotonic() - t0 < PROMPT
    assert files(d) == previous and hidden(d) == []


@pytest.mark.parametrize("name, size_kb", [("simulate", 32), ("prune", 64)])
def test_a_really_full_disk_then_room_again(tmp_path, data, refs, tmpfs, name, size_kb):
    """A small tmpfs fills up during the run: one error line, nothing under the final name, no
    temporary or lock file (prune keeps its resume state); once there is room again (remounted
    larger) the rerun (prune: --resume) writes the undisturbed run's bytes."""
    mount, remount = tmpfs
    cmd = CMDS[name]
    _, ref_files, _ = refs(name)
    d = mount(tmp_path / "small", f"size={size_kb}k")
    proc = run(cmd.args(d, data))
    line = error_line(proc.err)
    assert proc.returncode == 1 and "No space left on device" in line, proc.err
    assert files(d) == {}
    assert hidden(d) == ([cmd.work] if cmd.work else [])
    remount(d, "size=8m")
    proc = run(cmd.args(d, data, resume=True))
    assert proc.returncode == 0, proc.err
    assert files(d) == ref_files and hidden(d) == []


# --------------------------------------------------------------------------------------------
# the commands that use a trained model hold their outputs too


@pytest.fixture(scope="module")
def ebox_model_dir(tmp_path_factory):
    from deepprune_cli.core.store import save_model
    from modelkit import ebox_model

    d = tmp_path_factory.mktemp("model")
    save_model(d / "model", ebox_model())
    (d / "seqs.fa").write_text("".join(f">s{i}\n{'ACGT' * 10}CACGTGAC{'TTGA' * 5}\n" for i in range(20)))
    return d


@pytest.mark.parametrize("name", ["predict", "scan", "mutate", "report"])
def test_model_commands_refuse_a_held_output(tmp_path, ebox_model_dir, name):
    model, seqs = ebox_model_dir / "model", ebox_model_dir / "seqs.fa"
    out = tmp_path / ("report.html" if name == "report" else "out.tsv")
    args = {
        "predict": ["predict", model, seqs, "-o", out],
        "scan": ["scan", model, seqs, "-o", out],
        "mutate": ["mutate", model, seqs, "--ids", "s0", "-o", out],
        "report": ["report", model, "-o", out],
    }[name]
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        before = sorted(p.name for p in tmp_path.iterdir())
        proc = run(args)
        assert proc.returncode == 2, proc.err
        assert error_line(proc.err).startswith(f"deepprune: error: {out}: another run (pid {holder.pid} on "), proc.err
        assert sorted(p.name for p in tmp_path.iterdir()) == before  # wrote nothing
    finally:
        holder.stdin.close()
        holder.wait(30)
    proc = run(args)  # free again: it runs
    assert proc.returncode == 0, proc.err
    assert out.is_file()


@pytest.mark.parametrize("name", ["predict", "scan", "mutate", "report"])
def test_model_commands_in_a_read_only_directory(tmp_path, ebox_model_dir, tmpfs, name):
    mount, _ = tmpfs
    model, seqs = ebox_model_dir / "model", ebox_model_dir / "seqs.fa"
    d = mount(tmp_path / "ro", "size=1m,ro")
    out = d / "out.tsv"
    args = {
        "predict": ["predict", model, seqs, "-o", out],
        "scan": ["scan", model, seqs, "-o", out],
        "mutate": ["mutate", model, seqs, "--ids", "s0", "-o", out],
        "report": ["report", model, "-o", out],
    }[name]
    proc = run(args)
    assert proc.returncode == 1, proc.err
    assert error_line(proc.err).startswith(f"deepprune: error: {out}: cannot write here (Read-only file system)")
    assert list(d.iterdir()) == []


def test_mutate_table_and_figures_appear_together(tmp_path, ebox_model_dir):
    """The disk fills up while mutate draws its figures: the finished table does not appear alone,
    and the figure directory it made is gone again; the rerun writes both."""
    model, seqs = ebox_model_dir / "model", ebox_model_dir / "seqs.fa"
    ref, d = tmp_path / "ref", tmp_path / "run"
    ref.mkdir()
    d.mkdir()
    proc = run(["mutate", model, seqs, "--ids", "s0,s1", "-o", ref / "map.tsv", "--png", ref / "maps", "-q"])
    assert proc.returncode == 0, proc.err
    ref_files = files(ref)
    args = ["mutate", model, seqs, "--ids", "s0,s1", "-o", d / "map.tsv", "--png", d / "maps", "-q"]
    proc = run(args, {"root": d, "enospc": len(ref_files["map.tsv"]) + 1000})  # the table fits, a figure does not
    assert proc.returncode == 1 and "No space left on device" in error_line(proc.err), proc.err
    assert list(d.iterdir()) == []
    proc = run(args)
    assert proc.returncode == 0, proc.err
    assert files(d) == ref_files and hidden(d) == []

"""Output locks (core.locking) and the atomic writers that take them (core.atomic).

In-process checks plus small helper processes that import only ``deepprune_cli.core.locking`` (no
torch), so the whole file runs in a few seconds. The CLI's behaviour under concurrent and broken
runs is in test_faults.py.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from deepprune_cli.core import atomic, locking
from deepprune_cli.core.atomic import atomic_directory, atomic_output, replace_directory
from deepprune_cli.core.errors import DeeppruneWarning, InputError
from deepprune_cli.core.locking import OutputLocked, lock_path, output_lock

pytestmark = pytest.mark.skipif(locking.fcntl is None, reason="flock (POSIX)")

# Holds the lock of argv[1] until its stdin closes; says "held" once it has it.
HOLD = """
import sys
from deepprune_cli.core.locking import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""


class Holder:
    def __init__(self, path: Path):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)  # fmt: skip
        line = self.proc.stdout.readline()
        assert line.strip() == "held", line

    def release(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(30) == 0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(30)


def hidden(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_lock_file_is_a_hidden_sibling_removed_after(tmp_path):
    out = tmp_path / "out"
    with output_lock(out) as lock:
        assert lock == tmp_path / ".out.lock" == lock_path(out)
        record = json.loads(lock.read_text())
        assert record["pid"] == os.getpid() and record["host"] and record["started"]
        assert locking.holds(out)
    assert hidden(tmp_path) == [] and not locking.holds(out)


def test_stdout_needs_no_lock(tmp_path):
    with output_lock("-") as lock, output_lock(None) as none:
        assert lock is None and none is None


def test_reentrant_and_no_locks_inside_owned_directories(tmp_path):
    out = tmp_path / "out"
    with output_lock(out):
        with output_lock(Path(os.path.relpath(out))) as again:  # another spelling, same output
            assert again == tmp_path / ".out.lock"
        assert (tmp_path / ".out.lock").exists()  # still held by the outer block
        with atomic_directory(out) as tmp:
            with atomic_output(tmp / "a.txt") as fh:  # inside the private temporary: no lock file
                fh.write("a")
            assert hidden(tmp) == []
        assert (out / "a.txt").read_text() == "a"
    assert hidden(tmp_path) == []


def test_covers_protects_a_work_directory(tmp_path):
    out, work = tmp_path / "out", tmp_path / ".out.partial"
    work.mkdir()
    with output_lock(out, covers=[work]):
        with output_lock(work / "stage") as lock:
            assert lock is None  # covered by out's lock
        assert locking.holds(work / "stage" / "weights.pt")
    assert not locking.holds(work / "stage")


def test_another_process_is_refused_at_once_naming_it(tmp_path):
    out = tmp_path / "out"
    holder = Holder(out)
    try:
        t0 = time.monotonic()
        with pytest.raises(OutputLocked) as info:
            with output_lock(out):
                pass
        assert time.monotonic() - t0 < 2
        assert isinstance(info.value, InputError) and info.value.exit_code == 2
        message = str(info.value)
        assert message.startswith(f"{out}: another run (pid {holder.proc.pid} on ")
        assert ".out.lock" in message and "\n" not in message
        assert (tmp_path / ".out.lock").exists()  # the refused run removed nothing
    finally:
        holder.release()
    assert hidden(tmp_path) == []
    with output_lock(out):
        pass


def test_stale_lock_of_a_killed_process_is_taken_over(tmp_path):
    out = tmp_path / "out"
    holder = Holder(out)
    holder.kill()  # SIGKILL: no cleanup ran
    stale = tmp_path / ".out.lock"
    assert json.loads(stale.read_text())["pid"] == holder.proc.pid
    with output_lock(out) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not stale.exists()


def test_parents_made_for_the_lock_are_removed_when_nothing_was_written(tmp_path):
    with output_lock(tmp_path / "a" / "b" / "out"):
        assert (tmp_path / "a" / "b").is_dir()
    assert list(tmp_path.iterdir()) == []
    with output_lock(tmp_path / "a" / "b" / "out"):
        (tmp_path / "a" / "b" / "out").write_text("x")
    assert (tmp_path / "a" / "b" / "out").read_text() == "x"


def test_unwritable_directory_names_the_output(tmp_path, monkeypatch):
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(locking.os, "open", refuse)
    with pytest.raises(OSError) as info:
        with output_lock(tmp_path / "new" / "out"):
            pass
    assert info.value.errno == errno.EROFS and info.value.filename == str(tmp_path / "new" / "out")
    assert list(tmp_path.iterdir()) == []  # the parent made for the lock is gone again


def test_filesystem_without_locks_warns_and_goes_on(tmp_path, monkeypatch):
    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(locking.fcntl, "flock", no_locks)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with atomic_output(tmp_path / "x.txt") as fh:
            fh.write("x")
    assert any(issubclass(w.category, DeeppruneWarning) and "not be detected" in str(w.message) for w in caught)
    assert (tmp_path / "x.txt").read_text() == "x" and hidden(tmp_path) == []


# Each worker takes and releases the lock of argv[1] argv[2] times; while holding it, it creates
# argv[3] exclusively and removes it again: two holders at once would collide on O_EXCL.
HAMMER = """
import os, random, sys, time
from deepprune_cli.core.locking import OutputLocked, output_lock
out, rounds, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng = random.Random(os.getpid())
got = refused = 0
while got < rounds:
    try:
        with output_lock(out):
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # FileExistsError: two holders
            time.sleep(rng.random() * 0.002)
            os.close(fd)
            os.unlink(marker)
            got += 1
    except OutputLocked:
        refused += 1
        time.sleep(rng.random() * 0.001)
print(got, refused)
"""


def test_mutual_exclusion_under_contention(tmp_path):
    """Randomised: six processes take and drop the same lock as fast as they can (the lock file is
    removed and re-created hundreds of times meanwhile); never are two inside at once."""
    out, marker = tmp_path / "out", tmp_path / "inside"
    procs = [
        subprocess.Popen([sys.executable, "-c", HAMMER, str(out), "150", str(marker)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]  # fmt: skip
    results = [p.communicate(timeout=120) for p in procs]
    for p, (stdout, stderr) in zip(procs, results):
        assert p.returncode == 0, stderr
        assert int(stdout.split()[0]) == 150
    assert sum(int(stdout.split()[1]) for stdout, _ in results) > 0  # they did contend
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# atomic writers


def test_replace_directory_swaps_and_never_shows_a_mixture(tmp_path):
    final, new = tmp_path / "out", tmp_path / "new"
    final.mkdir()
    (final / "a").write_text("old")
    new.mkdir()
    (new / "a").write_text("new")
    (new / "b").write_text("new")
    replace_directory(new, final)
    assert sorted(p.name for p in final.iterdir()) == ["a", "b"] and (final / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_replace_directory_fallback_puts_the_old_one_back(tmp_path, monkeypatch):
    """Where the system cannot swap atomically: interrupted between the two renames, the previous
    version is renamed back."""
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    final, new = tmp_path / "out", tmp_path / "new"
    final.mkdir()
    (final / "a").write_text("old")
    new.mkdir()
    real, calls = os.replace, []

    def interrupted(src, dst):
        if Path(dst) == final and Path(src) == new and not calls:
            calls.append(1)
            raise KeyboardInterrupt  # e.g. SIGINT right before the new one is renamed in
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        replace_directory(new, final)
    assert (final / "a").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "out"]


def test_stale_temporaries_are_removed_by_the_next_writer(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / ".out.abcd1234.tmp").mkdir()  # what a SIGKILLed writer leaves
    (tmp_path / ".out.abcd1234.tmp" / "weights.pt").write_bytes(b"half")
    (tmp_path / ".out.zz99__aa.old").mkdir()  # killed while removing the replaced version
    (tmp_path / ".other.abcd1234.tmp").write_text("another output's: kept")
    (tmp_path / ".out.partial").mkdir()  # prune's resume state: not a temporary
    with atomic_directory(out) as tmp:
        assert hidden(tmp_path) == sorted([".other.abcd1234.tmp", ".out.lock", ".out.partial", tmp.name])
        (tmp / "x").write_text("x")
    assert hidden(tmp_path) == [".other.abcd1234.tmp", ".out.partial"]


def test_a_set_aside_previous_version_goes_back_under_its_name(tmp_path):
    """Killed between the two renames of a replacement (no atomic swap): the output is missing and
    its previous version lies aside; the next writer puts it back before it starts."""
    out = tmp_path / "out"
    (tmp_path / ".out.abcd1234.old").mkdir()
    (tmp_path / ".out.abcd1234.old" / "a").write_text("previous")
    with pytest.warns(DeeppruneWarning, match="put back the previous version"):
        with pytest.raises(RuntimeError):
            with atomic_directory(out):
                assert (out / "a").read_text() == "previous"
                raise RuntimeError("this run fails")
    assert (out / "a").read_text() == "previous" and hidden(tmp_path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_lock_is_released_when_the_holder_dies_by_signal(tmp_path):
    out = tmp_path / "out"
    holder = Holder(out)
    holder.proc.send_signal(signal.SIGTERM)  # no handler in the helper: dies at once, like SIGKILL
    holder.proc.wait(30)
    with output_lock(out):
        pass

"""Exclusive locks on outputs: two runs never write the same output at the same time.

A command that writes ``OUT`` (a file or a directory) holds an exclusive ``flock`` on the hidden
sibling ``.OUT.lock`` from its start to its end; that lock also covers everything else the run keeps
beside ``OUT`` (``prune``'s ``.OUT.partial/`` work directory, the ``.OUT.XXXXXXXX.tmp`` of an atomic
write). A second process aiming at ``OUT`` gets :class:`OutputLocked` at once (exit 2, one line
naming ``OUT`` and the holder's pid and host) and writes nothing.

Why ``flock`` on a kept-beside file rather than "create ``.OUT.lock`` exclusively, delete it at the end":

* the kernel releases an ``flock`` when its process dies, however it dies (SIGKILL, OOM killer,
  power loss of a client), so a stale lock needs no pid guessing: the next run simply gets it;
* the lock file is removed when the holder finishes, *while still holding the lock*, and whoever
  acquires a lock re-checks that the file it locked is still the one at ``.OUT.lock`` (same inode)
  before trusting it; so a run that opened the file just before it was removed cannot end up
  "holding" a deleted file while another run holds the new one;
* after a SIGKILL the file stays (hidden, a few bytes naming the dead process); the next run on
  ``OUT`` takes it over and removes it when done.

Within one process the lock is re-entrant (the CLI takes it when the command starts; the atomic
writers and :class:`~deepprune_cli.core.pruning.PruneRun` take it again around their writes), and a
path inside a directory this process already owns (a locked output, a registered work directory,
the temporary directory of an atomic write) needs no lock of its own.

Shared filesystems: on Linux, ``flock`` on NFS is turned into an NFS byte-range lock, which works
between machines when the server supports locking (NFSv4, or NFSv3 with lockd); a filesystem mounted
with ``nolock`` (or ``local_lock=all``) only sees locks taken on the same client. Where a filesystem
refuses locks altogether (``ENOLCK``, ``EOPNOTSUPP``), the run goes on with a warning that
concurrent runs at that output are not detected.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; outputs are written unlocked
    fcntl = None

from deepprune_cli.core.errors import DeeppruneWarning, InputError

LOCK_SUFFIX = ".lock"
# errno values of a flock held by another process, and of a filesystem without locks
_BUSY = {errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES}
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


class OutputLocked(InputError):
    """Another process holds the lock of the output this run would write: exit 2, nothing written."""

    def __init__(self, output: str | os.PathLike, holder: dict | None, lock: Path):
        self.output = Path(output)
        self.holder = holder or {}
        self.lock = lock
        super().__init__(f"{output}: {describe_holder(self.holder)} is writing this output "
                         f"(lock {lock.name}); wait for it to finish, or write elsewhere")


def describe_holder(holder: dict) -> str:
    """``another run (pid 123 on host, since 2025-01-01 10:00:00)`` from a lock file's record."""
    bits = []
    if holder.get("pid") is not None:
        host = holder.get("host")
        here = socket.gethostname()
        where = "" if not host else (f" on {host}" if host == here else f" on {host} (another machine)")
        bits.append(f"pid {holder['pid']}{where}")
    if holder.get("started"):
        bits.append(f"since {holder['started']}")
    return "another run" + (f" ({', '.join(bits)})" if bits else "")


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file of output ``path``: ``.NAME.lock`` beside it (the parent's symlinks resolved)."""
    p = _key(path)
    return p.parent / f".{p.name or 'root'}{LOCK_SUFFIX}"


def _key(path: str | os.PathLike) -> Path:
    p = Path(os.path.abspath(os.fspath(path)))
    return Path(os.path.realpath(p.parent)) / p.name


@dataclass
class _Held:
    lock: Path
    output: Path
    fd: int | None  # None: the filesystem refused locks; the run goes on unlocked
    count: int = 1
    covers: list[Path] = field(default_factory=list)
    created: list[Path] = field(default_factory=list)  # parent directories made for the lock file


_mutex = threading.RLock()
_held: dict[Path, _Held] = {}  # lock path -> what this process holds
_private: list[Path] = []  # directories only this process writes (atomic temporaries, work dirs)


def _owned(path: Path) -> bool:
    """Whether ``path`` lies inside a directory this process owns (a held output or a private dir)."""
    roots = set(_private)
    for held in _held.values():  # unlocked ones too (no locks there): no point trying again inside
        roots.add(held.output)
        roots.update(held.covers)
    return any(parent in roots for parent in path.parents)


def holds(path: str | os.PathLike) -> bool:
    """Whether this process holds the lock of ``path`` (or owns a directory above it)."""
    key = _key(path)
    with _mutex:
        held = _held.get(lock_path(key))
        return (held is not None and held.fd is not None) or _owned(key)


def in_private_directory(path: str | os.PathLike) -> bool:
    """Whether ``path`` lies inside a directory registered with :func:`private_directory`."""
    key = _key(path)
    with _mutex:
        return any(parent in _private for parent in key.parents)


@contextlib.contextmanager
def private_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Register ``path`` as written by this process alone for the block (e.g. an atomic writer's
    temporary directory): writes inside it take no lock of their own."""
    key = _key(path)
    with _mutex:
        _private.append(key)
    try:
        yield key
    finally:
        with _mutex:
            _private.remove(key)


@contextlib.contextmanager
def output_lock(path: str | os.PathLike | None, *, covers: Iterable[str | os.PathLike] = ()) -> Iterator[Path | None]:
    """Hold the exclusive lock of output ``path`` for the block.

    ``None`` or ``"-"`` (stdout) needs no lock. ``covers`` are further paths the run writes under
    this lock (e.g. a work directory): writes inside them take no lock of their own. Raises
    :class:`OutputLocked` at once if another process holds it. Yields the lock file's path, or None
    when no lock was taken (stdout, a path inside a directory this process owns, a filesystem
    without locks).
    """
    if path is None or str(path) == "-":
        yield None
        return
    key = _key(path)
    cover_keys = [_key(c) for c in covers]
    lock = lock_path(key)
    with _mutex:
        held = _held.get(lock)
        if held is None and _owned(key):
            inside = True
        else:
            inside = False
            if held is not None:
                held.count += 1
            else:
                held = _acquire(key, lock, shown=os.fspath(path))
                _held[lock] = held
            held.covers.extend(cover_keys)
    if inside:
        with contextlib.ExitStack() as stack:
            for c in cover_keys:
                stack.enter_context(private_directory(c))
            yield None
        return
    try:
        yield lock if held.fd is not None else None
    finally:
        with _mutex:
            for c in cover_keys:
                held.covers.remove(c)
            held.count -= 1
            if held.count == 0:
                del _held[lock]
                _release(held)


def _make_parents(directory: Path) -> list[Path]:
    """Create ``directory`` and missing parents; return the ones created (outermost first)."""
    missing = []
    d = directory
    while not d.exists() and d != d.parent:
        missing.append(d)
        d = d.parent
    created = []
    for d in reversed(missing):
        try:
            d.mkdir()
            created.append(d)
        except FileExistsError:
            pass
    return created


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (own.st_dev, own.st_ino) == (st.st_dev, st.st_ino)


def _read_holder(fd: int) -> dict | None:
    """The holder's record; it may be a moment from being written, so a few tries."""
    for _ in range(25):
        try:
            data = os.pread(fd, 4096, 0)
            record = json.loads(data.decode("utf-8"))
            if isinstance(record, dict):
                return record
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    return None


def _record() -> bytes:
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    if program == "__main__.py":  # python -m deepprune_cli
        program = "deepprune"
    command = " ".join([program, *sys.argv[1:]])
    return (json.dumps({
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": command if len(command) <= 300 else command[:297] + "...",
    }, sort_keys=True) + "\n").encode("utf-8")  # fmt: skip


def _acquire(output: Path, lock: Path, shown: str) -> _Held:
    """Lock ``output`` (``shown`` as the user gave it, for messages)."""
    created = _make_parents(lock.parent)
    try:
        if fcntl is None:
            return _Held(lock, output, None, created=created)
        for _ in range(1000):  # each retry means another run released or replaced the file meanwhile
            writable = True
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
            except FileNotFoundError:  # a parent removed by another run that created it: make it again
                made = _make_parents(lock.parent)
                if not made:
                    raise  # the directory is there, yet no file can be made in it (e.g. /proc)
                created += made
                continue
            except PermissionError:
                if not lock.exists():
                    raise
                fd = os.open(lock, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))  # another user's lock file
                writable = False
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in _BUSY:
                    if not _same_file(fd, lock):  # a finished run's removed file: look again
                        os.close(fd)
                        continue
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise OutputLocked(shown, holder, lock) from None
                os.close(fd)
                if exc.errno in _UNSUPPORTED:
                    warnings.warn(
                        f"{shown}: this filesystem does not support file locks ({exc.strerror}); "
                        "another run writing the same output at the same time would not be detected",
                        DeeppruneWarning,
                    )
                    with contextlib.suppress(OSError):
                        if writable and os.path.getsize(lock) == 0:
                            os.unlink(lock)
                    return _Held(lock, output, None, created=created)
                raise
            if not _same_file(fd, lock):  # locked a file that was removed meanwhile: not the lock any more
                os.close(fd)
                continue
            if writable:
                with contextlib.suppress(OSError):  # the record is for people and error messages only
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, _record(), 0)
            return _Held(lock, output, fd, created=created)
        raise OSError(errno.EBUSY, "could not take the output's lock (its lock file keeps changing)", shown)
    except BaseException as exc:
        _remove_empty(created)
        if isinstance(exc, OSError) and not isinstance(exc, InputError) and exc.filename is not None:
            # e.g. a read-only directory: name the output, not the lock file
            raise OSError(exc.errno, f"cannot write here ({exc.strerror})", shown) from None
        raise


def _release(held: _Held) -> None:
    if held.fd is not None:
        with contextlib.suppress(OSError):
            if _same_file(held.fd, held.lock):
                os.unlink(held.lock)  # while still holding it: see the module docstring
        os.close(held.fd)
    _remove_empty(held.created)


def _remove_empty(created: list[Path]) -> None:
    """Remove the parent directories made for a lock file if nothing else went into them."""
    for d in reversed(created):
        try:
            d.rmdir()
        except OSError:
            break


__all__ = ["OutputLocked", "describe_holder", "holds", "in_private_directory", "lock_path", "output_lock",
           "private_directory"]

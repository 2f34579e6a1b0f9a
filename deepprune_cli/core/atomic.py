"""Atomic outputs: a failed or interrupted run never leaves a half-written file under its final name.

Files are written to a hidden temporary sibling and renamed into place on success; directories are
built in a hidden temporary sibling directory and moved into place as a whole. An existing
directory is replaced by swapping the two atomically where the system can (Linux
``renameat2(RENAME_EXCHANGE)``), so the final name always holds a complete directory, the old one or
the new one, even if the process is killed during the replacement.

Every writer holds the output's lock (:mod:`deepprune_cli.core.locking`) while it writes, so two
processes never write the same output at once, and, holding it, tidies what a killed writer of the
same output left beside it (:func:`recover`). :func:`atomic_group` makes several files of one
command appear together or not at all.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import IO, Iterator

from deepprune_cli.core.errors import DeeppruneWarning
from deepprune_cli.core.locking import in_private_directory, output_lock, private_directory

# tempfile's random part: 8 characters from this set, so ``.NAME.XXXXXXXX.tmp`` belongs to NAME alone
_RANDOM = "[a-z0-9_]{8}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tmp_sibling(path: Path, suffix: str = "") -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    try:
        os.close(fd)
        # mkstemp makes files private (0600); outputs should get the usual mode (0644 under umask 022).
        os.chmod(name, 0o666 & ~_umask())
    except BaseException:  # e.g. an interrupt right here: leave nothing behind
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return Path(name)


def _temp_name(final: Path) -> re.Pattern:
    return re.compile(rf"\.{re.escape(final.name)}\.{_RANDOM}\.(tmp|old)")


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporaries of atomic writes of ``path`` beside it (``.NAME.XXXXXXXX.tmp`` / ``.old``)."""
    final = Path(path)
    pattern = _temp_name(final)
    try:
        entries = list(os.scandir(final.parent))
    except OSError:
        return []
    return sorted(final.parent / e.name for e in entries if pattern.fullmatch(e.name))


def recover(path: str | os.PathLike, keep=()) -> None:
    """Tidy what a killed writer of ``path`` left beside it. Only safe while holding ``path``'s lock
    (no live process writes those names then); every writer calls it once it holds the lock.

    Temporaries (``.NAME.XXXXXXXX.tmp``) are removed. A ``.NAME.XXXXXXXX.old`` is the previous
    complete version that a replacement without an atomic swap had set aside: if the process was
    killed between its two renames, ``path`` is missing and the previous version is renamed back
    (with a warning); otherwise it is removed."""
    final = Path(path)
    leftovers = [e for e in stale_temporaries(final) if e not in keep]
    olds = sorted((e for e in leftovers if e.name.endswith(".old")), key=lambda e: e.lstat().st_mtime)
    if olds and not os.path.lexists(final):
        os.replace(olds[-1], final)
        warnings.warn(f"{final}: put back the previous version, which an interrupted run had set aside "
                      f"as {olds[-1].name}", DeeppruneWarning)  # fmt: skip
        leftovers.remove(olds[-1])
    for entry in leftovers:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()


class _Group:
    """Files of an :func:`atomic_group`: their locks and their finished temporaries."""

    def __init__(self):
        self.locks = contextlib.ExitStack()
        self.pending: list[tuple[Path, Path]] = []  # (temporary, final name)
        self.created: list[Path] = []  # directories made for the group's files, removed if it fails


_groups: list[_Group] = []


@contextlib.contextmanager
def atomic_group() -> Iterator[None]:
    """Files written with :func:`atomic_output` in the block appear together when it completes.

    Each file is written to its temporary as usual, but none is renamed to its final name until
    the whole block has succeeded; then all are, one after the other. If the block fails (a full
    disk while writing the third file, an interrupt) every temporary is removed and no final name
    changes, so a command's outputs are never a mixture of this run's and a previous run's.
    (Only a SIGKILL in the microseconds of the renames themselves could leave some renamed.)
    A group inside a group joins the outer one.
    """
    if _groups:
        yield
        return
    group = _Group()
    _groups.append(group)
    try:
        with group.locks:  # the outputs' locks are held until the renames are done
            try:
                yield
                while group.pending:
                    tmp, final = group.pending[0]
                    os.replace(tmp, final)
                    group.pending.pop(0)
            except BaseException:
                for tmp, _ in group.pending:
                    with contextlib.suppress(OSError):
                        tmp.unlink()
                for d in reversed(group.created):
                    with contextlib.suppress(OSError):
                        d.rmdir()  # only if empty
                raise
    finally:
        _groups.remove(group)


def output_directory(path: str | os.PathLike) -> Path:
    """Create the directory ``path`` (and missing parents) that output files go into; inside an
    :func:`atomic_group` the directories made are removed again if the group fails."""
    final = Path(path)
    missing = []
    d = final
    while not d.exists() and d != d.parent:
        missing.append(d)
        d = d.parent
    final.mkdir(parents=True, exist_ok=True)
    if _groups:
        _groups[-1].created.extend(reversed(missing))
    return final


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike | None, mode: str = "w") -> Iterator[IO]:
    """Open ``path`` for writing so that it appears only if the block completes.

    ``None`` or ``"-"`` writes to stdout instead (binary modes get ``sys.stdout.buffer``).
    Text modes write UTF-8 with ``\\n`` line ends. The output's lock is held for the block (inside
    an :func:`atomic_group`, until the group's renames are done).
    """
    if path is None or str(path) == "-":
        stream = sys.stdout.buffer if "b" in mode else sys.stdout
        yield stream
        stream.flush()
        return
    final = Path(path)
    if not final.parent.exists():
        output_directory(final.parent)
    group = _groups[-1] if _groups else None
    if group is not None and in_private_directory(final):
        group = None  # inside a directory that is itself renamed into place: write it now
    with contextlib.ExitStack() as stack:
        locked = (group.locks if group is not None else stack).enter_context(output_lock(final))
        if locked is not None:
            recover(final, keep={tmp for tmp, _ in group.pending} if group is not None else ())
        tmp = None
        try:
            tmp = _tmp_sibling(final)
            if "b" in mode:
                fh = open(tmp, mode)
            else:
                fh = open(tmp, mode, encoding="utf-8", newline="\n")
            with fh:
                yield fh
            if group is not None:
                group.pending.append((tmp, final))  # renamed when the group completes
            else:
                os.replace(tmp, final)
        except BaseException:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            raise


_renameat2 = None


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where
    the system or filesystem cannot, so the caller falls back to two renames."""
    global _renameat2
    if not sys.platform.startswith("linux"):
        return False
    if _renameat2 is None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            fn = libc.renameat2  # glibc >= 2.28
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            fn.restype = ctypes.c_int
            _renameat2 = (fn, ctypes)
        except (OSError, AttributeError):
            _renameat2 = False
    if _renameat2 is False:
        return False
    fn, ctypes = _renameat2
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_directory(src: str | os.PathLike, final: str | os.PathLike) -> None:
    """Move the complete directory ``src`` to ``final``, replacing an existing ``final`` so that the
    final name never holds a mixture: the two are swapped atomically and the old one removed (Linux),
    or the old one is renamed aside, the new one renamed in, the old one removed (elsewhere; an
    exception between the two renames puts the old one back)."""
    src, final = Path(src), Path(final)
    if not os.path.lexists(final):
        os.replace(src, final)
        return
    if _exchange(src, final):
        # ``src`` now holds the previous version. Under a name the next writer's recover() removes
        # should this removal be cut short (not, say, prune's .NAME.partial, the resume state).
        if src.parent != final.parent or not _temp_name(final).fullmatch(src.name):
            trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
            os.replace(src, trash)  # an empty directory is replaced
            src = trash
        shutil.rmtree(src, ignore_errors=True)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
    os.rmdir(old)
    try:
        os.replace(final, old)
        os.replace(src, final)
    except BaseException:
        if old.exists() and not os.path.lexists(final):
            with contextlib.suppress(OSError):
                os.replace(old, final)  # interrupted between the two renames: put the previous one back
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary directory that is moved to ``path`` when the block completes.

    An existing ``path`` is replaced only after the new one is complete (when ``overwrite``), see
    :func:`replace_directory`. The output's lock is held for the block.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(final) as locked:
        if locked is not None:
            recover(final)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
        try:
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes directories private (0700)
            with private_directory(tmp):
                yield tmp
            if os.path.lexists(final) and not overwrite:
                raise FileExistsError(f"{final} already exists")
            replace_directory(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if locked is not None:
            recover(final)  # e.g. a set-aside .old that a killed replacement left, now superseded

"""Atomic outputs: a failed or interrupted run never leaves a half-written file under its final name.

Files are written to a hidden temporary sibling and renamed into place on success; directories are
built in a hidden temporary sibling directory and renamed into place as a whole.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO, Iterator


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


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike | None, mode: str = "w") -> Iterator[IO]:
    """Open ``path`` for writing so that it appears only if the block completes.

    ``None`` or ``"-"`` writes to stdout instead (binary modes get ``sys.stdout.buffer``).
    Text modes write UTF-8 with ``\\n`` line ends.
    """
    if path is None or str(path) == "-":
        stream = sys.stdout.buffer if "b" in mode else sys.stdout
        yield stream
        stream.flush()
        return
    final = Path(path)
    if final.parent and not final.parent.exists():
        final.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        tmp = _tmp_sibling(final)
        if "b" in mode:
            fh = open(tmp, mode)
        else:
            fh = open(tmp, mode, encoding="utf-8", newline="\n")
        with fh:
            yield fh
        os.replace(tmp, final)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary directory that is renamed to ``path`` when the block completes.

    An existing ``path`` is replaced only after the new one is complete (when ``overwrite``).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    old = None
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes directories private (0700)
        yield tmp
        if final.exists():
            if not overwrite:
                raise FileExistsError(f"{final} already exists")
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
            os.rmdir(old)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        if old is not None:
            if old.exists() and tmp.exists() and not final.exists():
                # Interrupted between the two renames of a replacement: put the previous one back.
                with contextlib.suppress(OSError):
                    os.replace(old, final)
            shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
        raise

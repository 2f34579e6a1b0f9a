"""Which compiled kernels run the shuffles and the FASTA reading and writing: C or numba.

The C extension ``deepprune_cli.core._native`` (built from ``_native.c`` when the package is
installed) ports the numba kernels of :mod:`~deepprune_cli.core.shuffle_kernels` and
:mod:`~deepprune_cli.core.fasta_kernels` line for line: same inputs, same outputs, the same random
draws in the same order, so a seed gives the same bytes whichever runs. The C kernels start in
milliseconds and need neither numba nor its ~120 MiB; the numba ones remain the reference and the
fallback where the extension was not built.

The environment variable ``DEEPPRUNE_KERNELS`` chooses: ``auto`` (default: C when built), ``c``
(an error without it) or ``numba``.

Every kernel takes numpy arrays (shapes in each function's docstring) and writes into the output
arrays it is given.
"""

from __future__ import annotations

import os

import numpy as np

from deepprune_cli.core.errors import DeeppruneError, InputError

BACKENDS = ("c", "numba")
ENV = "DEEPPRUNE_KERNELS"

try:
    from deepprune_cli.core import _native
except ImportError as exc:  # not compiled (no C compiler at install time) or not loadable
    _native = None
    _NATIVE_MISSING = f"C extension not available ({exc})"
else:
    _NATIVE_MISSING = ""


def available() -> tuple[str, ...]:
    """The backends this installation can run: ``("c", "numba")`` or ``("numba",)``."""
    return BACKENDS if _native is not None else ("numba",)


def kernel_backend() -> str:
    """The backend the kernels run on now: ``"c"`` or ``"numba"`` (see ``DEEPPRUNE_KERNELS``)."""
    wanted = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if wanted == "auto":
        return "c" if _native is not None else "numba"
    if wanted not in BACKENDS:
        raise InputError(f"{ENV} must be auto, c or numba, got '{wanted}'")
    if wanted == "c" and _native is None:
        raise InputError(f"{ENV}=c but the {_NATIVE_MISSING}")
    return wanted


def describe() -> str:
    """One phrase for ``deepprune --version``: the backend, and why not C when C is missing."""
    try:
        name = kernel_backend()
    except DeeppruneError as exc:
        return str(exc)
    return f"kernels: {name}" + (f"; {_NATIVE_MISSING}" if _native is None else "")


def default_threads() -> int:
    """The cores this process may run on (its CPU affinity, which a scheduler may restrict)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _check(**arrays: tuple[np.ndarray, type]) -> None:
    # The C kernels read raw memory: the wrong dtype or a strided view would be misread.
    for name, (array, dtype) in arrays.items():
        if not (isinstance(array, np.ndarray) and array.dtype == dtype and array.flags.c_contiguous):
            raise TypeError(f"{name} must be a contiguous {np.dtype(dtype).name} array")


def shuffle_records(
    tokens: np.ndarray,
    offsets: np.ndarray,
    k: int,
    copies: int,
    seed: int,
    first_record: int,
    out: np.ndarray,
    too_short: np.ndarray,
    threads: int | None = None,
    backend: str | None = None,
) -> None:
    """Shuffle every record ``copies`` times (see ``shuffle_kernels.shuffle_records``).

    Args:
        tokens: uint8 ``(total,)`` values 0..4; offsets: int64 ``(n + 1,)`` from 0.
        k: 1..6; copies >= 1; seed: 0 <= seed < 2**64; first_record: index of record 0 in the input.
        out: uint8 ``(copies * total,)``, written record-major; too_short: bool ``(n,)``, written.
        threads: threads to use (default: :func:`default_threads`); the bytes do not depend on it.
        backend: ``"c"``/``"numba"`` (default: :func:`kernel_backend`).
    """
    threads = threads or default_threads()
    if (backend or kernel_backend()) == "c":
        _check(tokens=(tokens, np.uint8), offsets=(offsets, np.int64), out=(out, np.uint8),
               too_short=(too_short, np.bool_))
        _native.shuffle_records(tokens, offsets, k, copies, seed, first_record, out, too_short.view(np.uint8), threads)
        return
    import numba

    from deepprune_cli.core import shuffle_kernels

    previous = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        # as uint64: a Python int above 2**63 - 1 would not convert to the int64 numba picks for an int
        shuffle_kernels.shuffle_records(tokens, offsets, k, copies, np.uint64(seed), first_record, out, too_short)
    finally:
        numba.set_num_threads(previous)


def count_byte(data: bytes, value: int, backend: str | None = None) -> int:
    """How many bytes of ``data`` equal ``value`` (0..255); the C one runs at memory speed."""
    if (backend or kernel_backend()) == "numba":
        return data.count(bytes([value]))
    return _native.count_byte(data, value)


def scan_fasta(buf: np.ndarray, lut: np.ndarray, max_records: int, tokens: np.ndarray, backend: str | None = None):
    """Parse FASTA bytes in one pass (see ``fasta_kernels.scan_fasta``, whose results these are).

    Args:
        buf: uint8 ``(nbytes,)`` starting with '>' and ending with '\\n'; lut: uint8 ``(256,)``;
        max_records: at least the number of records; tokens: uint8 ``(nbytes,)``, written.

    Returns:
        ``(n, header_start, header_end, lengths, n_tokens, n_iupac, bad_record, bad_pos, bad_byte)``
        with int64 ``(max_records,)`` arrays.
    """
    if (backend or kernel_backend()) == "numba":
        from deepprune_cli.core import fasta_kernels

        return fasta_kernels.scan_fasta(buf, lut, max_records, tokens)
    _check(buf=(buf, np.uint8), lut=(lut, np.uint8), tokens=(tokens, np.uint8))
    header_start = np.empty(max_records, np.int64)
    header_end = np.empty(max_records, np.int64)
    lengths = np.zeros(max_records, np.int64)
    n, n_tokens, n_iupac, bad_record, bad_pos, bad_byte = _native.scan_fasta(
        buf, lut, tokens, header_start, header_end, lengths
    )
    return n, header_start, header_end, lengths, n_tokens, n_iupac, bad_record, bad_pos, bad_byte


def gather_headers(buf, header_start, header_end, n: int, out: np.ndarray, backend: str | None = None) -> int:
    """Copy the ``n`` header texts into uint8 ``out``, each followed by '\\n'; returns bytes written."""
    if (backend or kernel_backend()) == "numba":
        from deepprune_cli.core import fasta_kernels

        return int(fasta_kernels.gather_headers(buf, header_start, header_end, n, out))
    return _native.gather_headers(buf, header_start, header_end, n, out)


def render_copies(id_blob, id_offsets, suffix_blob, suffix_offsets, tokens, offsets, letters, out,
                  backend: str | None = None) -> int:
    """Write ``>id suffix\\nSEQUENCE\\n`` per record and copy into uint8 ``out`` (see
    ``fasta_kernels.render_copies`` for the layout); returns bytes written."""
    if (backend or kernel_backend()) == "numba":
        from deepprune_cli.core import fasta_kernels

        return int(fasta_kernels.render_copies(id_blob, id_offsets, suffix_blob, suffix_offsets, tokens, offsets,
                                               letters, out))
    return _native.render_copies(id_blob, id_offsets, suffix_blob, suffix_offsets, tokens, offsets, letters, out)

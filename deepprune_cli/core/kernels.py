"""Which compiled kernels run the shuffles, the FASTA reading and writing and the CPU models' fused
first layer: C or numba.

The C extension ``deepprune_cli.core._native`` (built from ``_native.c`` and ``_first_layer.c``
when the package is installed) ports the numba kernels of
:mod:`~deepprune_cli.core.shuffle_kernels`, :mod:`~deepprune_cli.core.fasta_kernels` and
:mod:`~deepprune_cli.core.first_layer_kernels` line for line: same inputs, same outputs, the same
random draws and the same floating-point sums in the same order, so a seed gives the same bytes
whichever runs. The C kernels start in milliseconds and need neither numba nor its ~120 MiB; the
numba ones remain the reference and the fallback where the extension was not built.

The environment variable ``DEEPPRUNE_KERNELS`` chooses: ``auto`` (default: C when built), ``c``
(an error without it) or ``numba``.

Every kernel takes numpy arrays (shapes in each function's docstring); the shuffle and FASTA ones
write into the output arrays they are given, the first-layer ones return new arrays.
"""

from __future__ import annotations

import contextlib
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


_THREAD_COUNT: int | None = None


def set_thread_count(threads: int | None) -> None:
    """The threads every compiled kernel uses from now on when a call names none (None: reset to
    :func:`default_threads`). ``--threads`` sets it (``training.set_threads``)."""
    global _THREAD_COUNT
    _THREAD_COUNT = threads


def thread_count() -> int:
    """The threads a compiled kernel uses when its call names none (:func:`set_thread_count`)."""
    return _THREAD_COUNT or default_threads()


@contextlib.contextmanager
def _numba_threads(threads: int):
    """numba's parallel kernels run on ``threads`` threads inside the block, restored afterwards."""
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


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
        threads: threads to use (default: :func:`thread_count`); the bytes do not depend on it.
        backend: ``"c"``/``"numba"`` (default: :func:`kernel_backend`).
    """
    threads = threads or thread_count()
    if (backend or kernel_backend()) == "c":
        _check(tokens=(tokens, np.uint8), offsets=(offsets, np.int64), out=(out, np.uint8),
               too_short=(too_short, np.bool_))
        _native.shuffle_records(tokens, offsets, k, copies, seed, first_record, out, too_short.view(np.uint8), threads)
        return
    from deepprune_cli.core import shuffle_kernels

    with _numba_threads(threads):
        # as uint64: a Python int above 2**63 - 1 would not convert to the int64 numba picks for an int
        shuffle_kernels.shuffle_records(tokens, offsets, k, copies, np.uint64(seed), first_record, out, too_short)


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


# ---- the fused first layer (see first_layer_kernels for the numba reference) ------------------


def _aligned_empty(shape: tuple[int, ...], dtype, alignment: int = 64) -> np.ndarray:
    """``np.empty`` starting on a cache-line boundary. numpy only promises 16 bytes, and a table
    row read as AVX-512 vectors from a 16-byte offset straddles two cache lines per load: the
    forward ran 1.45x slower (K = 256, one thread) on such a table."""
    itemsize = np.dtype(dtype).itemsize
    n = int(np.prod(shape))
    raw = np.empty(n + alignment // itemsize, dtype)
    start = (-raw.__array_interface__["data"][0] % alignment) // itemsize  # not .ctypes: 20 us a call
    return raw[start : start + n].reshape(shape)


def first_layer_table(weight: np.ndarray, both: bool, g: int, backend: str | None = None) -> np.ndarray:
    """Grouped weight table of the fused first layer.

    Args:
        weight: float32 ``(K, 4, W)`` kernels; both: add the reverse-complement kernels;
        g: bases looked up together (1..6).

    Returns:
        float32 ``(ceil(W / g), 5**g, K2)``, K2 = 2K with ``both`` (kernels K..2K-1 score the
        reverse strand): a code's row is the sum of its g bases' weights (N = the mean of ACGT).
    """
    if (backend or kernel_backend()) == "numba":
        from deepprune_cli.core import first_layer_kernels

        return first_layer_kernels.build_table(weight, bool(both), g)
    _check(weight=(weight, np.float32))
    K, _, W = weight.shape
    tg = _aligned_empty(((W + g - 1) // g, 5**g, 2 * K if both else K), np.float32)
    _native.first_layer_table(weight, K, W, bool(both), g, tg)
    return tg


def first_layer_forward(tokens: np.ndarray, table: np.ndarray, g: int, width: int, bias: np.ndarray, relu: bool,
                        threads: int | None = None, backend: str | None = None):
    """Per record and kernel, the best valid window of the first layer over both strands.

    Args:
        tokens: uint8 ``(B, L)`` values 0..4; table: float32 ``(J, 5**g, K2)`` from
        :func:`first_layer_table`; width: kernel width W; bias: float32 ``(K,)``; relu: clamp at 0.
        threads: threads to use (default: :func:`thread_count`); the results do not depend on it.

    Returns:
        ``out`` float32 ``(B, K)`` = [relu](max over strands and positions of conv + bias),
        ``arg`` int32 ``(B, K)`` the winning window's start on its strand, ``strand`` int8
        ``(B, K)`` (1 = reverse complement).
    """
    threads = threads or thread_count()
    K = bias.shape[0]
    if (backend or kernel_backend()) == "numba":
        from deepprune_cli.core import first_layer_kernels

        with _numba_threads(threads):
            return first_layer_kernels.features_forward(tokens, table, g, width, K, bias, bool(relu))
    _check(tokens=(tokens, np.uint8), table=(table, np.float32), bias=(bias, np.float32))
    B, L = tokens.shape
    J, _, K2 = table.shape
    out = np.empty((B, K), np.float32)
    arg = np.empty((B, K), np.int32)
    strand = np.empty((B, K), np.int8)
    _native.first_layer_forward(tokens, B, L, table, J, K2, g, width, K, bias, bool(relu), out, arg, strand, threads)
    return out, arg, strand


def first_layer_backward(tokens: np.ndarray, arg: np.ndarray, strand: np.ndarray, grad: np.ndarray, width: int,
                         threads: int | None = None, backend: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of :func:`first_layer_forward` with respect to the kernels and their biases.

    Args:
        tokens: uint8 ``(B, L)``; arg: int32 ``(B, K)`` and strand: int8 ``(B, K)`` from the
        forward; grad: float32 ``(B, K)``, zero where the ReLU was off; width: W.

    Returns:
        ``d weight`` float32 ``(K, 4, W)`` and ``d bias`` float32 ``(K,)``.
    """
    threads = threads or thread_count()
    if (backend or kernel_backend()) == "numba":
        from deepprune_cli.core import first_layer_kernels

        with _numba_threads(threads):
            return first_layer_kernels.features_backward(tokens, arg, strand, grad, width)
    _check(tokens=(tokens, np.uint8), arg=(arg, np.int32), strand=(strand, np.int8), grad=(grad, np.float32))
    B, L = tokens.shape
    K = grad.shape[1]
    gw = np.empty((K, 4, width), np.float32)
    gb = np.empty(K, np.float32)
    _native.first_layer_backward(tokens, B, L, arg, strand, grad, K, width, gw, gb, threads)
    return gw, gb

"""Exact, uniform k-let preserving shuffles (Altschul & Erickson 1985; Kandel et al. 1996).

A sequence is an Eulerian trail through the de Bruijn multigraph whose vertices are its
(k-1)-mers and whose edges are its k-lets. Every trail from the first to the last (k-1)-mer
spells a sequence with exactly the same k-let counts and the same first and last k-1 letters.
Drawing a trail uniformly (so that every distinct sequence is equally likely) takes three steps,
as in uShuffle and MEME's fasta-shuffle-letters:

1. draw a uniformly random arborescence of "last exits" towards the final vertex, here with
   Wilson's loop-erased random walk, choosing each step with probability proportional to the
   edge multiplicity;
2. permute the remaining out-edges of every vertex uniformly, putting its last exit at the end;
3. walk from the first vertex, taking each vertex's out-edges in that order.

The swap-based shuffle used in several CNN codebases is not uniform (for ACCCACGATGATG it reaches
9 of the 27 valid dinucleotide shuffles).

Runs of N stay in place; the ACGT segments between them are shuffled independently. Every
record is seeded from ``(seed, record index, copy)`` with a counter-based generator, so output
never depends on batch size or thread count.

The kernels are C (``_native.c``) where the extension was built and numba
(:mod:`~deepprune_cli.core.shuffle_kernels`) otherwise; both draw the same numbers in the same order,
so a seed gives the same bytes on either (:mod:`~deepprune_cli.core.kernels`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Iterable

import numpy as np

from deepprune_cli.core.errors import InputError
from deepprune_cli.core.sequences import LETTERS, N_TOKEN, SequenceSet

MAX_K = 6  # (k-1)-mer graphs up to 4**5 vertices; uShuffle-style use rarely needs more


def check_options(k: int, copies: int, seed: int) -> None:
    """Raise :class:`InputError` for a k, copy count or seed the shuffles cannot take."""
    if not 1 <= k <= MAX_K:
        raise InputError(f"-k must be between 1 and {MAX_K}, got {k}")
    if copies < 1:
        raise InputError(f"--copies must be at least 1, got {copies}")
    if seed < 0:
        raise InputError(f"--seed must be non-negative, got {seed}")


def shuffle_tokens(
    tokens: np.ndarray,
    offsets: np.ndarray,
    k: int = 2,
    copies: int = 1,
    seed: int = 0,
    threads: int | None = None,
    first_record: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle concatenated records.

    Args:
        tokens: uint8 ``(total,)``, values 0..4.
        offsets: int64 ``(n + 1,)`` record boundaries.
        k: size of the k-lets to preserve (1..6).
        copies: shuffles per record.
        seed: base seed; record ``r``, copy ``c`` is seeded from ``(seed, r, c)``.
        threads: threads (default: all cores this process may use); the bytes do not depend on it.
        first_record: index of the first record in the whole input (streamed chunks).

    Returns:
        ``(out, too_short)``: uint8 ``(copies * total,)`` record-major (all copies of record 0,
        then record 1, ...), and bool ``(n,)`` marking records too short to change.
    """
    from deepprune_cli.core import kernels

    check_options(k, copies, seed)
    tokens = np.ascontiguousarray(tokens, dtype=np.uint8)
    offsets = np.ascontiguousarray(offsets - offsets[0], dtype=np.int64)
    out = np.empty(copies * int(offsets[-1]), dtype=np.uint8)
    too_short = np.zeros(len(offsets) - 1, dtype=np.bool_)
    kernels.shuffle_records(tokens, offsets, k, copies, seed & 0xFFFFFFFFFFFFFFFF, first_record, out, too_short, threads)
    return out, too_short


def shuffle_set(
    seqs: SequenceSet, k: int = 2, copies: int = 1, seed: int = 0, tag: str = "_shuf", threads: int | None = None
) -> SequenceSet:
    """k-let preserving shuffles of every record of ``seqs`` (unlabelled result).

    Ids become ``id + tag``, plus ``_<copy>`` (1-based) when ``copies > 1``. Records too short
    to shuffle are kept unchanged; their count is ``result.too_short`` (an attribute set here).
    """
    tokens = seqs.tokens[seqs.offsets[0] : seqs.offsets[-1]]
    out, too_short = shuffle_tokens(tokens, seqs.offsets, k=k, copies=copies, seed=seed, threads=threads)
    lengths = np.repeat(seqs.lengths, copies)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if copies == 1:
        ids = [f"{i}{tag}" for i in seqs.ids]
    else:
        ids = [f"{i}{tag}{c + 1}" for i in seqs.ids for c in range(copies)]
    result = SequenceSet(ids, out, offsets, None, f"shuffled {seqs.source}")
    result.too_short = int(too_short.sum())  # type: ignore[attr-defined]
    return result


@dataclass
class ShuffleSummary:
    """What :func:`write_shuffled` did: input records read, records written, records kept unchanged."""

    records: int = 0
    written: int = 0
    too_short: int = 0


def write_shuffled(
    chunks: Iterable[SequenceSet],
    stream: IO[bytes],
    k: int = 2,
    copies: int = 1,
    seed: int = 0,
    tag: str = "_shuf",
    threads: int | None = None,
) -> ShuffleSummary:
    """Shuffle a stream of chunks and write the shuffles as FASTA, one chunk at a time.

    Memory holds two chunks and their shuffles, whatever the input size: while one chunk is
    shuffled, rendered and written on a worker thread (in compiled code, without the GIL), the next
    one is read. Record ``r`` of the whole stream is seeded from ``(seed, r, copy)``, so the bytes
    are those of ``format_fasta(shuffle_set(whole input, ...))`` however the input was cut into
    chunks. An exception (or Ctrl-C) while reading waits for the chunk in flight, then propagates.

    Args:
        chunks: :class:`SequenceSet` chunks in input order (``sequences.stream_sequences``).
        stream: binary output; gets ``>id<tag>[copy]\nSEQUENCE\n`` per shuffle (labels dropped).
        k, copies, seed, tag, threads: as :func:`shuffle_set`.
    """
    import threading

    from deepprune_cli.core import kernels

    check_options(k, copies, seed)
    suffixes = [tag] if copies == 1 else [f"{tag}{c + 1}" for c in range(copies)]
    suffix_blob = np.frombuffer("".join(suffixes).encode(), dtype=np.uint8)
    suffix_offsets = np.zeros(copies + 1, dtype=np.int64)
    np.cumsum([len(x.encode()) for x in suffixes], out=suffix_offsets[1:])
    backend = kernels.kernel_backend()
    summary = ShuffleSummary()
    failure: list[BaseException] = []

    # The shuffles and their text go to buffers reused from chunk to chunk (one worker runs at a
    # time): fresh ones would cost a page fault per 4 KiB and leave the allocator's heaps fragmented.
    buffers = {"out": np.empty(0, np.uint8), "text": np.empty(0, np.uint8)}

    def buffer(name: str, size: int) -> np.ndarray:
        if len(buffers[name]) < size:
            buffers[name] = np.empty(0, np.uint8)  # the old one goes before the new one comes
            buffers[name] = np.empty(size + size // 8, np.uint8)
        return buffers[name][:size]

    def shuffle_and_write(tokens, offsets, id_blob, id_offsets, first_record):
        try:
            n = len(offsets) - 1
            out = buffer("out", copies * len(tokens))
            too_short = np.zeros(n, dtype=np.bool_)
            kernels.shuffle_records(tokens, offsets, k, copies, seed & 0xFFFFFFFFFFFFFFFF, first_record, out,
                                    too_short, threads, backend=backend)
            text = buffer("text", copies * (len(id_blob) + 2 * n + len(tokens)) + n * len(suffix_blob))
            kernels.render_copies(id_blob, id_offsets, suffix_blob, suffix_offsets, out, offsets, LETTERS, text,
                                  backend=backend)
            stream.write(memoryview(text))
            summary.too_short += int(too_short.sum())
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    worker: threading.Thread | None = None

    def finish_worker():
        nonlocal worker
        if worker is not None:
            worker.join()
            worker = None
        if failure:
            raise failure[0]

    done = False
    try:
        for seqs in chunks:
            n = len(seqs)
            if n == 0:
                continue
            tokens = np.ascontiguousarray(seqs.tokens[seqs.offsets[0] : seqs.offsets[-1]])
            offsets = np.ascontiguousarray(seqs.offsets - seqs.offsets[0], dtype=np.int64)
            # Ids back to back, each followed by a separator byte (ids hold no line ends).
            id_blob = np.frombuffer(("\n".join(seqs.ids) + "\n").encode(), dtype=np.uint8)
            id_offsets = np.zeros(n + 1, dtype=np.int64)
            id_offsets[1:] = np.flatnonzero(id_blob == 10) + 1
            finish_worker()  # the previous chunk is written before this one starts: output in order
            worker = threading.Thread(target=shuffle_and_write, args=(tokens, offsets, id_blob, id_offsets,
                                                                      summary.records), daemon=True)
            worker.start()
            summary.records += n
            summary.written += n * copies
            del seqs, tokens, offsets, id_blob, id_offsets
        done = True
    finally:
        if done:
            finish_worker()
        elif worker is not None:
            # An error or an interrupt while reading: the chunk in flight ends before the caller
            # cleans up (closes or removes the output); the first error is the one raised.
            worker.join()
    return summary


def klet_counts(tokens: np.ndarray, k: int) -> dict[bytes, int]:
    """Counts of every k-let of ACGT (k-lets containing N are skipped). For tests and checks."""
    t = np.asarray(tokens, dtype=np.uint8)
    counts: dict[bytes, int] = {}
    for i in range(len(t) - k + 1):
        w = t[i : i + k]
        if (w == N_TOKEN).any():
            continue
        key = w.tobytes()
        counts[key] = counts.get(key, 0) + 1
    return counts

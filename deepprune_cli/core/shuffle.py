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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Iterable

import numpy as np

import numba

from deepprune_cli.core.errors import InputError
from deepprune_cli.core.sequences import LETTERS, N_TOKEN, SequenceSet

MAX_K = 6  # (k-1)-mer graphs up to 4**5 vertices; uShuffle-style use rarely needs more


# The kernels below are compiled on first use and cached on disk (cache=True), so only the
# very first run on a machine pays for compilation.


@numba.njit(cache=True, nogil=True)
def next_u64(state):
    # splitmix64: tiny, fast and well mixed; one uint64 of state per record.
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))

@numba.njit(cache=True, nogil=True)
def rand_below(state, n):
    # 53 random bits scaled to [0, n): bias below n / 2**53, far below any test's reach. The bits
    # go through int64 (exact below 2**53): a signed conversion is one instruction, unsigned a branch.
    return np.int64(np.float64(np.int64(next_u64(state) >> np.uint64(11))) * (1.0 / 9007199254740992.0) * n)

@numba.njit(cache=True, nogil=True)
def seed_state(state, seed, record, copy):
    state[0] = np.uint64(seed) * np.uint64(0xD1B54A32D192ED03) ^ (
        np.uint64(record) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(copy) * np.uint64(0xBF58476D1CE4E5B9)
    )
    next_u64(state)
    next_u64(state)

@numba.njit(cache=True, nogil=True)
def shuffle_segment(seg, out, k, state, counts, nxt, in_tree, ptr, edges):
    """Write a uniform k-let shuffle of ``seg`` (tokens 0..3, shape (L,)) into ``out`` (L,)."""
    L = seg.shape[0]
    if k == 1:
        out[:] = seg
        for i in range(L - 1, 0, -1):
            j = rand_below(state, i + 1)
            t = out[i]
            out[i] = out[j]
            out[j] = t
        return
    m = k - 1
    if L <= m + 1:  # at most one k-let: nothing can move
        out[:] = seg
        return
    nv = 4**m
    mask = nv - 1  # (k-1)-mer codes wrap with a mask: an integer division per letter costs more than the rest
    for u in range(nv * 4):
        counts[u] = 0
    v = 0
    for j in range(m):
        v = v * 4 + seg[j]
    start = v
    for i in range(m, L):
        a = seg[i]
        counts[v * 4 + a] += 1
        v = (v * 4 + a) & mask
    end = v
    # 1. Wilson's algorithm: uniform arborescence of last exits, rooted at the end vertex.
    for u in range(nv):
        in_tree[u] = False
        nxt[u] = -1
    in_tree[end] = True
    for u0 in range(nv):
        deg0 = counts[u0 * 4] + counts[u0 * 4 + 1] + counts[u0 * 4 + 2] + counts[u0 * 4 + 3]
        if deg0 == 0 or in_tree[u0]:
            continue
        u = u0
        while not in_tree[u]:
            deg = counts[u * 4] + counts[u * 4 + 1] + counts[u * 4 + 2] + counts[u * 4 + 3]
            r = rand_below(state, deg)
            a = 0
            while r >= counts[u * 4 + a]:
                r -= counts[u * 4 + a]
                a += 1
            nxt[u] = a
            u = (u * 4 + a) & mask
        u = u0
        while not in_tree[u]:
            in_tree[u] = True
            u = (u * 4 + nxt[u]) & mask
    # 2. Per vertex: its out-letters, the non-last ones uniformly permuted, the last exit at the end.
    # (Values used across stores into ``edges`` are held in locals: the compiler cannot tell the
    # arrays apart and would reload them after every store.)
    pos = 0
    for u in range(nv):
        b0 = pos
        last = nxt[u]
        ptr[u] = pos
        for a in range(4):
            c = counts[u * 4 + a] - (1 if last == a else 0)
            for _ in range(c):
                edges[pos] = a
                pos += 1
        for i in range(pos - b0 - 1, 0, -1):
            j = rand_below(state, i + 1)
            t = edges[b0 + i]
            edges[b0 + i] = edges[b0 + j]
            edges[b0 + j] = t
        if last >= 0:
            edges[pos] = last
            pos += 1
    # 3. Walk the trail.
    for j in range(m):
        out[j] = seg[j]
    u = start
    for i in range(m, L):
        a = edges[ptr[u]]
        ptr[u] += 1
        out[i] = a
        u = (u * 4 + a) & mask

@numba.njit(cache=True, nogil=True, parallel=True)
def shuffle_records(tokens, offsets, k, copies, seed, first_record, out, too_short):
    """Shuffle every record of ``tokens`` (concatenated, offsets (n+1,)) ``copies`` times.

    ``out`` has shape (copies * total,), record-major: copy c of record r starts at
    ``copies * offsets[r] + c * len(r)``. ``too_short[r]`` is set when record r cannot move.
    Record r is seeded as record ``first_record + r`` of the whole input, so a stream shuffled
    chunk by chunk gives the bytes of the whole input shuffled at once.
    """
    n = offsets.shape[0] - 1
    nv = 4 ** max(k - 1, 1)
    max_len = 0
    for r in range(n):
        max_len = max(max_len, offsets[r + 1] - offsets[r])
    # Records are processed in blocks so the scratch arrays are allocated once per block.
    block = 2048
    n_blocks = (n + block - 1) // block
    for b in numba.prange(n_blocks):
        counts = np.zeros(nv * 4, np.int64)
        nxt = np.empty(nv, np.int64)
        in_tree = np.empty(nv, np.bool_)
        ptr = np.empty(nv, np.int64)
        edges = np.empty(max_len + 1, np.uint8)
        state = np.empty(1, np.uint64)
        for r in range(b * block, min(n, (b + 1) * block)):
            seq = tokens[offsets[r] : offsets[r + 1]]
            L = seq.shape[0]
            n_acgt = 0
            for i in range(L):
                if seq[i] != 4:
                    n_acgt += 1
            too_short[r] = n_acgt < (2 if k == 1 else k + 2)
            for c in range(copies):
                seed_state(state, seed, first_record + r, c)
                dst = out[copies * offsets[r] + c * L : copies * offsets[r] + (c + 1) * L]
                i = 0
                while i < L:
                    if seq[i] == 4:  # N runs stay where they are
                        dst[i] = 4
                        i += 1
                        continue
                    j = i
                    while j < L and seq[j] != 4:
                        j += 1
                    shuffle_segment(seq[i:j], dst[i:j], k, state, counts, nxt, in_tree, ptr, edges)
                    i = j


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
        threads: numba threads (default: all cores).
        first_record: index of the first record in the whole input (streamed chunks).

    Returns:
        ``(out, too_short)``: uint8 ``(copies * total,)`` record-major (all copies of record 0,
        then record 1, ...), and bool ``(n,)`` marking records too short to change.
    """
    check_options(k, copies, seed)
    kernel = shuffle_records
    tokens = np.ascontiguousarray(tokens, dtype=np.uint8)
    offsets = np.ascontiguousarray(offsets - offsets[0], dtype=np.int64)
    out = np.empty(copies * int(offsets[-1]), dtype=np.uint8)
    too_short = np.zeros(len(offsets) - 1, dtype=np.bool_)
    previous = numba.get_num_threads()
    numba.set_num_threads(min(threads or numba.config.NUMBA_NUM_THREADS, numba.config.NUMBA_NUM_THREADS))
    try:
        kernel(tokens, offsets, k, copies, seed & 0xFFFFFFFFFFFFFFFF, first_record, out, too_short)
    finally:
        numba.set_num_threads(previous)
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

    Memory holds one chunk and its shuffles, whatever the input size. Record ``r`` of the whole
    stream is seeded from ``(seed, r, copy)``, so the bytes are those of
    ``format_fasta(shuffle_set(whole input, ...))`` however the input was cut into chunks.

    Args:
        chunks: :class:`SequenceSet` chunks in input order (``sequences.stream_sequences``).
        stream: binary output; gets ``>id<tag>[copy]\nSEQUENCE\n`` per shuffle (labels dropped).
        k, copies, seed, tag, threads: as :func:`shuffle_set`.
    """
    from deepprune_cli.core import fasta_kernels

    check_options(k, copies, seed)
    suffixes = [tag] if copies == 1 else [f"{tag}{c + 1}" for c in range(copies)]
    suffix_blob = np.frombuffer("".join(suffixes).encode(), dtype=np.uint8)
    suffix_offsets = np.zeros(copies + 1, dtype=np.int64)
    np.cumsum([len(x.encode()) for x in suffixes], out=suffix_offsets[1:])
    summary = ShuffleSummary()
    for seqs in chunks:
        n = len(seqs)
        if n == 0:
            continue
        tokens = seqs.tokens[seqs.offsets[0] : seqs.offsets[-1]]
        out, too_short = shuffle_tokens(
            tokens, seqs.offsets, k=k, copies=copies, seed=seed, threads=threads, first_record=summary.records
        )
        # Ids back to back, each followed by a separator byte (ids hold no line ends).
        id_blob = np.frombuffer(("\n".join(seqs.ids) + "\n").encode(), dtype=np.uint8)
        id_offsets = np.zeros(n + 1, dtype=np.int64)
        id_offsets[1:] = np.flatnonzero(id_blob == 10) + 1
        size = copies * (len(id_blob) + 2 * n + len(tokens)) + n * len(suffix_blob)
        text = np.empty(size, dtype=np.uint8)
        offsets = seqs.offsets - seqs.offsets[0]
        fasta_kernels.render_copies(id_blob, id_offsets, suffix_blob, suffix_offsets, out, offsets, LETTERS, text)
        stream.write(memoryview(text))
        summary.records += n
        summary.written += n * copies
        summary.too_short += int(too_short.sum())
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

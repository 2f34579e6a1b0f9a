"""The numba k-let shuffle kernels: the reference for the C port in ``_native.c`` and its fallback.

The algorithm is described in :mod:`deepprune_cli.core.shuffle`; call it through
:func:`deepprune_cli.core.shuffle.shuffle_tokens`, which picks the backend
(:mod:`deepprune_cli.core.kernels`). Any change here must be made to ``_native.c`` too: the two must
draw the same random numbers in the same order, and tests compare their bytes.
"""

from __future__ import annotations

import numba
import numpy as np

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

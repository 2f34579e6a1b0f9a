"""Record ids kept compactly: one UTF-8 blob and offsets instead of a list of Python strings.

A million ids such as ``seq123456`` cost about 66 MB as a list of ``str`` (a 58-byte object and
an 8-byte pointer each) but 18 MB as :class:`RecordIds` (the bytes and one int64 offset each):
for 101-bp records that is 0.65 against 0.18 bytes per base, a third of what holding the tokens
costs. An id is decoded when it is read. :class:`RecordIds` is a read-only sequence of ``str``
that compares equal to the list it replaces; :func:`take` and :func:`first_duplicate` do what a
list would need a copy of every id for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Iterable

import numpy as np

#: ids hashed or gathered per block (bounds the temporary arrays of :func:`first_duplicate` and
#: :meth:`RecordIds.take`)
_HASH_BLOCK = 1 << 16
_HASH_BASE = np.uint64(1099511628211)  # FNV prime: any odd 64-bit multiplier spreads bytes


class RecordIds(Sequence):
    """``n`` record ids as one UTF-8 blob.

    Attributes:
        blob: the ids' UTF-8 bytes back to back (``bytes``).
        offsets: int64 ``(n + 1,)``; id ``i`` is ``blob[offsets[i]:offsets[i+1]]``.

    Indexing with an int gives a ``str``, with a slice a list of ``str`` (as a list would);
    iteration, ``in``, ``index``, ``count`` and ``==`` against a list or tuple behave as the list
    of the same ids.
    """

    __slots__ = ("blob", "offsets")

    def __init__(self, blob: bytes, offsets: np.ndarray):
        self.blob = bytes(blob)
        self.offsets = np.asarray(offsets, dtype=np.int64)

    @classmethod
    def from_strings(cls, ids: Iterable[str]) -> "RecordIds":
        """Ids from Python strings (any iterable of ``str``)."""
        ids = ids if isinstance(ids, (list, tuple)) else list(ids)
        offsets = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, ids), dtype=np.int64, count=len(ids)), out=offsets[1:])
        blob = "".join(ids).encode("utf-8")
        if len(blob) != offsets[-1]:  # not all ASCII: lengths in bytes differ from lengths in characters
            encoded = [s.encode("utf-8") for s in ids]
            np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
            blob = b"".join(encoded)
        return cls(blob, offsets)

    @classmethod
    def concatenate(cls, parts: Sequence) -> "RecordIds":
        """The ids of ``parts`` (RecordIds or lists of ``str``) one after the other."""
        parts = [p if isinstance(p, RecordIds) else cls.from_strings(p) for p in parts]
        offsets = [np.zeros(1, np.int64)]
        base = 0
        for p in parts:
            offsets.append(p.offsets[1:] - p.offsets[0] + base)
            base += int(p.offsets[-1] - p.offsets[0])
        return cls(b"".join(p.blob[p.offsets[0] : p.offsets[-1]] for p in parts), np.concatenate(offsets))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        i = int(i)  # numpy integers too
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("record id index out of range")
        return self.blob[self.offsets[i] : self.offsets[i + 1]].decode("utf-8")

    def __iter__(self):
        blob, off = self.blob, self.offsets.tolist()
        for a, b in zip(off[:-1], off[1:]):
            yield blob[a:b].decode("utf-8")

    def __eq__(self, other) -> bool:
        if isinstance(other, RecordIds):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        if isinstance(other, (list, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # mutable-free but compared by value, as a list is

    def __repr__(self) -> str:
        head = ", ".join(repr(s) for s in self[:3])
        return f"RecordIds([{head}{', ...' if len(self) > 3 else ''}], n={len(self)})"

    @property
    def nbytes(self) -> int:
        """Bytes held: the blob and the offsets."""
        return len(self.blob) + self.offsets.nbytes

    def reorder_in_place(self, order: np.ndarray) -> None:
        """Become ``self.take(order)`` (``order``: a permutation, int ``(n,)``), for a caller that
        reorders a set's records in place (:func:`layout.partition_rows`)."""
        new = self.take(order)
        self.blob, self.offsets = new.blob, new.offsets

    def take(self, index: np.ndarray) -> "RecordIds":
        """Ids ``index`` (int ``(m,)``), in that order, as a new RecordIds."""
        index = np.asarray(index, dtype=np.int64)
        starts = self.offsets[:-1][index]
        lengths = self.offsets[1:][index] - starts
        offsets = np.zeros(len(index) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        src = np.frombuffer(self.blob, dtype=np.uint8)
        out = np.empty(int(offsets[-1]), dtype=np.uint8)
        # In blocks: the int64 byte positions of all ids at once would cost 8x the blob.
        for a in range(0, len(index), _HASH_BLOCK):
            b = min(a + _HASH_BLOCK, len(index))
            lo, hi = int(offsets[a]), int(offsets[b])
            ln = lengths[a:b]
            within = np.arange(hi - lo, dtype=np.int64) - np.repeat(offsets[a:b] - lo, ln)
            out[lo:hi] = src[np.repeat(starts[a:b], ln) + within]
        return RecordIds(out.tobytes(), offsets)


def take(ids, index: np.ndarray):
    """Ids ``index`` (int ``(m,)``) of a list (a list back) or of :class:`RecordIds` (RecordIds back)."""
    if isinstance(ids, RecordIds):
        return ids.take(index)
    return [ids[i] for i in np.asarray(index, dtype=np.int64).tolist()]


def _hashes(ids: RecordIds) -> np.ndarray:
    """A 64-bit polynomial hash of every id: uint64 ``(n,)``; equal ids hash equal."""
    n = len(ids)
    out = np.zeros(n, dtype=np.uint64)
    data = np.frombuffer(ids.blob, dtype=np.uint8)
    lengths = np.diff(ids.offsets)
    longest = int(lengths.max()) if n else 0
    powers = np.ones(max(longest, 1), dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrapping arithmetic is the hash
        for k in range(1, longest):
            powers[k] = powers[k - 1] * _HASH_BASE
        for a in range(0, n, _HASH_BLOCK):
            b = min(a + _HASH_BLOCK, n)
            lo, hi = int(ids.offsets[a]), int(ids.offsets[b])
            ln = lengths[a:b]
            if hi == lo:
                continue
            rel = ids.offsets[a:b] - lo
            pos = np.arange(hi - lo, dtype=np.int64) - np.repeat(rel, ln)
            cum = np.zeros(hi - lo + 1, dtype=np.uint64)
            np.cumsum((data[lo:hi].astype(np.uint64) + np.uint64(1)) * powers[pos], out=cum[1:])
            out[a:b] = cum[rel + ln] - cum[rel]  # each id's sum (mod 2**64; empty ids 0)
        out ^= lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return out


def first_duplicate(ids) -> str | None:
    """The first id (in order) that repeats an earlier one, or None: as a scan with a ``set``
    finds it, but for :class:`RecordIds` without building every ``str`` (hashes first, then only
    ids whose hash repeats are decoded and compared)."""
    if not isinstance(ids, RecordIds):
        seen = set()
        for rid in ids:
            if rid in seen:
                return rid
            seen.add(rid)
        return None
    h = _hashes(ids)
    hs = np.sort(h)  # a plain sort: which record holds a hash is looked up only if one repeats
    repeated_hashes = hs[1:][hs[1:] == hs[:-1]]
    if not len(repeated_hashes):
        return None
    repeated = np.isin(h, repeated_hashes)
    seen = set()
    for i in np.flatnonzero(repeated).tolist():  # ascending: record order
        rid = ids[i]
        if rid in seen:
            return rid
        seen.add(rid)
    return None

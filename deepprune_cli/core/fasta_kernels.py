"""Single-pass numba kernels behind FASTA reading and writing.

Kept apart from :mod:`deepprune_cli.core.sequences` so that the record model stays readable;
these functions are the whole hot path for a million-record file. Compiled code is cached on
disk (``cache=True``): only the first run on a machine pays for compilation.
"""

from __future__ import annotations

import numba
import numpy as np

# Codes of the byte -> token table (see sequences.BYTE_TO_TOKEN).
_INVALID = 255
_IUPAC = 254
_SKIP = 253


@numba.njit(cache=True, nogil=True)
def scan_fasta(buf, lut, max_records, tokens):
    """Parse FASTA bytes in one pass.

    Args:
        buf: uint8 ``(nbytes,)`` file content; must start with '>' and end with '\\n'.
        lut: uint8 ``(256,)`` byte -> token table (0..4, or the IUPAC/SKIP/INVALID codes).
        max_records: an upper bound on the record count (number of '>' bytes).
        tokens: uint8 ``(nbytes,)`` output buffer for sequence tokens.

    Returns:
        ``(n, header_start, header_end, lengths, n_tokens, n_iupac, bad_record, bad_pos, bad_byte)``:
        header byte ranges (after '>' up to the line end, CR excluded) and letter counts of the
        ``n`` records; ``bad_record >= 0`` marks the first invalid letter (0-based record,
        1-based position in it, and its index in ``buf``), ``n`` then being the records read so far.
    """
    header_start = np.empty(max_records, np.int64)
    header_end = np.empty(max_records, np.int64)
    lengths = np.zeros(max_records, np.int64)
    n = 0
    pos = 0
    n_iupac = 0
    i = 0
    size = buf.shape[0]
    while i < size:
        if buf[i] == 62:  # '>' at a line start: a new record
            j = i + 1
            while buf[j] != 10:
                j += 1
            header_start[n] = i + 1
            header_end[n] = j - 1 if j > i + 1 and buf[j - 1] == 13 else j
            n += 1
            i = j + 1
            continue
        # a sequence line
        while buf[i] != 10:
            t = lut[buf[i]]
            if t < 5:
                tokens[pos] = t
                pos += 1
                lengths[n - 1] += 1
            elif t == _IUPAC:
                tokens[pos] = 4
                pos += 1
                lengths[n - 1] += 1
                n_iupac += 1
            elif t != _SKIP:
                return n, header_start, header_end, lengths, pos, n_iupac, n - 1, lengths[n - 1] + 1, i
            i += 1
        i += 1
    return n, header_start, header_end, lengths, pos, n_iupac, -1, 0, 0


@numba.njit(cache=True, nogil=True)
def gather_headers(buf, header_start, header_end, n, out):
    """Copy the ``n`` header texts into ``out`` separated by '\\n'; returns the bytes written."""
    p = 0
    for r in range(n):
        for i in range(header_start[r], header_end[r]):
            out[p] = buf[i]
            p += 1
        out[p] = 10
        p += 1
    return p


@numba.njit(cache=True, nogil=True)
def render_copies(id_blob, id_offsets, suffix_blob, suffix_offsets, tokens, offsets, letters, out):
    """Write ``copies`` records per input record as ``>id suffix\\nSEQUENCE\\n`` into ``out``.

    Args:
        id_blob: uint8 ids back to back; id ``r`` is ``id_blob[id_offsets[r]:id_offsets[r + 1] - 1]``
            (a separator byte follows each).
        suffix_blob, suffix_offsets: uint8 suffix texts and int64 ``(copies + 1,)`` bounds; copy ``c``
            of every record gets suffix ``c`` after its id.
        tokens: uint8 ``(copies * total,)`` record-major: copy ``c`` of record ``r`` starts at
            ``copies * offsets[r] + c * len(r)``; offsets: int64 ``(n + 1,)`` from 0.
        letters: uint8 ``(5,)`` token -> byte; out: uint8, exact size.

    Returns:
        bytes written.
    """
    p = 0
    n = offsets.shape[0] - 1
    copies = suffix_offsets.shape[0] - 1
    for r in range(n):
        length = offsets[r + 1] - offsets[r]
        for c in range(copies):
            out[p] = 62
            p += 1
            for i in range(id_offsets[r], id_offsets[r + 1] - 1):
                out[p] = id_blob[i]
                p += 1
            for i in range(suffix_offsets[c], suffix_offsets[c + 1]):
                out[p] = suffix_blob[i]
                p += 1
            out[p] = 10
            p += 1
            start = copies * offsets[r] + c * length
            for i in range(start, start + length):
                out[p] = letters[tokens[i]]
                p += 1
            out[p] = 10
            p += 1
    return p

"""DNA sequences in memory and on disk.

In memory a set of sequences is a :class:`SequenceSet`: all bases concatenated into one uint8
token array (A, C, G, T, N = 0..4) with record offsets, so a million 101-bp records cost about
101 MB and never exist as a float one-hot copy on the host. One-hot and reverse complement are
derived from tokens where they are needed (on the training device).

Readers: FASTA (plain, gzip, bgzip, ``-`` for stdin; multi-line; CRLF; soft-masked), DeepBind
``.seq[.gz]`` TSV, Zeng ``.data`` lines, and BED/narrowPeak intervals cut from a genome FASTA.
Labels travel with the records: FASTA headers may carry ``label=1`` or ``labels=0,1,0``.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable, Sequence

import numpy as np

from deepprune_cli.core.choices import SEQUENCE_FORMATS
from deepprune_cli.core import record_ids
from deepprune_cli.core.errors import DeeppruneWarning, InputError
from deepprune_cli.core.record_ids import RecordIds

ALPHABET = "ACGT"
#: tokens: A, C, G, T = 0..3, N = 4; PAD = 5 pads 'same' convolutions and scans past a record's
#: ends (it weighs zero, and never occurs in data read from a file)
N_TOKEN = 4
PAD_TOKEN = 5
#: token -> letter, for decoding (index 4 is N)
LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)
#: token -> complementary token (N and PAD stay)
COMPLEMENT = np.array([3, 2, 1, 0, 4, 5], dtype=np.uint8)

_INVALID = 255
_IUPAC = 254  # ambiguity codes other than N: become N, counted in one warning
_SKIP = 253  # white space inside sequence lines (CR, spaces, tabs)


def _build_lut() -> np.ndarray:
    lut = np.full(256, _INVALID, dtype=np.uint8)
    for i, ch in enumerate("ACGT"):
        lut[ord(ch)] = i
        lut[ord(ch.lower())] = i
    lut[ord("N")] = lut[ord("n")] = N_TOKEN
    for ch in "RYSWKMBDHV":
        lut[ord(ch)] = lut[ord(ch.lower())] = _IUPAC
    for ch in "\r \t":
        lut[ord(ch)] = _SKIP
    return lut


#: byte -> token lookup table used by every reader
BYTE_TO_TOKEN = _build_lut()


@dataclass
class SequenceSet:
    """A set of DNA records as concatenated uint8 tokens.

    Attributes:
        ids: record identifiers, ``len(ids) == n``: a list of ``str``, or for whole files read by
            :func:`read_sequences` a :class:`~deepprune_cli.core.record_ids.RecordIds` (the same
            ids in one blob: a third of the memory of 101-bp records' tokens less).
        tokens: uint8 array of shape ``(total_bases,)``, values 0..4 (A, C, G, T, N).
        offsets: int64 array of shape ``(n + 1,)``; record ``i`` is ``tokens[offsets[i]:offsets[i+1]]``.
        labels: float32 array of shape ``(n, n_classes)`` with 0/1 values, or ``None`` if unlabelled.
        source: where the records came from, for error messages.
        descriptions: header text after the id per record, where a caller keeps it (the readers
            do not: they keep ids and labels only).
    """

    ids: list[str] | RecordIds
    tokens: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray | None = None
    source: str = "<memory>"
    descriptions: list[str] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        """int64 array ``(n,)`` of record lengths."""
        return np.diff(self.offsets)

    @property
    def n_classes(self) -> int:
        return 0 if self.labels is None else int(self.labels.shape[1])

    def sequence(self, i: int) -> np.ndarray:
        """Tokens of record ``i``: uint8 ``(length_i,)`` (a view)."""
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def text(self, i: int) -> str:
        """Record ``i`` as an upper-case ACGTN string."""
        return decode(self.sequence(i))

    def fixed_length(self) -> int | None:
        """The common record length, or ``None`` if lengths differ (or the set is empty)."""
        if len(self) == 0:
            return None
        lengths = self.lengths
        return int(lengths[0]) if np.all(lengths == lengths[0]) else None

    def as_matrix(self) -> np.ndarray:
        """Tokens as a uint8 ``(n, L)`` matrix (a view, no copy); all records must share one length."""
        length = self.fixed_length()
        if length is None:
            raise InputError(
                f"{self.source}: sequences have different lengths "
                f"({int(self.lengths.min())}..{int(self.lengths.max())} bp); this needs one length"
            )
        return self.tokens[self.offsets[0] : self.offsets[-1]].reshape(len(self), length)

    def subset(self, index: Sequence[int] | np.ndarray) -> "SequenceSet":
        """A new set holding records ``index`` (in that order), tokens copied compactly."""
        index = np.asarray(index, dtype=np.int64)
        lengths = self.lengths[index]
        offsets = np.zeros(len(index) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        fixed = self.fixed_length()
        if fixed is not None:
            tokens = self.as_matrix()[index].reshape(-1)
        else:
            tokens = np.concatenate([self.sequence(i) for i in index]) if len(index) else np.zeros(0, np.uint8)
        return SequenceSet(
            ids=record_ids.take(self.ids, index),
            tokens=np.ascontiguousarray(tokens, dtype=np.uint8),
            offsets=offsets,
            labels=None if self.labels is None else self.labels[index],
            source=self.source,
            descriptions=None if self.descriptions is None else [self.descriptions[i] for i in index],
        )

    @staticmethod
    def from_strings(
        seqs: Iterable[str],
        ids: Iterable[str] | None = None,
        labels: np.ndarray | Sequence | None = None,
        source: str = "<memory>",
    ) -> "SequenceSet":
        """Build a set from Python strings (IUPAC codes become N; other letters are an error)."""
        seqs = list(seqs)
        ids = [f"seq{i}" for i in range(len(seqs))] if ids is None else list(ids)
        raw = "".join(seqs).encode("ascii", errors="replace")
        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in seqs], out=offsets[1:])
        tokens = _translate(np.frombuffer(raw, dtype=np.uint8), offsets, ids, source)
        lab = None
        if labels is not None:
            lab = np.asarray(labels, dtype=np.float32)
            if lab.ndim == 1:
                lab = lab[:, None]
        return SequenceSet(ids, tokens, offsets, lab, source)

    @staticmethod
    def concatenate(sets: Sequence["SequenceSet"], source: str | None = None) -> "SequenceSet":
        """Records of ``sets`` one after the other; all or none must carry labels of one width."""
        if not sets:
            raise InputError("no sequences to combine")
        labelled = [s.labels is not None for s in sets]
        if any(labelled) and not all(labelled):
            raise InputError("cannot combine labelled and unlabelled sequences")
        offsets = [np.zeros(1, np.int64)]
        base = 0
        for s in sets:
            offsets.append(s.offsets[1:] - s.offsets[0] + base)
            base += int(s.offsets[-1] - s.offsets[0])
        labels = None
        if all(labelled):
            widths = {s.labels.shape[1] for s in sets}
            if len(widths) != 1:
                raise InputError("cannot combine sets with different numbers of label classes")
            labels = np.concatenate([s.labels for s in sets])
        return SequenceSet(
            ids=(RecordIds.concatenate([s.ids for s in sets]) if any(isinstance(s.ids, RecordIds) for s in sets)
                 else [i for s in sets for i in s.ids]),
            tokens=np.concatenate([s.tokens[s.offsets[0] : s.offsets[-1]] for s in sets]),
            offsets=np.concatenate(offsets),
            labels=labels,
            source=source or "+".join(s.source for s in sets),
        )

    def with_labels(self, labels: np.ndarray) -> "SequenceSet":
        """The same records with ``labels`` (float32 ``(n, C)`` or ``(n,)``)."""
        lab = np.asarray(labels, dtype=np.float32)
        if lab.ndim == 1:
            lab = lab[:, None]
        if lab.shape[0] != len(self):
            raise ValueError("labels must have one row per record")
        return SequenceSet(self.ids, self.tokens, self.offsets, lab, self.source, self.descriptions)


# --------------------------------------------------------------------------------------------
# tokens, one-hot, reverse complement


def encode(seq: str) -> np.ndarray:
    """ACGTN string -> uint8 tokens ``(len,)``; IUPAC codes become N, other letters raise."""
    return SequenceSet.from_strings([seq]).tokens


def decode(tokens: np.ndarray) -> str:
    """uint8 tokens ``(len,)`` -> upper-case ACGTN string."""
    return LETTERS[np.asarray(tokens, dtype=np.uint8)].tobytes().decode("ascii")


def reverse_complement(tokens: np.ndarray) -> np.ndarray:
    """Reverse complement of tokens along the last axis: ``(..., L) -> (..., L)``."""
    return COMPLEMENT[np.asarray(tokens)[..., ::-1]]


def one_hot(tokens: np.ndarray, n_value: float = 0.25, dtype=np.float32) -> np.ndarray:
    """uint8 tokens ``(..., L)`` -> one-hot ``(..., 4, L)``; N becomes ``n_value`` in every row.

    Meant for small batches; training builds one-hot on the device from tokens instead.
    """
    return np.moveaxis(onehot_table(n_value, dtype)[np.asarray(tokens)], -1, -2)


def onehot_table(n_value: float = 0.25, dtype=np.float32) -> np.ndarray:
    """Token -> one-hot row, ``(6, 4)``: A, C, G, T the unit rows, N ``n_value`` each, PAD zeros."""
    table = np.zeros((PAD_TOKEN + 1, 4), dtype=dtype)
    table[np.arange(4), np.arange(4)] = 1
    table[N_TOKEN] = n_value
    return table


# --------------------------------------------------------------------------------------------
# opening files


def _display(path) -> str:
    return "<stdin>" if str(path) == "-" else str(path)


def _open_input(path, kind: str, opener):
    """``opener(Path)`` on an input file, after the checks every reader shares: one-line
    :class:`InputError` for a missing file, a directory or no permission."""
    name, p = _display(path), Path(path)
    if not p.exists():
        raise InputError(f"{name}: no such file")
    if p.is_dir():
        raise InputError(f"{name}: is a directory, expected a {kind}")
    try:
        return opener(p)
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None


def read_input_bytes(path, kind: str = "file") -> bytes:
    """Whole (decompressed) content of ``path`` (``-`` = stdin); gzip and bgzip detected by magic bytes.

    Every input reader opens files through here, so a missing file, a directory, a permission
    problem or a truncated gzip gives the same one-line :class:`InputError` everywhere.
    ``kind`` names what was expected, for the directory message.
    """
    name = _display(path)
    raw = sys.stdin.buffer.read() if str(path) == "-" else _open_input(path, kind, lambda p: p.read_bytes())
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, gzip.BadGzipFile) as exc:
            raise InputError(f"{name}: corrupt or truncated gzip file ({exc})") from None
    return raw


# --------------------------------------------------------------------------------------------
# translation of raw bytes to tokens


def _translate(raw: np.ndarray, offsets: np.ndarray, ids: Sequence[str], source: str) -> np.ndarray:
    """Map raw sequence bytes ``(total,)`` to tokens, raising on invalid letters.

    IUPAC ambiguity codes become N with one warning giving their count.
    """
    tokens = BYTE_TO_TOKEN[raw]
    if (tokens >= _SKIP).any():
        iupac = tokens == _IUPAC
        invalid = tokens == _INVALID
        if invalid.any():
            pos = int(np.flatnonzero(invalid)[0])
            rec = int(np.searchsorted(offsets, pos, side="right") - 1)
            ch = chr(raw[pos])
            shown = repr(ch) if ch.isprintable() else f"byte 0x{raw[pos]:02x}"
            raise InputError(
                f"{source}: record '{ids[rec]}' position {pos - offsets[rec] + 1}: "
                f"invalid sequence character {shown}"
            )
        n_iupac = int(iupac.sum())
        if n_iupac == 0:
            return tokens
        tokens[iupac] = N_TOKEN
        warnings.warn(
            f"{source}: {n_iupac} IUPAC ambiguity code(s) other than N read as N", DeeppruneWarning, stacklevel=3
        )
    return tokens


# --------------------------------------------------------------------------------------------
# FASTA

_LABEL_RE = re.compile(r"(?:^|\s)labels?=(\S+)")


def _parse_labels(fields: list[str | None], ids: list[str], source: str) -> np.ndarray | None:
    """Labels from the ``label=X`` / ``labels=X,Y,..`` header fields (``fields``: the value after
    ``=`` per record, None without one): float32 ``(n, C)`` or None.

    Each distinct field is checked once and becomes one row of a small table, so a million records
    cost one index each rather than a Python list of strings each."""
    rows: dict[str, list[str] | None] = {}
    for value in set(fields):
        if value is not None:
            parts = value.split(",")
            rows[value] = parts if all(v in ("0", "1") for v in parts) else None
    if not rows:
        return None
    if any(r is None for r in rows.values()):
        rid, value = next((rid, v) for v, rid in zip(fields, ids) if v is not None and rows[v] is None)
        raise InputError(f"{source}: record '{rid}': labels must be 0 or 1, got '{value}'")
    if None in fields:
        raise InputError(f"{source}: record '{ids[fields.index(None)]}' has no label while other records do")
    widths = {len(r) for r in rows.values()}
    if len(widths) != 1:
        raise InputError(f"{source}: records carry label vectors of different widths {sorted(widths)}")
    keys = list(rows)
    table = np.array([rows[k] for k in keys], dtype=np.float32)  # (distinct fields, C)
    row_of = {k: i for i, k in enumerate(keys)}
    return table[np.fromiter((row_of[v] for v in fields), dtype=np.int64, count=len(fields))]


def parse_fasta_bytes(data: bytes, source: str = "<memory>", check_ids: bool = True) -> SequenceSet:
    """Parse FASTA content (already decompressed) into a :class:`SequenceSet`.

    ``check_ids=False`` leaves duplicate ids to the caller (:func:`read_sequences` checks a whole
    file's ids once, not each chunk's too).

    One compiled pass over the bytes (:func:`kernels.scan_fasta`) finds the headers and
    translates the letters; header texts are decoded in one go.
    """
    from deepprune_cli.core import kernels

    if data.startswith(b"\xef\xbb\xbf"):  # UTF-8 byte-order mark from some editors
        data = data[3:]
    first = 0
    while first < len(data) and data[first : first + 1] in (b"\n", b"\r", b" ", b"\t"):
        first += 1
    if first == len(data):
        raise InputError(f"{source}: file is empty")
    if b"\x00" in data:
        raise InputError(f"{source}: contains NUL bytes; not a FASTA text file")
    if data[first : first + 1] != b">":
        raise InputError(f"{source}: not FASTA (the first record must start with '>')")
    if not data.endswith(b"\n"):
        data += b"\n"
    buf = np.frombuffer(data, dtype=np.uint8)[first:]
    tokens = np.empty(len(buf), dtype=np.uint8)
    n, h_start, h_end, lengths, n_tokens, n_iupac, bad_record, bad_pos, bad_byte = kernels.scan_fasta(
        buf, BYTE_TO_TOKEN, kernels.count_byte(data, 62), tokens  # 62: '>', a bound on the records
    )
    blob = np.empty(int((h_end[:n] - h_start[:n]).sum()) + n, dtype=np.uint8)
    kernels.gather_headers(buf, h_start, h_end, n, blob)
    blob = blob.tobytes()
    # Spaces or tabs (descriptions, labels) or an empty header: the slow path below.
    plain = b" " not in blob and b"\t" not in blob and b"\n\n" not in blob and not blob.startswith(b"\n")
    headers = blob.decode("utf-8", errors="replace").split("\n")[:-1]
    del blob
    if bad_record >= 0:
        parts = headers[bad_record].split(None, 1)
        rid = parts[0] if parts else str(bad_record + 1)
        byte = int(buf[bad_byte])
        shown = repr(chr(byte)) if chr(byte).isprintable() and byte < 128 else f"byte 0x{byte:02x}"
        raise InputError(f"{source}: record '{rid}' position {bad_pos}: invalid sequence character {shown}")
    # The buffer was sized for the whole file; shrink it in place (pages past the tokens were never
    # touched, and a copy would hold the tokens twice at the read's peak).
    tokens.resize(n_tokens, refcheck=False)
    lengths = lengths[:n]
    if n_iupac:
        warnings.warn(
            f"{source}: {n_iupac} IUPAC ambiguity code(s) other than N read as N", DeeppruneWarning, stacklevel=2
        )
    if not plain:
        # Only the id and the label field of a header are kept: the rest of a million descriptions
        # would cost more memory than the sequences' tokens.
        ids, fields = [], []
        for k, h in enumerate(headers):
            parts = h.split(None, 1)
            if not parts:
                raise InputError(f"{source}: record {k + 1} has an empty header (no id after '>')")
            ids.append(parts[0])
            desc = parts[1] if len(parts) > 1 else ""
            m = _LABEL_RE.search(desc) if "label" in desc else None
            fields.append(None if m is None else m.group(1))
    else:  # common case: headers are bare ids
        ids, fields = headers, None
    del headers
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    empty = np.flatnonzero(lengths == 0)
    if len(empty):
        raise InputError(f"{source}: record '{ids[int(empty[0])]}' has an empty sequence")
    if check_ids:
        _check_unique(ids, source)
    labels = _parse_labels(fields, ids, source) if fields else None
    return SequenceSet(ids, tokens, offsets, labels, source)


def _check_unique(ids: list[str] | RecordIds, source: str) -> None:
    rid = record_ids.first_duplicate(ids)
    if rid is not None:
        raise InputError(f"{source}: duplicate record id '{rid}'")


def read_fasta(path) -> SequenceSet:
    """Read FASTA (plain/gzip/bgzip, ``-`` = stdin)."""
    return parse_fasta_bytes(read_input_bytes(path), _display(path))


# --------------------------------------------------------------------------------------------
# DeepBind .seq TSV and Zeng .data


def _records_from_columns(ids, seqs, labels, source, line_numbers) -> SequenceSet:
    """Assemble a set from parallel lists of id, sequence bytes and label strings."""
    for rid, lab, ln in zip(ids, labels, line_numbers):
        if lab not in ("0", "1"):
            raise InputError(f"{source}: line {ln}: label must be 0 or 1, got '{lab}'")
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    empty = np.flatnonzero(lengths == 0)
    if len(empty):
        raise InputError(f"{source}: line {line_numbers[int(empty[0])]}: empty sequence")
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    raw = np.frombuffer(b"".join(seqs), dtype=np.uint8)
    tokens = _translate(raw, offsets, ids, source)
    if (tokens == _SKIP).any():
        pos = int(np.flatnonzero(tokens == _SKIP)[0])
        rec = int(np.searchsorted(offsets, pos, side="right") - 1)
        raise InputError(f"{source}: line {line_numbers[rec]}: white space inside the sequence")
    _check_unique(ids, source)
    lab = np.array(labels, dtype=np.float32)[:, None]
    return SequenceSet(list(ids), tokens, offsets, lab, source)


def parse_deepbind_bytes(data: bytes, source: str = "<memory>", first_line: int = 1) -> SequenceSet:
    """DeepBind TSV: header ``FoldID EventID seq Bound`` (column order taken from the header).

    Data rows are numbered from ``first_line + 1`` in error messages: a streamed chunk is the
    header plus rows from further down the file, and errors still name the file's line.
    """
    lines = data.split(b"\n")
    header = lines[0].rstrip(b"\r").split(b"\t")
    try:
        i_id, i_seq, i_lab = header.index(b"EventID"), header.index(b"seq"), header.index(b"Bound")
    except ValueError:
        raise InputError(f"{source}: not a DeepBind .seq file (header needs EventID, seq and Bound)") from None
    ids, seqs, labels, numbers = [], [], [], []
    width = len(header)
    for ln, line in enumerate(lines[1:], start=first_line + 1):
        line = line.rstrip(b"\r")
        if not line:
            continue
        cols = line.split(b"\t")
        if len(cols) != width:
            raise InputError(f"{source}: line {ln}: expected {width} tab-separated columns, found {len(cols)}")
        ids.append(cols[i_id].decode("utf-8", errors="replace"))
        seqs.append(cols[i_seq])
        labels.append(cols[i_lab].decode("utf-8", errors="replace"))
        numbers.append(ln)
    if not ids:
        raise InputError(f"{source}: no records")
    return _records_from_columns(ids, seqs, labels, source, numbers)


def parse_zeng_bytes(data: bytes, source: str = "<memory>", first_line: int = 1) -> SequenceSet:
    """Zeng et al. 2016 ``.data``: one record per line, ``>name SEQUENCE LABEL``; ``data``
    starts at file line ``first_line`` (streamed chunks)."""
    ids, seqs, labels, numbers = [], [], [], []
    for ln, line in enumerate(data.split(b"\n"), start=first_line):
        line = line.strip()
        if not line:
            continue
        cols = line.split()
        if len(cols) != 3 or not cols[0].startswith(b">"):
            raise InputError(f"{source}: line {ln}: expected '>name SEQUENCE LABEL'")
        ids.append(cols[0][1:].decode("utf-8", errors="replace"))
        seqs.append(cols[1])
        labels.append(cols[2].decode("utf-8", errors="replace"))
        numbers.append(ln)
    if not ids:
        raise InputError(f"{source}: no records")
    return _records_from_columns(ids, seqs, labels, source, numbers)


# --------------------------------------------------------------------------------------------
# BED / narrowPeak + genome


def read_bed(path, genome, width: int | None = None) -> SequenceSet:
    """Cut BED/narrowPeak intervals out of ``genome`` (FASTA, indexed by pyfaidx).

    With ``width``, each record is a ``width``-bp window centred on the narrowPeak summit
    (column 10, an offset from the start) or, for plain BED or summit -1, on the interval
    midpoint. ``-`` strand records are reverse-complemented. Windows running off a chromosome
    are skipped and counted in one warning. Record ids are ``chrom:start-end`` (window
    coordinates, 0-based half-open) with ``(-)`` for minus-strand records; see :func:`parse_region_id`.
    """
    source = _display(path)
    data = read_input_bytes(path)
    cutter = BedCutter(genome, width, source)
    seqs = cutter.cut(data)
    cutter.finish(n_records=len(seqs))
    return seqs


class BedCutter:
    """Turns BED/narrowPeak lines into sequences cut from one genome, chunk after chunk.

    :meth:`cut` takes whole lines (``first_line`` is the file's line number of the first, for
    messages); :meth:`finish` raises when nothing was usable and warns once about windows that ran
    off a chromosome end. Duplicate intervals get ids numbered ``#2``, ``#3``... across chunks.
    """

    def __init__(self, genome, width: int | None, source: str):
        if genome is None:
            raise InputError(f"{source}: BED input needs --genome")
        self.genome, self.width, self.source = genome, width, source
        self.fasta = open_genome(genome)
        self.chrom_sizes = {name: len(rec) for name, rec in self.fasta.records.items()}
        self.off_edge = 0
        self._seen: dict[str, int] = {}

    def cut(self, data: bytes, first_line: int = 1) -> SequenceSet:
        source, width, chrom_sizes = self.source, self.width, self.chrom_sizes
        ids, chunks = [], []
        for ln, raw_line in enumerate(data.split(b"\n"), start=first_line):
            line = raw_line.decode("utf-8", errors="replace").rstrip("\r")
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            cols = line.split("\t") if "\t" in line else line.split()
            if len(cols) < 3:
                raise InputError(f"{source}: line {ln}: BED needs at least 3 columns (chrom, start, end)")
            chrom = cols[0]
            try:
                start, end = int(cols[1]), int(cols[2])
            except ValueError:
                raise InputError(f"{source}: line {ln}: start and end must be integers") from None
            if start < 0 or end < 0:
                raise InputError(f"{source}: line {ln}: negative coordinate")
            if end < start:
                raise InputError(f"{source}: line {ln}: end {end} is before start {start}")
            if chrom not in chrom_sizes:
                raise InputError(f"{source}: line {ln}: chromosome '{chrom}' is not in the genome {self.genome}")
            strand = cols[5] if len(cols) >= 6 and cols[5] in "+-." else "+"
            if width is not None:
                summit = -1
                if len(cols) >= 10:
                    try:
                        summit = int(cols[9])
                    except ValueError:
                        raise InputError(f"{source}: line {ln}: narrowPeak summit (column 10) must be an integer") from None
                centre = start + summit if summit >= 0 else (start + end) // 2
                w_start = centre - width // 2
                w_end = w_start + width
            else:
                w_start, w_end = start, end
                if end > chrom_sizes[chrom]:
                    raise InputError(f"{source}: line {ln}: end {end} is past the end of {chrom} ({chrom_sizes[chrom]} bp)")
            if w_start < 0 or w_end > chrom_sizes[chrom]:
                self.off_edge += 1
                continue
            if w_end == w_start:
                raise InputError(f"{source}: line {ln}: empty interval")
            seq = str(self.fasta[chrom][w_start:w_end]).encode("ascii", errors="replace")
            if strand == "-":
                seq = seq[::-1].translate(_DNA_COMPLEMENT_BYTES)
            rid = f"{chrom}:{w_start}-{w_end}" + ("(-)" if strand == "-" else "")
            # Duplicate intervals are legitimate in BED; make ids unique by numbering repeats.
            k = self._seen.get(rid, 0)
            self._seen[rid] = k + 1
            ids.append(f"{rid}#{k + 1}" if k else rid)
            chunks.append(seq)
        lengths = np.fromiter((len(s) for s in chunks), dtype=np.int64, count=len(chunks))
        offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        tokens = _translate(np.frombuffer(b"".join(chunks), dtype=np.uint8), offsets, ids, source)
        return SequenceSet(ids, tokens, offsets, None, source)

    def finish(self, n_records: int) -> None:
        if n_records == 0:
            if self.off_edge:
                raise InputError(
                    f"{self.source}: no usable intervals: all {self.off_edge} window(s) of {self.width} bp run off a chromosome end"
                )
            raise InputError(f"{self.source}: no intervals (the file is empty or holds only comment, track or browser lines)")
        if self.off_edge:
            warnings.warn(
                f"{self.source}: {self.off_edge} window(s) running off a chromosome end skipped", DeeppruneWarning, stacklevel=3
            )


_REGION_RE = re.compile(r"^(.+):(\d+)-(\d+)(\(-\))?(?:#\d+)?$")


def parse_region_id(record_id: str) -> tuple[str, int, int, str] | None:
    """``chrom:start-end[(-)][#k]`` (the ids :func:`read_bed` gives) -> ``(chrom, start, end, strand)``,
    else ``None``."""
    m = _REGION_RE.match(record_id)
    if m is None:
        return None
    return m.group(1), int(m.group(2)), int(m.group(3)), "-" if m.group(4) else "+"


_DNA_COMPLEMENT_BYTES = bytes.maketrans(b"ACGTNacgtnRYSWKMBDHVryswkmbdhv", b"TGCANtgcanYRSWMKVHDByrswmkvhdb")


def open_genome(genome):
    """Open a genome FASTA with pyfaidx; a read-only folder gets its index in a temp folder."""
    import pyfaidx

    gpath = Path(genome)
    if not gpath.exists():
        raise InputError(f"{genome}: no such genome file")
    fai = Path(str(gpath) + ".fai")
    kwargs = {}
    if not fai.exists() and not os.access(gpath.parent, os.W_OK):
        cache = Path(tempfile.gettempdir()) / "deepprune-fai"
        cache.mkdir(exist_ok=True)
        stem = f"{abs(hash(str(gpath.resolve())))}_{gpath.name}"
        kwargs["indexname"] = str(cache / (stem + ".fai"))
        if gpath.suffix == ".gz":
            kwargs["gzi_indexname"] = str(cache / (stem + ".gzi"))
    try:
        return pyfaidx.Fasta(str(gpath), sequence_always_upper=True, **kwargs)
    except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, ValueError, OSError) as exc:
        raise InputError(f"{genome}: cannot index genome FASTA ({exc})") from None


# --------------------------------------------------------------------------------------------
# dispatch

FORMATS = SEQUENCE_FORMATS


def detect_format(path, head: bytes) -> str:
    """Guess the format from the file name and its first bytes."""
    name = str(path).lower()
    for suffix in (".gz", ".bgz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith((".bed", ".narrowpeak", ".broadpeak")):
        return "bed"
    if name.endswith(".seq") or head.startswith(b"FoldID") or b"\tEventID\t" in head.split(b"\n", 1)[0]:
        return "seq"
    first = head.lstrip().split(b"\n", 1)[0]
    if name.endswith(".data") or (first.startswith(b">") and len(first.split()) == 3 and first.split()[2] in (b"0", b"1")
                                  and len(first.split()[1]) > 8):
        return "data"
    return "fasta"


def read_sequences(path, fmt: str = "auto", genome=None, width: int | None = None) -> SequenceSet:
    """Read any supported sequence file into a :class:`SequenceSet`.

    Args:
        path: file path or ``-`` for stdin.
        fmt: one of :data:`FORMATS`; ``auto`` looks at the name and the content.
        genome: genome FASTA, required for BED/narrowPeak input.
        width: window width for BED input (centred on the summit or midpoint).
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown sequence format '{fmt}' (choose from {', '.join(FORMATS)})")
    source = _display(path)
    if fmt == "bed" or (fmt == "auto" and detect_format(path, b"") == "bed"):
        if genome is None:
            raise InputError(f"{source}: BED input needs --genome")
        return read_bed(path, genome, width)
    # Read in chunks (the parsers of the streaming reader) into one token array: the file's bytes
    # and its per-record header texts never exist whole, which halves the read's peak memory and
    # keeps each chunk's parse in the processor's cache.
    return _gather(stream_sequences(path, fmt=fmt, check_ids=False), source, _token_capacity(path))


def _token_capacity(path) -> int | None:
    """An upper bound on the tokens of an uncompressed input file (its size), else None."""
    if str(path) == "-":
        return None
    try:
        with open(path, "rb") as fh:
            if fh.read(2) == b"\x1f\x8b":
                return None
            return os.fstat(fh.fileno()).st_size
    except OSError:
        return None  # the reader reports it


def _gather(chunks, source: str, capacity: int | None) -> SequenceSet:
    """One :class:`SequenceSet` from streamed chunks, checked as a whole (duplicate ids, labels on
    every record or none, one label width). The chunks' tokens go straight into one array, sized
    by ``capacity`` (an upper bound on the tokens) when known, else grown by doubling in place
    (``realloc``: no second copy of the tokens at any time); its untouched tail is given back."""
    capacity = capacity if capacity is not None else 64 * 2**20
    tokens = np.empty(capacity, dtype=np.uint8)
    ids, lengths, labels = [], [], []  # ids: one compact RecordIds per chunk
    used = 0
    for seqs in chunks:
        body = seqs.tokens[seqs.offsets[0] : seqs.offsets[-1]]
        if used + len(body) > capacity:
            capacity = max(2 * capacity, used + len(body))
            tokens.resize(capacity, refcheck=False)
        tokens[used : used + len(body)] = body
        used += len(body)
        ids.append(RecordIds.from_strings(seqs.ids))
        lengths.append(seqs.lengths)
        labels.append(seqs.labels)
    tokens.resize(used, refcheck=False)  # in place: the untouched tail pages were never resident
    ids = RecordIds.concatenate(ids) if ids else RecordIds(b"", np.zeros(1, np.int64))
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(np.concatenate(lengths), out=offsets[1:])
    _check_unique(ids, source)
    lab = None
    if any(x is not None for x in labels):
        if any(x is None for x in labels):
            first = sum(len(x) for x in lengths[: next(i for i, x in enumerate(labels) if x is None)])
            raise InputError(f"{source}: record '{ids[first]}' has no label while other records do")
        widths = {x.shape[1] for x in labels}
        if len(widths) != 1:
            raise InputError(f"{source}: records carry label vectors of different widths {sorted(widths)}")
        lab = np.concatenate(labels)
    return SequenceSet(ids, tokens, offsets, lab, source)


# --------------------------------------------------------------------------------------------
# streaming: bounded memory for inputs of any size

#: decompressed bytes read per streamed chunk (~40,000 records of 101 bp)
STREAM_CHUNK_BYTES = 4 * 2**20
_IUPAC_RE = re.compile(r": (\d+) IUPAC ambiguity")


def open_input_stream(path, kind: str = "file") -> IO[bytes]:
    """A binary stream over ``path`` (``-`` = stdin), decompressed on the fly when it is gzip or
    bgzip (magic bytes). Same one-line errors as :func:`read_input_bytes` for a missing file, a
    directory or no permission; read it with :func:`read_block`, which reports truncated gzip."""
    raw = sys.stdin.buffer if str(path) == "-" else _open_input(path, kind, lambda p: open(p, "rb"))
    if not hasattr(raw, "peek"):  # pragma: no cover - stdin replaced by an unbuffered stream
        raw = io.BufferedReader(raw)
    if raw.peek(2)[:2] == b"\x1f\x8b":
        gz = gzip.GzipFile(fileobj=raw, mode="rb")
        gz.myfileobj = None if str(path) == "-" else raw  # GzipFile.close() closes it (not stdin)
        return gz
    return raw


def read_block(stream: IO[bytes], size: int, source: str) -> bytes:
    """Up to ``size`` bytes from ``stream`` (b"" at the end); a corrupt or truncated gzip stream
    raises :class:`InputError`."""
    import zlib

    try:
        return stream.read(size)
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(f"{source}: corrupt or truncated gzip file ({exc})") from None


def _line_blocks(stream: IO[bytes], size: int, source: str, split: bytes):
    """Blocks of whole records: each ends just before the last ``split`` (``b"\\n"`` for line
    formats, ``b"\\n>"`` for FASTA) in the bytes read so far; the rest carries over. Yields
    ``(block, first_line)``; a record longer than ``size`` is read whole. The next read is done
    before a block is cut, so the last block takes everything left and an input that fits in one
    read is one block (its ids are all checked against each other)."""
    carry = b""
    line = 1
    count_lines = split == b"\n"  # line numbers are for the line formats' messages; FASTA's name records
    data = read_block(stream, size, source)
    while data:
        ahead = read_block(stream, size, source)
        if not ahead:
            carry += data
            break
        cut = data.rfind(split)
        if cut < 0:
            carry += data
            data = ahead
            continue
        # One copy of the bytes per block, and only the block and the next read held while the
        # block is used (a chunk costs its input's bytes about three times, not five).
        block = b"".join((carry, memoryview(data)[: cut + 1])) if carry else data[: cut + 1]
        carry = data[cut + 1 :]
        data = ahead
        del ahead
        yield block, line
        if count_lines:
            line += block.count(b"\n")
        del block
    if carry and not carry.isspace():
        yield carry, line


def stream_sequences(
    path, fmt: str = "auto", genome=None, width: int | None = None, chunk_bytes: int = STREAM_CHUNK_BYTES,
    check_ids: bool = True,
):
    """Read any supported sequence input as a stream of :class:`SequenceSet` chunks.

    Memory holds one chunk (about ``chunk_bytes`` of input) at a time, so inputs of any size run
    in bounded memory; every chunk is parsed by the same parser :func:`read_sequences` uses, and
    BED intervals are cut by the same :class:`BedCutter`. Record ids are checked for duplicates
    within a chunk only (FASTA with ``check_ids=False``: not at all, for a caller that checks them
    across chunks). IUPAC codes read as N are counted in one warning at the end. A corrupt or
    truncated gzip stream raises :class:`InputError` when it is reached, after earlier chunks were
    yielded: callers that must not leave partial output write atomically.

    Yields:
        SequenceSet chunks (``tokens`` uint8 ``(bases,)``, ``offsets`` ``(n+1,)``) in input order.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown sequence format '{fmt}' (choose from {', '.join(FORMATS)})")
    source = _display(path)
    is_bed = fmt == "bed" or (fmt == "auto" and detect_format(path, b"") == "bed")
    if is_bed and genome is None:
        raise InputError(f"{source}: BED input needs --genome")
    cutter = BedCutter(genome, width, source) if is_bed else None
    stream = open_input_stream(path)
    n_records = 0
    n_iupac = 0
    try:
        first = read_block(stream, chunk_bytes, source)
        if first.startswith(b"\xef\xbb\xbf"):
            first = first[3:]
        if (not first or first.isspace()) and cutter is None:
            raise InputError(f"{source}: file is empty")
        if fmt == "auto" and cutter is None:
            fmt = detect_format(path, first[:4096])
            if fmt == "bed":
                raise InputError(f"{source}: BED input needs --genome")
        header = b""
        if fmt == "seq":  # the header travels with every chunk
            end = first.find(b"\n")
            header, first = (first, b"") if end < 0 else (first[: end + 1], first[end + 1 :])
        chained = _Chained(first, stream)
        del first  # the chain holds it until read; this frame lives as long as the stream
        split = b"\n>" if fmt == "fasta" and cutter is None else b"\n"
        for block, line in _line_blocks(chained, chunk_bytes, source, split):
            if not block or block.isspace():  # e.g. blank lines before the first FASTA record (no copy, unlike strip)
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DeeppruneWarning)
                if cutter is not None:
                    seqs = cutter.cut(block, line)
                elif fmt == "seq":
                    seqs = parse_deepbind_bytes(header + block, source, first_line=line)
                elif fmt == "data":
                    seqs = parse_zeng_bytes(block, source, first_line=line)
                else:
                    seqs = parse_fasta_bytes(block, source, check_ids=check_ids)
            for w in caught:
                m = _IUPAC_RE.search(str(w.message))
                if m and issubclass(w.category, DeeppruneWarning):
                    n_iupac += int(m.group(1))
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            if len(seqs):
                n_records += len(seqs)
                yield seqs
    finally:
        if str(path) != "-" or isinstance(stream, gzip.GzipFile):
            stream.close()
    if cutter is not None:
        cutter.finish(n_records)
    elif n_records == 0:
        raise InputError(f"{source}: no records")
    if n_iupac:
        warnings.warn(f"{source}: {n_iupac} IUPAC ambiguity code(s) other than N read as N", DeeppruneWarning, stacklevel=2)


class _Chained:
    """A read-only stream: ``head`` bytes first, then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: IO[bytes]):
        self.head, self.stream = head, stream

    def read(self, size: int) -> bytes:
        if self.head:
            out, self.head = self.head, b""
            return out
        return self.stream.read(size)


# --------------------------------------------------------------------------------------------
# writing


def format_fasta(seqs: SequenceSet, headers: Sequence[str] | None = None, with_labels: bool = True) -> bytes:
    """FASTA bytes for ``seqs``, one line per sequence.

    Args:
        headers: header text (without '>') per record; default ids plus ``label=``/``labels=``.
    """
    if headers is None:
        headers = seqs.ids
        if with_labels and seqs.labels is not None:
            if seqs.labels.shape[1] == 1:
                headers = [f"{h} label={int(v)}" for h, v in zip(headers, seqs.labels[:, 0])]
            else:
                headers = [f"{h} labels={','.join(str(int(x)) for x in row)}" for h, row in zip(headers, seqs.labels)]
    from deepprune_cli.core import kernels

    n = len(seqs)
    if n == 0:
        return b""
    # Header texts back to back, each followed by a separator byte (headers hold no line ends).
    head_blob = np.frombuffer(("\n".join(headers) + "\n").encode(), dtype=np.uint8)
    head_offsets = np.zeros(n + 1, dtype=np.int64)
    head_offsets[1:] = np.flatnonzero(head_blob == 10) + 1
    offsets = seqs.offsets - seqs.offsets[0]
    tokens = seqs.tokens[seqs.offsets[0] : seqs.offsets[-1]]
    out = np.empty(len(head_blob) + len(tokens) + 2 * n, dtype=np.uint8)
    # One copy per record with an empty suffix: the writer `deepprune shuffle` uses for its copies.
    no_suffix = np.zeros(0, dtype=np.uint8)
    kernels.render_copies(head_blob, head_offsets, no_suffix, np.zeros(2, np.int64), tokens, offsets, LETTERS, out)
    return out.tobytes()


def write_fasta(seqs: SequenceSet, stream: IO[bytes], headers: Sequence[str] | None = None, with_labels: bool = True) -> None:
    """Write ``seqs`` as FASTA to a binary stream (see :func:`format_fasta`)."""
    stream.write(format_fasta(seqs, headers, with_labels))

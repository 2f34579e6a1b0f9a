"""Position weight matrices (PWMs) and the MEME minimal motif format.

A :class:`Motif` is a letter-probability matrix of shape ``(W, 4)`` (columns A, C, G, T, rows summing
to 1) with the identifiers MEME carries. :func:`parse_meme` / :func:`read_meme` read MEME minimal
format (version 4 and later, DNA only) strictly: anything malformed is an :class:`InputError` whose
one-line message names the file, the line and the motif. :func:`format_meme` / :func:`write_meme`
write files that MEME suite tools (Tomtom), Biopython (``Bio.motifs.parse(fh, "minimal")``) and
memelite (``memelite.io.read_meme``) all read back to the same matrices.

:func:`load_motifs` resolves a motif *spec*: a MEME file path, or the JASPAR collections bundled
with the package (JASPAR 2020 and 2024 CORE vertebrates non-redundant, and the 12 JASPAR 2016
matrices of Koo & Eddy 2019; JASPAR data are CC BY 4.0, see ``deepprune_cli/data/jaspar/README.md``).
"""

from __future__ import annotations

import copy
import functools
import math
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from deepprune_cli.core.atomic import atomic_output
from deepprune_cli.core.errors import InputError
from deepprune_cli.core.sequences import read_input_bytes

ALPHABET = "ACGT"
UNIFORM_BACKGROUND = np.full(4, 0.25)

#: Rows read from a file may be off by this much from summing to 1 (JASPAR rounds to 6 decimals,
#: CNN exports round to float32); they are renormalised exactly after the check.
ROW_SUM_TOLERANCE = 0.01

#: Bundled collections: spec name -> file under deepprune_cli/data/jaspar.
BUNDLED_COLLECTIONS = {
    "jaspar2024": "JASPAR2024_CORE_vertebrates_non-redundant.meme",
    "jaspar2020": "JASPAR2020_CORE_vertebrates_non-redundant.meme",
    "koo2019": "koo2019_12tf_JASPAR2016.meme",
}
#: Where ``jaspar:ID,...`` looks an id up, first hit wins (newest JASPAR release first).
JASPAR_LOOKUP_ORDER = ("jaspar2024", "jaspar2020", "koo2019")

_BAD_ID = re.compile(r"[\s=]")
_KEY_VALUE = re.compile(r"([A-Za-z]+)\s*=\s*(\S+)")


@dataclass
class Motif:
    """One DNA motif.

    Attributes:
        id: MEME motif identifier (no white space, no ``=``), e.g. ``MA0139.1``.
        probs: float64 array ``(W, 4)``; columns A, C, G, T; every row sums to 1 (renormalised on
            construction, after checking it is within ``ROW_SUM_TOLERANCE``).
        name: MEME "alternate name" (e.g. ``CTCF``); may be empty.
        nsites: number of sites the matrix was built from (MEME ``nsites=``).
        url: optional URL line.
    """

    id: str
    probs: np.ndarray
    name: str = ""
    nsites: int = 20
    url: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id or _BAD_ID.search(self.id):
            raise ValueError(f"motif id {self.id!r} must be non-empty without spaces or '='")
        probs = np.array(self.probs, dtype=np.float64)  # always a private copy
        if probs.ndim != 2 or probs.shape[1] != 4 or probs.shape[0] < 1:
            raise ValueError(f"motif {self.id}: probs must have shape (W, 4) with W >= 1, got {probs.shape}")
        if not np.all(np.isfinite(probs)) or np.any(probs < 0):
            raise ValueError(f"motif {self.id}: probabilities must be finite and non-negative")
        sums = probs.sum(axis=1)
        if np.any(np.abs(sums - 1.0) > ROW_SUM_TOLERANCE):
            row = int(np.argmax(np.abs(sums - 1.0)))
            raise ValueError(f"motif {self.id}: row {row + 1} sums to {sums[row]:.6g}, not 1")
        self.probs = probs / sums[:, None]
        self.name = "" if self.name is None else str(self.name)
        self.nsites = int(self.nsites)
        if self.nsites < 1:
            raise ValueError(f"motif {self.id}: nsites must be >= 1, got {self.nsites}")

    @property
    def width(self) -> int:
        """Number of positions ``W``."""
        return int(self.probs.shape[0])

    def reverse_complement(self) -> "Motif":
        """The same motif read on the other strand: rows reversed, A<->T and C<->G swapped.

        Keeps ``id``/``name`` (it is the same binding site); callers that need to tell the strands
        apart record the strand separately (as ``truth.tsv`` does).
        """
        # Columns are A C G T, so reversing the column order is complementing.
        return Motif(self.id, self.probs[::-1, ::-1], self.name, self.nsites, self.url)

    def information_content(self, background: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
        """Bits per position: float64 ``(W,)``, relative entropy of each row to ``background``.

        ``background`` is a length-4 A, C, G, T distribution (default uniform, giving ``2 - H``).
        """
        bg = _as_background(background)
        p = self.probs
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, p * np.log2(p / bg), 0.0)  # 0 log 0 = 0
        return terms.sum(axis=1)

    @property
    def consensus(self) -> str:
        """The most probable letter at each position (ties go to the earlier of A, C, G, T)."""
        return "".join(ALPHABET[i] for i in np.argmax(self.probs, axis=1))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Motif):
            return NotImplemented
        return (
            self.id == other.id
            and self.name == other.name
            and self.nsites == other.nsites
            and self.url == other.url
            and self.probs.shape == other.probs.shape
            and bool(np.array_equal(self.probs, other.probs))
        )


def _as_background(background) -> np.ndarray:
    """A validated float64 ``(4,)`` A, C, G, T distribution (uniform when ``None``)."""
    if background is None:
        return UNIFORM_BACKGROUND.copy()
    if isinstance(background, dict):
        background = [background[letter] for letter in ALPHABET]
    bg = np.asarray(background, dtype=np.float64)
    if bg.shape != (4,) or not np.all(np.isfinite(bg)) or np.any(bg <= 0):
        raise ValueError(f"background must be 4 positive frequencies (A, C, G, T), got {background!r}")
    return bg / bg.sum()


# --------------------------------------------------------------------------------------------
# reading


# Lines that end a matrix block (besides a blank line).
_BLOCK_KEYWORDS = ("MOTIF", "URL", "letter-probability", "log-odds", "Background", "ALPHABET", "strands", "MEME")


def parse_meme(text: str, source: str = "<memory>") -> list[Motif]:
    """Parse MEME minimal-format text into motifs, in file order.

    Only the pieces a motif needs are read: the ``ALPHABET=`` line (must be ACGT when present),
    ``MOTIF id [alt]``, the ``letter-probability matrix:`` header (``alength=`` and ``w=`` required,
    ``nsites=`` optional) with its ``w`` rows, and an optional ``URL`` line. Other lines (version,
    strands, background, log-odds matrices) are skipped.

    Raises:
        InputError: one line naming ``source``, the line number and the motif, for an empty text,
            no MOTIF, a non-DNA alphabet, missing ``alength``/``w``, a wrong number of values in a
            row, a wrong number of rows, a non-numeric or negative value, or a row not summing to 1.
    """
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise InputError(f"{source}: empty motif file, expected MEME format")
    motifs: list[Motif] = []
    current_id: str | None = None  # the MOTIF block we are in
    current_name = ""
    current_line = 0
    i = 0
    n_lines = len(lines)
    while i < n_lines:
        line = lines[i].strip()
        lineno = i + 1
        i += 1
        if not line:
            continue
        if line.startswith("ALPHABET"):
            _check_alphabet(line, source, lineno)
        elif line.startswith("MOTIF"):
            fields = line.split()
            if fields[0] != "MOTIF":
                continue
            if len(fields) < 2:
                raise InputError(f"{source}: line {lineno}: MOTIF line without a motif id")
            current_id, current_name, current_line = fields[1], (fields[2] if len(fields) > 2 else ""), lineno
            if "=" in current_id:
                raise InputError(f"{source}: line {lineno}: motif id {current_id!r} contains '='")
        elif line.startswith("letter-probability matrix"):
            if current_id is None:
                raise InputError(f"{source}: line {lineno}: letter-probability matrix before any MOTIF line")
            where = f"{source}: motif {current_id} (line {lineno})"
            params = dict(_KEY_VALUE.findall(line.partition(":")[2]))
            alength = _int_param(params, "alength", where)
            width = _int_param(params, "w", where)
            if alength != 4:
                raise InputError(f"{where}: alength= {alength}, but only the DNA alphabet ACGT (alength= 4) is supported")
            if width < 1:
                raise InputError(f"{where}: w= {width}, a motif needs at least one position")
            nsites = 20
            if "nsites" in params:
                try:
                    nsites = int(round(float(params["nsites"])))
                except ValueError:
                    raise InputError(f"{where}: nsites= {params['nsites']!r} is not a number") from None
            rows, i = _read_rows(lines, i, width, where)
            url = None
            # An optional URL line follows the matrix (possibly after blank lines).
            j = i
            while j < n_lines and not lines[j].strip():
                j += 1
            if j < n_lines and lines[j].strip().startswith("URL"):
                parts = lines[j].split(None, 1)
                url = parts[1].strip() if len(parts) > 1 else None
                i = j + 1
            # nsites= 0 appears in some tool outputs; readers such as Biopython need at least 1.
            motifs.append(Motif(current_id, rows, current_name, max(nsites, 1), url))
            current_id = None
    if current_id is not None:
        raise InputError(f"{source}: motif {current_id} (line {current_line}): no letter-probability matrix")
    if not motifs:
        raise InputError(f"{source}: no MOTIF with a letter-probability matrix found (not a MEME motif file?)")
    return motifs


def _check_alphabet(line: str, source: str, lineno: int) -> None:
    # MEME 4 style "ALPHABET= ACGT"; MEME 5 custom alphabets ("ALPHABET "name" ...") are not DNA-only.
    value = line.split("=", 1)[1].strip() if "=" in line else line[len("ALPHABET") :].strip()
    if value.upper() != ALPHABET:
        raise InputError(f"{source}: line {lineno}: alphabet {value!r} is not supported, only ALPHABET= ACGT")


def _int_param(params: dict, key: str, where: str) -> int:
    if key not in params:
        raise InputError(f"{where}: letter-probability matrix line has no '{key}='")
    try:
        value = float(params[key])
    except ValueError:
        raise InputError(f"{where}: {key}= {params[key]!r} is not a number") from None
    if not value.is_integer():
        raise InputError(f"{where}: {key}= {params[key]!r} is not a whole number")
    return int(value)


def _read_rows(lines: list[str], start: int, width: int, where: str) -> tuple[np.ndarray, int]:
    """Read the matrix rows after a header line; returns float64 ``(width, 4)`` and the next line index."""
    i = start
    while i < len(lines) and not lines[i].strip():  # tolerate blank lines before the first row
        i += 1
    rows: list[list[float]] = []
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith(_BLOCK_KEYWORDS):
            break
        fields = stripped.split()
        row_no = len(rows) + 1
        if len(fields) != 4:
            raise InputError(f"{where}: row {row_no} (line {i + 1}) has {len(fields)} values, expected 4 (A C G T)")
        values = []
        for field in fields:
            try:
                value = float(field)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise InputError(f"{where}: row {row_no} (line {i + 1}): {field!r} is not a number")
            if value < 0:
                raise InputError(f"{where}: row {row_no} (line {i + 1}): negative probability {field}")
            values.append(value)
        total = sum(values)
        if abs(total - 1.0) > ROW_SUM_TOLERANCE:
            raise InputError(f"{where}: row {row_no} (line {i + 1}) sums to {total:.6g}, not 1")
        rows.append(values)
        i += 1
        if len(rows) > width:
            raise InputError(f"{where}: more than w= {width} matrix rows")
    if len(rows) != width:
        raise InputError(f"{where}: {len(rows)} matrix rows, but w= {width}")
    return np.array(rows, dtype=np.float64), i


def read_meme(path: str | os.PathLike) -> list[Motif]:
    """Read a MEME minimal-format file (plain or gzip) into motifs; see :func:`parse_meme`.

    Raises:
        InputError: a missing, unreadable, empty, non-UTF-8 or malformed file (one line naming it).
    """
    name = str(path)
    raw = read_input_bytes(path, "MEME motif file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not a text file (byte {exc.start} is not UTF-8)") from None
    return parse_meme(text, source=name)


# --------------------------------------------------------------------------------------------
# writing


def _micro_units(values: np.ndarray) -> np.ndarray:
    """Round a distribution to integer millionths that sum to exactly 1,000,000.

    Largest-remainder rounding: every value moves by less than 1e-6, and the printed 6-decimal row
    sums to exactly 1, which strict readers (Tomtom, memelite) want.
    """
    scaled = np.asarray(values, dtype=np.float64) / np.sum(values) * 1_000_000
    units = np.floor(scaled).astype(np.int64)
    missing = 1_000_000 - int(units.sum())
    if missing > 0:
        order = np.argsort(-(scaled - units), kind="stable")
        units[order[:missing]] += 1
    return units


def _fixed6(units: int) -> str:
    return f"{units // 1_000_000}.{units % 1_000_000:06d}"


def format_meme(
    motifs: Iterable[Motif], background: Sequence[float] | np.ndarray | dict | None = None, allow_empty: bool = False
) -> str:
    """MEME minimal format (version 4) text for ``motifs``.

    ``background`` is the A, C, G, T background written in the header (default uniform). Rows are
    printed with 6 decimals that sum to exactly 1. Alternate names with white space have it replaced
    by ``_`` (MEME splits the MOTIF line on white space).

    Raises:
        ValueError: no motifs (a MEME file without a motif is unreadable by Tomtom and our reader),
            unless ``allow_empty`` (then the header alone: a placeholder for workflows).
    """
    motifs = list(motifs)
    if not motifs and not allow_empty:
        raise ValueError("no motifs to write")
    bg_units = _micro_units(_as_background(background))
    out = [
        "MEME version 4",
        "",
        "ALPHABET= ACGT",
        "",
        "strands: + -",
        "",
        "Background letter frequencies",
        " ".join(f"{letter} {_fixed6(int(u))}" for letter, u in zip(ALPHABET, bg_units)),
        "",
    ]
    for motif in motifs:
        name = re.sub(r"\s+", "_", motif.name.strip())
        out.append(f"MOTIF {motif.id} {name}".rstrip())
        out.append(f"letter-probability matrix: alength= 4 w= {motif.width} nsites= {motif.nsites} E= 0")
        for row in motif.probs:
            out.append(" ".join(_fixed6(int(u)) for u in _micro_units(row)))
        if motif.url:
            out.append(f"URL {motif.url}")
        out.append("")
    return "\n".join(out)


def write_meme(
    motifs: Iterable[Motif], path: str | os.PathLike | None, background: Sequence[float] | np.ndarray | dict | None = None,
    allow_empty: bool = False,
) -> None:
    """Write ``motifs`` to ``path`` atomically (``-``/``None`` for stdout); see :func:`format_meme`."""
    text = format_meme(motifs, background, allow_empty)
    with atomic_output(path, "w") as fh:
        fh.write(text)


# --------------------------------------------------------------------------------------------
# bundled collections and motif specs


@functools.lru_cache(maxsize=None)
def _bundled(collection: str) -> tuple[Motif, ...]:
    """Parsed bundled collection (cached; callers get copies)."""
    resource = resources.files("deepprune_cli").joinpath("data", "jaspar", BUNDLED_COLLECTIONS[collection])
    text = resource.read_text(encoding="utf-8")
    return tuple(parse_meme(text, source=f"bundled {collection} ({BUNDLED_COLLECTIONS[collection]})"))


def bundled_collection(collection: str) -> list[Motif]:
    """All motifs of a bundled collection (``jaspar2020``, ``jaspar2024`` or ``koo2019``), as copies."""
    key = collection.lower()
    if key not in BUNDLED_COLLECTIONS:
        raise InputError(f"unknown motif collection {collection!r}; bundled: {', '.join(BUNDLED_COLLECTIONS)}")
    return [copy.deepcopy(m) for m in _bundled(key)]


def _split_ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def select_motifs(motifs: Sequence[Motif], ids: Sequence[str], source: str) -> list[Motif]:
    """``motifs`` picked by id (or, failing that, by a unique alternate name), in the order of ``ids``.

    Raises:
        InputError: an id that matches nothing (or a name shared by several motifs), naming it.
    """
    by_id: dict[str, Motif] = {}
    for m in motifs:
        by_id.setdefault(m.id, m)
    chosen = []
    for wanted in ids:
        if wanted in by_id:
            chosen.append(by_id[wanted])
            continue
        named = [m for m in motifs if m.name == wanted]
        if len(named) == 1:
            chosen.append(named[0])
        elif len(named) > 1:
            raise InputError(
                f"{source}: motif name {wanted!r} is ambiguous ({', '.join(m.id for m in named)}); give the id"
            )
        else:
            raise InputError(f"{source}: no motif with id {wanted!r}")
    return [copy.deepcopy(m) for m in chosen]


def load_motifs(spec: str | os.PathLike, ids: Sequence[str] | None = None) -> list[Motif]:
    """Motifs named by ``spec``, optionally only those in ``ids`` (in that order).

    ``spec`` is one of:

    * a MEME file path (plain or gzip);
    * ``jaspar:MA0139.1,MA0048.2``: ids looked up in the bundled JASPAR 2024, then JASPAR 2020, then
      koo2019 collections (first hit wins; an id may also be a unique alternate name such as CTCF);
    * ``jaspar2020``, ``jaspar2024`` or ``koo2019``: a whole bundled collection, or
      ``jaspar2020:ID,...`` for ids from that collection only.

    Raises:
        InputError: unknown id or collection, or a missing/empty/malformed file (one line).
    """
    text = str(spec)
    prefix, colon, rest = text.partition(":")
    key = prefix.lower()
    is_bundled_spec = (colon and key in ("jaspar", *BUNDLED_COLLECTIONS)) or (not colon and key in BUNDLED_COLLECTIONS)
    if is_bundled_spec and not Path(text).exists():  # a real file called "koo2019" still wins
        if key == "jaspar":
            wanted = _split_ids(rest)
            if not wanted:
                raise InputError(f"motif spec {text!r}: give ids after 'jaspar:', e.g. jaspar:MA0139.1,MA0048.2")
            motifs = [_lookup_jaspar(w, text) for w in wanted]
        else:
            motifs = bundled_collection(key)
            if colon:
                wanted = _split_ids(rest)
                if not wanted:
                    raise InputError(f"motif spec {text!r}: no ids after '{prefix}:'")
                motifs = select_motifs(motifs, wanted, f"motif spec {text!r}")
        source = f"motif spec {text!r}"
    else:
        motifs = read_meme(text)
        source = text
    if ids:
        motifs = select_motifs(motifs, list(ids), source)
    return motifs


def _lookup_jaspar(wanted: str, spec: str) -> Motif:
    for collection in JASPAR_LOOKUP_ORDER:
        for m in _bundled(collection):
            if m.id == wanted:
                return copy.deepcopy(m)
    for collection in JASPAR_LOOKUP_ORDER:  # then by unique alternate name, e.g. "CTCF"
        named = [m for m in _bundled(collection) if m.name == wanted]
        if len(named) == 1:
            return copy.deepcopy(named[0])
    raise InputError(
        f"motif spec {spec!r}: {wanted!r} is not in the bundled JASPAR2024, JASPAR2020 or koo2019 collections"
    )

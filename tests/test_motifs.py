"""Tests for deepprune_cli.core.motifs: the Motif type, MEME reading/writing, bundled JASPAR."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepprune_cli.core.errors import InputError
from deepprune_cli.core.motifs import (
    Motif,
    format_meme,
    load_motifs,
    parse_meme,
    read_meme,
    write_meme,
)

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _motif(rows, id="m1", **kw) -> Motif:
    return Motif(id, np.asarray(rows, dtype=float), **kw)


GOOD = """MEME version 4

ALPHABET= ACGT

strands: + -

Background letter frequencies
A 0.25 C 0.25 G 0.25 T 0.25

MOTIF M1 alt1
letter-probability matrix: alength= 4 w= 2 nsites= 7 E= 0
0.5 0.5 0 0
0.1 0.2 0.3 0.4
URL http://example.org/M1

MOTIF M2
letter-probability matrix: alength= 4 w= 1
0 0 0 1
"""


# ---------------------------------------------------------------------------- the Motif type


def test_motif_basics():
    m = _motif([[1, 0, 0, 0], [0, 0.5, 0.5, 0], [0.25] * 4], id="x", name="X")
    assert m.width == 3
    assert m.probs.dtype == np.float64
    np.testing.assert_allclose(m.information_content(), [2.0, 1.0, 0.0])
    assert m.consensus == "ACA"  # ties go to the earlier letter
    rc = m.reverse_complement()
    np.testing.assert_array_equal(rc.probs, [[0.25] * 4, [0, 0.5, 0.5, 0], [0, 0, 0, 1]])
    assert rc.consensus == "ACT"
    assert rc.reverse_complement() == m


def test_information_content_against_background():
    m = _motif([[0.7, 0.1, 0.1, 0.1]])
    bg = np.array([0.4, 0.1, 0.1, 0.4])
    expected = 0.7 * np.log2(0.7 / 0.4) + 2 * 0.1 * np.log2(1.0) + 0.1 * np.log2(0.1 / 0.4)
    np.testing.assert_allclose(m.information_content(bg), [expected])


def test_motif_renormalises_and_validates():
    m = _motif([[0.3, 0.3, 0.3, 0.105]])
    np.testing.assert_allclose(m.probs.sum(axis=1), 1.0)
    with pytest.raises(ValueError):
        _motif([[0.5, 0.5, 0.5, 0.5]])
    with pytest.raises(ValueError):
        _motif([[1, 0, 0]])
    with pytest.raises(ValueError):
        _motif([[1.2, -0.2, 0, 0]])
    with pytest.raises(ValueError):
        _motif([[1, 0, 0, 0]], id="a b")
    with pytest.raises(ValueError):
        _motif([[1, 0, 0, 0]], id="a=b")


# ---------------------------------------------------------------------------- reading


def test_parse_good_text():
    m1, m2 = parse_meme(GOOD)
    assert (m1.id, m1.name, m1.nsites, m1.url, m1.width) == ("M1", "alt1", 7, "http://example.org/M1", 2)
    assert (m2.id, m2.name, m2.nsites, m2.url) == ("M2", "", 20, None)
    np.testing.assert_allclose(m1.probs, [[0.5, 0.5, 0, 0], [0.1, 0.2, 0.3, 0.4]])


def test_reads_explainn_filters_slice():
    motifs = read_meme(DATA / "motifs_explainn_3filters.meme")
    assert [m.id for m in motifs] == ["filter0", "filter1", "filter2"]
    assert all(m.width == 19 and m.name == "" for m in motifs)
    assert motifs[0].probs[0, 0] == pytest.approx(0.31351351737976074, rel=1e-6)


def test_reads_gzip_jaspar_slice():
    motifs = read_meme(DATA / "motifs_jaspar2020_first3.meme.gz")
    assert [(m.id, m.name) for m in motifs] == [("MA0006.1", "Ahr::Arnt"), ("MA0854.1", "Alx1"), ("MA0634.1", "ALX3")]
    assert motifs[0].url.startswith("http")


@pytest.mark.skipif(not SHARED.exists(), reason="../shared data not available")
def test_reads_full_shared_files():
    assert len(read_meme(SHARED / "tomtom_golden" / "explainn_filters.meme")) == 100
    assert len(read_meme(SHARED / "jaspar" / "JASPAR2024_CORE_vertebrates_non-redundant.meme")) == 879


@pytest.mark.parametrize(
    "collection, count, first",
    [("jaspar2020", 746, "MA0006.1"), ("jaspar2024", 879, "MA0006.2"), ("koo2019", 12, "MA0151.1")],
)
def test_bundled_collections(collection, count, first):
    motifs = load_motifs(collection)
    assert len(motifs) == count and motifs[0].id == first
    assert len({m.id for m in motifs}) == count


def test_load_motifs_jaspar_lookup_order_and_ids():
    ctcf, nhlh1 = load_motifs("jaspar:MA0139.1,MA0048.2")  # both only in JASPAR2020
    assert (ctcf.name, nhlh1.name) == ("CTCF", "NHLH1")
    assert ctcf.consensus == "TGGCCACCAGGGGGCGCTA"
    assert load_motifs("jaspar:MA0006.2")[0].name == "Ahr::Arnt"  # from JASPAR2024
    assert load_motifs("jaspar:MA0151.1")[0].name == "Arid3a"  # only in koo2019
    assert [m.id for m in load_motifs("jaspar2020", ids=["MA0048.2", "MA0139.1"])] == ["MA0048.2", "MA0139.1"]
    assert [m.id for m in load_motifs("jaspar2020:CTCF")] == ["MA0139.1"]  # a unique alt name works too
    # Copies: changing one does not change the cache.
    ctcf.probs[:] = 0.25
    assert load_motifs("jaspar:MA0139.1")[0].consensus == "TGGCCACCAGGGGGCGCTA"


def test_load_motifs_from_path_with_ids(tmp_path):
    path = tmp_path / "m.meme"
    path.write_text(GOOD)
    assert [m.id for m in load_motifs(str(path), ids=["M2"])] == ["M2"]
    with pytest.raises(InputError, match="no motif with id 'M3'"):
        load_motifs(str(path), ids=["M3"])


@pytest.mark.parametrize("spec", ["jaspar:MA9999.9", "jaspar2024:MA0139.1", "jaspar:"])
def test_load_motifs_unknown_ids(spec):
    with pytest.raises(InputError) as err:
        load_motifs(spec)
    message = str(err.value)
    assert "\n" not in message and repr(spec) in message


def _bad(text: str, tmp_path: Path) -> str:
    path = tmp_path / "bad.meme"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_meme(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "empty motif file"),
        ("  \n\n", "empty motif file"),
        ("MEME version 4\n\nALPHABET= ACGT\n", "no MOTIF"),
        (GOOD.replace("alength= 4 w= 2", "w= 2"), "motif M1 (line 11): letter-probability matrix line has no 'alength='"),
        (GOOD.replace("alength= 4 w= 2", "alength= 4"), "motif M1 (line 11): letter-probability matrix line has no 'w='"),
        (GOOD.replace("alength= 4 w= 2", "alength= 20 w= 2"), "only the DNA alphabet"),
        (GOOD.replace("0.5 0.5 0 0", "0.5 0.5 0"), "motif M1 (line 11): row 1 (line 12) has 3 values, expected 4"),
        (GOOD.replace("0.5 0.5 0 0", "0.5 0.5 0 0 0"), "row 1 (line 12) has 5 values"),
        (GOOD.replace("alength= 4 w= 2", "alength= 4 w= 3"), "motif M1 (line 11): 2 matrix rows, but w= 3"),
        (GOOD.replace("alength= 4 w= 1", "alength= 4 w= 0"), "w= 0"),
        (GOOD.replace("0.5 0.5 0 0\n", "0.5 0.5 0 0\n0.5 0.5 0 0\n"), "more than w= 2 matrix rows"),
        (GOOD.replace("0.5 0.5 0 0", "0.5 0.5 x 0"), "row 1 (line 12): 'x' is not a number"),
        (GOOD.replace("0.5 0.5 0 0", "0.5 0.5 nan 0"), "'nan' is not a number"),
        (GOOD.replace("0.5 0.5 0 0", "0.6 0.5 -0.1 0"), "negative probability -0.1"),
        (GOOD.replace("0.5 0.5 0 0", "0.5 0.5 0.5 0"), "row 1 (line 12) sums to 1.5, not 1"),
        (GOOD.replace("0 0 0 1", "0 0 0 0.9"), "motif M2 (line 17): row 1 (line 18) sums to 0.9"),
        (GOOD.replace("ALPHABET= ACGT", "ALPHABET= ACDEFGHIKLMNPQRSTVWY"), "line 3: alphabet"),
        (GOOD.replace("ALPHABET= ACGT", "ALPHABET= ACGU"), "only ALPHABET= ACGT"),
        (GOOD.replace("MOTIF M2", "MOTIF M=2"), "contains '='"),
        ("MEME version 4\n\nMOTIF lonely\n", "motif lonely (line 3): no letter-probability matrix"),
        (GOOD + "\nMOTIF trailing\n", "motif trailing (line 20): no letter-probability matrix"),
        ("letter-probability matrix: alength= 4 w= 1\n1 0 0 0\n", "before any MOTIF"),
    ],
)
def test_malformed_meme_is_one_clear_line(text, expected, tmp_path):
    assert expected in _bad(text, tmp_path)


def test_row_sum_tolerance_accepts_rounded_rows():
    (m,) = parse_meme(GOOD.split("MOTIF M2")[0].replace("0.5 0.5 0 0", "0.333 0.333 0.333 0"))
    np.testing.assert_allclose(m.probs[0], [1 / 3, 1 / 3, 1 / 3, 0])


def test_read_meme_file_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_meme(tmp_path / "missing.meme")
    with pytest.raises(InputError, match="is a directory"):
        read_meme(tmp_path)
    (tmp_path / "bin.meme").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match="not a text file"):
        read_meme(tmp_path / "bin.meme")
    (tmp_path / "trunc.meme.gz").write_bytes(gzip.compress(GOOD.encode())[:30])
    with pytest.raises(InputError, match="corrupt or truncated gzip"):
        read_meme(tmp_path / "trunc.meme.gz")


# ---------------------------------------------------------------------------- writing


def test_format_meme_layout_and_exact_row_sums():
    motifs = load_motifs("koo2019")
    text = format_meme(motifs, background=[0.3, 0.2, 0.2, 0.3])
    lines = text.splitlines()
    assert lines[:8] == [
        "MEME version 4",
        "",
        "ALPHABET= ACGT",
        "",
        "strands: + -",
        "",
        "Background letter frequencies",
        "A 0.300000 C 0.200000 G 0.200000 T 0.300000",
    ]
    assert "MOTIF MA0151.1 Arid3a" in lines
    assert "letter-probability matrix: alength= 4 w= 6 nsites= 27 E= 0" in lines
    assert "URL http://jaspar.genereg.net/matrix/MA0151.1" in lines
    rows = [line for line in lines if line[:1].isdigit()]
    assert len(rows) == sum(m.width for m in motifs)
    for row in rows:
        fields = row.split()
        assert len(fields) == 4 and all(len(f.split(".")[1]) == 6 for f in fields)
        # Exact decimal sum: integer millionths must add to 1,000,000.
        assert sum(int(f.replace(".", "")) for f in fields) == 1_000_000


def test_format_meme_rounding_renormalises():
    m = _motif([[1 / 3, 1 / 3, 1 / 3, 0.0], [0.1234567, 0.2345678, 0.3456789, 0.2962966]])
    rows = [line.split() for line in format_meme([m]).splitlines() if line[:1].isdigit()]
    assert rows[0] == ["0.333334", "0.333333", "0.333333", "0.000000"]
    assert sum(int(f.replace(".", "")) for f in rows[1]) == 1_000_000
    assert np.abs(np.array(rows[1], float) - m.probs[1]).max() <= 1e-6


def test_format_meme_sanitises_names_and_rejects_empty():
    text = format_meme([_motif([[1, 0, 0, 0]], name="two words")])
    assert "MOTIF m1 two_words" in text
    with pytest.raises(ValueError):
        format_meme([])


def test_write_meme_atomic_and_readable(tmp_path):
    path = tmp_path / "sub" / "out.meme"
    motifs = load_motifs("jaspar:MA0139.1,MA0048.2")
    write_meme(motifs, path)
    assert [p.name for p in path.parent.iterdir()] == ["out.meme"]  # no temp file left behind
    back = read_meme(path)
    assert [m.id for m in back] == ["MA0139.1", "MA0048.2"]
    np.testing.assert_allclose(back[0].probs, motifs[0].probs, atol=1.5e-6)


def test_other_readers_get_the_same_matrices(tmp_path):
    """Biopython ('minimal') and memelite read what we write to the same matrices and ids."""
    from Bio import motifs as bio_motifs
    from memelite.io import read_meme as memelite_read

    motifs = load_motifs("koo2019") + read_meme(DATA / "motifs_explainn_3filters.meme")
    motifs[0].name = ""  # a motif without an alternate name too
    path = tmp_path / "out.meme"
    write_meme(motifs, path, background=[0.3, 0.2, 0.2, 0.3])
    with open(path) as fh:
        bio = list(bio_motifs.parse(fh, "minimal"))
    assert [b.name for b in bio] == [m.id for m in motifs]
    printed = read_meme(path)
    for ours, written, theirs in zip(motifs, printed, bio):
        # Biopython keeps counts = round(prob * nsites), so it agrees exactly on those counts and
        # to within about 2/nsites on probabilities.
        counts = np.array([theirs.counts[letter] for letter in "ACGT"]).T
        np.testing.assert_array_equal(counts, np.round(written.probs * ours.nsites))
        pwm = np.array([theirs.pwm[letter] for letter in "ACGT"]).T
        assert np.abs(pwm - ours.probs).max() <= 2.0 / ours.nsites
    assert bio[0].background == pytest.approx({"A": 0.3, "C": 0.2, "G": 0.2, "T": 0.3})

    mem = memelite_read(str(path))
    assert list(mem) == [f"{m.id} {m.name}".strip() for m in motifs]
    for ours, theirs in zip(motifs, mem.values()):
        np.testing.assert_allclose(np.asarray(theirs).T, ours.probs, atol=1.5e-6)


# ---------------------------------------------------------------------------- round trip

_ids = st.from_regex(r"[A-Za-z0-9_.:\-]{1,12}", fullmatch=True)
_names = st.from_regex(r"[A-Za-z0-9_.:\-]{0,12}", fullmatch=True)


@st.composite
def _motifs(draw):
    width = draw(st.integers(1, 12))
    weights = draw(
        st.lists(
            st.lists(st.floats(0, 1, allow_nan=False), min_size=4, max_size=4).filter(lambda r: sum(r) > 1e-3),
            min_size=width,
            max_size=width,
        )
    )
    probs = np.array(weights) / np.sum(weights, axis=1, keepdims=True)
    url = draw(st.none() | st.just("https://example.org/x"))
    return Motif(draw(_ids), probs, draw(_names), draw(st.integers(1, 10**6)), url)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_motifs(), min_size=1, max_size=4))
def test_write_parse_round_trip(motifs):
    back = parse_meme(format_meme(motifs), "<roundtrip>")
    assert [(m.id, m.name, m.nsites, m.url, m.width) for m in back] == [
        (m.id, m.name, m.nsites, m.url, m.width) for m in motifs
    ]
    for ours, theirs in zip(motifs, back):
        assert np.abs(theirs.probs - ours.probs).max() <= 1.5e-6
        np.testing.assert_allclose(theirs.probs.sum(axis=1), 1.0)
    # Writing what was read gives the same text (the 6-decimal form is a fixed point).
    assert format_meme(back) == format_meme(parse_meme(format_meme(back)))

"""Readers, writers and token helpers of deepprune_cli.core.sequences."""

from __future__ import annotations

import gzip
import os
import stat
import subprocess
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepprune_cli.core.errors import DeeppruneWarning, InputError
from deepprune_cli.core.sequences import (
    SequenceSet,
    decode,
    encode,
    format_fasta,
    one_hot,
    parse_fasta_bytes,
    read_sequences,
    reverse_complement,
)

dna = st.text(alphabet="ACGTN", min_size=1, max_size=60)


def test_fasta_multiline_crlf_softmask_and_labels():
    data = b">a label=1 some text\r\nACGT\r\nacgn\r\n>b label=0\nTT\nG\n"
    s = parse_fasta_bytes(data, "x.fa")
    assert s.ids == ["a", "b"]
    assert [s.text(i) for i in range(2)] == ["ACGTACGN", "TTG"]
    assert s.labels.ravel().tolist() == [1.0, 0.0]


def test_multilabel_headers():
    s = parse_fasta_bytes(b">a labels=0,1,1\nACG\n>b labels=1,0,0\nCCA\n", "x.fa")
    assert s.labels.tolist() == [[0, 1, 1], [1, 0, 0]]


def test_iupac_codes_become_n_with_one_counting_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = parse_fasta_bytes(b">a\nARYA\n>b\nKMA\n", "x.fa")
    assert [s.text(0), s.text(1)] == ["ANNA", "NNA"]
    msgs = [str(w.message) for w in caught if issubclass(w.category, DeeppruneWarning)]
    assert len(msgs) == 1 and "4 IUPAC" in msgs[0]


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"ACGT\n", "not FASTA"),
        (b">a\nAC-GT\n", "record 'a' position 3"),
        (b">a\nACXT\n", "'X'"),
        (b">a\n>b\nAC\n", "record 'a' has an empty sequence"),
        (b">a\nAC\n>a\nAC\n", "duplicate record id 'a'"),
        (b">\nAC\n", "empty header"),
        (b">a label=2\nAC\n", "labels must be 0 or 1"),
        (b">a label=1\nAC\n>b\nAC\n", "record 'b' has no label"),
        (b">a\nA\x00C\n", "NUL"),
    ],
)
def test_fasta_errors_name_the_problem(data, fragment):
    with pytest.raises(InputError) as err:
        parse_fasta_bytes(data, "bad.fa")
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_gzip_bgzip_and_truncated_gzip(tmp_path):
    content = b">a\nACGT\n>b\nGGCC\n"
    gz = tmp_path / "x.fa.gz"
    gz.write_bytes(gzip.compress(content))
    assert read_sequences(gz).ids == ["a", "b"]
    # bgzip = concatenated gzip members; gzip.decompress reads all members.
    bgz = tmp_path / "x.fa.bgz"
    bgz.write_bytes(gzip.compress(content[:8]) + gzip.compress(content[8:]))
    assert [read_sequences(bgz).text(i) for i in range(2)] == ["ACGT", "GGCC"]
    bad = tmp_path / "t.fa.gz"
    bad.write_bytes(gzip.compress(content * 50)[:-20])
    with pytest.raises(InputError, match="truncated gzip"):
        read_sequences(bad)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_sequences(tmp_path / "nope.fa")
    with pytest.raises(InputError, match="is a directory"):
        read_sequences(tmp_path)


def test_deepbind_seq_slice(data_dir):
    s = read_sequences(data_dir / "seq_CTCFL_B_slice.seq.gz")
    assert len(s) == 80 and s.fixed_length() == 101
    assert s.labels.ravel().tolist() == [1.0] * 40 + [0.0] * 40
    assert s.ids[0] == "seq_00002_peak" and s.ids[-1].endswith("_shuf")


def test_zeng_data_slice(data_dir):
    s = read_sequences(data_dir / "seq_STAT3_zeng_slice.data")
    assert len(s) == 40 and s.fixed_length() == 101
    shuf = np.array([i.endswith("_shuf") for i in s.ids])
    # Zeng's negatives are the _shuf records.
    assert np.array_equal(s.labels.ravel() == 0, shuf)


def test_seq_and_data_errors(tmp_path):
    p = tmp_path / "x.seq"
    p.write_text("FoldID\tEventID\tseq\tBound\nA\tid1\tACGT\t3\n")
    with pytest.raises(InputError, match="line 2: label must be 0 or 1"):
        read_sequences(p)
    q = tmp_path / "x.data"
    q.write_text(">a ACGTACGTACGT 1\n>b ACGT\n")
    with pytest.raises(InputError, match="line 2"):
        read_sequences(q)


def _genome(tmp_path, folder="g"):
    rng = np.random.default_rng(1)
    chr1 = "".join(rng.choice(list("ACGT"), 1000))
    chr2 = "".join(rng.choice(list("acgt"), 300))
    d = tmp_path / folder
    d.mkdir()
    (d / "genome.fa").write_text(f">chr1\n{chr1[:500]}\n{chr1[500:]}\n>chr2 desc\n{chr2}\n")
    return d / "genome.fa", chr1, chr2.upper()


def test_bed_windows_summit_midpoint_strand_and_edges(tmp_path):
    genome, chr1, chr2 = _genome(tmp_path)
    bed = tmp_path / "peaks.narrowPeak"
    bed.write_text(
        "track name=x\n"
        "chr1\t100\t300\tp1\t0\t+\t5\t1\t1\t50\n"  # summit 150
        "chr1\t100\t300\tp2\t0\t-\t5\t1\t1\t-1\n"  # midpoint 200, minus strand
        "chr2\t0\t20\tp3\t0\t+\t5\t1\t1\t2\n"  # runs off the start: skipped
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = read_sequences(bed, genome=genome, width=20)
    assert len(s) == 2
    assert s.text(0) == chr1[140:160]
    assert s.text(1) == decode(reverse_complement(encode(chr1[190:210])))
    assert any("1 window(s) running off" in str(w.message) for w in caught)


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("chr1\t300\t100", "line 1: end 100 is before start 300"),
        ("chr1\t-5\t100", "line 1: negative coordinate"),
        ("chrX\t1\t100", "line 1: chromosome 'chrX'"),
        ("chr1\tabc\t100", "line 1: start and end must be integers"),
        ("chr1\t5", "line 1: BED needs at least 3 columns"),
    ],
)
def test_bad_bed_lines(tmp_path, line, fragment):
    genome, _, _ = _genome(tmp_path)
    bed = tmp_path / "x.bed"
    bed.write_text(line + "\n")
    with pytest.raises(InputError) as err:
        read_sequences(bed, genome=genome, width=10)
    assert fragment in str(err.value)


def test_bed_genome_in_read_only_folder(tmp_path):
    genome, chr1, _ = _genome(tmp_path, "ro")
    bed = tmp_path / "x.bed"
    bed.write_text("chr1\t10\t30\n")
    os.chmod(genome.parent, stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(genome.parent, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        s = read_sequences(bed, genome=genome)
        assert s.text(0) == chr1[10:30]
        assert not (genome.parent / "genome.fa.fai").exists()
    finally:
        os.chmod(genome.parent, stat.S_IRWXU)


def test_bed_read_only_folder_as_unprivileged_user(tmp_path):
    """The same check as a real unprivileged user when the tests run as root (as in CI)."""
    if os.geteuid() != 0 or subprocess.run(["id", "nobody"], capture_output=True).returncode != 0:
        pytest.skip("needs root to switch to the 'nobody' user")
    import shutil
    import sys
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="deepprune-ro-"))  # pytest's tmp root is private to root
    try:
        _check_as_nobody(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _check_as_nobody(base):
    import sys

    genome, chr1, _ = _genome(base, "ro")
    bed = base / "x.bed"
    bed.write_text("chr1\t10\t30\n")
    for p in (base, genome.parent):
        os.chmod(p, 0o755)
    os.chmod(genome, 0o644)
    os.chmod(bed, 0o644)

    code = (
        "from deepprune_cli.core.sequences import read_sequences;"
        f"print(read_sequences({str(bed)!r}, genome={str(genome)!r}).text(0))"
    )
    env = dict(os.environ, HOME="/tmp", NUMBA_CACHE_DIR="/tmp/numba-nobody")
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c"]
    probe = subprocess.run([*as_nobody, "import deepprune_cli"], capture_output=True, text=True, env=env)
    if probe.returncode != 0:
        # e.g. a checkout under a private (0700) temporary folder: 'nobody' cannot import the package
        pytest.skip(f"the 'nobody' user cannot run deepprune here ({probe.stderr.strip().splitlines()[-1:]})")
    proc = subprocess.run([*as_nobody, code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == chr1[10:30]
    assert not (genome.parent / "genome.fa.fai").exists()


@given(st.lists(dna, min_size=1, max_size=20))
@settings(max_examples=60, deadline=None)
def test_fasta_round_trip(seqs):
    s = SequenceSet.from_strings(seqs)
    back = parse_fasta_bytes(format_fasta(s))
    assert back.ids == s.ids
    assert [back.text(i) for i in range(len(back))] == seqs
    # bulk format equals the obvious per-record format
    assert format_fasta(s) == "".join(f">{i}\n{q}\n" for i, q in zip(s.ids, seqs)).encode()


@given(dna)
def test_reverse_complement_is_an_involution_and_matches_strings(seq):
    t = encode(seq)
    assert np.array_equal(reverse_complement(reverse_complement(t)), t)
    assert decode(reverse_complement(t)) == seq[::-1].translate(str.maketrans("ACGTN", "TGCAN"))


def test_one_hot_shape_and_n():
    oh = one_hot(encode("ACGTN"))
    assert oh.shape == (4, 5)
    assert np.array_equal(oh[:, :4], np.eye(4))
    assert np.allclose(oh[:, 4], 0.25)


def test_subset_concatenate_and_matrix():
    a = SequenceSet.from_strings(["ACGT", "GGGG"], labels=[1, 0])
    b = SequenceSet.from_strings(["TTTT"], ids=["z"], labels=[0])
    c = SequenceSet.concatenate([a, b])
    assert c.ids == ["seq0", "seq1", "z"] and c.as_matrix().shape == (3, 4)
    sub = c.subset([2, 0])
    assert [sub.text(0), sub.text(1)] == ["TTTT", "ACGT"] and sub.labels.ravel().tolist() == [0, 1]
    ragged = SequenceSet.from_strings(["ACG", "ACGT"])
    with pytest.raises(InputError, match="different lengths"):
        ragged.as_matrix()
    assert ragged.subset([1]).text(0) == "ACGT"


def test_atomic_outputs_follow_the_umask(tmp_path):
    from deepprune_cli.core.atomic import atomic_directory, atomic_output

    old = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "f.txt") as fh:
            fh.write("x")
        with atomic_directory(tmp_path / "d") as d:
            (d / "inner").write_text("y")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755

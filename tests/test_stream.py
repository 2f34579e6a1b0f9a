"""``stream_sequences``: chunked reading gives exactly what ``read_sequences`` gives."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepprune_cli.core.errors import InputError
from deepprune_cli.core.sequences import SequenceSet, read_sequences, stream_sequences


def _same(a: SequenceSet, b: SequenceSet) -> bool:
    labels = (a.labels is None and b.labels is None) or np.array_equal(a.labels, b.labels)
    return a.ids == b.ids and np.array_equal(a.tokens, b.tokens) and np.array_equal(a.offsets, b.offsets) and labels


records = st.lists(
    st.tuples(st.text("ACGTNacgt", min_size=1, max_size=120), st.integers(1, 70), st.sampled_from([0, 1])),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(recs=records, chunk=st.integers(8, 400), crlf=st.booleans(), gz=st.booleans(), lead=st.integers(0, 2))
def test_fasta_chunks_concatenate_to_the_whole(tmp_path_factory, recs, chunk, crlf, gz, lead):
    nl = "\r\n" if crlf else "\n"
    text = nl * lead + "".join(
        f">r{i} label={lab}{nl}" + nl.join(s[j : j + width] for j in range(0, len(s), width)) + nl
        for i, (s, width, lab) in enumerate(recs)
    )
    path = tmp_path_factory.mktemp("s") / ("x.fa.gz" if gz else "x.fa")
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    parts = list(stream_sequences(path, chunk_bytes=chunk))
    assert _same(SequenceSet.concatenate(parts), read_sequences(path))


@pytest.mark.parametrize("name", ["encode_REST_AC_slice.seq.gz", "seq_STAT3_zeng_slice.data"])
def test_seq_and_data_formats(data_dir, name):
    parts = list(stream_sequences(data_dir / name, chunk_bytes=700))
    assert len(parts) > 3
    assert _same(SequenceSet.concatenate(parts), read_sequences(data_dir / name))


def test_errors_name_the_file_line_in_later_chunks(tmp_path):
    lines = [f">s{i} ACGTACGTACGTACGT 1" for i in range(200)]
    lines[150] = ">s150 ACGTACGTACGTACGT 7"
    path = tmp_path / "x.data"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="x.data: line 151"):
        list(stream_sequences(path, chunk_bytes=300))


def test_bed_stream_matches_read_bed(tmp_path):
    rng = np.random.default_rng(0)
    genome = tmp_path / "g.fa"
    genome.write_text(">c1\n" + "".join("ACGT"[i] for i in rng.integers(0, 4, 3000)) + "\n")
    bed = tmp_path / "p.bed"
    bed.write_text("".join(f"c1\t{s}\t{s + 50}\t.\t0\t{'+-'[s % 2]}\n" for s in range(0, 2900, 7)) + "c1\t0\t50\n")
    parts = list(stream_sequences(bed, genome=genome, width=40, chunk_bytes=200))
    whole = read_sequences(bed, genome=genome, width=40)
    assert len(parts) > 3 and _same(SequenceSet.concatenate(parts), whole)
    assert whole.ids[-1] == "c1:5-45#2"  # a repeated interval, numbered across chunks too


def test_empty_and_truncated(tmp_path):
    empty = tmp_path / "e.fa"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="empty"):
        list(stream_sequences(empty))
    data = gzip.compress(b"".join(b">r%d\nACGTACGTAC\n" % i for i in range(5000)))
    bad = tmp_path / "t.fa.gz"
    bad.write_bytes(data[:-20])
    with pytest.raises(InputError, match="truncated gzip"):
        list(stream_sequences(bad, chunk_bytes=1000))

"""``deepprune predict`` and core/inference.py: streamed scores, kernel best windows, bad inputs."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from conftest import assert_clean_error, run_cli
from modelkit import EBOX, EBOX_RC, ebox_model, plant, random_seq, run_all


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from deepprune_cli.core.store import save_model

    path = tmp_path_factory.mktemp("predict") / "model"
    save_model(path, ebox_model())
    return path


def _fasta(path, seqs):
    path.write_text("".join(f">r{i}\n{s}\n" for i, s in enumerate(seqs)))
    return path


def test_scores_match_training_predict_and_do_not_depend_on_chunks(model_dir, tmp_path):
    from deepprune_cli.core import inference, store, training
    from deepprune_cli.core.sequences import read_sequences, stream_sequences

    rng = np.random.default_rng(1)
    seqs = [random_seq(rng, 60) for _ in range(300)]
    fa = _fasta(tmp_path / "a.fa", seqs)
    model = store.load_model(model_dir).model
    whole = training.predict(model, read_sequences(fa))
    small = np.concatenate([c.probs for c in inference.predict_chunks(model, stream_sequences(fa, chunk_bytes=500))])
    big = np.concatenate([c.probs for c in inference.predict_chunks(model, stream_sequences(fa))])
    assert np.array_equal(small, big) and np.allclose(small, whole, atol=1e-6)


def test_mixed_lengths_each_record_scored_alone(model_dir, tmp_path):
    """A record's score is the same alone or next to longer records (no N padding to a neighbour)."""
    from deepprune_cli.core import inference, store
    from deepprune_cli.core.sequences import SequenceSet

    rng = np.random.default_rng(2)
    model = store.load_model(model_dir).model
    seqs = [random_seq(rng, n) for n in (12, 30, 9, 80, 30)]
    seqs[2] = "ACGTCACG"[:8] + "T"  # 9 bp
    together = next(inference.predict_chunks(model, [SequenceSet.from_strings(seqs)], kernels=True))
    for i, s in enumerate(seqs):
        alone = next(inference.predict_chunks(model, [SequenceSet.from_strings([s])], kernels=True))
        assert np.array_equal(alone.probs[0], together.probs[i])
        assert np.array_equal(alone.activation[0], together.activation[i])


def test_kernel_best_window_position_and_strand(model_dir):
    from deepprune_cli.core import inference, store
    from deepprune_cli.core.sequences import SequenceSet

    rng = np.random.default_rng(3)
    model = store.load_model(model_dir).model
    background = [random_seq(rng, 50).replace("CACG", "CAAG").replace("CGTG", "CTTG") for _ in range(6)]
    cases = [(EBOX, 0, "+"), (EBOX, 42, "+"), (EBOX, 17, "+"), (EBOX_RC, 0, "-"), (EBOX_RC, 42, "-"), (EBOX_RC, 23, "-")]
    seqs = [plant(b, site, pos) for b, (site, pos, _) in zip(background, cases)]
    chunk = next(inference.predict_chunks(model, [SequenceSet.from_strings(seqs)], kernels=True))
    assert np.allclose(chunk.activation[:, 0], 2.0)
    assert chunk.start[:, 0].tolist() == [pos for _, pos, _ in cases]
    assert ["-" if m else "+" for m in chunk.minus[:, 0]] == [s for _, _, s in cases]
    # the planted site makes the model's output high
    assert (chunk.probs[:, 0] > 0.9).all()


def test_cli_formats_stdin_gzip_bed_and_identical_reruns(model_dir, tmp_path):
    rng = np.random.default_rng(4)
    seqs = [random_seq(rng, 40) for _ in range(30)]
    fa = _fasta(tmp_path / "a.fa", seqs)
    gz = tmp_path / "a.fa.gz"
    gz.write_bytes(gzip.compress(fa.read_bytes()))
    out1, out2 = tmp_path / "s1.tsv", tmp_path / "s2.tsv"
    p1, p2 = run_all(
        ("predict", model_dir, fa, "-o", out1, "--kernels", "--device", "cpu"),
        ("predict", model_dir, gz, "-o", out2, "--kernels", "-q", "--threads", "1"),
    )
    p3 = run_cli("predict", model_dir, "-", "--kernels", "-q", input=fa.read_bytes())
    assert p1.returncode == p2.returncode == p3.returncode == 0, p1.stderr_text + p2.stderr_text + p3.stderr_text
    assert out1.read_bytes() == out2.read_bytes() == p3.stdout
    lines = out1.read_text().splitlines()
    assert lines[0].split("\t")[:3] == ["id", "probability", "kernel0_activation"]
    assert len(lines) == 31 and lines[1].startswith("r0\t")
    # BED + genome: ids are genome coordinates, sequences cut from the genome
    genome = tmp_path / "g.fa"
    genome.write_text(">chrA\n" + "".join(seqs[:10]) + "\n")
    bed = tmp_path / "p.bed"
    bed.write_text("chrA\t0\t40\nchrA\t40\t80\t.\t0\t-\n")
    p4 = run_cli("predict", model_dir, bed, "--genome", genome, "-q")
    assert p4.returncode == 0, p4.stderr_text
    rows = [line.split("\t") for line in p4.stdout_text.splitlines()[1:]]
    assert [r[0] for r in rows] == ["chrA:0-40", "chrA:40-80(-)"]
    assert rows[0][1] == lines[1].split("\t")[1]  # same bases as r0 in the FASTA


def test_bad_inputs_one_line_no_output(model_dir, tmp_path):
    from deepprune_cli.core.store import save_model

    rng = np.random.default_rng(5)
    flat = tmp_path / "flat"
    save_model(flat, ebox_model("1layer_local_win3", n_kernels=4, seq_len=40))
    fa50 = _fasta(tmp_path / "b.fa", [random_seq(rng, 50) for _ in range(5)])
    short = _fasta(tmp_path / "s.fa", [random_seq(rng, 40), "ACGTA"])
    # a truncated gzip stream found after the first chunks were scored: nothing under the final name
    big = _fasta(tmp_path / "big.fa", [random_seq(rng, 101) for _ in range(45000)])
    data = gzip.compress(big.read_bytes(), compresslevel=1)
    trunc = tmp_path / "t.fa.gz"
    trunc.write_bytes(data[: len(data) * 3 // 4])
    # one output each: the cases run at once, and a shared output would be locked by the first
    outs = [tmp_path / f"o{i}.tsv" for i in range(3)]
    flat_p, short_p, trunc_p, nope_p = run_all(
        ("predict", flat, fa50, "-o", outs[0]),
        ("predict", model_dir, short, "-o", outs[1]),
        ("predict", model_dir, trunc, "-o", outs[2]),
        ("predict", tmp_path / "nope", fa50),
    )
    assert_clean_error(flat_p, "built for 40 bp")
    assert_clean_error(short_p, "record 'r1' is 5 bp", "kernels are 8 bp")
    assert_clean_error(trunc_p, "truncated gzip")
    assert_clean_error(nope_p, "no such model directory")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("o", ".o")) and ".tsv" in p.name]


def test_kernel_best_under_full_padding_matches_the_torch_scan():
    """The compiled scan on N-padded records and the torch scan agree on value, start (negative or
    past the end where a window overhangs) and strand, and starts are forward-strand positions."""
    import torch

    from deepprune_cli.core import inference
    from deepprune_cli.core.architectures import arch_spec
    from deepprune_cli.core.models import build_model

    model = build_model(arch_spec("deepbind", 6, kernel_length=10, padding="full"), seed=2).eval()
    rng = np.random.default_rng(8)
    tokens = rng.integers(0, 5, (40, 30)).astype(np.uint8)
    values, start, minus = inference.kernel_best(model, tokens)
    with torch.no_grad():
        ref = model.kernel_activations(torch.from_numpy(tokens)).numpy()
    np.testing.assert_allclose(np.maximum(values, 0), ref, rtol=1e-5, atol=1e-5)
    from deepprune_cli.core import first_layer

    saved = first_layer.fused_available
    first_layer.fused_available = lambda: False  # the torch scan (max_activations)
    try:
        values2, start2, minus2 = inference.kernel_best(model, tokens)
    finally:
        first_layer.fused_available = saved
    np.testing.assert_allclose(values, values2, rtol=1e-5, atol=1e-5)
    assert np.array_equal(start, start2) and np.array_equal(minus, minus2)
    assert start.min() >= -9 and start.max() <= 29 and (start < 0).any()

"""``deepprune scan`` and core/scan.py: exact p-values, every hit found, genome coordinates."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_clean_error, run_cli
from modelkit import EBOX, EBOX_RC, ebox_model, plant, random_seq, run_all

COMP = str.maketrans("ACGT", "TGCA")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from deepprune_cli.core.store import save_model

    path = tmp_path_factory.mktemp("scan") / "model"
    save_model(path, ebox_model())
    return path


@settings(max_examples=25, deadline=None)
@given(
    weights=st.lists(st.floats(-3, 3, allow_nan=False), min_size=20, max_size=20),
    bg=st.lists(st.floats(0.05, 1), min_size=4, max_size=4),
    bias=st.floats(-2, 2),
)
def test_null_distribution_is_exact(weights, bg, bias):
    """Against enumerating all 4^5 windows with their background probabilities."""
    from deepprune_cli.core.scan import null_distribution

    w = np.array(weights).reshape(4, 5)
    p = np.array(bg) / sum(bg)
    null = null_distribution(w, bias, p)
    scores, probs = [], []
    for letters in itertools.product(range(4), repeat=5):
        scores.append(sum(w[a, i] for i, a in enumerate(letters)) + bias)
        probs.append(np.prod(p[list(letters)]))
    scores, probs = np.array(scores), np.array(probs)
    tol = 5 * null.step  # grid rounding: at most W/2 steps
    for s in scores[::37]:
        exact_hi = probs[scores >= s - tol].sum()
        exact_lo = probs[scores >= s + tol].sum()
        assert exact_lo - 1e-9 <= null.pvalue(s) <= exact_hi + 1e-9
    t = null.threshold(0.01)
    assert probs[scores >= t + tol].sum() <= 0.01 + 1e-9


def test_hits_are_every_window_above_threshold(model_dir, tmp_path):
    from deepprune_cli.core import scan, store
    from deepprune_cli.core.interpret import first_layer_filters
    from deepprune_cli.core.sequences import SequenceSet, one_hot, reverse_complement

    model = store.load_model(model_dir).model
    rng = np.random.default_rng(0)
    seqs = SequenceSet.from_strings([random_seq(rng, n) for n in (30, 30, 45, 9, 200)])
    scanner = scan.make_scanner(model, min_activation=-1.0)
    table = scan.scan(scanner, [seqs])
    weight, bias = first_layer_filters(model)
    expect, borderline = set(), set()
    for r in range(len(seqs)):
        tok = seqs.sequence(r)
        for strand, t in (("+", tok), ("-", reverse_complement(tok))):
            x = one_hot(t)
            L = len(t)
            for k in range(weight.shape[0]):
                for p in range(L - 8 + 1):
                    v = (weight[k] * x[:, p : p + 8]).sum() + bias[k]
                    key = (seqs.ids[r], p if strand == "+" else L - p - 8, k, strand)
                    if abs(v + 1.0) < 1e-4:  # too close to the threshold to call in float32
                        borderline.add(key)
                    elif v >= -1.0:
                        expect.add(key)
    got = {(table.chrom_names[c], s, k, "-" if m else "+") for c, s, k, m in
           zip(table.chrom, table.start, table.kernel, table.minus)}  # fmt: skip
    assert len(expect) > 50
    assert expect <= got and got - expect <= borderline


def test_cli_bed_genome_coordinates_and_sorted(model_dir, tmp_path):
    rng = np.random.default_rng(1)
    chrom = random_seq(rng, 400).replace("CACG", "CAAG").replace("CGTG", "CTTG")
    chrom = plant(plant(chrom, "AA" + EBOX + "TT", 48), "AA" + EBOX_RC + "TT", 298)  # flanks: no second site
    genome = tmp_path / "g.fa"
    genome.write_text(">chr2\n" + chrom + "\n>chr10\n" + chrom + "\n")
    bed = tmp_path / "r.bed"
    bed.write_text("chr2\t20\t120\t.\t0\t-\nchr2\t250\t350\nchr10\t0\t400\t.\t0\t-\n")
    out = tmp_path / "hits.bed"
    proc = run_cli("scan", model_dir, bed, "--genome", genome, "-o", out, "--pvalue", "1e-4", "-q")
    assert proc.returncode == 0, proc.stderr_text
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    k0 = [(r[0], int(r[1]), int(r[2]), r[5]) for r in rows if r[6] == "kernel0"]
    assert k0 == [("chr10", 50, 58, "+"), ("chr10", 300, 308, "-"), ("chr2", 50, 58, "+"), ("chr2", 300, 308, "-")]
    for c, s, e, strand in k0:  # the genome's bases there read as the E-box on the hit's strand
        site = chrom[s:e] if strand == "+" else chrom[s:e][::-1].translate(COMP)
        assert site == EBOX
    keys = [(r[0], int(r[1])) for r in rows]
    assert keys == sorted(keys)
    assert all(float(r[9]) <= 1e-4 for r in rows)
    # FASTA: record coordinates; --names gives the motif column
    fa = tmp_path / "a.fa"
    fa.write_text(f">s1\n{chrom[:100]}\n")
    names = tmp_path / "m.tsv"
    names.write_text("query\ttarget\toffset\torientation\tp\tE\tq\ttarget_name\n"
                     "kernel0\tMA0058.3\t0\t+\t1e-5\t1e-3\t1e-3\tMAX\nkernel0\tMA0093\t0\t+\t1e-3\t1e-1\t0.1\tUSF1\n")
    proc = run_cli("scan", model_dir, fa, "-o", "-", "--min-activation", "1.5", "--names", names, "-q")
    assert proc.returncode == 0, proc.stderr_text
    assert proc.stdout_text.splitlines()[0].split("\t")[:8] == ["s1", "50", "58", "MAX", "482", "+", "kernel0", "MAX"]


def test_scan_bad_inputs(model_dir, tmp_path):
    fa = tmp_path / "a.fa"
    fa.write_text(">a\nACGTACGTACGT\n>b\nACG\n")
    outs = [tmp_path / f"h{i}.bed" for i in range(3)]  # one each: the cases run at once
    both, short, bg = run_all(
        ("scan", model_dir, fa, "-o", outs[0], "--pvalue", "1e-3", "--min-activation", "1"),
        ("scan", model_dir, fa, "-o", outs[1]),
        ("scan", model_dir, fa, "-o", outs[2], "--background", "1,2,3"),
    )
    assert_clean_error(both, "exactly one threshold")
    assert_clean_error(short, "record 'b' is 3 bp")
    assert_clean_error(bg, "--background")
    assert not any(o.exists() for o in outs)


def test_pvalues_are_calibrated_on_random_sequence():
    """On uniform random DNA the number of hits matches what the exact null predicts."""
    from deepprune_cli.core import scan
    from deepprune_cli.core.sequences import SequenceSet

    model = ebox_model(n_kernels=4, seed=7)
    rng = np.random.default_rng(8)
    n, L, W = 3000, 60, 8
    seqs = SequenceSet.from_strings([random_seq(rng, L) for _ in range(n)])
    scanner = scan.make_scanner(model, pvalue=0.003)
    table = scan.scan(scanner, [seqs])
    windows = n * (L - W + 1) * 2  # both strands
    for k, null in enumerate(scanner.nulls):
        expect = windows * float(null.pvalue(scanner.thresholds[k]))  # the tail at the threshold: <= 0.003
        assert expect <= windows * 0.003 + 1e-9
        got = int((table.kernel == k).sum())
        assert abs(got - expect) < 5 * np.sqrt(expect) + 0.05 * expect, (k, got, expect)


def test_pruned_kernels_are_not_scanned():
    import torch

    from deepprune_cli.core import scan
    from deepprune_cli.core.sequences import SequenceSet

    model = ebox_model(n_kernels=4)
    with torch.no_grad():
        model.kernel_mask[0] = 0.0
    scanner = scan.make_scanner(model, min_activation=-100.0)
    assert scanner.names == ["kernel1", "kernel2", "kernel3"]
    table = scan.scan(scanner, [SequenceSet.from_strings(["AA" + EBOX + "AA"])])
    assert len(table) == 3 * 5 * 2  # every window of the 3 active kernels, both strands

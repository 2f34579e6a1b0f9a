"""``deepprune logos`` end to end through a real subprocess."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from conftest import assert_clean_error, run_cli
from deepprune_cli.core.motifs import load_motifs, read_meme, write_meme

W = 19


def _log_odds(m) -> np.ndarray:
    w = np.zeros((4, W))
    p = (m.probs + 0.01) / 1.04
    w[:, : m.width] = np.log2(p / 0.25).T
    return w


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A deepbind model whose kernels are CTCF and MAX log-odds matrices, a zero kernel, and a
    masked (pruned) kernel; plus labelled sequences with CTCF/MAX sites on either strand."""
    import torch

    from deepprune_cli.core.architectures import arch_spec
    from deepprune_cli.core.models import build_model
    from deepprune_cli.core.store import save_model

    d = tmp_path_factory.mktemp("logos")
    ctcf, mx = load_motifs("jaspar:MA0139.1,MA0058.3")
    model = build_model(arch_spec("deepbind", n_kernels=4, kernel_length=W), seed=0)
    with torch.no_grad():
        kernels = np.stack([_log_odds(mx), _log_odds(ctcf), np.zeros((4, W)), _log_odds(ctcf)[::-1, ::-1].copy()])
        model.conv1.weight.copy_(torch.tensor(kernels, dtype=torch.float32))
        model.conv1.bias.zero_()
        model.kernel_mask.copy_(torch.tensor([1.0, 1.0, 1.0, 0.0]))
        model.out.weight.copy_(torch.tensor([[1.0, 2.0, 0.1, 3.0]]))
    save_model(d / "model", model)
    rng = np.random.default_rng(0)
    comp = str.maketrans("ACGT", "TGCA")
    lines = []
    for i in range(300):
        s = list("".join("ACGT"[x] for x in rng.integers(0, 4, 100)))
        if i < 150:
            m = ctcf if i % 2 == 0 else mx
            site = "".join("ACGT"[rng.choice(4, p=r)] for r in m.probs)
            if rng.random() < 0.5:
                site = site[::-1].translate(comp)
            p = rng.integers(0, 100 - len(site))
            s[p : p + len(site)] = site
        lines.append(f">s{i} label={int(i < 150)}\n{''.join(s)}")
    (d / "seqs.fa").write_text("\n".join(lines) + "\n")
    write_meme(load_motifs("jaspar:MA0139.1,MA0058.3,MA0079.3"), d / "truth.meme")
    return d


def _tsv(path):
    with open(path) as fh:
        return [row for row in csv.DictReader((ln for ln in fh if not ln.startswith("#")), delimiter="\t")]


@pytest.fixture(scope="module")
def full_run(planted):
    """One full run: MEME, table, logos (PNG and SVG), --match and --truth."""
    tmp_path = planted / "full"
    out = tmp_path / "res" / "motifs.meme"
    proc = run_cli(
        "logos", planted / "model", planted / "seqs.fa", "-o", out, "--png", tmp_path / "png", "--svg", tmp_path / "svg",
        "--match", "jaspar2020", "--truth", planted / "truth.meme", "--seed", 1,
    )  # fmt: skip
    return proc, tmp_path, out


def test_logos_end_to_end(full_run):
    proc, tmp_path, out = full_run
    assert proc.returncode == 0, proc.stderr_text
    assert proc.stdout == b""
    motifs = read_meme(out)
    # ordered by |dense weight|: CTCF (2.0) before MAX (1.0); the zero kernel skipped, the masked one absent
    assert [m.id for m in motifs] == ["kernel1", "kernel0"]
    assert [m.name for m in motifs] == ["rank1", "rank2"]
    ctcf, mx = load_motifs("jaspar:MA0139.1,MA0058.3")
    assert np.corrcoef(motifs[0].probs.ravel(), ctcf.probs.ravel())[0, 1] > 0.9
    assert motifs[1].consensus.startswith(mx.consensus[:8])
    text = out.read_text()
    assert "ALPHABET= ACGT" in text and "strands: + -" in text and "Background letter frequencies" in text
    assert "nsites= %d" % motifs[0].nsites in text
    table = _tsv(tmp_path / "res" / "motifs.tsv")
    assert [r["kernel"] for r in table] == ["1", "0", "2"]
    assert table[2]["status"].startswith("never activates") and table[2]["id"] == ""
    assert table[0]["best_match"] == "MA0139.1" and float(table[0]["best_match_p"]) < 1e-10
    assert int(table[0]["sites"]) == motifs[0].nsites
    matches = _tsv(tmp_path / "res" / "matches.tsv")
    assert matches[0]["query"] == "kernel1" and matches[0]["target"] == "MA0139.1" and matches[0]["orientation"] == "+"
    assert {m["query"] for m in matches} == {"kernel0", "kernel1"}
    assert all(float(m["q"]) <= 0.5 for m in matches)
    truth = {r["truth"]: r for r in _tsv(tmp_path / "res" / "truth.tsv")}
    assert truth["MA0139.1"]["recovered"] == "yes" and truth["MA0139.1"]["kernel"] == "kernel1"
    assert float(truth["MA0139.1"]["p"]) < 1e-4 and float(truth["MA0058.3"]["p"]) < 1e-4
    assert truth["MA0079.3"]["recovered"] == "no"
    assert "match fraction 1" in (tmp_path / "res" / "truth.tsv").read_text()
    # Koo & Eddy's count: every kernel, the one that gave no motif too
    assert "2/3 of all kernels match a true motif (match fraction over all kernels 0.67)" in proc.stderr_text
    for d, ext in (("png", "png"), ("svg", "svg")):
        files = sorted(p.name for p in (tmp_path / d).iterdir())
        assert files == [f"kernel0.{ext}", f"kernel1.{ext}", f"overview.{ext}"]
    assert (tmp_path / "png" / "kernel1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "svg" / "overview.svg").read_bytes()[:500]
    assert "recovered 2/3 true motifs" in proc.stderr_text


def test_motifs_meme_reads_the_same_everywhere(full_run):
    proc, _, out = full_run
    assert proc.returncode == 0, proc.stderr_text
    ours = read_meme(out)
    from Bio import motifs as biomotifs
    from memelite.io import read_meme as memelite_read

    with open(out) as fh:
        bio = biomotifs.parse(fh, "minimal")
    lite = memelite_read(str(out))
    assert [m.name for m in bio] == [m.id for m in ours]
    for m, b, (key, mat) in zip(ours, bio, lite.items()):
        assert key.split()[0] == m.id
        bio_probs = np.array([[b.counts[c][i] for c in "ACGT"] for i in range(b.length)]) / b.num_occurrences
        np.testing.assert_allclose(bio_probs, m.probs, atol=2e-6)
        np.testing.assert_allclose(mat.T, m.probs, atol=2e-6)
        np.testing.assert_allclose(m.probs.sum(axis=1), 1.0)
    pymemesuite = pytest.importorskip("pymemesuite.common")
    mf = pymemesuite.MotifFile(str(out), pseudocount=0.0)
    mems = list(mf)
    assert [x.accession.decode() for x in mems] == [m.id for m in ours]
    for m, x in zip(ours, mems):
        np.testing.assert_allclose(np.array(x.frequencies), m.probs, atol=2e-6)


def test_stdout_and_unlabelled_sequences(planted, tmp_path):
    seqs = tmp_path / "pos.fa"
    text = (planted / "seqs.fa").read_text().replace(" label=1", "").splitlines()
    seqs.write_text("\n".join(text[:300]) + "\n")  # the 150 positives, unlabelled
    proc = run_cli("logos", planted / "model", seqs, "-o", "-", "--order", "kernel", "-q", "--trim", "0.3")
    assert proc.returncode == 0, proc.stderr_text
    assert proc.stderr_text == ""
    assert proc.stdout_text.startswith("MEME version 4")
    assert "MOTIF kernel0 rank1" in proc.stdout_text and "MOTIF kernel1 rank2" in proc.stdout_text
    widths = [int(line.split("w= ")[1].split()[0]) for line in proc.stdout_text.splitlines() if "w= " in line]
    assert len(widths) == 2 and all(w < W for w in widths)  # --trim removed low-information flanks
    assert list(tmp_path.iterdir()) == [seqs]  # no sidecar without a file output


def test_bad_inputs_exit_2_and_write_nothing(planted, tmp_path):
    """The three input errors the issue names, through a real subprocess."""
    import shutil

    out = tmp_path / "out" / "motifs.meme"
    seqs = planted / "seqs.fa"
    proc = run_cli("logos", tmp_path, seqs, "-o", out)
    assert_clean_error(proc, "not a deepprune model directory")
    bad = tmp_path / "bad_model"
    shutil.copytree(planted / "model", bad)
    data = (bad / "weights.pt").read_bytes()
    (bad / "weights.pt").write_bytes(data[: len(data) // 2])  # truncated
    proc = run_cli("logos", bad, seqs, "-o", out)
    assert_clean_error(proc, "weights.pt", "corrupt")
    db = tmp_path / "db.meme"
    db.write_text("MEME version 4\n\nMOTIF a\nletter-probability matrix: alength= 4 w= 2\n0.5 0.5 0 0\n")
    proc = run_cli("logos", planted / "model", seqs, "-o", out, "--match", db, "--png", tmp_path / "png")
    assert_clean_error(proc, str(db), "matrix rows")
    assert not (tmp_path / "out").exists() and not (tmp_path / "png").exists()


def _invoke(*args):
    """In-process run (same entry point, no interpreter start-up) for the cheaper checks."""
    from click.testing import CliRunner

    from deepprune_cli.cli.main import main

    return CliRunner().invoke(main, [str(a) for a in args])


def test_more_bad_inputs_in_process(planted, tmp_path):
    out = tmp_path / "out" / "motifs.meme"
    seqs = planted / "seqs.fa"
    for args, fragment in [
        (("--truth", tmp_path / "missing.meme"), "missing.meme: no such file"),
        (("--threshold", "1.5"), "--threshold must be in (0, 1]"),
        (("--table", out), "output files collide"),
    ]:
        res = _invoke("logos", planted / "model", seqs, "-o", out, *args)
        assert res.exit_code == 2, res.output
        assert "deepprune: error:" in res.output and fragment in res.output and "Traceback" not in res.output
    unlabelled = tmp_path / "u.fa"
    unlabelled.write_text(">a\n" + "ACGT" * 30 + "\n")
    res = _invoke("logos", planted / "model", unlabelled, "-o", out, "--order", "score")
    assert res.exit_code == 2 and "--order score needs labelled" in res.output
    assert not (tmp_path / "out").exists()
    # labelled SEQS: score order works, and all dead -> runtime failure (exit 1), nothing written
    res = _invoke("logos", planted / "model", seqs, "-o", out, "--order", "score", "--sites-from", "all", "-q")
    assert res.exit_code == 0, res.output
    res = _invoke("logos", planted / "model", seqs, "-o", tmp_path / "x.meme", "--min-sites", 10000)
    assert res.exit_code == 1 and "no kernel gave a motif" in res.output
    assert not (tmp_path / "x.meme").exists() and not (tmp_path / "x.tsv").exists()
    # --allow-empty (workflows): a warning, exit 0, a MEME header with no motifs, every kernel's
    # status in the table and header-only match / truth tables
    res = _invoke("logos", planted / "model", seqs, "-o", tmp_path / "x.meme", "--min-sites", 10000, "--allow-empty",
                  "--match", "jaspar2020", "--truth", planted / "truth.meme", "-q")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "deepprune: warning:" in res.output and "no kernel gave a motif" in res.output
    text = (tmp_path / "x.meme").read_text()
    assert text.startswith("MEME version 4") and "MOTIF" not in text
    statuses = sorted(r["status"].split(" (")[0] for r in _tsv(tmp_path / "x.tsv"))
    assert statuses == ["never activates", "too few sites", "too few sites"]
    assert (tmp_path / "matches.tsv").read_text().count("\n") == 1
    truth = _tsv(tmp_path / "truth.tsv")
    assert len(truth) == 3 and {r["recovered"] for r in truth} == {"no"}


def test_batch_norm_same_padding_model_in_process(tmp_path):
    """A Koo & Eddy architecture (first conv 'same' padded, batch norm folded in)."""
    from deepprune_cli.core.architectures import arch_spec
    from deepprune_cli.core.models import build_model
    from deepprune_cli.core.store import save_model

    model = build_model(arch_spec("cnn-4", n_outputs=2, seq_len=60), seed=0)
    save_model(tmp_path / "koo", model)
    rng = np.random.default_rng(1)
    lines = [f">r{i}\n" + "".join("ACGT"[x] for x in rng.integers(0, 4, 60)) for i in range(200)]
    (tmp_path / "s.fa").write_text("\n".join(lines) + "\n")
    res = _invoke(
        "logos", tmp_path / "koo", tmp_path / "s.fa", "-o", tmp_path / "m.meme", "--relative-to", "observed",
        "--min-bits", 0, "-q",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    motifs = read_meme(tmp_path / "m.meme")
    assert 0 < len(motifs) <= 30 and all(m.width == 19 for m in motifs)
    table = _tsv(tmp_path / "m.tsv")
    assert len(table) == 30 and all(int(r["sites"]) <= 200 for r in table)


def test_copies_of_one_motif_are_one_group(tmp_path):
    """Two CTCF kernels (one reverse complemented and shifted by 3) and a MAX kernel: the table
    puts the CTCF kernels in one group, the distinct MEME file holds CTCF (its more important
    kernel) and MAX once each, and the log says 3 kernels -> 2 distinct motifs."""
    import torch

    from deepprune_cli.core.architectures import arch_spec
    from deepprune_cli.core.models import build_model
    from deepprune_cli.core.store import save_model

    ctcf, mx = load_motifs("jaspar:MA0139.1,MA0058.3")
    shifted_rc = np.zeros((4, W))
    shifted_rc[:, 3:] = _log_odds(ctcf)[::-1, ::-1][:, : W - 3]  # the reverse complement, 3 columns later
    model = build_model(arch_spec("deepbind", n_kernels=3, kernel_length=W), seed=0)
    with torch.no_grad():
        model.conv1.weight.copy_(torch.tensor(np.stack([_log_odds(ctcf), _log_odds(mx), shifted_rc]), dtype=torch.float32))
        model.conv1.bias.zero_()
        model.out.weight.copy_(torch.tensor([[1.0, 2.0, 3.0]]))
    save_model(tmp_path / "model", model)
    rng = np.random.default_rng(3)
    lines = []
    for i in range(120):
        s = list("".join("ACGT"[x] for x in rng.integers(0, 4, 80)))
        m = ctcf if i % 2 else mx
        site = "".join("ACGT"[rng.choice(4, p=r)] for r in m.probs)
        p = rng.integers(0, 80 - len(site))
        s[p : p + len(site)] = site
        lines.append(f">s{i}\n{''.join(s)}")
    (tmp_path / "pos.fa").write_text("\n".join(lines) + "\n")
    out = tmp_path / "res" / "motifs.meme"
    proc = run_cli("logos", tmp_path / "model", tmp_path / "pos.fa", "-o", out, "--seed", 0)
    assert proc.returncode == 0, proc.stderr_text
    assert "3 kernels → 2 distinct motifs" in proc.stderr_text
    assert [m.id for m in read_meme(out)] == ["kernel2", "kernel1", "kernel0"]  # every kernel, as before
    table = {r["id"]: r for r in _tsv(tmp_path / "res" / "motifs.tsv")}
    assert {k: (r["group"], r["representative"]) for k, r in table.items()} == {
        "kernel2": ("1", "yes"), "kernel1": ("2", "yes"), "kernel0": ("1", "no"),
    }  # fmt: skip
    distinct = read_meme(tmp_path / "res" / "motifs.distinct.meme")
    assert [(m.id, m.name) for m in distinct] == [("kernel2", "group1"), ("kernel1", "group2")]
    # --group-db none: no grouping, no distinct file, empty group column
    proc = run_cli("logos", tmp_path / "model", tmp_path / "pos.fa", "-o", tmp_path / "n" / "m.meme", "--group-db", "none", "-q")
    assert proc.returncode == 0, proc.stderr_text
    assert sorted(p.name for p in (tmp_path / "n").iterdir()) == ["m.meme", "m.tsv"]
    assert {r["group"] for r in _tsv(tmp_path / "n" / "m.tsv")} == {""}
    proc = run_cli("logos", tmp_path / "model", tmp_path / "pos.fa", "-o", tmp_path / "e" / "m.meme", "--group-p", "2")
    assert_clean_error(proc, "--group-p must be in (0, 1]")
    assert not (tmp_path / "e").exists()

"""``deepprune mutate`` and core/mutate.py: mutation maps, figures and VCF SNV effects."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_clean_error, run_cli
from modelkit import EBOX, ebox_model, plant, random_seq, run_all


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from deepprune_cli.core.store import save_model

    path = tmp_path_factory.mktemp("mutate") / "model"
    save_model(path, ebox_model())
    return path


def _clean_background(rng, n):
    return random_seq(rng, n).replace("CACG", "CAAG").replace("CGTG", "CTTG")


def test_mutation_map_matches_scoring_each_mutant():
    from deepprune_cli.core import mutate
    from deepprune_cli.core.architectures import arch_spec
    from deepprune_cli.core.models import build_model
    from deepprune_cli.core.sequences import encode

    model = build_model(arch_spec("deepbind", n_kernels=3, kernel_length=6), seed=3).eval()
    rng = np.random.default_rng(0)
    tok = encode(random_seq(rng, 25) + "N" + random_seq(rng, 4))
    ref, delta = mutate.mutation_map(model, tok)
    assert delta.shape == (30, 4, 1)
    for p in range(len(tok)):
        for b in range(4):
            m = tok.copy()
            m[p] = b
            expect = mutate.logits(model, m[None])[0, 0] - ref[0]
            if b == tok[p]:
                assert delta[p, b, 0] == 0.0
            else:
                assert delta[p, b, 0] == pytest.approx(expect, abs=1e-5)


def test_planted_site_map_and_cli_png(model_dir, tmp_path):
    rng = np.random.default_rng(1)
    seq = plant(_clean_background(rng, 40), "AA" + EBOX + "TT", 10)  # E-box at 12..19 (0-based)
    fa = tmp_path / "a.fa"
    fa.write_text(f">site\n{seq}\n>other\n{_clean_background(rng, 40)}\n")
    out = tmp_path / "map.tsv"
    proc = run_cli("mutate", model_dir, fa, "--ids", "site", "-o", out, "--png", tmp_path / "png", "-q")
    assert proc.returncode == 0, proc.stderr_text
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert rows[0] == ["id", "position", "ref", "alt", "delta_logit"]
    assert len(rows) == 1 + 40 * 3 and {r[0] for r in rows[1:]} == {"site"}
    delta = {(int(r[1]), r[3]): float(r[4]) for r in rows[1:]}
    # the model's logit is 2 * relu(kernel 0) - 1: 3 with the site, -1 with any base of it changed
    for (pos, alt), d in delta.items():
        assert d == pytest.approx(-4.0 if 13 <= pos <= 20 else 0.0, abs=1e-5), (pos, alt)
    png = tmp_path / "png" / "site.png"
    first = png.read_bytes()
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    again, nope = run_all(
        ("mutate", model_dir, fa, "--ids", "site", "-o", out, "--png", tmp_path / "png2", "-q"),
        ("mutate", model_dir, fa, "--ids", "nope", "-o", tmp_path / "x.tsv"),
    )
    assert again.returncode == 0 and (tmp_path / "png2" / "site.png").read_bytes() == first
    assert_clean_error(nope, "no record named nope")
    assert not (tmp_path / "x.tsv").exists()


def test_vcf_snvs_scored_others_skipped_and_counted(model_dir, tmp_path):
    rng = np.random.default_rng(2)
    chrom = plant(_clean_background(rng, 300), "AA" + EBOX + "TT", 150)  # E-box at 152..159 (0-based)
    genome = tmp_path / "g.fa"
    genome.write_text(f">chr1\n{chrom}\n")
    comp = {"A": "C", "C": "G", "G": "T", "T": "A"}

    def rec(pos, ref=None, alt=None, vid="."):
        ref = ref or chrom[pos - 1]
        return f"chr1\t{pos}\t{vid}\t{ref}\t{alt or comp[ref]}\t.\tPASS\t.\n"

    vcf = tmp_path / "v.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        + rec(155, vid="in_site") + rec(100, vid="outside")
        + rec(120, ref=chrom[119:121], alt=chrom[119])  # deletion
        + rec(130, alt="A,G" if chrom[129] not in "AG" else "C,T")  # multi-allelic
        + rec(20, vid="edge")  # a 101-bp window runs off the start
    )  # fmt: skip
    out = tmp_path / "v.tsv"
    proc = run_cli("mutate", model_dir, "--vcf", vcf, "--genome", genome, "-o", out)
    assert proc.returncode == 0, proc.stderr_text
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert rows[0][:8] == ["chrom", "pos", "id", "ref", "alt", "window_start", "window_end", "ref_logit"]
    got = {r[2]: r for r in rows[1:]}
    assert set(got) == {"in_site", "outside"}
    assert float(got["in_site"][7]) == pytest.approx(3.0) and float(got["in_site"][9]) == pytest.approx(-4.0)
    assert float(got["outside"][9]) == pytest.approx(0.0, abs=1e-6)
    assert (int(got["in_site"][5]), int(got["in_site"][6])) == (154 - 50, 154 + 51)
    assert "1 indels, 1 multi-allelic, 1 too near a chromosome end" in " ".join(proc.stderr_text.split())
    # unknown chromosome, REF disagreeing with the genome: one line, exit 2, no output
    bad1, bad2 = tmp_path / "bad1.vcf", tmp_path / "bad2.vcf"
    bad1.write_text("#CHROM\tPOS\tID\tREF\tALT\n" + rec(100) + rec(155).replace("chr1", "chr9"))
    bad2.write_text("#CHROM\tPOS\tID\tREF\tALT\n" + rec(100) + rec(155, ref=comp[chrom[154]]))
    p1, p2, p3 = run_all(
        ("mutate", model_dir, "--vcf", bad1, "--genome", genome, "-o", tmp_path / "b1.tsv"),
        ("mutate", model_dir, "--vcf", bad2, "--genome", genome, "-o", tmp_path / "b2.tsv"),
        ("mutate", model_dir, "--vcf", vcf, "-o", out),
    )
    assert_clean_error(p1, "line 3", "chromosome 'chr9' is not in the genome")
    assert_clean_error(p2, "line 3", "disagrees with the genome")
    assert_clean_error(p3, "--vcf needs --genome")
    assert not (tmp_path / "b1.tsv").exists() and not (tmp_path / "b2.tsv").exists()


def test_long_records_are_mapped_in_blocks(monkeypatch):
    """Mutants are built a block of positions at a time; the map does not depend on the block size."""
    from deepprune_cli.core import mutate
    from deepprune_cli.core.sequences import encode

    model = ebox_model()
    tok = encode(plant(random_seq(np.random.default_rng(5), 90), EBOX, 40))
    whole = mutate.mutation_map(model, tok)[1]
    monkeypatch.setattr(mutate, "_MUTANT_BYTES", 4 * 90 * 7)  # 7 positions per block
    blocks = mutate.mutation_map(model, tok)[1]
    assert np.array_equal(whole, blocks)
    assert whole[40:48].min() < -3.9  # the site's bases matter

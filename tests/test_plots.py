"""Figures (core/plots.py): logos in bits, overview, evaluation plots; files valid and atomic."""

from __future__ import annotations

import numpy as np
import pytest

from deepprune_cli.core import plots
from deepprune_cli.core.motifs import Motif, load_motifs

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def motifs():
    return load_motifs("koo2019", ["MA0058.3", "MA0083.3", "MA0079.3"])  # MAX, SRF, SP1


def test_bits_matrix():
    probs = np.array([[1.0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0, 0]])
    h = plots.bits_matrix(probs)
    np.testing.assert_allclose(h.sum(axis=1), [2.0, 0.0, 1.0])
    np.testing.assert_allclose(h[2], [0.5, 0.5, 0, 0])
    # against a GC-rich background an A is more surprising
    assert plots.bits_matrix(probs, [0.2, 0.3, 0.3, 0.2])[0, 0] > 2.0


def test_logos_png_svg_and_overview(tmp_path, motifs):
    paths = plots.save_logos(motifs, tmp_path / "png", "png")
    assert [p.name for p in paths] == ["MA0058.3.png", "MA0083.3.png", "MA0079.3.png", "overview.png"]
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == PNG and len(data) > 5000
    svg = plots.save_logos(motifs[:1], tmp_path / "svg", "svg", overview=False)
    assert len(svg) == 1 and b"<svg" in svg[0].read_bytes()[:500]
    # odd ids become safe file names; no temporary files are left behind
    odd = Motif("a/b:c", motifs[0].probs, "", 5)
    assert plots.logo_filename(odd) == "a_b_c.png"
    plots.save_logo(odd, tmp_path / "png" / plots.logo_filename(odd))
    assert not [p for p in (tmp_path / "png").iterdir() if p.name.startswith(".")]
    with pytest.raises(ValueError):
        plots.save_logo(odd, tmp_path / "x.gif")


def test_logo_shows_the_motif(tmp_path, motifs):
    """The PNG is a drawing, not a blank page: most of the height is coloured where the motif is
    informative (checked on pixels of the rendered MAX logo)."""
    path = plots.save_logo(motifs[0], tmp_path / "max.png")
    import matplotlib.image as mpimg

    img = mpimg.imread(path)[..., :3]
    coloured = (img.max(axis=2) - img.min(axis=2)) > 0.3  # letters are red/green/blue/orange
    assert coloured.mean() > 0.05
    cols = coloured.any(axis=0)
    assert cols.sum() > img.shape[1] * 0.4  # letters across the width


def test_evaluation_plots(tmp_path):
    p = plots.plot_auroc_vs_kernels(
        {"deepprune": [(16, 0.9), (8, 0.91), (4, 0.9)], "baseline": [(8, 0.88), (4, 0.85)]}, tmp_path / "a.png"
    )
    assert p.read_bytes()[:8] == PNG
    s = plots.plot_paired_scatter([0.8, 0.9, 0.85], [0.82, 0.93, 0.84], tmp_path / "s.svg", labels=["x", "y", "z"])
    assert b"<svg" in s.read_bytes()[:500]
    with pytest.raises(ValueError):
        plots.plot_paired_scatter([0.8], [0.8, 0.9], tmp_path / "bad.png")
    with pytest.raises(ValueError):
        plots.plot_auroc_vs_kernels({}, tmp_path / "none.png")

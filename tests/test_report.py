"""``deepprune report``: one self-contained HTML page, checked structurally and in a real browser."""

from __future__ import annotations

import base64
import io
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import assert_clean_error, ebox_fasta, run_cli

SECTIONS = ("What was run", "Performance against kernel count", "Training curves", "Motifs")


class Page(HTMLParser):
    """The pieces of a page the tests look at: images, scripts, links, SVGs, headings, text."""

    def __init__(self, text: str):
        super().__init__()
        self.images, self.scripts, self.external, self.svgs, self.headings, self.text = [], 0, [], 0, [], []
        self._heading = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "script":
            self.scripts += 1
        if tag == "svg":
            self.svgs += 1
        if tag in ("h1", "h2", "h3"):
            self._heading = ""
        for key in ("src", "href"):
            if a.get(key, "").startswith(("http:", "https:", "//")):
                self.external.append(a[key])

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append(self._heading.strip())
            self._heading = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data
        self.text.append(data)


def _prune(directory: Path, name: str, seed: int, test: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    pos = ebox_fasta(directory / f"{name}.fa", n=300, length=50, seed=seed)
    args = ["prune", pos, "--kernels", "2", "--rounds", "2", "--epochs", "4", "--seed", seed, "-o", directory / "pruned"]
    if test:
        tpos = ebox_fasta(directory / "test_pos.fa", n=100, length=50, seed=seed + 100)
        proc = run_cli("shuffle", tpos, "-o", directory / "test_neg.fa", "--seed", seed)
        assert proc.returncode == 0, proc.stderr_text
        lines = [f">{h.split()[0][1:]} label=1" if h.startswith(">") else h for h in tpos.read_text().splitlines()]
        lines += [f">n{i} label=0" if h.startswith(">") else h
                  for i, h in enumerate((directory / "test_neg.fa").read_text().splitlines())]  # fmt: skip
        (directory / "test.fa").write_text("\n".join(lines) + "\n")
        args += ["--test", directory / "test.fa"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr_text
    return directory / "pruned"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two small prune runs (E-box data, different seeds) with logos outputs, and one without a test set."""
    root = tmp_path_factory.mktemp("report")
    out = {}
    for name, seed in (("USF_like", 1), ("MAX_like", 2)):
        pruned = _prune(root / name, name, seed)
        meme = root / name / "motifs" / "motifs.meme"
        proc = run_cli("logos", pruned / "final", root / name / f"{name}.fa", "-o", meme, "--match", "jaspar:MA0058.3,MA0093.3,MA0139.1,MA0079.3",
                       "--min-sites", "1", "--min-bits", "0", "--allow-empty")  # fmt: skip
        assert proc.returncode == 0, proc.stderr_text
        out[name] = (pruned, meme)
    out["no_test"] = (_prune(root / "no_test", "notest", 3, test=False), None)
    out["root"] = root
    return out


def _report(tmp_path, *args) -> tuple[bytes, Page]:
    html_path = tmp_path / "report.html"
    proc = run_cli("report", *args, "-o", html_path)
    assert proc.returncode == 0, proc.stderr_text
    data = html_path.read_bytes()
    return data, Page(data.decode("utf-8"))


def _png_size(src: str) -> tuple[int, int]:
    from PIL import Image

    assert src.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
        im.load()
        return im.size


def test_single_run_page_is_self_contained_and_complete(runs, tmp_path):
    pruned, meme = runs["USF_like"]
    data, page = _report(tmp_path, pruned, "--motifs", meme)
    for section in SECTIONS:
        assert section in page.headings
    assert page.scripts == 0 and page.external == []
    assert page.svgs >= 3  # AUROC and AUPRC vs kernels, training curves
    from deepprune_cli.core.motifs import read_meme

    motifs = read_meme(meme)
    assert len(page.images) == len(motifs) >= 1
    for src in page.images:
        w, h = _png_size(src)
        assert w > 100 and h > 50
    text = " ".join(page.text)
    assert "USF_like.fa" in text and "8 → 2 in 2 rounds" in text and "loss" in text
    assert "test AUROC vs kernels" in text
    verdict = __import__("json").loads((pruned / "prune.json").read_text())["compact"]
    assert "compact motif model" in text
    assert (f"yes: 2 kernels, val AUROC {verdict['final_val_auroc']:.4f}" if verdict["compact"] else f"NO: {verdict['reason']}") in text
    assert motifs[0].consensus in text
    # summary.tsv's numbers are on the page
    summary = (pruned / "summary.tsv").read_text().splitlines()[1:]
    for line in summary:
        assert f"{float(line.split(chr(9))[6]):.4f}" in text
    assert len(data) < 3_000_000


def test_same_inputs_same_bytes(runs, tmp_path):
    pruned, meme = runs["USF_like"]
    a, _ = _report(tmp_path, pruned, "--motifs", meme)
    b, _ = _report(tmp_path, pruned, "--motifs", meme)
    assert a == b


def test_several_runs_compare_across_experiments(runs, tmp_path):
    (a, ma), (b, mb) = runs["USF_like"], runs["MAX_like"]
    _, page = _report(tmp_path, a, b, "--motifs", ma, "--motifs", mb.parent)
    assert "Across experiments" in page.headings
    text = " ".join(page.text)
    assert re.search(r"deepprune beats the same-size baseline on \d of 2 experiments at 2 kernels", text)
    assert "USF_like" in text and "MAX_like" in text
    assert page.svgs >= 7  # the scatter plus each run's figures


def test_run_without_test_set_says_so(runs, tmp_path):
    pruned, _ = runs["no_test"]
    _, page = _report(tmp_path, pruned)
    text = " ".join(page.text)
    assert "no test set was given" in text
    assert "validation AUROC vs kernels" in text
    assert "no motifs given" in text


def test_model_directory_and_empty_motifs(runs, tmp_path):
    pruned, _ = runs["USF_like"]
    model = pruned / "final"
    meme = tmp_path / "empty" / "motifs.meme"
    proc = run_cli("logos", model, runs["root"] / "USF_like" / "USF_like.fa", "-o", meme, "--min-sites", "100000", "--allow-empty")
    assert proc.returncode == 0, proc.stderr_text
    _, page = _report(tmp_path, model, "--motifs", meme)
    assert "trained model" in " ".join(page.text)
    assert "no kernel gave a motif" in " ".join(page.text)
    assert page.images == []


@pytest.mark.parametrize(
    "case, fragment",
    [
        ("not_a_run", "not a prune run or model directory"),
        ("missing", "no such directory"),
        ("motif_count", "--motifs given 2 time(s) for 1 run(s)"),
        ("no_meme", "no motifs.meme"),
        ("twice", "given twice"),
    ],
)
def test_bad_inputs_one_line_and_no_file(runs, tmp_path, case, fragment):
    pruned, meme = runs["USF_like"]
    args = {
        "not_a_run": [tmp_path],
        "missing": [tmp_path / "nope"],
        "motif_count": [pruned, "--motifs", meme, "--motifs", meme],
        "no_meme": [pruned, "--motifs", tmp_path],
        "twice": [pruned, pruned],
    }[case]
    out = tmp_path / "out" / "report.html"
    proc = run_cli("report", *args, "-o", out)
    assert_clean_error(proc, fragment)
    assert not out.exists() and not (tmp_path / "out").exists()


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None, "selenium is not installed (pip install selenium)"
    if not chromium or not driver:
        return None, "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
    return (chromium, driver), ""


@pytest.mark.browser
def test_page_in_a_real_browser(runs, tmp_path):
    found, reason = _browser()
    if found is None:
        pytest.skip(reason)
    from PIL import Image, ImageStat
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    (a, ma), (b, mb) = runs["USF_like"], runs["MAX_like"]
    _report(tmp_path, a, b, "--motifs", ma, "--motifs", mb)
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1600", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(found[1]), options=options)
    try:
        browser.get((tmp_path / "report.html").as_uri())
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight]);"
        )
        assert images and all(ok and w > 0 and h > 0 for ok, w, h in images), images
        svgs = browser.execute_script(
            "return Array.from(document.querySelectorAll('svg')).map(s => s.getBoundingClientRect().width);"
        )
        assert len(svgs) >= 7 and all(w > 100 for w in svgs)
        errors = [e for e in browser.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
        assert errors == []
        shot = tmp_path / "screenshot.png"
        assert browser.save_screenshot(str(shot))
    finally:
        browser.quit()
    with Image.open(shot) as im:
        stat = ImageStat.Stat(im.convert("L"))
        assert stat.stddev[0] > 10  # not a blank page
        assert len(im.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 50

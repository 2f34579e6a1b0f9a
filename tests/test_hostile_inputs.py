"""Hostile inputs through the real CLI: every bad file or option gives exit 2, exactly one
``deepprune: error:`` line naming the problem, no traceback and no output (issue 8).

The corpus lives in ``tests/data/hostile/`` (see its README.md); model-directory cases copy a
tiny model trained once per session and break one piece of it. All subprocesses run
concurrently in one session fixture; the parametrised tests read the cached results.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyfaidx
import pytest

from conftest import DATA, run_cli

H = DATA / "hostile"
WORKERS = 3
HEAVY = ("train", "prune", "evaluate", "logos")  # commands that import torch before failing


# --------------------------------------------------------------------------------------------
# model-directory breakers: each gets the case directory and a fresh copy of the tiny model


def _copy_model(d: Path, ctx: dict) -> Path:
    m = d / "model"
    shutil.copytree(ctx["model"], m)
    return m


def _edit_config(d: Path, ctx: dict, **changes) -> None:
    m = _copy_model(d, ctx)
    cfg = json.loads((m / "config.json").read_text())
    cfg.update(changes)
    (m / "config.json").write_text(json.dumps(cfg))


def _no_weights(d, ctx):
    (_copy_model(d, ctx) / "weights.pt").unlink()


def _random_weights(d, ctx):
    # random bytes after a pickle PROTO opcode: torch warns about "protocol 208", then fails
    (_copy_model(d, ctx) / "weights.pt").write_bytes(b"\x80\xd0" + random.Random(8).randbytes(4094))


def _truncated_weights(d, ctx):
    w = _copy_model(d, ctx) / "weights.pt"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])


def _config_not_json(d, ctx):
    (_copy_model(d, ctx) / "config.json").write_text('{"format": "deepprune-model", "version": 1, "spec": {')


def _history_binary(d, ctx):
    (_copy_model(d, ctx) / "history.tsv").write_bytes(b"epoch\ttrain_loss\n\xff\xfe\x00\x9c\n")


class _RunsCode:
    """Pickles to a call of ``func(*args)``: what a malicious weights file would carry."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _malicious_weights(payload) -> Callable:
    """Replace data.pkl inside the (zip) weights.pt with a pickle whose loading runs ``payload``."""

    def setup(d, ctx):
        w = _copy_model(d, ctx) / "weights.pt"
        marker = d / "PWNED"
        with zipfile.ZipFile(w) as src:
            entries = [(info, src.read(info)) for info in src.infolist()]
        with zipfile.ZipFile(w, "w", zipfile.ZIP_STORED) as dst:
            for info, data in entries:
                if info.filename.endswith("/data.pkl"):
                    data = pickle.dumps({"conv1.weight": payload(marker)}, protocol=2)
                dst.writestr(info, data)

    return setup


def _prune_dir(d: Path, ctx: dict, rows: list[str]) -> None:
    """A prune output directory: one stage model plus a summary.tsv with ``rows``."""
    p = d / "pruned"
    p.mkdir()
    shutil.copytree(ctx["model"], p / "round1_deepprune")
    header = "round\tkernels\tvariant\tcriterion\tepochs\tval_auroc\ttest_auroc\tseconds"
    (p / "summary.tsv").write_text("\n".join([header, *rows]) + "\n")


def _summary_not_integer(d, ctx):
    _prune_dir(d, ctx, ["one\t4\tdeepprune\tscore-weight\t3\t0.9\t\t1.0"])


def _summary_escapes(d, ctx):
    # Stage round1_x/../../victim is the model at D/victim, outside the prune directory.
    shutil.copytree(ctx["model"], d / "victim")
    _prune_dir(d, ctx, ["1\t4\tx/../../victim\tscore-weight\t3\t0.9\t\t1.0"])
    (d / "pruned" / "round1_x").mkdir()


def _genome_copy(d, ctx):
    shutil.copy(H / "binary.fa", d / "genome.fa")


# --------------------------------------------------------------------------------------------
# the corpus: id, arguments (formatted with H, D = case directory, MODEL, GENOME), and fragments
# the error line must contain


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple
    expect: tuple
    setup: Callable | None = None
    needs_model: bool = False


def C(id, args, *expect, setup=None, needs_model=None):
    args = tuple(args.split()) if isinstance(args, str) else tuple(args)
    if needs_model is None:
        needs_model = setup not in (None, _genome_copy) or any("{MODEL}" in a for a in args)
    return Case(id, args, tuple(expect), setup, needs_model)


SH = "shuffle -o {D}/out.fa"
TR = "train -o {D}/out_model --epochs 1 --threads 1"
PR = "prune -o {D}/out_prune --epochs 1 --threads 1 --kernels 1 --rounds 1"
EV = "evaluate -o {D}/out.tsv --threads 1"
LG = "logos -o {D}/out/motifs.meme --png {D}/png --threads 1"
SI = "simulate -o {D}/out_sim"

CASES = [
    # ---- empty, binary, not FASTA
    C("zero_byte_fasta", f"{SH} {{H}}/empty.fa", "empty.fa", "empty"),
    C("blank_lines_fasta", f"{SH} {{H}}/blank_lines.fa", "blank_lines.fa", "empty"),
    C("binary_png_fasta", f"{SH} {{H}}/binary.fa", "binary.fa", "NUL"),
    C("nul_inside_fasta", f"{SH} {{H}}/nul_byte.fa", "nul_byte.fa", "NUL"),
    C("fasta_without_headers", f"{SH} {{H}}/no_header.fa", "no_header.fa", "not FASTA"),
    C("fasta_empty_header", f"{SH} {{H}}/empty_header.fa", "empty_header.fa", "record 2", "empty header"),
    C("duplicate_ids", f"{SH} {{H}}/duplicate_ids.fa", "duplicate_ids.fa", "duplicate record id 'peak1'"),
    C("empty_sequence", f"{SH} {{H}}/empty_sequence.fa", "empty_sequence.fa", "'r2'", "empty sequence"),
    C("stdin_empty", "shuffle - -o {D}/out.fa", "<stdin>", "empty"),
    C("directory_as_input", f"{SH} {{H}}", "hostile", "is a directory"),
    C("missing_input", f"{SH} {{D}}/nope.fa", "nope.fa", "no such file"),
    # ---- letters
    C("letter_J", f"{SH} {{H}}/letter_J.fa", "letter_J.fa", "'r2'", "position 13", "'J'"),
    C("letter_star", f"{PR} {{H}}/star.fa", "star.fa", "'r1'", "position 26", "'*'"),
    C("digits_in_sequence", f"{SH} {{H}}/digits.fa", "digits.fa", "'r1'", "'6'"),
    # ---- lengths and labels
    C("mixed_lengths_flattening_arch", f"{TR} --arch cnn-4 {{H}}/mixed_lengths.fa", "mixed_lengths.fa", "different lengths"),
    C("fasta_label_2", f"{SH} {{H}}/label_2.fa", "label_2.fa", "'r3'", "0 or 1"),
    C("fasta_label_missing", f"{SH} {{H}}/label_missing.fa", "label_missing.fa", "'r5'", "no label"),
    C("seq_label_2", f"{SH} {{H}}/label_2.seq", "label_2.seq", "line 6", "0 or 1", "'2'"),
    C("data_label_minus1", f"{SH} {{H}}/label_minus1.data", "label_minus1.data", "line 3", "'-1'"),
    C("data_missing_label", f"{SH} {{H}}/bad_line.data", "bad_line.data", "line 2"),
    C("seq_missing_column", f"{SH} {{H}}/missing_column.seq", "missing_column.seq", "line 5", "columns"),
    C("seq_without_header", f"{SH} {{H}}/no_header.seq", "no_header.seq", "header"),
    C("one_class_seq", f"{TR} {{H}}/one_class.seq", "one_class.seq", "one class"),
    # ---- gzip
    C("truncated_gzip", f"{SH} {{H}}/truncated.fa.gz", "truncated.fa.gz", "truncated gzip"),
    C("gzip_garbage", f"{SH} {{H}}/garbage.fa.gz", "garbage.fa.gz", "gzip"),
    # ---- BED + genome
    C("bed_end_before_start", f"{SH} {{H}}/end_before_start.bed --genome {{GENOME}}", "end_before_start.bed", "line 2", "before start"),
    C("bed_negative_start", f"{SH} {{H}}/negative_start.bed --genome {{GENOME}}", "negative_start.bed", "line 1", "negative"),
    C("bed_past_chrom_end", f"{SH} {{H}}/past_chrom_end.bed --genome {{GENOME}}", "past_chrom_end.bed", "line 2", "past the end of chr2"),
    C("bed_all_windows_off", f"{SH} {{H}}/all_windows_off.bed --genome {{GENOME}} --width 101", "all_windows_off.bed", "all 2", "chromosome end"),
    C("bed_unknown_chrom", f"{SH} {{H}}/unknown_chrom.bed --genome {{GENOME}}", "unknown_chrom.bed", "line 2", "'chrUn_foo'"),
    C("bed_non_integer", f"{SH} {{H}}/non_integer.bed --genome {{GENOME}}", "non_integer.bed", "line 2", "integers"),
    C("bed_empty", f"{SH} {{H}}/empty.bed --genome {{GENOME}}", "empty.bed", "no intervals"),
    C("bed_two_columns", f"{SH} {{H}}/two_columns.bed --genome {{GENOME}}", "two_columns.bed", "line 1", "3 columns"),
    C("bed_without_genome", f"{SH} {{H}}/end_before_start.bed", "end_before_start.bed", "--genome"),
    C("genome_missing", f"{SH} {{H}}/end_before_start.bed --genome {{D}}/hg38.fa", "hg38.fa", "no such genome"),
    C("genome_not_fasta", f"{SH} {{H}}/end_before_start.bed --genome {{D}}/genome.fa", "genome.fa", "genome", setup=_genome_copy),
    # ---- MEME motif files
    C("meme_missing_alength", f"{SI} --motifs {{H}}/no_alength.meme", "no_alength.meme", "M1", "alength="),
    C("meme_row_width", f"{SI} --motifs {{H}}/row_width.meme", "row_width.meme", "M1", "row 3", "3 values"),
    C("meme_row_sum", f"{LG} {{MODEL}} {{H}}/crlf_labelled.fa --truth {{H}}/row_sum.meme", "row_sum.meme", "row 2", "sums to"),
    C("meme_not_meme", f"{LG} {{MODEL}} {{H}}/crlf_labelled.fa --match {{H}}/not_meme.meme", "not_meme.meme", "no MOTIF"),
    C("meme_binary", f"{SI} --motifs {{H}}/binary.fa", "binary.fa", "not a text file"),
    C("meme_empty", f"{SI} --motifs {{H}}/empty.fa", "empty.fa", "empty motif file"),
    C("simulate_unknown_jaspar_id", f"{SI} --motifs jaspar:MA9999.9", "MA9999.9", "not in the bundled"),
    C("simulate_unknown_motif_id", f"{SI} --motifs {{H}}/path_escape.meme --motif-ids NOPE", "path_escape.meme", "'NOPE'"),
    C("simulate_no_motifs", f"{SI} --n 100", "--motifs"),
    # ---- model directories
    C("model_missing_weights", f"{EV} {{D}}/model {{H}}/crlf_labelled.fa", "model", "no weights.pt", setup=_no_weights),
    C("model_random_weights", f"{LG} {{D}}/model {{H}}/crlf_labelled.fa", "weights.pt", "corrupt", setup=_random_weights),
    C("model_truncated_weights", f"{PR} --from {{D}}/model {{H}}/crlf_labelled.fa", "weights.pt", "corrupt", setup=_truncated_weights),
    C("model_config_future_version", f"{EV} {{D}}/model {{H}}/crlf_labelled.fa", "config.json", "version 99",
      setup=lambda d, ctx: _edit_config(d, ctx, version=99)),
    C("model_config_not_json", f"{LG} {{D}}/model {{H}}/crlf_labelled.fa", "config.json", "JSON", setup=_config_not_json),
    C("model_config_prune_not_object", f"{EV} {{D}}/model {{H}}/crlf_labelled.fa", "config.json", "'prune'",
      setup=lambda d, ctx: _edit_config(d, ctx, prune="round3")),
    C("model_history_binary", f"{EV} {{D}}/model {{H}}/crlf_labelled.fa", "history.tsv", "UTF-8", setup=_history_binary),
    C("model_pickle_os_system", f"{EV} {{D}}/model {{H}}/crlf_labelled.fa", "weights.pt", "refused", "system",
      setup=_malicious_weights(lambda marker: _RunsCode(os.system, f"touch {marker}"))),
    C("model_pickle_open", f"{LG} {{D}}/model {{H}}/crlf_labelled.fa", "weights.pt", "refused", "open",
      setup=_malicious_weights(lambda marker: _RunsCode(open, str(marker), "w"))),
    C("file_as_model", f"{LG} {{H}}/crlf.fa {{H}}/crlf_labelled.fa", "crlf.fa", "not a directory"),
    C("prune_summary_not_integer", f"{EV} {{D}}/pruned {{H}}/crlf_labelled.fa", "summary.tsv", "line 2", "'one'",
      setup=_summary_not_integer),
    C("prune_summary_path_escape", f"{EV} {{D}}/pruned {{H}}/crlf_labelled.fa", "summary.tsv", "line 2", "x/../../victim",
      setup=_summary_escapes),
    C("pairs_binary", f"{EV} --pairs {{H}}/pairs_binary.tsv", "pairs_binary.tsv", "UTF-8"),
    # ---- impossible options
    C("train_kernels_0", f"{TR} --kernels 0 {{H}}/crlf.fa", "--kernels", "0"),
    C("train_epochs_negative", f"{TR} --epochs -3 {{H}}/crlf.fa", "--epochs", "-3"),
    C("train_unknown_arch", f"{TR} --arch resnet50 {{H}}/crlf.fa", "resnet50"),
    C("prune_rounds_40", "prune -o {D}/out_prune --rounds 40 {H}/crlf.fa", "--rounds 40"),
    C("prune_unknown_criterion", "prune -o {D}/out_prune --criterion magnitude {H}/crlf.fa", "--criterion", "magnitude"),
    C("logos_threshold_1.5", f"{LG} --threshold 1.5 {{MODEL}} {{H}}/crlf.fa", "--threshold", "1.5"),
    C("logos_min_sites_0", f"{LG} --min-sites 0 {{MODEL}} {{H}}/crlf.fa", "--min-sites", "0"),
    C("evaluate_plot_jpg", f"{EV} --plot {{D}}/fig.jpg {{MODEL}} {{H}}/crlf_labelled.fa", "--plot", "fig.jpg"),
    C("shuffle_k_0", f"{SH} -k 0 {{H}}/crlf.fa", "-k", "0"),
    C("shuffle_k_99", f"{SH} -k 99 {{H}}/crlf.fa", "-k", "99"),
    C("simulate_test_fraction", f"{SI} --preset deepprune-sim1 --test-fraction 1.5", "fraction", "1.5"),
    C("simulate_n_0", f"{SI} --preset deepprune-sim1 --n 0", "--n", "0"),
]

# Accepted controls, run in the same pool: CRLF is valid input, and a motif id shaped like a path
# is only text.
ACCEPTED = [
    C("crlf_shuffle", "shuffle {H}/crlf.fa -o {D}/shuf.fa --seed 1"),
    C("crlf_evaluate", "evaluate {MODEL} {H}/crlf_labelled.fa -o {D}/auc.tsv -q --threads 1"),
    C("path_like_motif_id_simulate", "simulate --motifs {H}/path_escape.meme --n 40 --length 30 -o {D}/a/b/sim"),
]

UNREADABLE = C("unreadable_file", f"{SI} --motifs {{D}}/secret.meme", "secret.meme", "permission denied")


def test_corpus_is_large_and_ids_unique():
    assert len(CASES) >= 45
    assert len({c.id for c in CASES + ACCEPTED}) == len(CASES) + len(ACCEPTED)
    used = {Path(a.split("/")[-1]).name for c in CASES + ACCEPTED for a in c.args if "{H}/" in a}
    listed = (H / "README.md").read_text()
    missing = sorted(name for name in used if f"`{name}`" not in listed)
    assert not missing, f"not described in tests/data/hostile/README.md: {missing}"


# --------------------------------------------------------------------------------------------
# running everything once, concurrently


def _snapshot(root: Path) -> dict:
    """Every path under ``root`` (hidden ones included) with size and mtime for files."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = "dir"
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_size, st.st_mtime_ns)
    return out


@dataclass
class Result:
    case: Case
    proc: object
    before: dict
    after: dict
    argv: list
    dir: Path


@pytest.fixture(scope="session")
def shared(tmp_path_factory):
    """An indexed genome (and, once ``results`` trains it, the tiny model), shared read-only by every case."""
    base = tmp_path_factory.mktemp("hostile_shared")
    genome = base / "genome" / "genome.fa"
    genome.parent.mkdir()
    shutil.copy(H / "genome.fa", genome)
    pyfaidx.Fasta(str(genome)).close()  # index it now, not in several cases at once
    assert genome.with_name("genome.fa.fai").exists()
    return {"base": base, "genome": genome, "genome_snapshot": _snapshot(genome.parent)}


def _train_tiny_model(base: Path) -> Path:
    model = base / "model"
    proc = run_cli(
        "train", DATA / "encode_REST_AC_slice.seq.gz", "-o", model,
        "--kernels", 4, "--epochs", 1, "--threads", 1, "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr_text
    return model


def _prepare(case: Case, root: Path, ctx: dict) -> tuple[Path, list]:
    d = root / case.id
    d.mkdir()
    if case.setup is not None:
        case.setup(d, ctx)
    fields = {"H": str(H), "D": str(d), "MODEL": str(ctx.get("model", "")), "GENOME": str(ctx["genome"])}
    return d, [a.format(**fields) for a in case.args]


def _run(case: Case, d: Path, argv: list) -> Result:
    before = _snapshot(d)
    proc = run_cli(*argv, input=b"", cwd=d, timeout=120)  # stdin: empty, never the terminal
    return Result(case, proc, before, _snapshot(d), argv, d)


@pytest.fixture(scope="session")
def results(shared, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_cases")
    ctx = {"genome": shared["genome"]}
    futures = {}
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        # Cases without a model start at once; the model trains meanwhile.
        for case in sorted(CASES + ACCEPTED, key=lambda c: c.args[0] not in HEAVY):  # slowest first
            if not case.needs_model:
                futures[case.id] = pool.submit(_run, case, *_prepare(case, root, ctx))
        ctx["model"] = _train_tiny_model(shared["base"])
        shared["model_snapshot"] = _snapshot(ctx["model"])
        shared["model"] = ctx["model"]
        for case in CASES + ACCEPTED:
            if case.needs_model:
                futures[case.id] = pool.submit(_run, case, *_prepare(case, root, ctx))
        return {cid: f.result() for cid, f in futures.items()}


def assert_one_error_line(res: Result) -> None:
    proc, case = res.proc, res.case
    err = proc.stderr_text
    context = f"\n$ deepprune {' '.join(res.argv)}\nexit {proc.returncode}\nstderr:\n{err}"
    assert "Traceback" not in err and "Traceback" not in proc.stdout_text, context
    assert proc.returncode == 2, context
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, context
    line = lines[0]
    assert line.startswith("deepprune: error: ") and line[len("deepprune: error: "):].strip(), context
    for fragment in case.expect:
        assert fragment in line, (fragment, context)
    assert proc.stdout_text == "", context


def assert_nothing_written(res: Result) -> None:
    context = f"$ deepprune {' '.join(res.argv)}\nstderr:\n{res.proc.stderr_text}"
    created = sorted(set(res.after) - set(res.before))
    changed = sorted(k for k in res.before if res.after.get(k) != res.before[k])
    assert not created and not changed, (created, changed, context)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_input_fails_cleanly(case, results):
    res = results[case.id]
    assert_one_error_line(res)
    assert_nothing_written(res)


def test_malicious_pickle_never_runs(results):
    for cid in ("model_pickle_os_system", "model_pickle_open"):
        res = results[cid]
        assert not (res.dir / "PWNED").exists(), cid
        assert "weights.pt" in res.proc.stderr_text


def test_shared_inputs_untouched(results, shared):
    assert _snapshot(shared["model"]) == shared["model_snapshot"]
    assert _snapshot(shared["genome"].parent) == shared["genome_snapshot"]
    assert sorted(p.name for p in H.iterdir() if p.name.startswith(".") or p.suffix in (".fai", ".tmp")) == []


def test_unreadable_file(tmp_path, shared):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    d, argv = _prepare(UNREADABLE, tmp_path, {"genome": shared["genome"]})
    secret = d / "secret.meme"
    secret.write_text((H / "path_escape.meme").read_text())
    secret.chmod(0)
    try:
        res = _run(UNREADABLE, d, argv)
    finally:
        secret.chmod(0o644)
    assert_one_error_line(res)
    assert_nothing_written(res)


def test_every_torch_load_refuses_code():
    """Weights are only ever read with ``weights_only=True`` (no pickled code runs); nothing
    unpickles with ``pickle`` or ``np.load(allow_pickle=True)`` either."""
    root = Path(__file__).resolve().parent.parent
    calls, unsafe = [], []
    for path in [*root.joinpath("deepprune_cli").rglob("*.py"), *root.joinpath("benchmarks").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        start = text.find("torch.load(")
        while start >= 0:
            depth, end = 0, start + len("torch.load")
            for end in range(end, len(text)):  # to the matching parenthesis
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            calls.append((path.name, text[start : end + 1]))
            start = text.find("torch.load(", end)
        unsafe += [(path.name, w) for w in ("pickle.load", "allow_pickle=True", "from torch import load") if w in text]
    assert calls, "expected at least store.load_model's torch.load"
    assert all("weights_only=True" in call for _, call in calls), calls
    assert not unsafe, unsafe


# --------------------------------------------------------------------------------------------
# accepted controls: CRLF is valid input


def _accepted(res: Result) -> None:
    context = f"$ deepprune {' '.join(res.argv)}\nexit {res.proc.returncode}\nstderr:\n{res.proc.stderr_text}"
    assert res.proc.returncode == 0, context
    assert res.proc.stderr_text == "" and res.proc.stdout_text == "", context


def test_crlf_fasta_is_accepted(results):
    res = results["crlf_shuffle"]
    _accepted(res)
    out = (res.dir / "shuf.fa").read_text()
    assert "\r" not in out and out.count(">") == 6 and ">r0_shuf\n" in out
    assert all(len(line) == 50 for line in out.splitlines() if not line.startswith(">"))


def test_crlf_labelled_fasta_is_accepted(results):
    res = results["crlf_evaluate"]
    _accepted(res)
    rows = (res.dir / "auc.tsv").read_text().splitlines()
    assert rows[1].split("\t")[7:9] == ["10", "10"]  # n_pos, n_neg: the '\r' did not hide the labels


# --------------------------------------------------------------------------------------------
# strings read from inputs never become paths outside the output directory


def test_motif_ids_cannot_escape_logo_directory(tmp_path):
    from deepprune_cli.core.motifs import read_meme
    from deepprune_cli.core.plots import logo_filename, save_logos

    motifs = read_meme(H / "path_escape.meme")
    assert motifs[0].id == "../../evil_motif"
    assert "/" not in logo_filename(motifs[0])
    out = tmp_path / "a" / "b" / "logos"
    written = save_logos(motifs, out, "svg")
    assert all(p.resolve().parent == out.resolve() for p in written)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(p.name for p in written)


def test_simulate_with_path_like_motif_id_stays_in_output(results):
    res = results["path_like_motif_id_simulate"]
    assert res.proc.returncode == 0, res.proc.stderr_text
    created = sorted(set(res.after) - set(res.before))
    files = ("dataset.json", "motifs.meme", "test.fa", "train.fa", "truth.tsv")
    assert created == ["a", "a/b", "a/b/sim"] + [f"a/b/sim/{name}" for name in files]
    assert "../../evil_motif" in (res.dir / "a/b/sim/motifs.meme").read_text()

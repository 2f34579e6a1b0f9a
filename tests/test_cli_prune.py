"""``deepprune prune`` through a real subprocess."""

from __future__ import annotations

import json

import pytest

from conftest import assert_clean_error, ebox_fasta, run_cli


def _fasta(tmp_path, n=160, length=40, seed=0):
    return ebox_fasta(tmp_path / "pos.fa", n, length, seed)


FAST = ["--epochs", "3", "--patience", "2", "--kernel-length", "8", "--batch-size", "64"]


def test_prune_writes_stages_summary_and_final(tmp_path):
    pos = _fasta(tmp_path)
    out = tmp_path / "pruned"
    proc = run_cli("prune", pos, "--kernels", 2, "--rounds", 2, "-o", out, "--seed", 3, "--json", "-q", *FAST)
    assert proc.returncode == 0, proc.stderr_text
    rows = json.loads(proc.stdout_text)
    assert [(r["round"], r["variant"]) for r in rows][:2] == [(0, "initial"), (1, "deepprune")]
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        ["final", "prune.json", "summary.tsv", "round0_initial"]
        + [f"round{r}_{v}" for r in (1, 2) for v in ("deepprune", "inter", "baseline", "baseline_first")]
    )
    header = (out / "summary.tsv").read_text().splitlines()[0]
    assert header == "round\tkernels\tvariant\tcriterion\tepochs\tval_auroc\ttest_auroc\ttrained_ok\tseconds"
    cfg = json.loads((out / "final" / "config.json").read_text())
    assert cfg["n_kernels"] == 2 and cfg["n_kernels_original"] == 8


def test_same_seed_same_models(tmp_path):
    pos = _fasta(tmp_path)
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        proc = run_cli("prune", pos, "--kernels", 1, "--rounds", 1, "-o", out, "--no-baseline", "-q", *FAST)
        assert proc.returncode == 0, proc.stderr_text
    for stage in ("final", "round1_inter", "round0_initial"):
        assert (outs[0] / stage / "weights.pt").read_bytes() == (outs[1] / stage / "weights.pt").read_bytes()


def test_prune_from_existing_model_and_too_many_rounds(tmp_path):
    pos = _fasta(tmp_path)
    model = tmp_path / "m"
    proc = run_cli("train", pos, "--kernels", 4, "-o", model, "-q", *FAST)
    assert proc.returncode == 0, proc.stderr_text
    out = tmp_path / "p"
    proc = run_cli("prune", pos, "--from", model, "--kernels", 2, "--rounds", 1, "-o", out, "-q", *FAST)
    assert proc.returncode == 0, proc.stderr_text
    assert (out / "final" / "config.json").exists()
    proc = run_cli("prune", pos, "--from", model, "--kernels", 2, "--rounds", 3, "-o", tmp_path / "q", *FAST)
    assert_clean_error(proc, "needs 16")
    assert not (tmp_path / "q").exists() and not (tmp_path / ".q.partial").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--rounds", "40"], "starting kernels"),
        (["--kernels", "0"], "--kernels"),
        (["--criterion", "magic"], "criterion"),
        (["--from", "."], "not a deepprune model directory"),
        (["--arch", "cnn-4"], "global max pooling"),
        (["--lr-decay", "-1"], "--lr-decay"),
        (["--kernels", "many"], "--kernels must be a whole number or 'auto'"),
        (["--tolerance", "0.02"], "--tolerance applies to --kernels auto only"),
        (["--kernels", "auto", "--tolerance", "1.5"], "--tolerance must be in [0, 1)"),
        (["--compact-loss", "-0.1"], "--compact-loss must be in [0, 1)"),
        (["--baseline-seeds", "0"], "--baseline-seeds must be at least 1"),
        (["--no-baseline", "--baseline-seeds", "2"], "--baseline-seeds applies to baselines"),
        (["--activation", "tanh"], "--activation"),
        (["--padding", "circular"], "--padding"),
    ],
)
def test_bad_options_exit_2_and_write_nothing(tmp_path, args, fragment):
    pos = _fasta(tmp_path, n=20)
    out = tmp_path / "out"
    proc = run_cli("prune", pos, "-o", out, *args)
    assert_clean_error(proc, fragment)
    assert not out.exists() and not (tmp_path / ".out.partial").exists()


def test_activation_exp_is_stored_in_every_stage_and_default_stays_relu(tmp_path):
    pos = _fasta(tmp_path)
    args = ["--kernels", 2, "--rounds", 1, "--seed", 3, "-q", *FAST]
    exp = run_cli("prune", pos, "-o", tmp_path / "exp", "--activation", "exp", *args)
    plain = run_cli("prune", pos, "-o", tmp_path / "plain", *args)
    relu = run_cli("prune", pos, "-o", tmp_path / "relu", "--activation", "relu", *args)
    assert exp.returncode == plain.returncode == relu.returncode == 0, (exp.stderr_text, plain.stderr_text)
    for stage in ("round0_initial", "round1_deepprune", "round1_inter", "round1_baseline", "final"):
        act = json.loads((tmp_path / "exp" / stage / "config.json").read_text())["spec"]["convs"][0]["activation"]
        assert act == "exp", stage
        act = json.loads((tmp_path / "plain" / stage / "config.json").read_text())["spec"]["convs"][0]["activation"]
        assert act == "relu", stage
    # no --activation is the architecture's own (deepbind: ReLU): the same models as --activation relu
    for stage in ("round0_initial", "final"):
        assert (tmp_path / "plain" / stage / "weights.pt").read_bytes() == (tmp_path / "relu" / stage / "weights.pt").read_bytes()
    assert (tmp_path / "plain" / "final" / "weights.pt").read_bytes() != (tmp_path / "exp" / "final" / "weights.pt").read_bytes()
    # the saved exp model reloads and predicts what the run measured
    from deepprune_cli.core.pruning import read_summary
    from deepprune_cli.core.sequences import read_sequences
    from deepprune_cli.core.store import load_model

    rec = load_model(tmp_path / "exp" / "final")
    assert rec.model.spec.convs[0].activation == "exp"
    row = next(r for r in read_summary(tmp_path / "exp") if (r["round"], r["variant"]) == (1, "deepprune"))
    assert rec.metrics["val_auroc"] == pytest.approx(row["val_auroc"], abs=1e-6)
    # a start model from --from has its own activation
    proc = run_cli("prune", pos, "--from", tmp_path / "exp" / "final", "--activation", "relu", "--kernels", 1,
                   "--rounds", 1, "-o", tmp_path / "x", *FAST)
    assert_clean_error(proc, "--activation", "--from")
    assert not (tmp_path / "x").exists()


def test_full_padding_is_stored_in_every_stage_and_reloads(tmp_path):
    pos = _fasta(tmp_path)
    out = tmp_path / "full"
    proc = run_cli("prune", pos, "-o", out, "--padding", "full", "--kernels", 2, "--rounds", 1, "--seed", 3, "-q", *FAST)
    assert proc.returncode == 0, proc.stderr_text
    for stage in ("round0_initial", "round1_deepprune", "round1_inter", "round1_baseline", "final"):
        spec = json.loads((out / stage / "config.json").read_text())["spec"]
        assert spec["convs"][0]["padding"] == "full", stage
    from deepprune_cli.core.pruning import read_summary
    from deepprune_cli.core.store import load_model

    rec = load_model(out / "final")
    row = next(r for r in read_summary(out) if (r["round"], r["variant"]) == (1, "deepprune"))
    assert rec.metrics["val_auroc"] == pytest.approx(row["val_auroc"], abs=1e-6)
    # a start model from --from has its own padding
    proc = run_cli("prune", pos, "--from", out / "final", "--padding", "valid", "--kernels", 1,
                   "--rounds", 1, "-o", tmp_path / "x", *FAST)
    assert_clean_error(proc, "--padding", "--from")
    assert not (tmp_path / "x").exists()


def test_kernels_auto_pads_full_and_uses_exp_unless_told_and_a_fixed_count_keeps_the_architecture_s(tmp_path):
    """--kernels auto's start model (and so every stage) pads full and activates exp by default
    (pruning.start_padding, start_activation); --padding valid / --activation relu override them;
    a fixed count keeps deepbind's valid padding and ReLU."""
    pos = _fasta(tmp_path)

    def first_layer(stage):
        conv = json.loads((stage / "config.json").read_text())["spec"]["convs"][0]
        return conv["padding"], conv["activation"]

    common = ["--rounds", 1, "--no-baseline", "--seed", 3, "-q", *FAST]
    cases = [(["--kernels", "auto"], ("full", "exp")),
             (["--kernels", "auto", "--padding", "valid", "--activation", "relu"], ("valid", "relu")),
             (["--kernels", 2], ("valid", "relu")),
             (["--kernels", 2, "--activation", "exp"], ("valid", "exp"))]
    for i, (extra, expected) in enumerate(cases):
        out = tmp_path / f"run{i}"
        proc = run_cli("prune", pos, "-o", out, *extra, *common)
        assert proc.returncode == 0, proc.stderr_text
        assert first_layer(out / "round0_initial") == expected, extra
        assert first_layer(out / "final") == expected, extra


def test_kernels_auto_finds_the_number_of_simulated_motifs(tmp_path):
    """Three JASPAR motifs planted (one site per positive): from 32 kernels, auto (--no-distinct:
    the search alone) halves to 16 and 8 (both hold and beat the weak 32-kernel start model, so the
    floor rises to the 8-kernel model's val AUROC minus the tolerance), 4 (holds), 2 (below), then
    bisects to 3 (below), and ends at 4 kernels; prune.json records the curve, each count's floor
    and the choice, final/ is the 4-kernel model."""
    sim = tmp_path / "sim"
    proc = run_cli("simulate", "--motifs", "jaspar:MA0139.1,MA0058.3,MA0035.4", "--n", 3000, "--length", 60,
                   "-o", sim, "--seed", 1)  # fmt: skip
    assert proc.returncode == 0, proc.stderr_text
    out = tmp_path / "auto"
    # --padding valid --activation relu: the curve below was worked out for valid windows and ReLU
    # (auto's defaults are full and exp)
    proc = run_cli("prune", sim / "train.fa", "--kernels", "auto", "--no-distinct", "--rounds", 3, "--no-baseline",
                   "--padding", "valid", "--activation", "relu", "--threads", 1, "--epochs", 30, "--patience", 5, "--kernel-length", 16,
                   "--seed", 0, "-o", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr_text
    assert "auto: 4 kernels" in proc.stderr_text and "held" not in json.loads((out / "prune.json").read_text())["selection"]
    sel = json.loads((out / "prune.json").read_text())["selection"]
    assert sel["mode"] == "auto" and sel["kernels"] == 4
    curve = sel["curve"]
    assert [c["kernels"] for c in curve] == [32, 16, 8, 4, 2, 3]
    assert all(c["holds"] == (c["val_auroc"] >= c["floor"]) for c in curve)
    # the floor: the best val AUROC of the models that held before, minus max(0.01, its standard error)
    assert sel["start_val_auroc"] == curve[0]["val_auroc"] < sel["reference_val_auroc"] == max(c["val_auroc"] for c in curve)
    assert sel["tolerance"] >= 0.01 and curve[-1]["floor"] == pytest.approx(sel["reference_val_auroc"] - sel["tolerance"])
    # the smallest count that held, and one kernel fewer was tried and did not hold
    held = [c["kernels"] for c in curve if c["holds"]]
    assert sel["kernels"] == min(held) and any(c["kernels"] == 3 and not c["holds"] for c in curve)
    # every attempt prunes the smallest model that held so far
    assert [c["parent_round"] for c in curve] == [None, 0, 1, 2, 3, 3]
    assert json.loads((out / "final" / "config.json").read_text())["n_kernels"] == 4
    rows = [line.split("\t") for line in (out / "summary.tsv").read_text().splitlines()[1:]]
    assert [(r[0], r[1]) for r in rows if r[2] == "deepprune"] == [("1", "16"), ("2", "8"), ("3", "4"), ("4", "2"), ("5", "3")]


def test_valid_file_validates_every_stage(tmp_path):
    """prune --valid: the given set (with its shuffles) validates every fit; no input is held out."""
    pos = _fasta(tmp_path, n=120)
    valid = ebox_fasta(tmp_path / "valid.fa", 40, 40, seed=5)
    out = tmp_path / "p"
    proc = run_cli("prune", pos, "--valid", valid, "--kernels", 1, "--rounds", 1, "-o", out, "-q", "--no-baseline", *FAST)
    assert proc.returncode == 0, proc.stderr_text
    data = json.loads((out / "prune.json").read_text())["data"]
    assert data["valid"] == str(valid) and data["n_val"] == 40 * 3 and data["n_train"] == 120 * 3
    proc = run_cli("prune", pos, "--valid", valid, "--val-fraction", "0.2", "-o", tmp_path / "q", *FAST)
    assert_clean_error(proc, "--valid and --val-fraction")
    assert not (tmp_path / "q").exists() and not (tmp_path / ".q.partial").exists()


def test_baseline_best_of_seeds_kept_by_validation_loss_first_seed_kept_too(tmp_path):
    pos = _fasta(tmp_path)
    runs = {}
    for n in (1, 3):
        out = tmp_path / f"b{n}"
        proc = run_cli("prune", pos, "--kernels", 1, "--rounds", 1, "--baseline-seeds", n, "-o", out, *FAST)
        assert proc.returncode == 0, proc.stderr_text
        runs[n] = out
    one, three = runs[1], runs[3]
    assert not (one / "round1_baseline_first").exists()
    cfg = json.loads((three / "round1_baseline" / "config.json").read_text())
    tried = cfg["prune"]["baseline_seeds"]
    assert len(tried) == 3 and len({t["seed"] for t in tried}) == 3
    kept = min(tried, key=lambda t: t["val_loss"])
    assert cfg["prune"]["kept_seed"] == kept["seed"] == cfg["training"]["seed"]
    # the first seed's fit is the single-seed run's baseline, byte for byte
    first = three / "round1_baseline_first"
    assert (first / "weights.pt").read_bytes() == (one / "round1_baseline" / "weights.pt").read_bytes()
    # extra baseline fits leave the deepprune models as they were
    assert (three / "final" / "weights.pt").read_bytes() == (one / "final" / "weights.pt").read_bytes()
    # both comparisons in the log
    proc_err = run_cli("prune", pos, "--kernels", 1, "--rounds", 1, "-o", tmp_path / "c", *FAST).stderr_text
    assert "vs baseline" in proc_err and "vs first-seed baseline" in proc_err


def test_a_model_that_learns_nothing_is_reported_failed(tmp_path):
    """Positives without any signal (random sequences against their own shuffles): every fit is no
    better than chance, and the log, summary.tsv and metrics.json say so."""
    import numpy as np

    rng = np.random.default_rng(0)
    pos = tmp_path / "noise.fa"
    pos.write_text("".join(f">r{i}\n{''.join(rng.choice(list('ACGT'), 40))}\n" for i in range(150)))
    out = tmp_path / "p"
    proc = run_cli("prune", pos, "--kernels", 1, "--rounds", 1, "--baseline-seeds", 1, "-o", out, *FAST)
    assert proc.returncode == 0, proc.stderr_text
    rows = [ln.split("\t") for ln in (out / "summary.tsv").read_text().splitlines()[1:]]
    assert {r[2]: r[-2] for r in rows}["baseline"] == "no"
    assert "training failed" in proc.stderr_text
    met = json.loads((out / "round1_baseline" / "metrics.json").read_text())
    assert met["trained_ok"] is False and "no better than chance" in met["failure"]


def test_prune_says_when_no_compact_motif_model_exists(tmp_path):
    """Twelve different motifs, one per positive, are no compact motif: pruned to 1 kernel the
    model loses more than --compact-loss val AUROC against the start model, and prune says so (log
    line, prune.json 'compact'). One planted motif pruned the same way is a compact motif model."""
    many = "MA0139.2,MA0058.4,MA0035.5,MA0079.5,MA0148.5,MA0099.4,MA0018.5,MA0108.3,MA0112.4,MA0102.5,MA0114.5,MA0062.4"
    verdicts = {}
    for name, motifs in (("one", "MA0139.2"), ("many", many)):
        sim = tmp_path / f"sim_{name}"
        proc = run_cli("simulate", "--motifs", "jaspar:" + motifs, "--n", 3000, "--length", 60, "-o", sim, "--seed", 2)
        assert proc.returncode == 0, proc.stderr_text
        out = tmp_path / f"prune_{name}"
        proc = run_cli("prune", sim / "train.fa", "--kernels", 1, "--rounds", 4, "--no-baseline", "--threads", 1,
                       "--epochs", 20, "--patience", 5, "--kernel-length", 16, "--seed", 0, "-o", out)  # fmt: skip
        assert proc.returncode == 0, proc.stderr_text
        verdict = json.loads((out / "prune.json").read_text())["compact"]
        rows = [ln.split("\t") for ln in (out / "summary.tsv").read_text().splitlines()[1:]]
        start_val = float(next(r[5] for r in rows if r[2] == "initial"))
        final_val = float(next(r[5] for r in rows if r[0] == "4" and r[2] == "deepprune"))
        assert verdict["loss"] == pytest.approx(start_val - final_val, abs=1e-6) and verdict["kernels"] == 1
        assert verdict["compact"] == (verdict["loss"] <= verdict["max_loss"] == 0.03)
        said = "no compact motif model" in proc.stderr_text
        assert said == (not verdict["compact"]) and ("compact motif model: 1 kernel," in proc.stderr_text) == verdict["compact"]
        verdicts[name] = verdict
    assert verdicts["one"]["compact"] and verdicts["one"]["reason"] is None
    assert not verdicts["many"]["compact"] and "lost" in verdicts["many"]["reason"]


def test_distinct_help_states_the_copy_margin_prune_uses():
    """--help states prune's copy margin in words; they must match the constants prune uses."""
    from deepprune_cli.core.pruning import COPY_PARTS, COPY_THRESHOLD

    text = " ".join(run_cli("prune", "--help").stdout_text.split())
    assert (COPY_THRESHOLD, COPY_PARTS) == (1e-3, 5)
    assert "p < 1e-3 on the training positives or p < 1e-4 on any fifth of them" in text

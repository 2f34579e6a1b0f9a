"""Deepprune's pruning core: criteria, halving, physical removal, variants, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepprune_cli.core.errors import InputError
from deepprune_cli.core.architectures import arch_spec
from deepprune_cli.core.models import build_model
from deepprune_cli.core.criteria import keep_half, kernel_statistic, motif_labels
from deepprune_cli.core.pruning import COPY_PARTS, COPY_THRESHOLD, PruneOptions, PruneRun, format_summary, read_summary
from deepprune_cli.core.sequences import SequenceSet
from deepprune_cli.core.store import load_model, state_bytes
from deepprune_cli.core.training import TrainOptions, predict
from deepprune_cli.core.layout import to_device

CPU = torch.device("cpu")


def planted_data(n=600, length=40, seed=0):
    """Positives carry TGACTCA (an AP-1 site) at a random place; negatives are uniform."""
    rng = np.random.default_rng(seed)
    seqs = rng.choice(list("ACGT"), size=(n, length))
    labels = np.arange(n) % 2
    for i in np.flatnonzero(labels):
        p = rng.integers(0, length - 7)
        seqs[i, p : p + 7] = list("TGACTCA")
    return SequenceSet.from_strings(["".join(r) for r in seqs], labels=labels.astype(np.float32))


@pytest.fixture(scope="module")
def splits():
    spec = arch_spec("deepbind", n_kernels=4, kernel_length=8)
    data = planted_data()
    train = to_device(data.subset(np.arange(0, 400)), CPU, spec)
    val = to_device(data.subset(np.arange(400, 500)), CPU, spec)
    test = to_device(data.subset(np.arange(500, 600)), CPU, spec)
    return spec, train, val, test


def options(**kw):
    base = dict(kernels=2, rounds=2, train=TrainOptions(max_epochs=4, patience=2, lr=0.01, batch_size=64))
    base.update(kw)
    return PruneOptions(**base)


@given(st.lists(st.floats(0, 10, allow_nan=False), min_size=2, max_size=64))
@settings(max_examples=100, deadline=None)
def test_keep_half_keeps_exactly_the_largest_half(values):
    stat = np.array(values)
    keep = keep_half(stat)
    assert len(keep) == len(stat) // 2
    assert np.all(np.diff(keep) > 0)
    dropped = np.setdiff1d(np.arange(len(stat)), keep)
    assert stat[keep].min() >= stat[dropped].max()


def test_keep_half_breaks_ties_by_lower_index():
    assert keep_half(np.ones(8)).tolist() == [0, 1, 2, 3]
    assert keep_half(np.array([1.0, 2.0, 2.0, 2.0])).tolist() == [1, 2]


def test_criteria_match_their_definitions(splits):
    spec, train, _, _ = splits
    model = build_model(arch_spec("deepbind", n_kernels=6, kernel_length=8), seed=3)
    w = kernel_statistic(model, train, "weight")
    assert np.allclose(w, model.out.weight.detach().abs().numpy().ravel())
    u = model.kernel_activations(train.tokens).detach().double().numpy()
    pos = train.labels.numpy().ravel() == 1
    expected = np.abs(u[pos].mean(0) - u[~pos].mean(0))
    assert np.allclose(kernel_statistic(model, train, "score", batch_size=37), expected)
    assert np.allclose(kernel_statistic(model, train, "score-weight"), expected * w)


def test_zeng_hidden_layer_weight_criterion_is_column_norm(splits):
    _, train, _, _ = splits
    model = build_model(arch_spec("1layer", n_kernels=4, kernel_length=8), seed=0)
    col = model.dense[0][0].weight.detach().numpy()
    assert np.allclose(kernel_statistic(model, train, "weight"), np.linalg.norm(col, axis=0))


def test_run_writes_every_round_and_variant_with_physical_removal(tmp_path, splits):
    spec, train, val, test = splits
    out = tmp_path / "run"
    results = PruneRun(out, options(lottery=True), train, val, test).run(spec=spec)
    rows = read_summary(out)
    assert [(r["round"], r["kernels"], r["variant"]) for r in rows] == [
        (0, 8, "initial"),
        (1, 4, "deepprune"), (1, 4, "inter"), (1, 4, "baseline"), (1, 4, "lottery"), (1, 4, "baseline_first"),
        (2, 2, "deepprune"), (2, 2, "inter"), (2, 2, "baseline"), (2, 2, "lottery"), (2, 2, "baseline_first"),
    ]  # fmt: skip
    assert all(r["trained_ok"] in (True, False) for r in rows)
    assert all(r["test_auroc"] is not None for r in rows)
    assert [r["epochs"] for r in rows if r["variant"] == "inter"] == [0, 0]
    final = load_model(out / "final")
    assert final.model.n_kernels == 2  # physically removed, not masked
    assert final.config["n_kernels_original"] == 8
    assert sum(final.config["kernel_mask"]) == 2
    assert state_bytes(final.model) == state_bytes(load_model(out / "round2_deepprune").model)
    assert not (tmp_path / ".run.partial").exists()
    assert len(results) == len(rows)


def test_inter_equals_the_masked_parent(tmp_path, splits):
    spec, train, val, test = splits
    out = tmp_path / "run"
    PruneRun(out, options(rounds=1, kernels=4, criterion="score-weight"), train, val).run(spec=spec)
    parent = load_model(out / "round0_initial").model
    inter = load_model(out / "round1_inter").model
    kept = inter.kernel_ids.numpy()
    mask = torch.zeros(parent.n_kernels)
    mask[kept] = 1
    parent.kernel_mask.copy_(mask)
    assert np.allclose(predict(parent, test), predict(inter, test), atol=1e-6)


def test_deepprune_learns_the_planted_site(tmp_path, splits):
    spec, train, val, test = splits
    opts = options(train=TrainOptions(max_epochs=30, patience=5, lr=0.02, batch_size=64))
    PruneRun(tmp_path / "run", opts, train, val, test).run(spec=spec)
    final = [r for r in read_summary(tmp_path / "run") if r["variant"] == "deepprune"][-1]
    assert final["test_auroc"] > 0.9


def test_resume_after_interruption_gives_the_same_result(tmp_path, splits):
    spec, train, val, test = splits
    whole = tmp_path / "whole"
    PruneRun(whole, options(lottery=True), train, val, test).run(spec=spec)

    class Stop(Exception):
        pass

    def stop_after_round1_deepprune(event, info):
        if event == "stage" and info["round"] == 1 and info["variant"] == "deepprune":
            raise Stop

    cut = tmp_path / "cut"
    with pytest.raises(Stop):
        PruneRun(cut, options(lottery=True), train, val, test, progress=stop_after_round1_deepprune).run(spec=spec)
    assert not cut.exists() and (tmp_path / ".cut.partial" / "round1_deepprune").exists()
    resumed = []
    PruneRun(cut, options(lottery=True), train, val, test, resume=True,
             progress=lambda e, i: resumed.append((e, i.get("round"), i.get("variant")))).run(spec=spec)
    assert ("resumed", 1, "deepprune") in resumed
    strip = lambda p: [line.rsplit("\t", 1)[0] for line in (p / "summary.tsv").read_text().splitlines()]
    assert strip(cut) == strip(whole)
    for stage in ("final", "round2_baseline", "round2_lottery", "round2_inter"):
        assert state_bytes(load_model(cut / stage).model) == state_bytes(load_model(whole / stage).model)


def test_resume_refuses_different_options(tmp_path, splits):
    spec, train, val, _ = splits

    def stop(event, info):
        if event == "stage":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        PruneRun(tmp_path / "r", options(), train, val, progress=stop).run(spec=spec)
    with pytest.raises(InputError, match="different options"):
        PruneRun(tmp_path / "r", options(criterion="score"), train, val, resume=True).run(spec=spec)


def test_start_from_a_trained_model(tmp_path, splits):
    spec, train, val, _ = splits
    start = build_model(arch_spec("deepbind", n_kernels=8, kernel_length=8), seed=1)
    PruneRun(tmp_path / "r", options(criterion="score-weight"), train, val).run(start_model=start)
    rows = read_summary(tmp_path / "r")
    assert rows[0]["variant"] == "initial" and rows[0]["kernels"] == 8 and rows[0]["epochs"] == 0
    with pytest.raises(InputError, match="allows at most 2 rounds"):
        PruneRun(tmp_path / "r2", options(rounds=3, kernels=2), train, val).run(start_model=start)


@pytest.mark.parametrize(
    "kw, fragment",
    [
        (dict(kernels=0), "--kernels"),
        (dict(rounds=40), "starting kernels"),
        (dict(kernels=4, rounds=16), "starting kernels"),
        (dict(criterion="magic"), "unknown criterion"),
        (dict(lr_decay=0), "--lr-decay"),
        (dict(rounds=0), "--rounds"),
    ],
)
def test_impossible_options(kw, fragment):
    with pytest.raises(InputError, match=fragment):
        options(**kw).validate()


def test_summary_format_round_trip(tmp_path, splits):
    spec, train, val, _ = splits
    PruneRun(tmp_path / "r", options(baseline=False), train, val).run(spec=spec)
    rows = read_summary(tmp_path / "r")
    assert {r["variant"] for r in rows} == {"initial", "deepprune", "inter"}
    assert all(r["test_auroc"] is None for r in rows)
    text = (tmp_path / "r" / "summary.tsv").read_text()
    assert text.splitlines()[0] == "round\tkernels\tvariant\tcriterion\tepochs\tval_auroc\ttest_auroc\ttrained_ok\tseconds"
    assert format_summary([]) == text.splitlines()[0] + "\n"


def test_auto_count_record_and_resume(tmp_path, splits):
    """--kernels auto (without --distinct) on one planted site: the selection record is consistent
    with the curve, final/ is the chosen model, and a run interrupted mid-search resumes to the
    same choice."""
    import json

    spec, train, val, test = splits
    opts = lambda: options(rounds=3, auto=True, baseline=False, tolerance=0.02, distinct=False)  # noqa: E731
    whole = tmp_path / "whole"
    PruneRun(whole, opts(), train, val, test).run(spec=spec)
    sel = json.loads((whole / "prune.json").read_text())["selection"]
    curve = sel["curve"]
    assert curve[0]["kernels"] == 16 and curve[0]["holds"]
    # each count is judged against the best val AUROC of the models that held before it
    best = curve[0]["val_auroc"]
    assert sel["start_val_auroc"] == best
    for c in curve[1:]:
        assert c["floor"] == pytest.approx(best - sel["tolerance"]) and c["holds"] == (c["val_auroc"] >= c["floor"])
        best = max(best, c["val_auroc"]) if c["holds"] else best
    assert sel["reference_val_auroc"] == best
    held = [c["kernels"] for c in curve if c["holds"]]
    assert sel["kernels"] == min(held)
    assert sel["kernels"] == 1 or any(c["kernels"] == sel["kernels"] - 1 and not c["holds"] for c in curve)
    assert load_model(whole / "final").model.n_kernels == sel["kernels"]

    class Stop(Exception):
        pass

    def stop_in_round2(event, info):
        if event == "stage" and info["round"] == 2 and info["variant"] == "deepprune":
            raise Stop

    cut = tmp_path / "cut"
    with pytest.raises(Stop):
        PruneRun(cut, opts(), train, val, test, progress=stop_in_round2).run(spec=spec)
    PruneRun(cut, opts(), train, val, test, resume=True).run(spec=spec)
    assert json.loads((cut / "prune.json").read_text()) == json.loads((whole / "prune.json").read_text())
    assert state_bytes(load_model(cut / "final").model) == state_bytes(load_model(whole / "final").model)


def _two_motif_split(spec):
    """1,200 random 50-bp sequences, every other one a positive holding one of two planted motifs
    (TGACTCAT, CCACGTGG) in turn: a 900 / 300 train / validation split on the CPU."""
    rng = np.random.default_rng(3)
    n, length = 1200, 50
    seqs = rng.choice(list("ACGT"), size=(n, length))
    labels = np.arange(n) % 2
    for k, i in enumerate(np.flatnonzero(labels)):
        p = rng.integers(0, length - 8)
        seqs[i, p : p + 8] = list("TGACTCAT" if k % 2 else "CCACGTGG")
    data = SequenceSet.from_strings(["".join(r) for r in seqs], labels=labels.astype(np.float32))
    return tuple(to_device(data.subset(np.arange(a, b)), CPU, spec) for a, b in ((0, 900), (900, 1200)))


def test_auto_distinct_ends_with_one_kernel_per_motif(tmp_path):
    """--kernels auto --distinct on two planted motifs: the record's grouping of the smallest model
    that held is logos' grouping of that model; if it held copies (or kernels without a motif), one
    more round keeps one kernel per motif, and the final model is the last one-per-motif round's
    (whatever its val AUROC: the copies' AUROC is given up for one motif per kernel)."""
    import json

    from deepprune_cli.core.grouping import kernel_groups

    spec = arch_spec("deepbind", n_kernels=4, kernel_length=10)
    train, val = _two_motif_split(spec)
    opts = options(kernels=4, rounds=2, auto=True, baseline=False, tolerance=0.005,
                   train=TrainOptions(max_epochs=12, patience=4, lr=0.01, batch_size=64))
    out = tmp_path / "auto"
    PruneRun(out, opts, train, val).run(spec=spec)
    sel = json.loads((out / "prune.json").read_text())["selection"]
    held = sel["held"]
    held_model = load_model(out / f"round{held['round']}_deepprune" if held["round"] else out / "round0_initial").model
    pos = train.labels[:, 0] > 0.5
    labels_now, _ = motif_labels(held_model, train, threshold=COPY_THRESHOLD, parts=COPY_PARTS)  # prune's copy rule
    assert held["groups"] == labels_now.tolist() and held["kernels"] == held_model.n_kernels
    assert held["motifs"] == len(set(labels_now[labels_now > 0].tolist()))
    assert sel["motifs"] == held["motifs"]
    final = load_model(out / "final").model
    # with this seed the smallest model that held has 4 kernels, two copies of each motif
    assert (held["kernels"], held["motifs"]) == (4, 2)
    m, *more = [c for c in sel["curve"] if c.get("one_per_motif")]
    assert not more or m["copies_left"]  # a second one-per-motif round only after copies came back
    assert m["kernels"] == held["motifs"] and m["parent_round"] == held["round"]
    last = sel["curve"][-1]
    assert last["one_per_motif"] and (last["round"], last["kernels"]) == (sel["round"], sel["kernels"])
    assert sel["motifs"] == sel["kernels"]  # the kernels kept as pairwise different motifs
    stage = json.loads((out / f"round{m['round']}_inter" / "config.json").read_text())["prune"]
    assert stage["groups"] == held["groups"]
    kept = np.asarray(stage["kept"])
    assert sorted(labels_now[kept].tolist()) == [1, 2]  # one kernel per motif
    assert final.n_kernels == sel["kernels"] == 2
    final_labels, _ = kernel_groups(final, train.tokens[pos].numpy())
    assert sorted(final_labels.tolist()) == [1, 2]  # the final kernels: the two motifs, once each
    # the grouping round is seeded like the rest: a second run gives the same record and weights
    again = tmp_path / "again"
    PruneRun(again, opts, train, val).run(spec=spec)
    assert json.loads((again / "prune.json").read_text()) == json.loads((out / "prune.json").read_text())
    assert state_bytes(load_model(again / "final").model) == state_bytes(final)


def test_compact_verdict():
    """A final model is a compact motif model unless it lost more than max_loss val AUROC against
    the start model or has more than max_kernels kernels; the reason names which."""
    from deepprune_cli.core.pruning import COMPACT_MAX_KERNELS, compact_verdict

    ok = compact_verdict(0.95, 0.94, 4, max_loss=0.02)
    assert ok["compact"] and ok["reason"] is None and ok["loss"] == pytest.approx(0.01)
    assert compact_verdict(0.90, 0.93, 1, max_loss=0.0)["compact"]  # pruning may beat the start model
    lost = compact_verdict(0.95, 0.90, 4, max_loss=0.02)
    assert not lost["compact"] and "lost 0.0500 val AUROC" in lost["reason"]
    big = compact_verdict(0.95, 0.95, COMPACT_MAX_KERNELS + 1)
    assert not big["compact"] and f"needs {COMPACT_MAX_KERNELS + 1} kernels" in big["reason"] and "lost" not in big["reason"]
    assert compact_verdict(0.95, 0.95, COMPACT_MAX_KERNELS)["compact"]
    both = compact_verdict(0.95, 0.80, 64)
    assert not both["compact"] and "needs 64" in both["reason"] and "lost" in both["reason"]


def test_fixed_count_distinct_keeps_different_motifs_in_the_last_round(tmp_path):
    """--kernels 2 --distinct on two planted motifs: the last round groups its parent's kernels as
    logos does (recorded in prune.json 'distinct' and the round's inter stage) and keeps one kernel
    of each motif; the earlier rounds prune as without --distinct (same kept kernels)."""
    import json

    spec = arch_spec("deepbind", n_kernels=8, kernel_length=10)
    train, val = _two_motif_split(spec)
    train_opts = TrainOptions(max_epochs=12, patience=4, lr=0.01, batch_size=64)
    runs = {}
    for distinct in (False, True):
        out = tmp_path / f"d{distinct}"
        PruneRun(out, options(kernels=2, rounds=2, baseline=False, distinct=distinct, train=train_opts), train, val).run(spec=spec)
        runs[distinct] = out
    record = json.loads((runs[True] / "prune.json").read_text())
    assert "distinct" not in json.loads((runs[False] / "prune.json").read_text())
    d = record["distinct"]
    parent = load_model(runs[True] / "round1_deepprune").model
    parent_labels, _ = motif_labels(parent, train)  # logos' own rule (no margin at a fixed count)
    assert d["groups"] == parent_labels.tolist() and d["parent_kernels"] == 4 and d["kernels"] == 2
    assert d["parent_motifs"] == len(set(parent_labels[parent_labels > 0].tolist())) >= 2 and d["motifs"] == 2
    stage = json.loads((runs[True] / "round2_inter" / "config.json").read_text())["prune"]
    assert stage["groups"] == d["groups"]
    kept = parent_labels[np.asarray(stage["kept"])]
    assert (kept > 0).all() and len(set(kept.tolist())) == 2  # two different motifs
    first = [json.loads((runs[x] / "round1_inter" / "config.json").read_text())["prune"]["kept"] for x in (False, True)]
    assert first[0] == first[1]
    assert record["compact"]["kernels"] == 2 and load_model(runs[True] / "final").model.n_kernels == 2


def test_an_exp_fine_tune_that_lost_val_auroc_gives_way_to_the_calibrated_start(tmp_path, splits):
    """PruneRun._calibrated_start: with an exponential first layer, a fine-tune whose val AUROC fell
    more than the tolerance below its pruned start (the round's inter) is replaced by that start
    with its output calibrated (same ranking, so the start's val AUROC); a fine-tune within the
    tolerance, or a ReLU model, keeps its fine-tuned weights (None)."""
    from deepprune_cli.core.pruning import StageResult
    from deepprune_cli.core.training import fit

    _, train, val, _ = splits
    spec = arch_spec("deepbind", n_kernels=4, kernel_length=8, activation="exp")
    run = PruneRun(tmp_path / "p", options(tolerance=0.01), train, val)
    model = build_model(spec, seed=0)
    fit(model, train, val, TrainOptions(max_epochs=6, patience=3, lr=0.01, batch_size=64))
    start_metrics = run._metrics(model)
    run.results.append(StageResult(1, 4, "inter", "loss", 0, start_metrics["val_auroc"], None))
    lost = dict(start_metrics, val_auroc=start_metrics["val_auroc"] - 0.05)
    kept = run._calibrated_start(1, model, lost)
    assert kept is not None
    start, metrics, (a, c) = kept
    assert start is model and a > 0
    assert metrics["val_auroc"] == pytest.approx(start_metrics["val_auroc"], abs=1e-3)
    assert metrics["val_loss"] <= start_metrics["val_loss"] + 1e-3  # calibrated on training data
    assert run._calibrated_start(1, model, dict(start_metrics, val_auroc=start_metrics["val_auroc"] - 0.005)) is None
    relu = build_model(arch_spec("deepbind", n_kernels=4, kernel_length=8), seed=0)
    assert run._calibrated_start(1, relu, lost) is None

"""Motif comparison and kernel interpretation: agreement with real Tomtom, speed, and quality bar.

    python benchmarks/bench_compare.py golden    # our Tomtom vs Tomtom 5.4.1 (100 filters x JASPAR2020)
    python benchmarks/bench_compare.py interpret # kernels -> PPMs on 10,000 sequences x 256 kernels
    python benchmarks/bench_compare.py sim       # pruned 4-kernel models on deepprune-sim3 / sim4
    python benchmarks/bench_compare.py koo       # Koo & Eddy 2019: cnn-25 vs cnn-2 filters
    python benchmarks/bench_compare.py encode    # top motif of a 4-kernel model per ENCODE experiment
    python benchmarks/bench_compare.py all

``golden`` and ``encode`` need ../shared/data (the golden Tomtom output, the ENCODE files). The
training runs are modest on purpose (CPU, a few minutes each): sizes and epochs are printed with
the results. Results are also written as JSON under bench_out/ (``DEEPPRUNE_BENCH_DIR``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _common import OUT

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DEEPPRUNE_SHARED_DATA", ROOT.parent / "shared" / "data"))
GOLDEN_MEME = SHARED / "tomtom_golden" / "explainn_filters.meme"
GOLDEN_TSV = SHARED / "tomtom_golden" / "MAX_JUND_FOXA1_tomtom.tsv"


def _save(name: str, result: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"compare_{name}.json").write_text(json.dumps(result, indent=2, sort_keys=True, default=float) + "\n")


# --------------------------------------------------------------------------------------------
# golden Tomtom


def golden() -> dict:
    from scipy.stats import pearsonr, spearmanr

    from deepprune_cli.core.compare import compare_motifs, read_tomtom_tsv
    from deepprune_cli.core.motifs import bundled_collection, read_meme

    queries = read_meme(GOLDEN_MEME)
    targets = bundled_collection("jaspar2020")
    gold = read_tomtom_tsv(GOLDEN_TSV)
    compare_motifs(queries[:2], targets)  # load the compiled kernels (cached on disk)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        comp = compare_motifs(queries, targets)
        times.append(time.perf_counter() - t0)
    # a whole fresh process: import, parse, compare (numba cache warm)
    code = (
        "from deepprune_cli.core.compare import compare_motifs;"
        "from deepprune_cli.core.motifs import read_meme, bundled_collection;"
        f"compare_motifs(read_meme({str(GOLDEN_MEME)!r}), bundled_collection('jaspar2020'))"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    process_s = time.perf_counter() - t0

    qi = {m.id: i for i, m in enumerate(queries)}
    ti = {m.id: j for j, m in enumerate(targets)}
    ij = np.array([[qi[r["Query_ID"]], ti[r["Target_ID"]]] for r in gold])
    g_p = np.log10([r["p-value"] for r in gold])
    o_p = np.log10(comp.p[ij[:, 0], ij[:, 1]])
    g_q = np.log10([r["q-value"] for r in gold])
    o_q = np.log10(comp.q[ij[:, 0], ij[:, 1]])
    g_e = np.log10([r["E-value"] for r in gold])
    o_e = np.log10(comp.e[ij[:, 0], ij[:, 1]])
    d_p, d_q = np.abs(g_p - o_p), np.abs(g_q - o_q)
    rows = comp.matches()
    gp = {(r["Query_ID"], r["Target_ID"]) for r in gold}
    op = {(m.query, m.target) for m in rows}
    top = {}
    for r in gold:
        top.setdefault(r["Query_ID"], r["Target_ID"])
    top_agree = [comp.best(qi[q]).target == t for q, t in top.items()]
    result = {
        "queries": len(queries),
        "targets": len(targets),
        "golden_rows": len(gold),
        "compare_seconds_warm": min(times),
        "fresh_process_seconds": process_s,
        "log10_p_spearman": float(spearmanr(g_p, o_p)[0]),
        "log10_p_pearson": float(pearsonr(g_p, o_p)[0]),
        "log10_p_abs_diff_median": float(np.median(d_p)),
        "log10_p_abs_diff_p95": float(np.percentile(d_p, 95)),
        "log10_p_abs_diff_max": float(d_p.max()),
        "log10_e_abs_diff_median": float(np.median(np.abs(g_e - o_e))),
        "log10_q_spearman": float(spearmanr(g_q, o_q)[0]),
        "log10_q_abs_diff_median": float(np.median(d_q)),
        "log10_q_abs_diff_max": float(d_q.max()),
        "offset_agree": float(np.mean([r["Optimal_offset"] == comp.offset[i, j] for r, (i, j) in zip(gold, ij)])),
        "overlap_agree": float(np.mean([r["Overlap"] == comp.overlap[i, j] for r, (i, j) in zip(gold, ij)])),
        "orientation_agree": float(
            np.mean([(r["Orientation"] == "-") == bool(comp.strand[i, j]) for r, (i, j) in zip(gold, ij)])
        ),
        "rows_q_le_0.5_ours": len(rows),
        "rows_jaccard": len(gp & op) / len(gp | op),
        "top1_agree": f"{sum(top_agree)}/{len(top_agree)}",
    }
    print("== our Tomtom (memelite + Tomtom's pseudocount, strand and q-value rules) vs Tomtom 5.4.1 ==")
    for k, v in result.items():
        print(f"  {k:28s} {v:.4g}" if isinstance(v, float) else f"  {k:28s} {v}")
    _save("golden", result)
    return result


# --------------------------------------------------------------------------------------------
# interpretation speed


def interpret_speed() -> dict:
    from deepprune_cli.core.interpret import kernel_ppms

    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 4, (10_000, 101)).astype(np.uint8)
    weight = rng.normal(size=(256, 4, 24)).astype(np.float32)
    bias = rng.normal(size=256)
    out = {}
    for both in (False, True):
        t0 = time.perf_counter()
        res = kernel_ppms(weight, bias, tokens, threshold=0.7, relative_to="possible", both_strands=both)
        out["both_strands" if both else "one_strand"] = time.perf_counter() - t0
        out["sites_median" + ("_both" if both else "_one")] = float(np.median([r.nsites for r in res]))
    print(f"== kernels -> PPMs: 10,000 x 101 bp, 256 kernels x 24 bp (torch threads {_threads()}) ==")
    for k, v in out.items():
        print(f"  {k:20s} {v:.3g}")
    _save("interpret", out)
    return out


def _threads() -> int:
    import torch

    return torch.get_num_threads()


# --------------------------------------------------------------------------------------------
# training helpers for the quality bar


def _device_data(seqs, spec=None):
    from deepprune_cli.core import layout

    L = int(seqs.lengths.max())
    return layout.to_device((layout.token_matrix(seqs, L), seqs.labels), "cpu")


def _prune(train_seqs, out_dir: Path, kernels=4, rounds=6, epochs=60, arch="deepbind", kernel_length=None, seed=0):
    """Train kernels*2**rounds kernels and prune to ``kernels`` (the tool's defaults: 256 -> 4,
    up to 60 epochs, patience 15; no baseline variant): the final model."""
    from deepprune_cli.core import architectures, datasets, pruning, store, training

    data = datasets.make_training_data(train_seqs, None, shuffle="auto", seed=seed)
    tr, va = datasets.split_validation(data, 0.1, seed=seed)
    spec = architectures.arch_spec(arch, kernels, kernel_length, data.seqs.n_classes, True, seq_len=None)
    opts = pruning.PruneOptions(
        kernels=kernels, rounds=rounds, baseline=False,
        train=training.TrainOptions(max_epochs=epochs, seed=seed),
    )  # fmt: skip
    run = pruning.PruneRun(out_dir, opts, _device_data(data.seqs.subset(tr)), _device_data(data.seqs.subset(va)))
    t0 = time.perf_counter()
    results = run.run(spec=spec)
    return store.load_model(out_dir / "final"), results, time.perf_counter() - t0


def _motifs_from(model, seqs, threshold=0.7, trim=0.0, relative_to="observed"):
    """The model's kernels as motifs (live ones, by |dense weight|) from the positives of ``seqs``."""
    from deepprune_cli.core import criteria, interpret, layout

    spec = model.spec
    tokens = layout.model_tokens(spec, seqs)
    if seqs.labels is not None:
        tokens = tokens[seqs.labels.max(axis=1) > 0.5]
    weight, bias = interpret.first_layer_filters(model)
    bg = interpret.letter_background(tokens)
    bg = (bg + bg[::-1]) / 2
    res = interpret.kernel_ppms(
        weight, bias, tokens, threshold=threshold, relative_to=relative_to, both_strands=spec.both_strands,
        padding=spec.convs[0].padding,
        importance=criteria.kernel_statistic(model, None, "weight"), kernel_ids=model.kernel_ids.numpy(),
        active=model.kernel_mask.numpy() > 0, trim_bits=trim, background=bg,
    )  # fmt: skip
    live = [r for r in res if not r.dead]
    return [r.to_motif(f"kernel{r.kernel_id}", f"rank{i + 1}") for i, r in enumerate(live)], res, bg


# --------------------------------------------------------------------------------------------
# quality bar: simulations


def sim() -> dict:
    from deepprune_cli.core import compare, simulate

    out = {}
    for preset in ("deepprune-sim3", "deepprune-sim4"):
        ds = simulate.simulate(simulate.make_design(preset, seed=0))
        work = OUT / f"quality_{preset}"
        model, stages, secs = _prune(ds.split("train"), work / "prune")
        test = ds.split("test")
        from deepprune_cli.core.training import evaluate

        auc = evaluate(model.model, test)["auroc"]
        out[preset] = {"train_prune_seconds": secs, "test_auroc": auc}
        print(f"== {preset}: 256 -> 4 kernels (deepbind, prune defaults), test AUROC {auc:.3f}, {secs:.0f} s ==")
        for rel in ("possible", "observed"):
            motifs, res, bg = _motifs_from(model.model, test, relative_to=rel)
            sites = {f"kernel{r.kernel_id}": r.nsites for r in res}
            if not motifs:
                out[preset][rel] = {"motifs": 0, "sites": sites, "all_recovered_p_below_1e-4": False}
                print(f"  threshold 0.7 of {rel} max: no motif (sites per kernel {sites})")
                continue
            report = compare.match_truth(motifs, ds.motifs, database="jaspar2020", background=bg)
            rows = [
                {"truth": r.truth, "name": r.name, "kernel": r.kernel, "p": r.p, "E": r.E, "p_below_1e-4": r.p < 1e-4}
                for r in report.rows
            ]
            out[preset][rel] = {
                "motifs": len(motifs), "sites": sites, "truth": rows, "match_fraction_E_0.1": report.match_fraction,
                "all_recovered_p_below_1e-4": all(r["p_below_1e-4"] for r in rows),
            }  # fmt: skip
            print(f"  threshold 0.7 of {rel} max: {len(motifs)} motifs, sites per kernel {sites}")
            for r in rows:
                print(f"    {r['truth']:10s} {r['name']:14s} best {r['kernel']:9s} p={r['p']:.2g}  E={r['E']:.2g}")
            print(f"    all true motifs at p < 1e-4: {out[preset][rel]['all_recovered_p_below_1e-4']}")
    _save("sim", out)
    return out


# --------------------------------------------------------------------------------------------
# quality bar: Koo & Eddy 2019


def koo(n: int = 25_000, epochs: int = 20) -> dict:
    from deepprune_cli.core import architectures, compare, layout, models, simulate, training

    ds = simulate.simulate(simulate.make_design("koo2019", n=n, seed=0))
    train, valid, test = ds.split("train"), ds.split("valid"), ds.split("test")
    out = {"n": n, "max_epochs": epochs}
    for arch in ("cnn-25", "cnn-2"):
        spec = architectures.arch_spec(arch, n_outputs=train.n_classes, seq_len=train.fixed_length())
        model = models.build_model(spec, seed=0)
        opts = training.TrainOptions(max_epochs=epochs, patience=5, seed=0, lr=1e-3)
        t0 = time.perf_counter()
        tr, va = layout.to_device(train, "cpu", spec), layout.to_device(valid, "cpu", spec)
        model, history = training.fit(
            model, tr, va, opts, "cpu",
            callback=lambda row: print(f"    {arch} epoch {row['epoch']}: val AUROC {row['val_auroc']:.3f}", flush=True),
        )  # fmt: skip
        secs = time.perf_counter() - t0
        auc = training.evaluate(model, test)["auroc"]
        # Koo & Eddy's procedure: sites above half the filter's largest activation on the test
        # set; every filter (19 bp) compared, as they did
        motifs, res, bg = _motifs_from(model, test, threshold=0.5, relative_to="observed")
        report = compare.match_truth(motifs, ds.motifs, database="jaspar2020", background=bg)
        out[arch] = {
            "seconds": secs, "epochs": len(history), "test_auroc": auc, "filters": len(res), "live_filters": len(motifs),
            "match_fraction": report.match_fraction * len(motifs) / max(len(res), 1),
            "tfs_recovered": report.n_recovered,
            "recovered": [r.name for r in report.rows if r.recovered],
        }  # fmt: skip
        print(
            f"== koo2019 {arch}: {len(res)} filters ({len(motifs)} gave motifs), test AUROC {auc:.3f}, "
            f"{len(history)} epochs, {secs:.0f} s: match fraction {out[arch]['match_fraction']:.2f}, "
            f"TFs recovered {report.n_recovered}/12 ({', '.join(out[arch]['recovered'])})"
        )
    _save("koo", out)
    return out


# --------------------------------------------------------------------------------------------
# quality bar: ENCODE


#: profiled TF -> JASPAR names (upper case) that count as its motif or its family
ENCODE_FAMILY = {
    "ARID3A": {"ARID3A", "ARID3B", "ARID5A", "ARID2"},
    "CTCFL": {"CTCF", "CTCFL"},
    "ELK1": {"ELK1", "ELK3", "ELK4", "ELF1", "ELF3", "ELF4", "ELF5", "GABPA", "ETV1", "ETV2", "ETV3", "ETV4", "ETV5", "ETV6",
             "ETS1", "ETS2", "ERG", "FLI1", "FEV", "ELF2", "ERF", "ETV3L", "SPI1", "SPIB", "EHF", "ELK1::SREBF2", "ETV2::DRGX"},
    "FOXA1": {"FOXA1", "FOXA2", "FOXA3", "FOXC1", "FOXC2", "FOXD1", "FOXD2", "FOXF1", "FOXF2", "FOXI1", "FOXJ2", "FOXJ3",
              "FOXK1", "FOXK2", "FOXL1", "FOXO3", "FOXO4", "FOXO6", "FOXP1", "FOXP2", "FOXP3", "FOXB1", "FOXG1", "FOXH1",
              "FOXN3", "FOXO1", "FOXQ1", "FOXD3", "FOXE1", "FOXL2", "FOXS1"},
    "GABPA": {"GABPA", "ELK1", "ELK3", "ELK4", "ELF1", "ELF3", "ELF4", "ELF5", "ETV1", "ETV2", "ETV3", "ETV4", "ETV5", "ETV6",
              "ETS1", "ETS2", "ERG", "FLI1", "FEV", "ELF2", "ERF", "EHF"},
    "MYC": {"MYC", "MAX", "MAX::MYC", "MYCN", "MNT", "MLX", "MLXIP", "MLXIPL", "USF1", "USF2", "TFE3", "TFEB", "TFEC",
            "MITF", "ARNT", "ARNT2", "HEY1", "HEY2", "HES1", "BHLHE40", "BHLHE41", "SREBF1", "SREBF2", "CLOCK", "NPAS2", "MAX::MYC"},
    "REST": {"REST"},
    "SP1": {"SP1", "SP2", "SP3", "SP4", "SP8", "SP9", "KLF1", "KLF2", "KLF3", "KLF4", "KLF5", "KLF6", "KLF9", "KLF10",
            "KLF11", "KLF12", "KLF13", "KLF14", "KLF15", "KLF16", "KLF17", "EGR1", "EGR2", "EGR3", "EGR4", "ZNF148", "ZNF281",
            "ZNF740", "PATZ1", "MAZ", "VEZF1", "WT1", "E2F6"},
    "USF1": {"USF1", "USF2", "MAX", "MYC", "MAX::MYC", "MYCN", "MNT", "TFE3", "TFEB", "TFEC", "MITF", "BHLHE40", "BHLHE41",
             "ARNT", "ARNT2", "SREBF1", "SREBF2", "MLX", "MLXIP", "MLXIPL", "HEY1", "HEY2", "CLOCK", "NPAS2"},
    "ZBTB7A": {"ZBTB7A", "ZBTB7B", "ZBTB7C", "KLF1", "SP1", "SP2", "SP3", "SP4", "ZNF740", "E2F6", "EGR1", "KLF15", "KLF16",
               "PATZ1", "MAZ", "ZNF281", "ZNF148", "VEZF1", "KLF3", "KLF4", "KLF5", "KLF6", "KLF9"},
}  # fmt: skip


def encode(top: int = 2000, epochs: int = 60) -> dict:
    from deepprune_cli.core import compare
    from deepprune_cli.core.motifs import bundled_collection
    from deepprune_cli.core.sequences import read_sequences

    db = bundled_collection("jaspar2020")
    out = {"top_peaks": top, "max_epochs": epochs}
    files = sorted((SHARED / "encode").glob("*_AC.seq.gz"))
    for ac in files:
        tf = ac.name.split("_")[0]
        b = Path(str(ac).replace("_AC.seq.gz", "_B.seq.gz"))
        train = read_sequences(ac)
        train = train.subset(np.arange(min(top, len(train))))  # rows are ordered by peak rank
        model, _, secs = _prune(train, OUT / f"quality_encode_{tf}" / "prune", epochs=epochs)
        test = read_sequences(b)
        from deepprune_cli.core.training import evaluate

        auc = evaluate(model.model, test)["auroc"]
        n_possible = len(_motifs_from(model.model, test, trim=0.3)[0])
        # sites relative to the largest activation seen (see --relative-to): with 'possible', some
        # trained kernels find too few sites (n_possible counts those that give motifs)
        motifs, res, bg = _motifs_from(model.model, test, trim=0.3, relative_to="observed")
        if not motifs:
            out[tf] = {"seconds": secs, "test_auroc": auc, "motifs": 0, "top_motif_matches_tf_family": False}
            print(f"== {tf:7s} AUROC {auc:.3f}: no kernel gave a motif")
            continue
        comp = compare.compare_motifs(motifs, db, background=bg)
        fam = ENCODE_FAMILY.get(tf, {tf})
        top_hits = comp.matches(0.5)
        first = [m for m in top_hits if m.query == motifs[0].id][:5]
        best = comp.best(0)
        any_kernel = [m for m in top_hits if m.target_name.upper() in fam]
        entry = {
            "seconds": secs, "test_auroc": auc, "motifs_possible_0.7": n_possible, "motifs_observed_0.7": len(motifs),
            "top_motif": motifs[0].id, "top_consensus": motifs[0].consensus,
            "top_match": f"{best.target} {best.target_name}", "top_match_p": best.p,
            "top5_names": [m.target_name for m in first],
            "top_motif_matches_tf_family": best.target_name.upper() in fam,
            "top_motif_top5_has_family": any(m.target_name.upper() in fam for m in first),
            "any_kernel_matches_family": sorted({m.query for m in any_kernel}),
        }  # fmt: skip
        out[tf] = entry
        print(
            f"== {tf:7s} AUROC {auc:.3f} ({secs:.0f} s) top motif {motifs[0].id} {motifs[0].consensus}: "
            f"best {entry['top_match']} p={best.p:.2g} -> family match {entry['top_motif_matches_tf_family']} "
            f"(top-5 {entry['top_motif_top5_has_family']}; kernels matching family: {entry['any_kernel_matches_family']})"
        )
    hits = [tf for tf in out if isinstance(out[tf], dict) and out[tf]["top_motif_matches_tf_family"]]
    print(f"top motif matches the TF or its family in {len(hits)}/{len(files)}: {', '.join(hits)}")
    _save("encode", out)
    return out


def main(argv: list[str]) -> None:
    what = argv[1] if len(argv) > 1 else "golden"
    steps = {"golden": golden, "interpret": interpret_speed, "sim": sim, "koo": koo, "encode": encode}
    if what == "all":
        for fn in steps.values():
            fn()
    elif what in steps:
        steps[what]()
    else:
        raise SystemExit(f"usage: bench_compare.py [{'|'.join(steps)}|all]")


if __name__ == "__main__":
    main(sys.argv)

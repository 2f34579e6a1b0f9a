"""Quality bars of issue 15: how many motifs (`prune --kernels auto`), each one found once.

For m = 1..6 motifs drawn at random from JASPAR 2024 (never the presets' motifs; width 8-20;
drawn again until no two of them are the same motif by `logos`' own grouping rule), and each
seed: simulate a dataset of the tool's custom single-site design (101 bp, 6,000 sequences, half
test; every positive holds one site of one of the m motifs), run `deepprune prune --kernels auto`
and `deepprune logos` on the final model with the test positives, then ask

* does the automatic count end at m (bar: >= 80 % of runs)?
* is each true motif recovered exactly once (bar): by exactly one final kernel with p < 1e-4
  against it, the true motifs searched inside the whole JASPAR 2024 collection (as Tomtom would)?
* how many distinct motifs (`logos` groups) the final kernels hold, and whether each true motif
  is matched by exactly one group (a motif can need more than one kernel: the auto count is
  the kernels the data need, the distinct count the motifs).

    python benchmarks/bench_distinct.py                              # full: m = 1..6, 5 seeds, 256 kernels
    python benchmarks/bench_distinct.py --m 1,2,3,4,5,6 --seeds 0 --rounds 4 --epochs 40   # reduced
    # the bar as measured (README): 64 -> auto, 20,000 training sequences (issue 19's design), 5 seeds
    python benchmarks/bench_distinct.py --m 1,2,3,4,5,6 --seeds 0,1,2,3,4 --rounds 4 --epochs 40 \
        --n 25000 --test-fraction 0.2 --jobs 2

Without --padding, --activation or --criterion, prune's own defaults apply: full padding with
--kernels auto since 2026-12-06 (the runs recorded before were valid: pass --padding valid to
repeat them); an exponential first layer with --kernels auto since 2026-12-07 (pass --activation
relu to repeat older runs). Since 2026-12-07 auto's final/ is always its last one-kernel-per-motif
model, so the ENCODE rows' opm_* columns (that model when final/ was the held one) stay empty.

Writes benchmarks/results/distinct.tsv (one row per m and seed) and prints a summary.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import write_tsv  # noqa: E402
PRESETS = [f"deepprune-sim{i}" for i in range(1, 6)]
P_RECOVERED = 1e-4


def draw_motifs(m: int, seed: int) -> list[str]:
    """``m`` JASPAR 2024 ids, no preset motif, width 8-20, pairwise not the same motif."""
    import numpy as np

    from deepprune_cli.core.grouping import group_motifs
    from deepprune_cli.core.motifs import bundled_collection
    from deepprune_cli.core.simulate import make_design

    used = set()
    for p in PRESETS:
        used.update(make_design(p).motif_ids or ())
    pool = [x for x in bundled_collection("jaspar2024") if x.id not in used and 8 <= x.width <= 20]
    rng = np.random.default_rng([2026, m, seed])
    while True:
        pick = [pool[i] for i in rng.choice(len(pool), size=m, replace=False)]
        if group_motifs(pick).n_groups == m:
            return [x.id for x in pick]


def _sizing(a) -> list:
    if a.kernels != "auto":
        return ["--kernels", a.kernels] + (["--distinct"] if a.fixed_distinct else [])
    tol = [] if a.tolerance is None else ["--tolerance", a.tolerance]
    return ["--kernels", "auto", *tol, "--distinct" if a.distinct else "--no-distinct"]


def _padding(a) -> list:
    """``--padding`` (and ``--activation``) for prune when asked for; none: prune's own defaults
    (with auto full padding and exp; with a fixed count the architecture's, valid and relu)."""
    return ([] if a.padding is None else ["--padding", a.padding]) + \
        ([] if a.activation is None else ["--activation", a.activation])


def _criterion(a) -> list:
    """``--criterion`` for prune when one was asked for; none: prune's own default."""
    return [] if a.criterion is None else ["--criterion", a.criterion]


def _held(sel: dict) -> str:
    """'kernels/motifs' of the smallest model that held, when --distinct grouped it."""
    held = sel.get("held")
    return "" if held is None else f"{held['kernels']}/{held['motifs']}"


def _curve(sel: dict) -> str:
    """The auto search as 'kernels(+ held / - below)val_auroc', '*' marking the one-per-motif round
    (the first entry is the start model)."""
    return " ".join(f"{c['kernels']}{'*' if c.get('one_per_motif') else ''}{'+' if c['holds'] else '-'}"
                    f"{c['val_auroc']:.3f}" for c in sel.get("curve", []))


def _cli(*args) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "deepprune_cli", *map(str, args)], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"deepprune {' '.join(map(str, args[:2]))} failed:\n{proc.stderr[-3000:]}")
    return proc


def run_one(task: tuple) -> dict:
    m, seed, a = task
    from deepprune_cli.core.compare import match_truth
    from deepprune_cli.core.motifs import read_meme

    ids = draw_motifs(m, seed)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _cli("simulate", "--motifs", "jaspar:" + ",".join(ids), "--n", a.n, "--length", a.length,
             "--test-fraction", a.test_fraction, "-o", tmp / "sim", "--seed", seed)  # fmt: skip
        sizing = _sizing(a)
        _cli("prune", tmp / "sim" / "train.fa", *sizing, "--rounds", a.rounds, *_criterion(a), "--no-baseline", "--epochs", a.epochs, "--patience", a.patience,
             *_padding(a), "--threads", a.threads, "--seed", seed, "--test", tmp / "sim" / "test.fa", "-o", tmp / "prune", "-q")  # fmt: skip
        record = json.loads((tmp / "prune" / "prune.json").read_text())
        sel = record.get("selection") or {"kernels": int(a.kernels), "round": a.rounds, "curve": []}
        summary = (tmp / "prune" / "summary.tsv").read_text().splitlines()
        final_row = [ln.split("\t") for ln in summary[1:] if ln.split("\t")[0] == str(sel["round"])]
        test_auroc = float([r for r in final_row if r[2] in ("deepprune", "initial")][0][6])
        # flanks trimmed at 0.3 bits as bench_prune_encode does, so that matches rest on motif columns
        _cli("logos", tmp / "prune" / "final", tmp / "sim" / "test.fa", "-o", tmp / "logos" / "motifs.meme",
             "--trim", 0.3, "--threads", a.threads, "-q")  # fmt: skip
        learned = read_meme(tmp / "logos" / "motifs.meme")
        with open(tmp / "logos" / "motifs.tsv") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        group_of = {r["id"]: r["group"] for r in rows if r["id"]}
        n_groups = len(set(group_of.values()))
        truth = read_meme(tmp / "sim" / "motifs.meme")
        per_truth, groups_per_truth = [0] * len(truth), [0] * len(truth)
        if learned:
            rep = match_truth(learned, truth, database="jaspar2024", by="p", threshold=P_RECOVERED)
            p = rep.comparison.p[:, : len(truth)]  # targets = the true motifs first, then JASPAR
            hits = [[learned[i].id for i in range(len(learned)) if p[i, t] < P_RECOVERED] for t in range(len(truth))]
            per_truth = [len(h) for h in hits]
            groups_per_truth = [len({group_of[k] for k in h}) for h in hits]
    curve = _curve(sel)
    n_motifs = sel.get("motifs", sel["kernels"])  # --distinct's answer; the kernel count without it
    return dict(m=m, seed=seed, motifs=",".join(ids), held=_held(sel), auto_motifs=n_motifs,
                auto_motifs_ok=n_motifs == m, auto_kernels=sel["kernels"], auto_ok=sel["kernels"] == m,
                within_one=abs(sel["kernels"] - m) <= 1, motifs_written=len(learned), distinct=n_groups,
                distinct_ok=n_groups == m, kernels_per_truth=",".join(map(str, per_truth)),
                each_once=all(c == 1 for c in per_truth), groups_per_truth=",".join(map(str, groups_per_truth)),
                each_group_once=all(c == 1 for c in groups_per_truth),
                recovered=sum(c >= 1 for c in per_truth), test_auroc=test_auroc,
                compact=(record.get("compact") or {}).get("compact", ""),
                val_loss_vs_start=(record.get("compact") or {}).get("loss", ""), curve=curve,
                seconds=time.perf_counter() - t0)  # fmt: skip


def run_encode(task: tuple) -> dict:
    """One ENCODE experiment: prune the top peaks, logos on the _B positives, distinct motifs."""
    ac, seed, a = task
    import numpy as np

    from deepprune_cli.core.sequences import read_sequences

    b = ac.replace("_AC.seq.gz", "_B.seq.gz")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pos = read_sequences(ac)
        pos = pos.subset(np.arange(min(len(pos), a.max_peaks)))  # the files are ordered by peak rank
        (tmp / "top.fa").write_text("".join(f">p{i}\n{pos.text(i)}\n" for i in range(len(pos))))
        sizing = _sizing(a)
        _cli("prune", tmp / "top.fa", *sizing, "--rounds", a.rounds, *_criterion(a), "--no-baseline",
             "--epochs", a.epochs, "--patience", a.patience, *_padding(a), "--threads", a.threads, "--seed", seed, "--test", b,
             "-o", tmp / "prune", "-q")  # fmt: skip
        record = json.loads((tmp / "prune" / "prune.json").read_text())
        sel = record.get("selection") or {"kernels": int(a.kernels), "round": a.rounds}
        rows = [ln.split("\t") for ln in (tmp / "prune" / "summary.tsv").read_text().splitlines()[1:]]
        final = [r for r in rows if r[0] == str(sel["round"]) and r[2] in ("deepprune", "initial")][0]
        start = [r for r in rows if r[0] == "0" and r[2] == "initial"][0]  # the 256-kernel parent
        found = _distinct_motifs(tmp / "prune" / "final", b, tmp / "logos", a)
        # the one-kernel-per-motif model too, when auto kept the held model instead: what final/
        # would hold if one kernel per motif were always taken
        opm = [c for c in sel.get("curve", []) if c.get("one_per_motif")]
        other = dict(opm_kernels="", opm_motifs_written="", opm_distinct="", opm_test_auroc="", opm_groups="")
        if opm and opm[-1]["round"] != sel["round"]:
            r = opm[-1]["round"]
            row = [x for x in rows if x[0] == str(r) and x[2] == "deepprune"][0]
            table, names = _distinct_motifs(tmp / "prune" / f"round{r}_deepprune", b, tmp / "logos_opm", a)
            other = dict(opm_kernels=int(row[1]), opm_motifs_written=len(table), opm_distinct=len(names),
                         opm_test_auroc=float(row[6]), opm_groups=" ".join(names))
    table, names = found
    curve = _curve(sel)
    return dict(experiment=Path(ac).name.split("_")[0], criterion=record["options"]["criterion"], seed=seed, held=_held(sel),
                motifs=sel.get("motifs", ""), kernels=sel["kernels"], curve=curve,
                motifs_written=len(table), distinct=len(names), test_auroc=float(final[6]),
                start_test_auroc=float(start[6]), groups=" ".join(names),
                compact=(record.get("compact") or {}).get("compact", ""),
                val_loss_vs_start=(record.get("compact") or {}).get("loss", ""), **other,
                seconds=time.perf_counter() - t0)  # fmt: skip


def _distinct_motifs(model_dir: Path, test: str, out: Path, a) -> tuple[list, list]:
    """``logos`` on the test positives: the rows of motifs.tsv with a motif, and one
    'best JASPAR match x members' name per group."""
    _cli("logos", model_dir, test, "-o", out / "motifs.meme", "--trim", 0.3, "--match", "jaspar2024",
         "--threads", a.threads, "-q")  # fmt: skip
    with open(out / "motifs.tsv") as fh:
        table = [r for r in csv.DictReader(fh, delimiter="\t") if r["id"]]
    groups = {}
    for r in table:
        groups.setdefault(r["group"], []).append(r)
    names = []
    for g in sorted(groups, key=int):
        rep = next(r for r in groups[g] if r["representative"] == "yes")
        names.append(f"{rep['best_match_name'] or rep['consensus']}x{len(groups[g])}")
    return table, names


def encode_main(a) -> None:
    import os

    root = Path(os.environ.get("DEEPPRUNE_ENCODE", HERE.parent.parent / "shared" / "data" / "encode"))
    acs = sorted(str(p) for p in root.glob("*_AC.seq.gz") if any(p.name.startswith(x) for x in a.encode.split(",")))
    if not acs:
        print(f"no ENCODE experiments matching {a.encode} under {root}; skipped")
        return
    tasks = [(ac, int(s), a) for ac in acs for s in a.seeds.split(",")]
    rows = []
    with mp.get_context("spawn").Pool(a.jobs) as pool:
        for row in pool.imap(run_encode, tasks):
            rows.append(row)
            print(f"{row['experiment']} seed {row['seed']} ({row['criterion']}): {row['kernels']} kernels "
                  f"({row['curve']}), "
                  f"{row['distinct']} distinct [{row['groups']}], test AUROC {row['test_auroc']:.4f}"
                  + (f"; one per motif {row['opm_kernels']} kernels, {row['opm_distinct']} distinct "
                     f"[{row['opm_groups']}], test AUROC {row['opm_test_auroc']:.4f}" if row["opm_test_auroc"] != "" else "")
                  + f" ({row['seconds']:.0f} s)", flush=True)
    write_tsv(a.out, rows)

    ref = Path(a.reference)
    ref_rows = {}
    if ref.exists():  # today's 256 -> 4 deepprune test AUROC of the same experiments
        with open(ref) as fh:
            ref_rows = {r["experiment"].split("_")[0]: r for r in csv.DictReader(fh, delimiter="\t")}
    _encode_summary(rows, "final/", ref.name, ref_rows)
    if any(r["opm_test_auroc"] != "" for r in rows):  # had the one-per-motif model always been final
        opm = [dict(r, test_auroc=r["opm_test_auroc"], distinct=r["opm_distinct"],
                    motifs_written=r["opm_motifs_written"]) if r["opm_test_auroc"] != "" else r for r in rows]
        _encode_summary(opm, "one kernel per motif (had it always been final)", ref.name, ref_rows)
    print(f"wrote {a.out}")


def _encode_summary(rows: list[dict], label: str, ref_name: str, ref_rows: dict) -> None:
    """Distinct final motifs, median test AUROC and wins over the reference's 4-kernel baseline."""
    import statistics

    clean = sum(r["distinct"] == r["motifs_written"] for r in rows)
    print(f"\n{label}: no two reported motifs the same motif (logos groups) in {clean}/{len(rows)} runs; "
          f"median test AUROC {statistics.median(r['test_auroc'] for r in rows):.4f}")
    both = [(r["test_auroc"], float(ref_rows[r["experiment"]]["deepprune"])) for r in rows if r["experiment"] in ref_rows]
    if both:
        print(f"  vs {ref_name} (256 -> 4, deepprune) on the same {len(both)}: median "
              f"{statistics.median(x for x, _ in both):.4f} vs {statistics.median(y for _, y in both):.4f}")
    # against the 4-kernel from-scratch baseline of the reference run (same data, split and seed)
    pairs = [(r["test_auroc"], float(ref_rows[r["experiment"]]["baseline"])) for r in rows
             if r["experiment"] in ref_rows and ref_rows[r["experiment"]].get("baseline")]
    if len(pairs) > 1:
        from scipy.stats import wilcoxon

        wins = sum(x > y for x, y in pairs)
        p = wilcoxon([x for x, _ in pairs], [y for _, y in pairs], alternative="greater").pvalue
        print(f"  vs the 4-kernel baseline of {ref_name}: better in {wins}/{len(pairs)}, one-sided Wilcoxon p = {p:.3g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--m", default="1,2,3,4,5,6", help="numbers of planted motifs")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--rounds", type=int, default=6, help="start from 4 * 2**rounds kernels (6: 256, the default)")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--patience", type=int, default=15)
    ap.add_argument("--tolerance", type=float, default=None, help="--kernels auto's tolerance [prune's default]")
    ap.add_argument("--distinct", action=argparse.BooleanOptionalAction, default=True,
                    help="--kernels auto: one kernel per distinct motif at the end (prune's default)")
    ap.add_argument("--fixed-distinct", action="store_true",
                    help="with a fixed --kernels: prune --distinct (copies go first in the last round)")
    ap.add_argument("--kernels", default="auto", help="'auto' (the bar) or a fixed final count, to compare criteria")
    ap.add_argument("--encode", default=None, metavar="TF,TF",
                    help="instead of simulations: these ENCODE experiments (name prefixes in ../shared/data/encode), "
                    "top --max-peaks peaks, test on _B; distinct motifs of the final model and its test AUROC")
    ap.add_argument("--max-peaks", type=int, default=3000)
    ap.add_argument("--reference", default=str(HERE / "results" / "prune_encode_loss_top3000.tsv"),
                    help="--encode: today's 4-kernel test AUROC per experiment (column deepprune), to compare with")
    ap.add_argument("--criterion", default=None,
                    help="prune --criterion [prune's default: loss]")
    ap.add_argument("--n", type=int, default=6000, help="sequences per dataset")
    ap.add_argument("--test-fraction", type=float, default=0.5, help="share of --n held out as test.fa")
    ap.add_argument("--padding", default=None, choices=["valid", "same", "full"],
                    help="prune --padding of the start model [prune's default: full with --kernels auto, else valid]")
    ap.add_argument("--activation", default=None, choices=["relu", "exp"],
                    help="prune --activation of the start model [prune's default: exp with --kernels auto, else relu]")
    ap.add_argument("--length", type=int, default=101)
    ap.add_argument("--threads", type=int, default=1, help="threads per run")
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel")
    ap.add_argument("--out", default=str(HERE / "results" / "distinct.tsv"))
    a = ap.parse_args()
    if a.encode:
        return encode_main(a)
    tasks = [(int(m), int(s), a) for m in a.m.split(",") for s in a.seeds.split(",")]
    t0 = time.perf_counter()
    rows = []
    with mp.get_context("spawn").Pool(a.jobs) as pool:
        for row in pool.imap(run_one, tasks):
            rows.append(row)
            print(f"m={row['m']} seed {row['seed']}: auto {row['auto_motifs']} motifs, {row['auto_kernels']} kernels "
                  f"({row['curve']}), "
                  f"kernels per true motif {row['kernels_per_truth']}, {row['distinct']} distinct "
                  f"(groups per true motif {row['groups_per_truth']}), "
                  f"test AUROC {row['test_auroc']:.4f} ({row['seconds']:.0f} s)", flush=True)
    write_tsv(a.out, rows)
    n = len(rows)
    ok = sum(r["auto_ok"] for r in rows)
    mok = sum(r["auto_motifs_ok"] for r in rows)
    mnear = sum(abs(r["auto_motifs"] - r["m"]) <= 1 for r in rows)
    near = sum(r["within_one"] for r in rows)
    once = sum(r["each_once"] for r in rows)
    dist = sum(r["distinct_ok"] for r in rows)
    gonce = sum(r["each_group_once"] for r in rows)
    print(f"\nauto motif count (prune.json selection.motifs) = m in {mok}/{n} runs ({mok / n:.0%}; bar 80 %), "
          f"within 1 in {mnear}/{n}")
    print(f"auto kernel count = m in {ok}/{n} runs ({ok / n:.0%}; bar 80 %), within 1 in {near}/{n}; "
          f"distinct motifs (logos groups) of the auto model = m in {dist}/{n} ({dist / n:.0%})\n"
          f"every true motif recovered by exactly one kernel in {once}/{n} runs ({once / n:.0%}), "
          f"by exactly one distinct motif (group) in {gonce}/{n} ({gonce / n:.0%})")
    for m in sorted({r["m"] for r in rows}):
        rs = [r for r in rows if r["m"] == m]
        print(f"  m={m}: motifs {[r['auto_motifs'] for r in rs]}, kernels {[r['auto_kernels'] for r in rs]}, distinct {[r['distinct'] for r in rs]}, "
              f"exactly once {sum(r['each_once'] for r in rs)}/{len(rs)} (groups {sum(r['each_group_once'] for r in rs)}), "
              f"recovered {sum(r['recovered'] for r in rs)}/{m * len(rs)}")
    print(f"{4 * 2**a.rounds} start kernels, {n} runs in {time.perf_counter() - t0:.0f} s; wrote {a.out}")


if __name__ == "__main__":
    main()

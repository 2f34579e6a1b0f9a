"""Issue 19: the pruning loss, the AUROC a 256 -> 4 `prune` gives up against its own round-0 parent.

For every dataset, prune 4·2^R -> 4 kernels (R = --rounds, default 6: 256 -> 4; no baselines,
they do not enter the loss) with today's default and with each idea, and record the validation
and test AUROC of the round-0 parent (``initial``) and of the final 4-kernel ``deepprune`` model;
the loss is parent - final. The default run is measured in the same run as the ideas (same data,
split, seed and machine), and the summary prints each idea's mean loss, its difference and ratio
against the default's, and its mean final AUROC. Choose on validation figures only.

Data (``--data``):

* ``sim``: ``deepprune simulate``-style data as ``bench_prune_sim.py`` makes it: motif sets of the
  presets' design drawn at random from JASPAR 2024 (``bench_prune_sim.random_motif_sets``; 101 bp,
  6,000 sequences, half test); the exact Bayes-optimal test AUROC is the ceiling.
* ``encode``: DeepBind's 10 ENCODE experiments (../shared/data/encode or $DEEPPRUNE_ENCODE): the top
  ``--max-peaks`` (default 3,000) ``_AC`` peaks with seeded dinucleotide shuffles, the fixed ``_B``
  test set (skipped when absent).

Variants (``--variants``, comma-separated; ``default`` always runs first):

* ``default``: the tool's defaults (criterion ``loss``, ReLU, lr_decay 1.2, patience as given);
* ``exp``: ``prune --activation exp`` (the parent is an exp model too);
* ``refit``: ``--criterion loss-refit`` (the read-out refitted when judging each removal while at
  most 16 kernels are alive);
* ``nodecay``: ``--lr-decay 1`` (every fine-tune at round 0's learning rate, 0.003, instead of
  0.003/1.2^i);
* ``long``: fine-tunes of models with at most 16 kernels (the last rounds) get twice the patience
  and epochs;
* ``distill``: every fine-tune trains on soft targets 0.5·label + 0.5·sigmoid(parent logit), the
  round-0 parent's predictions on the training sequences (Hinton et al. 2015's distillation with
  temperature 1; validation, early stopping and the criterion keep the true labels).

    python benchmarks/bench_prune_loss.py --data sim --variants default,exp,refit,nodecay,long,distill
    python benchmarks/bench_prune_loss.py --data encode --variants default,refit
    python benchmarks/bench_prune_loss.py --summary a.tsv,b.tsv

Writes benchmarks/results/prune_loss_<data>.tsv (one row per dataset and variant).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
ENCODE = Path(os.environ.get("DEEPPRUNE_ENCODE", HERE.parent.parent / "shared" / "data" / "encode"))
VARIANTS = ("default", "exp", "refit", "nodecay", "long", "distill")
DISTILL_WEIGHT = 0.5
COMPACT_LOSS = 0.03  # prune's --compact-loss default: the default run's val loss splits compact / not


def _run_class():
    """PruneRun with the two fine-tuning ideas that have no option: ``long`` and ``distill``."""
    import torch

    from deepprune_cli.core.layout import DeviceData
    from deepprune_cli.core.pruning import PruneRun, stage_name
    from deepprune_cli.core.training import predict

    class IdeaRun(PruneRun):
        long = False
        distill = 0.0
        _soft = None  # DeviceData: the training tokens with soft targets (distill)

        def _fit(self, model, lr, seed, label, keep_start=False):
            fine_tune = label.endswith("_deepprune")
            saved_train, saved_opts = self.train, self.options.train
            if fine_tune and self.long and model.n_kernels <= 16:
                t = self.options.train
                self.options.train = replace(t, patience=2 * t.patience, max_epochs=2 * t.max_epochs)
            if fine_tune and self._soft is not None:
                self.train = self._soft
            try:
                out = super()._fit(model, lr, seed, label, keep_start)
            finally:
                self.train, self.options.train = saved_train, saved_opts
            if label == stage_name(0, "initial") and self.distill > 0:
                # the parent's probabilities on the training sequences, mixed with the labels
                p = torch.from_numpy(predict(out[0], self.train)).to(self.train.labels)  # (n, 1)
                y = self.train.labels
                self._soft = DeviceData(self.train.tokens, (1 - self.distill) * y + self.distill * p.reshape(y.shape))
            return out

    return IdeaRun


def prune_losses(prep, test, variant: str, seed: int, epochs: int, patience: int, rounds: int) -> dict:
    """One run of ``variant`` on prepared data: parent and final val/test AUROC and the losses."""
    import torch

    from deepprune_cli.core.layout import to_device
    from deepprune_cli.core.pruning import PruneOptions, read_summary
    from deepprune_cli.core.training import TrainOptions

    spec = prep.spec
    if variant == "exp":
        spec = type(spec).from_dict(spec.to_dict())
        spec.convs[0].activation = "exp"
    opts = PruneOptions(kernels=4, rounds=rounds, baseline=False,
                        criterion="loss-refit" if variant == "refit" else "loss",
                        lr_decay=1.0 if variant == "nodecay" else 1.2,
                        train=TrainOptions(max_epochs=epochs, patience=patience, seed=seed))
    IdeaRun = _run_class()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run = IdeaRun(Path(tmp) / "run", opts, prep.train, prep.val, to_device(test, torch.device("cpu"), spec),
                      data_info=prep.info)
        run.long = variant == "long"
        run.distill = DISTILL_WEIGHT if variant == "distill" else 0.0
        run.run(spec=spec)
        rows = read_summary(Path(tmp) / "run")
    parent = rows[0]
    final = [r for r in rows if r["variant"] == "deepprune" and r["kernels"] == 4][-1]
    return dict(variant=variant, parent_val=parent["val_auroc"], final_val=final["val_auroc"],
                parent_test=parent["test_auroc"], final_test=final["test_auroc"],
                loss_val=parent["val_auroc"] - final["val_auroc"], loss_test=parent["test_auroc"] - final["test_auroc"],
                seconds=time.perf_counter() - t0)


def sim_tasks(n_sets: int):
    from bench_prune_sim import random_motif_sets

    return list(random_motif_sets(n_sets).items())


def prepare_sim(name_ids, rounds: int, seed: int):
    from deepprune_cli.core.metrics import auroc
    from deepprune_cli.core.prepare import prepare_training
    from deepprune_cli.core.simulate import bayes_optimal_scores, make_design, simulate

    name, ids = name_ids
    ds = simulate(make_design(None, motifs="jaspar2024", motif_ids=ids, seed=0))
    train, test = ds.split("train"), ds.split("test")
    bayes = auroc(test.labels.ravel(), bayes_optimal_scores(test, ds))
    prep = prepare_training(train, None, test, arch="deepbind", kernels=4 * 2**rounds, seed=seed)
    return name, prep, test, {"motifs": ",".join(ids), "bayes": bayes}


def prepare_encode(ac: Path, rounds: int, seed: int, max_peaks: int):
    import numpy as np

    from deepprune_cli.core.prepare import prepare_training
    from deepprune_cli.core.sequences import read_sequences

    pos = read_sequences(ac)
    if max_peaks and len(pos) > max_peaks:
        pos = pos.subset(np.arange(max_peaks))  # the files are ordered by peak rank
    test = read_sequences(str(ac).replace("_AC.seq.gz", "_B.seq.gz"))
    prep = prepare_training(pos, None, test, arch="deepbind", kernels=4 * 2**rounds, seed=seed)
    return ac.name.replace("_AC.seq.gz", ""), prep, test, {"motifs": "", "bayes": float("nan")}


def summarise(rows: list[dict]) -> None:
    """Per variant: mean loss (val, test), difference and ratio against ``default`` on the same
    datasets, mean final AUROC; and the default's loss split by its compact verdict."""
    by = {(r["dataset"], r["variant"]): r for r in rows}
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    mean = lambda v: statistics.mean(v) if v else float("nan")
    print(f"\n{'variant':<9} {'n':>2} {'loss val':>9} {'vs dflt':>8} {'ratio':>6} {'loss test':>9} {'vs dflt':>8} "
          f"{'ratio':>6} {'final val':>9} {'final test':>10} {'better val':>10}")
    for v in variants:
        ds = [d for d in datasets if (d, v) in by and (d, "default") in by]
        if not ds:
            continue
        lv, lt = mean([by[d, v]["loss_val"] for d in ds]), mean([by[d, v]["loss_test"] for d in ds])
        dv, dt = mean([by[d, "default"]["loss_val"] for d in ds]), mean([by[d, "default"]["loss_test"] for d in ds])
        better = sum(by[d, v]["final_val"] > by[d, "default"]["final_val"] for d in ds)
        ratio = lambda a, b: a / b if b else float("nan")
        print(f"{v:<9} {len(ds):>2} {lv:9.4f} {lv - dv:+8.4f} {ratio(lv, dv):6.2f} {lt:9.4f} {lt - dt:+8.4f} "
              f"{ratio(lt, dt):6.2f} {mean([by[d, v]['final_val'] for d in ds]):9.4f} "
              f"{mean([by[d, v]['final_test'] for d in ds]):10.4f} {better:>6}/{len(ds)}")
    compact = [d for d in datasets if (d, "default") in by and by[d, "default"]["loss_val"] <= COMPACT_LOSS]
    other = [d for d in datasets if (d, "default") in by and d not in compact]
    for v in variants:
        parts = []
        for label, ds in (("compact", compact), ("not compact", other)):
            ds = [d for d in ds if (d, v) in by]
            if ds:
                parts.append(f"{label} (n={len(ds)}): test loss {mean([by[d, v]['loss_test'] for d in ds]):.4f}, "
                             f"val loss {mean([by[d, v]['loss_val'] for d in ds]):.4f}")
        print(f"{v:<9} by the default run's verdict (val loss <= {COMPACT_LOSS:g}): " + "; ".join(parts))


def read_rows(paths: list[str]) -> list[dict]:
    rows = []
    for p in paths:
        with open(p) as fh:
            for r in csv.DictReader(fh, delimiter="\t"):
                for k in ("parent_val", "final_val", "parent_test", "final_test", "loss_val", "loss_test", "bayes",
                          "seconds"):
                    r[k] = float(r[k])
                rows.append(r)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", choices=("sim", "encode"), default="sim")
    ap.add_argument("--variants", default="default,exp,refit,nodecay,long,distill")
    ap.add_argument("--sets", type=int, default=4, help="sim: random JASPAR 2024 motif sets (2, 4, 6, 2 motifs, ...)")
    ap.add_argument("--only", default=None, help="encode: comma-separated experiment name prefixes")
    ap.add_argument("--max-peaks", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--patience", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--out", default=None)
    ap.add_argument("--summary", default=None, help="comma-separated result tables to summarise (runs nothing)")
    args = ap.parse_args()
    if args.summary:
        summarise(read_rows(args.summary.split(",")))
        return
    import torch

    torch.set_num_threads(1)
    variants = ["default"] + [v for v in args.variants.split(",") if v and v != "default"]
    for v in variants:
        if v not in VARIANTS:
            ap.error(f"unknown variant {v!r} (choose from {', '.join(VARIANTS)})")
    if args.data == "sim":
        loaders = [lambda t=t: prepare_sim(t, args.rounds, args.seed) for t in sim_tasks(args.sets)]
    else:
        if not ENCODE.is_dir():
            print(f"no ENCODE data at {ENCODE}: skipped")
            return
        acs = sorted(ENCODE.glob("*_AC.seq.gz"))
        if args.only:
            prefixes = args.only.split(",")  # in the order given (a run cut short has the first ones)
            acs = [a for p in prefixes for a in acs if a.name.startswith(p)]
        loaders = [lambda a=a: prepare_encode(a, args.rounds, args.seed, args.max_peaks) for a in acs]
    out = Path(args.out or HERE / "results" / f"prune_loss_{args.data}.tsv")
    out.parent.mkdir(parents=True, exist_ok=True)
    cols = ["dataset", "variant", "motifs", "bayes", "parent_val", "final_val", "parent_test", "final_test",
            "loss_val", "loss_test", "seed", "seconds"]
    rows = []
    t0 = time.perf_counter()
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, cols, delimiter="\t")
        w.writeheader()
        for load in loaders:
            name, prep, test, extra = load()
            for v in variants:
                r = dict(dataset=name, seed=args.seed, **extra,
                         **prune_losses(prep, test, v, args.seed, args.epochs, args.patience, args.rounds))
                rows.append(r)
                w.writerow({k: (f"{r[k]:.6f}" if isinstance(r[k], float) else r[k]) for k in cols})
                fh.flush()
                print(f"{name:<45} {v:<8} parent val {r['parent_val']:.4f} test {r['parent_test']:.4f}  final val "
                      f"{r['final_val']:.4f} test {r['final_test']:.4f}  loss val {r['loss_val']:+.4f} test "
                      f"{r['loss_test']:+.4f}  ({r['seconds']:.0f} s)", flush=True)
    summarise(rows)
    print(f"\n{len(rows)} runs in {time.perf_counter() - t0:.0f} s; wrote {out}")


if __name__ == "__main__":
    main()

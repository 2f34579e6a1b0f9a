"""Issue 15: are the kernels auto groups as "one motif" one motif? ENCODE, held model, fixed kernels.

For each ENCODE experiment: `deepprune prune --kernels auto --no-distinct` on the top peaks (the
held model: the smallest that kept the val AUROC), then its kernels' motifs from the training
positives (as auto groups them) and

* groups by connected components of the same-motif relation (the rule before 2026-12-06) and by
  representatives (`grouping.group_motifs` today): groups, largest group, and the share of pairs
  inside a group of two or more that are the same motif (1.0 = every pair alike);
* a logistic read-out refit on fixed kernels (global max per kernel, standardised; fitted on the
  training peaks and dinucleotide-shuffled negatives, AUROC on DeepBind's `_B` test set) with all
  kernels, one kernel per component, one per representative group (the most important member).

    python benchmarks/bench_grouping_encode.py --encode MYC,ELK1 --jobs 2

Writes benchmarks/results/grouping_encode.tsv and prints a row per experiment.
"""

from __future__ import annotations

import argparse
import glob
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import write_tsv  # noqa: E402


def _components(same):
    """Connected components of a boolean (n, n) relation -> label per motif (single linkage)."""
    import numpy as np

    labels = np.arange(len(same))
    changed = True
    while changed:  # propagate the smallest label along every edge until stable
        new = np.array([labels[same[i]].min() for i in range(len(same))])
        changed = bool((new != labels).any())
        labels = new
    return labels


def _pair_density(labels, same) -> float:
    """Share of same-motif pairs among pairs inside groups of two or more (nan if none)."""
    import numpy as np

    inside = (labels[:, None] == labels[None, :]) & ~np.eye(len(labels), dtype=bool)
    return float(same[inside].mean()) if inside.any() else float("nan")


def run(task: tuple) -> dict:
    ac, a = task
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    from deepprune_cli.core.first_layer import first_conv_map, reverse_complement_weight
    from deepprune_cli.core.grouping import kernel_groups
    from deepprune_cli.core.layout import token_matrix
    from deepprune_cli.core.sequences import read_sequences
    from deepprune_cli.core.shuffle import shuffle_set
    from deepprune_cli.core.store import load_model

    torch.set_num_threads(a.threads)
    name = Path(ac).name.split("_")[0]
    test = read_sequences(ac.replace("_AC.seq.gz", "_B.seq.gz"))
    pos = read_sequences(ac)
    pos = pos.subset(np.arange(min(len(pos), a.max_peaks)))  # the files are ordered by peak rank
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "top.fa").write_text("".join(f">p{i}\n{pos.text(i)}\n" for i in range(len(pos))))
        cmd = [sys.executable, "-m", "deepprune_cli", "prune", str(tmp / "top.fa"), "--kernels", "auto",
               "--no-distinct", "--no-baseline", "--rounds", str(a.rounds), "--threads", str(a.threads),
               "--seed", str(a.seed), "-o", str(tmp / "prune"), "-q"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"prune failed for {name}:\n{proc.stderr[-2000:]}")
        sel = json.loads((tmp / "prune" / "prune.json").read_text())["selection"]
        model = load_model(tmp / "prune" / "final").model
    w_out = model.out.weight.detach().numpy()[0]
    importance = np.abs(w_out)
    _, grouping = kernel_groups(model, np.ascontiguousarray(token_matrix(pos)), importance=importance,
                                seed=a.seed)
    same = grouping.same
    kern = grouping.kernels
    comp = _components(same)
    star = grouping.group
    neg = shuffle_set(pos, k=2, copies=2, seed=a.seed + 1)

    def max_features(seqs):  # (n, K) global max of each kernel over both strands, pre-activation
        tok = torch.from_numpy(np.ascontiguousarray(token_matrix(seqs)))
        w = model.conv1.weight.detach()
        K = w.shape[0]
        out = []
        with torch.no_grad():
            for i in range(0, len(tok), 1000):
                m = first_conv_map(tok[i:i + 1000], torch.cat([w, reverse_complement_weight(w)]), None,
                                   model.spec.convs[0].padding, "onehot").amax(2)
                out.append(torch.maximum(m[:, :K], m[:, K:]))
        return torch.cat(out).numpy()

    x_train = np.concatenate([max_features(pos), max_features(neg)])
    y_train = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    x_test, y_test = max_features(test), test.labels[:, 0]

    def refit_auroc(kernels) -> float:
        scaler = StandardScaler().fit(x_train[:, kernels])
        fit = LogisticRegression(max_iter=2000).fit(scaler.transform(x_train[:, kernels]), y_train)
        return float(roc_auc_score(y_test, fit.decision_function(scaler.transform(x_test[:, kernels]))))

    def heads(labels) -> list[int]:  # each group's most important kernel
        return [int(kern[max(np.nonzero(labels == g)[0], key=lambda i: importance[kern[i]])]) for g in set(labels)]

    return dict(experiment=name, held_kernels=model.n_kernels, held_round=sel["round"], kernels_with_motif=len(kern),
                components=len(set(comp.tolist())), largest_component=int(np.bincount(comp).max()),
                component_pair_density=_pair_density(comp, same),
                groups=grouping.n_groups, largest_group=int(np.bincount(star).max()),
                group_pair_density=_pair_density(star, same),
                refit_all=refit_auroc(list(range(model.n_kernels))), refit_per_component=refit_auroc(heads(comp)),
                refit_per_group=refit_auroc(heads(star)))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--encode", default="ARID3A,CTCFL,ELK1,FOXA1,GABPA,MYC,REST,SP1,USF1,ZBTB7A")
    ap.add_argument("--max-peaks", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default=str(HERE / "results" / "grouping_encode.tsv"))
    a = ap.parse_args()
    root = Path(os.environ.get("DEEPPRUNE_ENCODE", HERE.parent.parent / "shared" / "data" / "encode"))
    acs = sorted(p for x in a.encode.split(",") for p in glob.glob(str(root / f"{x}_*_AC.seq.gz")))
    if not acs:
        print(f"no ENCODE experiments matching {a.encode} under {root}; skipped")
        return
    rows = []
    with mp.get_context("spawn").Pool(a.jobs) as pool:
        for row in pool.imap(run, [(ac, a) for ac in acs]):
            rows.append(row)
            print(f"{row['experiment']}: held {row['held_kernels']} kernels ({row['kernels_with_motif']} with a motif); "
                  f"components {row['components']} (largest {row['largest_component']}, pairs alike "
                  f"{row['component_pair_density']:.2f}), groups {row['groups']} (largest {row['largest_group']}, "
                  f"pairs alike {row['group_pair_density']:.2f}); refit test AUROC all {row['refit_all']:.4f}, "
                  f"one per component {row['refit_per_component']:.4f}, one per group {row['refit_per_group']:.4f}",
                  flush=True)
    write_tsv(a.out, rows)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()

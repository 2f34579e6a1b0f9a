#!/usr/bin/env python3
"""Cost table of a deepprune workflow run, and the cluster time projected for N experiments.

Reads the Snakemake benchmark records the workflow writes for every step of every experiment,
RESULTS/benchmarks/<experiment>/<step>.tsv (columns s, cpu_time, max_rss, ... ; the last row is
used when a record holds several), and prints a Markdown table: per step the median wall time,
CPU time and peak memory over the experiments and the cores the job held (threads from the
workflow config); per experiment the totals; then a projection for --experiments experiments
(Zeng et al. 2016 used 690) on --nodes nodes of --cores cores and --mem-gb GB each:

  CPU-hours        = experiments x mean CPU seconds per experiment / 3600
  core-hours held  = experiments x mean sum over steps of (wall seconds x threads) / 3600
                     (what a cluster charges: cores allocated x wall time)
  wall time        = max(core-hours held / (nodes x usable cores per node), the longest
                     experiment's chain of steps): perfect packing, no queue wait; a lower bound.
  Usable cores per node are limited by memory too: a job holds max(its threads, its memory
  request / (node memory / cores)) cores' worth of the node.

Usage (run in examples/ after a workflow run):

  python scripts/cost_table.py --results results --config config.yaml [config.encode.yaml] \\
      --experiments 690 --nodes 10 --cores 32 --mem-gb 128 [--tsv costs_by_step.tsv]

The --config files are read in order, later ones on top (as snakemake --configfile does), for
threads and mem_mb per step; needs PyYAML (installed with snakemake). Without --config every
step counts as 1 thread. A missing or malformed record is one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
from pathlib import Path

STEPS = ("shuffle", "train", "prune", "evaluate", "logos")


class CostError(Exception):
    pass


def read_record(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = [r for r in csv.DictReader((line for line in fh if line.strip()), delimiter="\t")]
    except OSError as e:
        raise CostError(f"{path}: {e.strerror}") from None
    if not rows or not {"s", "cpu_time", "max_rss"} <= set(rows[0]):
        raise CostError(f"{path}: not a Snakemake benchmark record (needs columns s, cpu_time, max_rss)")
    last = rows[-1]
    out = {}
    for key, col in (("wall_s", "s"), ("cpu_s", "cpu_time"), ("rss_mb", "max_rss")):
        try:
            out[key] = float(last[col])
        except (TypeError, ValueError):
            out[key] = float("nan")  # Snakemake writes NA when it could not measure
    if math.isnan(out["wall_s"]):
        raise CostError(f"{path}: no wall time")
    return out


def read_benchmarks(results: Path, datasets: list[str] | None) -> dict:
    """{dataset: {step: record}} for every dataset with a benchmark directory."""
    root = results / "benchmarks"
    if not root.is_dir():
        raise CostError(f"{root}: no such directory (run the workflow first)")
    names = datasets or sorted(p.name for p in root.iterdir() if p.is_dir())
    if not names:
        raise CostError(f"{root}: no experiments")
    out = {}
    for ds in names:
        d = root / ds
        if not d.is_dir():
            raise CostError(f"{d}: no such directory")
        recs = {step: read_record(d / f"{step}.tsv") for step in STEPS if (d / f"{step}.tsv").is_file()}
        if not recs:
            raise CostError(f"{d}: no benchmark records")
        out[ds] = recs
    return out


def read_config(paths: list[str]) -> dict:
    config: dict = {}
    if not paths:
        return config
    try:
        import yaml
    except ImportError:
        raise CostError("--config needs PyYAML (pip install pyyaml; it comes with snakemake)") from None

    def merge(a, b):
        for k, v in b.items():
            if isinstance(v, dict) and isinstance(a.get(k), dict):
                merge(a[k], v)
            else:
                a[k] = v

    for p in paths:
        try:
            data = yaml.safe_load(Path(p).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise CostError(f"{p}: {e}") from None
        if not isinstance(data, dict):
            raise CostError(f"{p}: not a YAML mapping")
        merge(config, data)
    return config


def _median(xs):
    xs = [x for x in xs if not math.isnan(x)]
    return statistics.median(xs) if xs else float("nan")


def _mean(xs):
    xs = [x for x in xs if not math.isnan(x)]
    return statistics.fmean(xs) if xs else float("nan")


def build(bench: dict, config: dict, experiments: int, nodes: int, cores: int, mem_gb: float) -> dict:
    threads = {s: int((config.get("threads") or {}).get(s, 1)) for s in STEPS}
    mem_req = {s: (config.get("mem_mb") or {}).get(s) for s in STEPS}
    steps = [s for s in STEPS if any(s in recs for recs in bench.values())]
    mb_per_core = mem_gb * 1024 / cores
    by_step = []
    for s in steps:
        recs = [recs[s] for recs in bench.values() if s in recs]
        # the share of a node a job holds: its cores, or more when its memory request needs it
        held = max(threads[s], math.ceil(float(mem_req[s]) / mb_per_core)) if mem_req[s] else threads[s]
        by_step.append({
            "step": s, "n": len(recs), "threads": threads[s], "mem_mb": mem_req[s], "held": held,
            "wall_s": _median([r["wall_s"] for r in recs]), "wall_max": max(r["wall_s"] for r in recs),
            "cpu_s": _median([r["cpu_s"] for r in recs]), "rss_mb": max((r["rss_mb"] for r in recs if not math.isnan(r["rss_mb"])), default=float("nan")),
        })  # fmt: skip
    held = {row["step"]: row["held"] for row in by_step}
    per_exp = []
    for ds, recs in bench.items():
        per_exp.append({
            "dataset": ds,
            "wall_s": sum(r["wall_s"] for r in recs.values()),
            "cpu_s": sum(r["cpu_s"] for r in recs.values() if not math.isnan(r["cpu_s"])),
            "core_s": sum(r["wall_s"] * threads[s] for s, r in recs.items()),
            "held_s": sum(r["wall_s"] * held[s] for s, r in recs.items()),
            "rss_mb": max((r["rss_mb"] for r in recs.values() if not math.isnan(r["rss_mb"])), default=float("nan")),
        })  # fmt: skip
    cpu_h = experiments * _mean([e["cpu_s"] for e in per_exp]) / 3600
    core_h = experiments * _mean([e["core_s"] for e in per_exp]) / 3600
    held_h = experiments * _mean([e["held_s"] for e in per_exp]) / 3600
    chain_h = max(e["wall_s"] for e in per_exp) / 3600
    wall_h = max(held_h / (nodes * cores), chain_h)
    return {
        "by_step": by_step, "per_exp": per_exp, "experiments": experiments, "nodes": nodes, "cores": cores,
        "mem_gb": mem_gb, "cpu_h": cpu_h, "core_h": core_h, "held_h": held_h, "chain_h": chain_h, "wall_h": wall_h,
    }  # fmt: skip


def _f(x, digits=1):
    return "n/a" if isinstance(x, float) and math.isnan(x) else f"{x:,.{digits}f}"


def markdown(t: dict) -> str:
    lines = [
        f"Measured on {len(t['per_exp'])} experiment(s) ({', '.join(e['dataset'] for e in t['per_exp'])}).",
        "",
        "| step | experiments | threads | mem request MB | wall s (median) | wall s (max) | CPU s (median) | peak RSS MB (max) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in t["by_step"]:
        lines.append(f"| {r['step']} | {r['n']} | {r['threads']} | {r['mem_mb'] or 'n/a'} | {_f(r['wall_s'])} | "
                     f"{_f(r['wall_max'])} | {_f(r['cpu_s'])} | {_f(r['rss_mb'], 0)} |")  # fmt: skip
    pe = t["per_exp"]
    lines.append(f"| **per experiment** (median) | {len(pe)} | | | {_f(_median([e['wall_s'] for e in pe]))} | "
                 f"{_f(max(e['wall_s'] for e in pe))} | {_f(_median([e['cpu_s'] for e in pe]))} | "
                 f"{_f(max((e['rss_mb'] for e in pe), default=float('nan')), 0)} |")  # fmt: skip
    lines += [
        "",
        f"Projected for {t['experiments']} experiments on {t['nodes']} node(s) x {t['cores']} cores, "
        f"{_f(t['mem_gb'], 0)} GB each: {_f(t['cpu_h'])} CPU-hours; {_f(t['core_h'])} core-hours allocated "
        f"({_f(t['held_h'])} counting memory-bound cores); about {_f(t['wall_h'], 2)} h of wall time "
        f"(perfect packing, no queue wait: a lower bound; the longest experiment alone takes {_f(t['chain_h'] * 60)} min).",
    ]
    return "\n".join(lines) + "\n"


def write_tsv(path: Path, t: dict) -> None:
    cols = ["step", "n", "threads", "mem_mb", "wall_s", "wall_max", "cpu_s", "rss_mb"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\t".join(cols) + "\n")
        for r in t["by_step"]:
            fh.write("\t".join("" if r[c] is None else (f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c])) for c in cols) + "\n")
    tmp.replace(path)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="results", help="the workflow's results directory [results]")
    ap.add_argument("--datasets", nargs="+", help="experiments to include [every one with benchmark records]")
    ap.add_argument("--config", nargs="+", action="extend", default=[],
                    help="workflow config YAML files (threads, mem_mb), later ones on top: config.yaml config.encode.yaml")
    ap.add_argument("--experiments", type=int, default=690, help="experiments to project for [690, Zeng et al. 2016]")
    ap.add_argument("--nodes", type=int, default=10, help="cluster nodes [10]")
    ap.add_argument("--cores", type=int, default=32, help="cores per node [32]")
    ap.add_argument("--mem-gb", type=float, default=128, help="memory per node in GB [128]")
    ap.add_argument("--tsv", help="also write the per-step table as TSV")
    args = ap.parse_args(argv)
    for name in ("experiments", "nodes", "cores"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if args.mem_gb <= 0:
        ap.error("--mem-gb must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        bench = read_benchmarks(Path(args.results), args.datasets)
        table = build(bench, read_config(args.config), args.experiments, args.nodes, args.cores, args.mem_gb)
        if args.tsv:
            write_tsv(Path(args.tsv), table)
    except CostError as e:
        print(f"cost_table.py: error: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())

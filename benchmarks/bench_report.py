"""Size, time and determinism of `deepprune report` for a full 256 -> 4 prune run.

Makes a deepprune-sim4 simulation, runs `deepprune prune` 256 -> 4 (6 rounds, with baselines)
and `deepprune logos --match jaspar2020`, then times `deepprune report` twice (whole process) and
prints the page's size against the 3 MB target, its parts (figures, logos), whether the two
pages are byte-identical, and, as the reference measured in the same run, the size of the run's
own files the page summarises.

    python benchmarks/bench_report.py [--n 6000] [--epochs 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import deepprune, timed_process  # noqa: E402

TARGET_BYTES = 3_000_000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6000, help="simulated sequences (half are the test split)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        common = ["--seed", "1", "--threads", str(args.threads)]
        timed_process(deepprune("simulate", "--preset", "deepprune-sim4", "--n", args.n, "-o", t / "sim", "--seed", "1"))
        prune_s, _ = timed_process(deepprune("prune", t / "sim/train.fa", "--test", t / "sim/test.fa", "--kernels", "4",
                                             "--rounds", "6", "--epochs", args.epochs, "-o", t / "pruned", *common))  # fmt: skip
        timed_process(deepprune("logos", t / "pruned/final", t / "sim/train.fa", "-o", t / "motifs/motifs.meme",
                                "--match", "jaspar2020", "--allow-empty"))  # fmt: skip
        walls, pages = [], []
        for i in range(2):
            out = t / f"report{i}.html"
            wall, peak = timed_process(deepprune("report", t / "pruned", "--motifs", t / "motifs/motifs.meme", "-o", out))
            walls.append(wall)
            pages.append(out.read_bytes())
        page = pages[0].decode("utf-8")
        run_bytes = sum(p.stat().st_size for p in (t / "pruned").rglob("*") if p.is_file() and p.suffix != ".pt")
        pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
        svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
        print(f"prune 256 -> 4 ({args.n // 2} training sequences, {args.epochs} epochs max): {prune_s:.1f} s")
        print(f"report: {len(pages[0]):,} bytes ({len(pages[0]) / TARGET_BYTES:.3f} of the 3 MB target); "
              f"{len(pngs)} logos {sum(map(len, pngs)):,} B, {len(svgs)} figures {sum(map(len, svgs)):,} B")  # fmt: skip
        print(f"reference: the run's own text files (summary, configs, histories, metrics): {run_bytes:,} bytes "
              f"-> page/run ratio {len(pages[0]) / run_bytes:.2f}")  # fmt: skip
        print(f"report wall time: {min(walls):.2f} / {max(walls):.2f} s (min / max of 2), peak RSS {peak:.0f} MiB")
        print(f"byte-identical on a second run: {pages[0] == pages[1]}")
        return 0 if len(pages[0]) < TARGET_BYTES and pages[0] == pages[1] else 1


if __name__ == "__main__":
    sys.exit(main())

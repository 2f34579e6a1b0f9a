#!/usr/bin/env python3
"""Join positives and negatives into one labelled FASTA (`label=1` / `label=0` headers).

The workflow's bed layout uses it to build a test set like DeepBind's `_B` files: the held-out
peaks (cut from the genome) plus their dinucleotide shuffles (`deepprune shuffle`).

  python scripts/labelled_fasta.py test.bed test_negatives.fa --genome hg38.fa --width 101 -o test.fa

POSITIVES and NEGATIVES are any input deepprune reads (FASTA, DeepBind .seq, Zeng .data, or
BED/narrowPeak with --genome). Needs deepprune's python. The output is written atomically.
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("positives")
    ap.add_argument("negatives")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--genome", default=None, help="genome FASTA for BED/narrowPeak inputs")
    ap.add_argument("--width", type=int, default=None, help="BED window width (centred on the summit)")
    args = ap.parse_args(argv)

    from deepprune_cli.core.atomic import atomic_output
    from deepprune_cli.core.errors import DeeppruneError
    from deepprune_cli.core.sequences import SequenceSet, format_fasta, read_sequences

    try:
        pos = read_sequences(args.positives, genome=args.genome, width=args.width)
        neg = read_sequences(args.negatives, genome=args.genome, width=args.width)
        if len(pos) == 0 or len(neg) == 0:
            raise DeeppruneError(f"{pos.source if len(pos) == 0 else neg.source}: no sequences")
        both = SequenceSet.concatenate([pos.with_labels([1.0] * len(pos)), neg.with_labels([0.0] * len(neg))])
        with atomic_output(args.output, "wb") as fh:
            fh.write(format_fasta(both))
    except DeeppruneError as exc:
        print(f"labelled_fasta.py: error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(pos)} positives + {len(neg)} negatives -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

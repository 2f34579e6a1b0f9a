#!/usr/bin/env bash
# The main job on the bundled CTCFL example. Usage: bash examples/demo.sh OUTDIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-demo_out}
mkdir -p "$out"
peaks="$here/data/CTCFL_K562_peaks.fa.gz"

echo "== deepprune shuffle: dinucleotide-shuffled negatives" >&2
deepprune shuffle "$peaks" -o "$out/negatives.fa" --seed 1
grep -c '>' "$out/negatives.fa" | sed 's/^/negatives written: /' >&2

echo "demo outputs in $out/" >&2

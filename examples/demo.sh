#!/usr/bin/env bash
# The main job on the bundled CTCFL example (2,000 real ChIP-seq peaks + DeepBind's test set):
# shuffle -> train -> prune (16 -> 4 kernels) -> evaluate -> logos matched against JASPAR (and how
# many distinct motifs the kernels hold: four kernels are not four motifs), then prune --kernels
# auto: how many distinct motifs the data need, one kernel each (on these CTCFL peaks: 1 motif, CTCF);
# report puts the answer on one HTML page.
# Usage: bash examples/demo.sh OUTDIR        (a few minutes on 2 CPU cores)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-demo_out}
mkdir -p "$out"
peaks="$here/data/CTCFL_K562_peaks.fa.gz"
test="$here/data/CTCFL_K562_test.seq.gz"
fast=(--epochs 30 --patience 5 --seed 1)

echo "== 1. deepprune shuffle: dinucleotide-shuffled negatives" >&2
deepprune shuffle "$peaks" -o "$out/negatives.fa" --seed 1

echo "== 2. deepprune train: a 16-kernel DeepBind-style model" >&2
deepprune train "$peaks" --negatives "$out/negatives.fa" --kernels 16 --test "$test" -o "$out/model" --force "${fast[@]}"

echo "== 3. deepprune prune: 16 -> 4 kernels in 2 rounds, with same-size baselines" >&2
deepprune prune "$peaks" --negatives "$out/negatives.fa" --kernels 4 --rounds 2 --test "$test" -o "$out/pruned" "${fast[@]}"

echo "== 4. deepprune evaluate: every stage and variant on the test set" >&2
deepprune evaluate "$out/pruned" "$test" -o "$out/evaluation.tsv" --plot "$out/auroc_vs_kernels.png"

echo "== 5. deepprune logos: the 4 kernels as motifs, matched against JASPAR 2020" >&2
deepprune logos "$out/pruned/final" "$peaks" -o "$out/motifs.meme" --png "$out/logos" --match jaspar2020 \
    --relative-to observed

echo "== 6. how many motifs do these peaks need? prune --kernels auto: the smallest model that holds the" >&2
echo "      AUROC, its kernels grouped by motif, then one kernel per motif" >&2
deepprune prune "$peaks" --negatives "$out/negatives.fa" --kernels auto --rounds 2 --no-baseline --test "$test" \
    -o "$out/pruned_auto" "${fast[@]}"
deepprune logos "$out/pruned_auto/final" "$peaks" -o "$out/auto/motifs.meme" --match jaspar2020 --relative-to observed

echo "== 7. deepprune report: the 16 -> 4 run and its motifs on one page" >&2
deepprune report "$out/pruned" --motifs "$out/motifs.meme" -o "$out/report.html"

echo >&2
echo "demo outputs in $out/: report.html (open it in a browser), model/, pruned/summary.tsv, evaluation.tsv," >&2
echo "  motifs.meme, motifs.distinct.meme, matches.tsv, logos/, pruned_auto/ (prune.json: the motifs and" >&2
echo "  kernels chosen and the curve), auto/" >&2

#!/usr/bin/env nextflow
/*
 * deepprune over many ChIP-seq experiments, as Nextflow DSL2: a mirror of the Snakefile beside it
 * (same steps, options, file names and configuration keys). UNTESTED in this project: Nextflow is
 * not installed where deepprune is developed; the Snakefile is the tested workflow.
 *
 *     cd examples
 *     nextflow run main.nf -params-file config.yaml                  # the bundled example
 *     nextflow run main.nf -params-file config.encode.yaml --input_dir /data/encode -profile slurm
 *
 * -params-file reads the Snakemake config files as they are (YAML with nested keys); profiles
 * (local, slurm) and the trace/report files are in nextflow.config. Nextflow takes one
 * -params-file and replaces whole top-level keys (no deep merge): a nested key left out of the
 * file (e.g. train.extra) falls back to its default here; config.encode.yaml sets all the rest.
 *
 * Per experiment: shuffle -> train -> prune -> evaluate -> logos (--match JASPAR); then the
 * summary table (dataset x variant x kernels -> AUROC), the paired comparison, the
 * baseline-vs-deepprune scatter and the AUROC-vs-kernels curve across experiments, published
 * under params.results exactly as the Snakefile writes them. Every process runs one `deepprune`
 * command (from PATH) with --seed and --threads; task.cpus/memory/time/accelerator come from
 * params.threads/mem_mb/runtime/gpu. Per-step costs: the trace file (nextflow.config).
 */

nextflow.enable.dsl = 2

// ---- parameters: the keys of config.yaml, with its defaults -----------------------------------
// (script-level names below are assigned without `def` so that process bodies can see them)
params.layout = 'deepbind'
params.input_dir = 'workflow_data'
params.train_pattern = ''
params.test_pattern = ''
params.datasets = []
params.genome = ''
params.width = 101
params.bed_test_chroms = ['chr8']
params.results = 'results'
params.logs = 'logs'           // Nextflow keeps each task's log as .command.log; published as <step>.log
params.seed = 1
params.device = 'cpu'
params.shuffle = [k: 2, copies: 1]
params.train = [arch: 'deepbind', kernel_length: 24, epochs: 20, patience: 5, extra: '']
params.prune = [kernels: 4, rounds: 2, criterion: 'score-weight', epochs: 20, patience: 5, extra: '']
params.logos = [model: 'final', seqs: 'train', match: 'jaspar2020', relative_to: 'observed', threshold: 0.7, extra: '']
params.compare = ['baseline', 'deepprune']
params.threads = [shuffle: 1, train: 2, prune: 2, evaluate: 1, logos: 1]
params.mem_mb = [shuffle: 1000, train: 2000, prune: 2000, evaluate: 2000, logos: 2000]
params.runtime = [shuffle: 10, train: 30, prune: 60, evaluate: 10, logos: 20]
params.gpu = 0
params.python = ''

LAYOUTS = [
    deepbind: ['{dataset}_AC.seq.gz', '{dataset}_B.seq.gz'],
    zeng    : ['{dataset}_train.data.gz', '{dataset}_test.data.gz'],
    bed     : ['{dataset}.narrowPeak', null],
]
if (!LAYOUTS.containsKey(params.layout)) {
    error "params.layout: '${params.layout}'; use one of ${LAYOUTS.keySet().join(', ')}"
}
if (params.layout == 'bed' && !params.genome) {
    error "params.genome: the bed layout needs a genome FASTA"
}
TRAIN_PATTERN = params.train_pattern ?: LAYOUTS[params.layout][0]
TEST_PATTERN = params.test_pattern ?: LAYOUTS[params.layout][1]
START_KERNELS = (params.prune.kernels as int) * (2 ** (params.prune.rounds as int))
GENOME_ARGS = params.layout == 'bed' ? "--genome '${params.genome}' --width ${params.width as int}" : ''
// the interpreter of the deepprune on PATH runs scripts/*.py (they need its packages)
PYTHON = params.python ?: '"$(d=$(dirname "$(command -v deepprune)"); [ -x "$d/python" ] && echo "$d/python" || echo python3)"'
SEED = params.seed as int

// ---- the steps: one deepprune command each ---------------------------------------------------

process VERSION {
    publishDir params.results, mode: 'copy'
    output:
    path 'deepprune_version.txt'
    script:
    """
    deepprune --version > deepprune_version.txt
    """
}

process BED_SPLIT {
    tag "${dataset}"
    publishDir "${params.results}/${dataset}/input", mode: 'copy', pattern: '*.bed'
    publishDir "${params.logs}/${dataset}", mode: 'copy', pattern: '*.log'
    input:
    tuple val(dataset), path(peaks)
    output:
    tuple val(dataset), path('train.bed'), emit: train
    tuple val(dataset), path('test.bed'), emit: test
    path 'bed_split.log'
    script:
    def chroms = (params.bed_test_chroms ?: []).join(',')
    """
    gzip -cdf '${peaks}' | awk -F'\\t' -v chroms='${chroms}' -v train=train.bed -v test=test.bed \\
        'BEGIN { n = split(chroms, c, ","); for (i = 1; i <= n; i++) t[c[i]] = 1 }
         /^(#|track|browser)/ || NF == 0 { next }
         { if (\$1 in t) { print > test; nt++ } else { print > train; nr++ } }
         END { printf "train %d peaks, test %d peaks\\n", nr, nt > "/dev/stderr"; if (!nt || !nr) exit 1 }' \\
        2> bed_split.log
    """
}

process BED_TEST_NEGATIVES {
    tag "${dataset}"
    cpus params.threads.shuffle as int
    memory "${params.mem_mb.shuffle} MB"
    time "${params.runtime.shuffle} min"
    publishDir "${params.results}/${dataset}/input", mode: 'copy', pattern: '*.fa'
    publishDir "${params.logs}/${dataset}", mode: 'copy', pattern: '*.log'
    input:
    tuple val(dataset), path(test_bed)
    output:
    tuple val(dataset), path('test_negatives.fa'), emit: negatives
    path 'bed_test_negatives.log'
    script:
    """
    deepprune shuffle '${test_bed}' ${GENOME_ARGS} -k ${params.shuffle.k} --seed ${SEED} --threads ${task.cpus} \\
        -o test_negatives.fa 2> bed_test_negatives.log
    """
}

process BED_TEST_SET {
    tag "${dataset}"
    publishDir "${params.results}/${dataset}/input", mode: 'copy', pattern: '*.fa'
    publishDir "${params.logs}/${dataset}", mode: 'copy', pattern: '*.log'
    input:
    tuple val(dataset), path(test_bed), path(negatives)
    output:
    tuple val(dataset), path('test.fa'), emit: test
    path 'bed_test_set.log'
    script:
    """
    ${PYTHON} '${projectDir}/scripts/labelled_fasta.py' '${test_bed}' '${negatives}' ${GENOME_ARGS} \\
        -o test.fa 2> bed_test_set.log
    """
}

process SHUFFLE {
    tag "${dataset}"
    cpus params.threads.shuffle as int
    memory "${params.mem_mb.shuffle} MB"
    time "${params.runtime.shuffle} min"
    publishDir "${params.results}/${dataset}", mode: 'copy', pattern: '*.fa'
    publishDir "${params.logs}/${dataset}", mode: 'copy', pattern: '*.log'
    input:
    tuple val(dataset), path(train)
    output:
    tuple val(dataset), path('negatives.fa'), emit: negatives
    path 'shuffle.log'
    script:
    """
    deepprune shuffle '${train}' ${GENOME_ARGS} -k ${params.shuffle.k} -n ${params.shuffle.copies} \\
        --seed ${SEED} --threads ${task.cpus} -o negatives.fa 2> shuffle.log
    """
}

process TRAIN {
    tag "${dataset}"
    cpus params.threads.train as int
    memory "${params.mem_mb.train} MB"
    time "${params.runtime.train} min"
    accelerator (params.gpu as int)
    publishDir "${params.results}/${dataset}", mode: 'copy', pattern: 'model'
    publishDir "${params.logs}/${dataset}", mode: 'copy', pattern: '*.log'
    input:
    tuple val(dataset), path(train), path(negatives), path(test)
    output:
    tuple val(dataset), path('model'), emit: model
    path 'train.log'
    script:
    def neg = negatives ? "--negatives '${negatives}'" : ''   // [] for the zeng layout
    def extra = params.train.extra ?: ''
    """
    deepprune train '${train}' ${neg} --test '${test}' ${GENOME_ARGS} \\
        --arch ${params.train.arch} --kernels ${START_KERNELS} --kernel-length ${params.train.kernel_length} \\
        --epochs ${params.train.epochs} --patience ${params.train.patience} ${extra} \\
        --seed ${SEED} --threads ${task.cpus} --device ${params.device} -o model 2> train.log
    """
}

process PRUNE {
    tag "${dataset}"
    cpus params.threads.prune as int
    memory "${params.mem_mb.prune} MB"
    time "${params.runtime.prune} min"
    accelerator (params.gpu as int)
    publishDir "${params.results}/${dataset}", mode: 'copy', pattern: 'prune'
    publishDir "${params.logs}/${dataset}", mode: 'copy', pattern: '*.log'
    input:
    tuple val(dataset), path(train), path(negatives), path(test), path(model)
    output:
    tuple val(dataset), path('prune'), emit: prune
    tuple val(dataset), path("${dataset}.prune_summary.tsv"), emit: summary
    path 'prune.log'
    script:
    def neg = negatives ? "--negatives '${negatives}'" : ''
    def extra = params.prune.extra ?: ''
    """
    deepprune prune '${train}' --from '${model}' ${neg} --test '${test}' ${GENOME_ARGS} \\
        --kernels ${params.prune.kernels} --rounds ${params.prune.rounds} --criterion ${params.prune.criterion} \\
        --epochs ${params.prune.epochs} --patience ${params.prune.patience} ${extra} \\
        --seed ${SEED} --threads ${task.cpus} --device ${params.device} -o prune 2> prune.log
    cp prune/summary.tsv '${dataset}.prune_summary.tsv'
    """
}

process EVALUATE {
    tag "${dataset}"
    cpus params.threads.evaluate as int
    memory "${params.mem_mb.evaluate} MB"
    time "${params.runtime.evaluate} min"
    accelerator (params.gpu as int)
    publishDir "${params.results}/${dataset}", mode: 'copy', pattern: '*.png'
    publishDir "${params.results}/${dataset}", mode: 'copy', pattern: '*.evaluate.tsv', saveAs: { 'evaluate.tsv' }
    publishDir "${params.logs}/${dataset}", mode: 'copy', pattern: '*.log'
    input:
    tuple val(dataset), path(prune), path(test)
    output:
    tuple val(dataset), path("${dataset}.evaluate.tsv"), emit: table
    path 'auroc_vs_kernels.png'
    path 'evaluate.log'
    script:
    """
    deepprune evaluate '${prune}' '${test}' --threads ${task.cpus} --device ${params.device} \\
        -o '${dataset}.evaluate.tsv' --plot auroc_vs_kernels.png 2> evaluate.log
    """
}

process LOGOS {
    tag "${dataset}"
    cpus params.threads.logos as int
    memory "${params.mem_mb.logos} MB"
    time "${params.runtime.logos} min"
    publishDir "${params.results}/${dataset}/motifs", mode: 'copy', pattern: '{motifs.meme,matches.tsv,logos}'
    publishDir "${params.results}/${dataset}/motifs", mode: 'copy', pattern: '*.motifs.tsv', saveAs: { 'motifs.tsv' }
    publishDir "${params.logs}/${dataset}", mode: 'copy', pattern: '*.log'
    input:
    tuple val(dataset), path(prune), path(seqs)
    output:
    tuple val(dataset), path("${dataset}.motifs.tsv"), emit: table
    path 'motifs.meme'
    path 'matches.tsv'
    path 'logos'
    path 'logos.log'
    script:
    def genome = params.logos.seqs == 'train' ? GENOME_ARGS : ''
    def extra = params.logos.extra ?: ''
    """
    deepprune logos '${prune}/${params.logos.model}' '${seqs}' ${genome} \\
        --match '${params.logos.match}' --matches matches.tsv --table '${dataset}.motifs.tsv' --png logos \\
        --relative-to ${params.logos.relative_to} --threshold ${params.logos.threshold} ${extra} \\
        --seed ${SEED} --threads ${task.cpus} -o motifs.meme 2> logos.log
    """
}

// ---- across datasets: the same scripts/aggregate.py as the Snakefile --------------------------
// It reads <results>/<dataset>/{evaluate.tsv,prune/summary.tsv,motifs/motifs.tsv}; the staged
// per-dataset files are linked into that layout first.

process AGGREGATE {
    publishDir params.results, mode: 'copy', pattern: '{summary.tsv,comparison.tsv,*.png}'
    publishDir params.logs, mode: 'copy', pattern: '*.log'
    input:
    path evaluate_tables
    path prune_summaries
    path version
    output:
    path 'summary.tsv'
    path 'comparison.tsv'
    path 'baseline_vs_deepprune.png'
    path 'auroc_vs_kernels.png'
    path 'aggregate.log'
    script:
    """
    datasets=()
    for f in *.evaluate.tsv; do
        ds="\${f%.evaluate.tsv}"
        datasets+=("\$ds")
        mkdir -p "results/\$ds/prune"
        ln -s "../../\$f" "results/\$ds/evaluate.tsv"
        ln -s "../../../\$ds.prune_summary.tsv" "results/\$ds/prune/summary.tsv"
    done
    ${PYTHON} '${projectDir}/scripts/aggregate.py' --results results --datasets "\${datasets[@]}" \\
        --compare ${params.compare.join(' ')} --version-file '${version}' \\
        --summary summary.tsv --comparison comparison.tsv --scatter baseline_vs_deepprune.png \\
        --curve auroc_vs_kernels.png 2> aggregate.log
    """
}

process COLLECT_MOTIFS {
    publishDir params.results, mode: 'copy', pattern: 'motifs.tsv'
    publishDir params.logs, mode: 'copy', pattern: '*.log'
    input:
    path motif_tables
    output:
    path 'motifs.tsv'
    path 'collect_motifs.log'
    script:
    """
    datasets=()
    for f in *.motifs.tsv; do
        ds="\${f%.motifs.tsv}"
        datasets+=("\$ds")
        mkdir -p "results/\$ds/motifs"
        ln -s "../../../\$f" "results/\$ds/motifs/motifs.tsv"
    done
    ${PYTHON} '${projectDir}/scripts/aggregate.py' --results results --datasets "\${datasets[@]}" \\
        --motifs motifs.tsv 2> collect_motifs.log
    """
}

// ---- wiring -----------------------------------------------------------------------------------

workflow {
    def (prefix, suffix) = TRAIN_PATTERN.split(/\{dataset\}/, -1) as List
    def wanted = (params.datasets ?: []) as List
    experiments = Channel
        .fromPath("${params.input_dir}/${TRAIN_PATTERN.replace('{dataset}', '*')}", checkIfExists: true)
        .map { f ->   // the {dataset} part of the path relative to input_dir (patterns may hold a '/')
            def rel = file(params.input_dir).toAbsolutePath().relativize(f.toAbsolutePath()).toString()
            tuple(rel.substring(prefix.size(), rel.size() - suffix.size()), f)
        }
        .filter { ds, f -> !wanted || ds in wanted }

    if (params.layout == 'bed') {
        BED_SPLIT(experiments)
        train = BED_SPLIT.out.train
        BED_TEST_NEGATIVES(BED_SPLIT.out.test)
        BED_TEST_SET(BED_SPLIT.out.test.join(BED_TEST_NEGATIVES.out.negatives))
        test = BED_TEST_SET.out.test
    } else {
        train = experiments
        test = experiments.map { ds, f -> tuple(ds, file("${params.input_dir}/${TEST_PATTERN.replace('{dataset}', ds)}", checkIfExists: true)) }
    }

    if (params.layout == 'zeng') {
        // Zeng's .data files carry their own shuffled negatives: no shuffle step
        negatives = train.map { ds, f -> tuple(ds, []) }     // an empty optional path input
    } else {
        SHUFFLE(train)
        negatives = SHUFFLE.out.negatives
    }

    inputs = train.join(negatives).join(test)                 // (ds, train, negatives, test)
    TRAIN(inputs)
    PRUNE(inputs.join(TRAIN.out.model))
    EVALUATE(PRUNE.out.prune.join(test))
    seqs = params.logos.seqs == 'train' ? train : test
    LOGOS(PRUNE.out.prune.join(seqs))
    VERSION()

    AGGREGATE(
        EVALUATE.out.table.map { ds, f -> f }.collect(),
        PRUNE.out.summary.map { ds, f -> f }.collect(),
        VERSION.out,
    )
    COLLECT_MOTIFS(LOGOS.out.table.map { ds, f -> f }.collect())
}

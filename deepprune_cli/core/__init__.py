"""deepprune's library: everything the command-line tool does, as plain Python.

No Click, no printing, no ``sys.exit``: functions return values and raise
:class:`~deepprune_cli.core.errors.DeeppruneError` subclasses for bad input. The names below are the
public API; each lives in the module that owns its idea and is imported only when first used, so
``import deepprune_cli.core`` is instant and pulls in neither torch nor numba nor matplotlib::

    from deepprune_cli.core import read_sequences, shuffle_set, prepare_training, PruneRun
    from deepprune_cli.core import training, models        # whole modules work too

Modules, one idea each:

============= ==============================================================================
sequences     FASTA / DeepBind ``.seq`` / Zeng ``.data`` / BED+genome readers; uint8 tokens
record_ids    record ids in one blob: a read-only list of ``str`` at a fraction of the memory
shuffle       exact uniform k-let shuffles
kernels       which compiled kernels run shuffles, FASTA I/O and the fused first layer: C or numba
motifs        the :class:`Motif` type, MEME read/write, bundled JASPAR collections
simulate      simulated datasets with planted motifs and their exact Bayes-optimal scores
datasets      labelled training data: shuffled negatives, validation split
prepare       the whole input side of ``train``/``prune`` in one call
architectures specs of the networks: DeepBind, Zeng et al. (2016), Koo & Eddy (2019)
first_layer   the first convolution over tokens: one-hot, gather and the fused compiled kernel
models        :class:`MotifCNN` from a spec, physical kernel removal
layout        sequences as a model's input: token matrices, in-place splits, tensors on a device
training      the fit loop with early stopping, prediction, devices and threads
graphed_step  a training step captured once and replayed as a CUDA graph (GPU speed)
seeds         one model per seed (best of N restarts) on the same data: fit, measure, write (``deepprune train``)
criteria      which kernels to keep when pruning (``loss``, ``weight``, ``score``, ``score-weight``)
pruning       the Deepprune schedule: prune half, fine-tune, repeat; ``summary.tsv``
interpret     first-layer kernels -> position probability matrices
grouping      which kernel motifs are the same motif (up to shift and strand)
kernel_motifs a model's kernels -> motifs, grouped and matched, in one call (``deepprune logos``)
compare       Tomtom-style motif comparison (p/E/q-values) and recovery of true motifs
metrics       AUROC / AUPRC per output
evaluation    models on labelled data, records, paired comparisons across data sets (Wilcoxon)
plots         sequence logos and figures (deterministic bytes)
inference     a trained model on new sequences, streamed in chunks (``deepprune predict``)
scan          every kernel's hits along sequences, with exact p-values (``deepprune scan``)
mutate        in-silico mutagenesis maps and SNV effects (``deepprune mutate``)
report        one self-contained HTML page for runs and models
store         model directories: ``config.json``, weights, ``history.tsv``, ``metrics.json``
atomic        all-or-nothing writes of files and directories
locking       exclusive locks on outputs, so two runs never write the same one at once
choices       the names and defaults of the library's choices (formats, criteria), import-free
errors        the exceptions the library raises for bad input
============= ==============================================================================
"""

from __future__ import annotations

import importlib

# Public name -> the module (under deepprune_cli.core) that defines it.
_EXPORTS = {
    "sequences": (
        "SequenceSet", "read_sequences", "read_fasta", "read_bed", "write_fasta", "format_fasta",
        "encode", "decode", "reverse_complement", "one_hot", "stream_sequences",
    ),
    "record_ids": ("RecordIds",),
    "shuffle": ("shuffle_set", "shuffle_tokens", "write_shuffled", "klet_counts"),
    "kernels": ("kernel_backend",),
    "motifs": ("Motif", "read_meme", "parse_meme", "write_meme", "format_meme", "load_motifs"),
    "simulate": (
        "SimulationDesign", "SimulatedDataset", "make_design", "write_dataset", "bayes_optimal_scores",
        "PRESETS",
    ),
    "datasets": ("TrainingData", "make_training_data", "negatives_note", "split_validation"),
    "prepare": ("PreparedData", "prepare_training"),
    "architectures": ("ArchSpec", "ARCHITECTURES", "ACTIVATIONS", "DEFAULT_TRAIN_ARCH", "arch_spec"),
    "first_layer": ("CONV_IMPLS", "conv_onehot", "fused_kernel_features"),
    "models": ("build_model", "MotifCNN", "select_kernels"),
    "layout": ("DeviceData", "to_device", "model_tokens", "token_matrix", "partition_rows"),
    "training": ("TrainOptions", "fit", "fit_many", "predict", "kernel_activations"),
    "graphed_step": ("StepRunner",),
    "seeds": ("TrainedModel", "fit_seeds", "restart_seeds", "write_trained"),
    "criteria": ("CRITERIA", "DEFAULT_CRITERION", "Selection", "select_half", "select_count", "select_one_per_group"),
    "pruning": ("PruneOptions", "PruneRun", "StageResult", "read_summary", "compact_verdict"),
    "interpret": ("KernelMotif", "kernel_ppms", "first_layer_filters"),
    "grouping": ("Grouping", "group_motifs", "kernel_groups"),
    "kernel_motifs": ("MotifOptions", "ModelMotifs", "extract_motifs"),
    "compare": ("Comparison", "Match", "compare_motifs", "match_truth", "load_target_database"),
    "metrics": ("auroc", "auprc", "auroc_standard_error"),
    "evaluation": ("cross_jobs", "read_pairs", "evaluate_pairs", "paired_comparison", "auroc_series"),
    "plots": ("save_logo", "save_logos", "plot_auroc_vs_kernels"),
    "inference": ("PredictionChunk", "predict_chunks", "write_predictions"),
    "scan": ("Scanner", "HitTable", "make_scanner", "null_distribution"),
    "mutate": ("MutationMap", "mutation_map", "score_variants"),
    "report": ("RunData", "load_run", "build_report", "write_report"),
    "store": ("ModelRecord", "save_model", "load_model", "is_model_dir"),
    "atomic": ("atomic_output", "atomic_directory", "atomic_group"),
    "locking": ("output_lock", "OutputLocked"),
    "choices": ("SEQUENCE_FORMATS", "SITE_REFERENCES"),
    "errors": ("DeeppruneError", "InputError", "ModelDirError", "DeeppruneWarning"),
}  # fmt: skip

# A name never repeats a module's name: importing a submodule sets it as an attribute of this
# package, which would shadow the exported function (so ``simulate.simulate`` stays in its module).
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}
MODULES = tuple(_EXPORTS)

__all__ = [*MODULES, *_HOME]


def __getattr__(name: str):
    """Import a public name's module on first use (PEP 562), keeping this package's import free."""
    if name in _HOME:
        value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    elif name in _EXPORTS:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

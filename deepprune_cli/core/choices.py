"""The names and defaults of the library's choices, defined once and importable for free.

The command line offers these in ``--help`` and in its option checks, which must not load numpy
or torch (``deepprune --help`` stays instant), so they live here, away from the modules that use
them: :mod:`~deepprune_cli.core.sequences` (formats), :mod:`~deepprune_cli.core.criteria`
(pruning criteria), :mod:`~deepprune_cli.core.interpret` (what a site threshold is relative to) and
:mod:`~deepprune_cli.core.kernel_motifs` (motif order, site sources, significance measures).
"""

from __future__ import annotations

#: sequence input formats; ``auto`` looks at the file name and content
SEQUENCE_FORMATS = ("auto", "fasta", "seq", "data", "bed")

#: which kernels a Deepprune round keeps; the first is the default (measured best: README "prune")
CRITERIA = ("loss", "score-weight", "weight", "score", "loss-refit")
DEFAULT_CRITERION = CRITERIA[0]

#: what a kernel's site threshold is a fraction of: the largest activation it reaches on the
#: sequences (Koo & Eddy 2019; the default) or its maximum possible activation (DeepBind supplement)
SITE_REFERENCES = ("observed", "possible")
DEFAULT_SITE_REFERENCE = SITE_REFERENCES[0]

#: how ``logos`` orders motifs: |dense weight| (the pruning statistic; default), activation
#: difference between positives and negatives, or kernel number (:mod:`~deepprune_cli.core.kernel_motifs`)
MOTIF_ORDERS = ("weight", "score", "kernel")
#: which sequences of a labelled set give a kernel its sites (default: the positives)
SITE_SOURCES = ("positives", "all")
#: significance measures a motif match or recovery threshold applies to
SIGNIFICANCE = ("q", "E", "p")

#: first-layer paddings (``--padding``): ``valid`` (none), ``same`` (Keras: (W-1)//2 PAD tokens on
#: the left, the rest on the right; PAD weighs 0) and ``full`` (a full convolution: W-1 N on each
#: side, so a kernel also scores a site that overhangs either end of a sequence; N weighs the mean
#: of the four letters, one-hot 0.25 each, as N does inside a sequence)
PADDINGS = ("valid", "same", "full")

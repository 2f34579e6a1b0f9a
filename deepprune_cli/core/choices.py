"""The names and defaults of the library's choices, defined once and importable for free.

The command line offers these in ``--help`` and in its option checks, which must not load numpy
or torch (``deepprune --help`` stays instant), so they live here, away from the modules that use
them: :mod:`~deepprune_cli.core.sequences` (formats), :mod:`~deepprune_cli.core.criteria`
(pruning criteria) and :mod:`~deepprune_cli.core.interpret` (what a site threshold is relative to).
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

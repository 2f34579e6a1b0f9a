"""deepprune: train, prune and interpret motif-detecting CNNs on DNA sequences.

The command-line tool lives in :mod:`deepprune_cli.cli`; the library it drives lives in
:mod:`deepprune_cli.core` and is usable from Python without Click.
"""

__version__ = "0.2.0"

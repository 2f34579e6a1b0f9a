"""Options and helpers shared by every subcommand (no heavy imports here)."""

from __future__ import annotations

import click

from deepprune_cli.core.choices import SEQUENCE_FORMATS


def input_format_options(f):
    """``--format``, ``--genome`` and ``--width``: how to read sequence inputs."""
    f = click.option(
        "--width",
        type=click.IntRange(min=1),
        default=None,
        help="BED input: window width centred on the narrowPeak summit (or interval midpoint).",
    )(f)
    f = click.option(
        "--genome",
        type=click.Path(dir_okay=False),
        default=None,
        help="Genome FASTA to cut BED/narrowPeak intervals from (indexed with pyfaidx).",
    )(f)
    f = click.option(
        "--format",
        "fmt",
        type=click.Choice(SEQUENCE_FORMATS),
        default="auto",
        show_default=True,
        help="Input format: FASTA, DeepBind .seq TSV, Zeng .data, or BED/narrowPeak.",
    )(f)
    return f


def seed_option(f):
    return click.option(
        "--seed", type=int, default=0, show_default=True, help="Random seed; the same seed gives identical output on CPU."
    )(f)


def device_options(f):
    """``--device`` and ``--threads``."""
    f = click.option(
        "--threads", type=click.IntRange(min=1), default=None, help="CPU threads to use (default: all cores)."
    )(f)
    f = click.option(
        "--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N. auto: $DEEPPRUNE_DEVICE if set, else CUDA if present, else CPU."
    )(f)
    return f


def read_input(path, fmt="auto", genome=None, width=None):
    """Read one sequence input with the shared format options (core errors propagate)."""
    from deepprune_cli.core.sequences import read_sequences

    return read_sequences(path, fmt=fmt, genome=genome, width=width)


# Width for logs that land in a file or pipe: rich would wrap at 80 columns and split log lines
# mid-phrase; tables this wide still fit, and grep sees each message on one line.
LOG_FILE_WIDTH = 160


def console():
    """A rich console on stderr, for progress and tables (stdout carries data only).

    On a terminal it follows the terminal's width. When stderr is a file or a pipe (workflow logs)
    messages are never wrapped and tables are laid out ``LOG_FILE_WIDTH`` wide, unless ``COLUMNS``
    says otherwise.
    """
    import os
    import sys

    from rich.console import Console

    if sys.stderr.isatty() or os.environ.get("COLUMNS"):
        return Console(stderr=True)
    return Console(stderr=True, width=LOG_FILE_WIDTH, soft_wrap=True)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread by the CLI's handler (see ``cli.main``).

    A ``BaseException`` like ``KeyboardInterrupt``, so ``except Exception`` blocks do not swallow
    it, while ``finally`` blocks and the atomic writers' cleanup run as the stack unwinds.
    """


def add_interrupt_hint(exc: BaseException, hint: str) -> None:
    """Attach a hint (e.g. how to resume) to an exception; ``cli.main`` appends it to the error line
    when the exception ends the command because of SIGINT or SIGTERM."""
    try:
        exc.deepprune_hint = hint
    except (AttributeError, TypeError):
        pass


def lock_outputs(*paths) -> None:
    """Take the exclusive lock of every output path (``None`` and ``'-'`` skipped) for the rest of the
    command: called first thing, so a second run at the same output is refused at once (exit 2, one
    line naming the output and the process holding it) before it reads or writes anything. The
    locks are released when the command ends, however it ends (see ``core.locking``). Holding one,
    what a killed run at that output left beside it is tidied up (``core.atomic.recover``)."""
    from deepprune_cli.core.atomic import recover
    from deepprune_cli.core.locking import output_lock

    ctx = click.get_current_context()
    for path in paths:
        if path is not None and str(path) != "-":
            if ctx.with_resource(output_lock(path)) is not None:
                recover(path)


def without_blas_threads() -> None:
    """For a command that does no linear algebra (shuffle, simulate), called before numpy loads:
    numpy's OpenBLAS would otherwise start a thread per core at import, a third of the CPU time of
    a small run. Set variables are kept; a process that already loaded numpy is unaffected."""
    import os

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

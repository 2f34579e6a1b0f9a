"""Exceptions the core raises; the CLI maps them to exit codes.

Every message is one line that names the file, record or line and what is wrong, because the
CLI prints it verbatim as the whole user-facing error.
"""


class DeeppruneError(Exception):
    """Base class of every error deepprune raises on purpose."""

    exit_code = 1


class InputError(DeeppruneError):
    """Bad input data or bad usage (missing file, malformed record, impossible option): exit 2."""

    exit_code = 2


class ModelDirError(InputError):
    """A path that is not a readable deepprune model directory: exit 2."""


class DeeppruneWarning(UserWarning):
    """A recoverable oddity in the input (e.g. IUPAC codes turned into N), reported once."""
